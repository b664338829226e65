# Compile-fail checks: a constant program (ebpf::assemble<...>()) with an undefined label must not compile.
# The test compiles assembler_test.cpp with the broken program enabled and passes only when the compiler
# stops at the assembler's compile-time failure hook.
add_test(NAME compile_fail_undefined_label
  COMMAND ${CMAKE_CXX_COMPILER} -std=c++23 -fsyntax-only
          -I${PROJECT_SOURCE_DIR}/include -I${CMAKE_CURRENT_SOURCE_DIR}
          -DEBPF_COMPILE_FAIL_UNDEFINED_LABEL ${CMAKE_CURRENT_SOURCE_DIR}/unit/assembler_test.cpp)
set_tests_properties(compile_fail_undefined_label PROPERTIES
  LABELS unit
  PASS_REGULAR_EXPRESSION "constant_program_is_invalid")
