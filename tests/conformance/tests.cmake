# Conformance tests run libbpf (libbpf-dev, test-only) as a live oracle next to our loader.
find_package(PkgConfig)
if(PkgConfig_FOUND)
  pkg_check_modules(EBPF_CONFORMANCE_LIBBPF IMPORTED_TARGET libbpf)
endif()
if(EBPF_CONFORMANCE_LIBBPF_FOUND AND TARGET kernel_libbpf_tools)
  target_link_libraries(kernel_libbpf_tools PRIVATE PkgConfig::EBPF_CONFORMANCE_LIBBPF)
  target_compile_definitions(kernel_libbpf_tools PRIVATE EBPF_HAVE_LIBBPF=1)
endif()
