# The installed tree (headers, library, CMake package, pkg-config file) serves a consumer project.
add_test(NAME install_consumer
  COMMAND bash ${CMAKE_CURRENT_LIST_DIR}/check_install.sh ${PROJECT_BINARY_DIR} ${CMAKE_CXX_COMPILER}
          "${CMAKE_CXX_FLAGS}" "${CMAKE_EXE_LINKER_FLAGS}")
set_tests_properties(install_consumer PROPERTIES LABELS unit TIMEOUT 600)
