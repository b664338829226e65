# Compiling BPF C at build time, for benchmarks that run a clang-built program beside the same logic built with
# the library's DSL (the comparator the issues ask for). The objects are build products, never committed.
# Without clang the function returns an empty list and the benchmarks report the comparator as missing.
find_program(EBPF_BPF_CLANG NAMES clang-19 clang)

# ebpf_bpf_objects(OUT_VAR src.bpf.c ...): each src.bpf.c -> ${CMAKE_CURRENT_BINARY_DIR}/bpf/src.bpf.o, compiled
# with clang -O2 -g -target bpf -mcpu=v3; the project's include/ is on the include path.
function(ebpf_bpf_objects out_var)
  set(objects)
  if(EBPF_BPF_CLANG)
    set(dir ${CMAKE_CURRENT_BINARY_DIR}/bpf)
    foreach(src ${ARGN})
      get_filename_component(name ${src} NAME_WE)
      set(obj ${dir}/${name}.bpf.o)
      add_custom_command(OUTPUT ${obj}
        COMMAND ${CMAKE_COMMAND} -E make_directory ${dir}
        COMMAND ${EBPF_BPF_CLANG} -O2 -g -target bpf -mcpu=v3 -Wall -Werror
                -I/usr/include/${CMAKE_LIBRARY_ARCHITECTURE} -I${PROJECT_SOURCE_DIR}/include -c ${src} -o ${obj}
        DEPENDS ${src} VERBATIM
        COMMENT "clang BPF ${name}.bpf.c")
      list(APPEND objects ${obj})
    endforeach()
  endif()
  set(${out_var} ${objects} PARENT_SCOPE)
endfunction()
