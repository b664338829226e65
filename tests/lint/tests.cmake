add_test(NAME lint_layers COMMAND bash ${CMAKE_CURRENT_LIST_DIR}/check_layers.sh)
set_tests_properties(lint_layers PROPERTIES LABELS unit)
