# One helper per module kind: libraries, binaries and Catch2 tests share warnings and options.

include(Catch)

set(PERFLEDGER_WARNINGS -Wall -Wextra -Wno-unused-parameter)
# GCC 12's -Wrestrict misfires on std::string's inlined replace/insert at -O2 and above (GCC bug
# 105651: `"x" + std::to_string(i)` "may overlap up to 9223372036854775813 bytes"). It is fixed
# in GCC 13; before that the warning says nothing about the code it names.
if(CMAKE_CXX_COMPILER_ID STREQUAL "GNU" AND CMAKE_CXX_COMPILER_VERSION VERSION_LESS 13)
  list(APPEND PERFLEDGER_WARNINGS -Wno-restrict)
endif()

# perfledger_library(NAME SOURCES ... DEPS ...)
function(perfledger_library name)
  cmake_parse_arguments(ARG "" "" "SOURCES;DEPS" ${ARGN})
  add_library(${name} STATIC ${ARG_SOURCES})
  target_include_directories(${name} PUBLIC ${PROJECT_SOURCE_DIR})
  target_compile_options(${name} PRIVATE ${PERFLEDGER_WARNINGS})
  target_link_libraries(${name} PUBLIC ${ARG_DEPS})
endfunction()

# perfledger_binary(NAME SOURCES ... DEPS ...)
function(perfledger_binary name)
  cmake_parse_arguments(ARG "" "" "SOURCES;DEPS" ${ARGN})
  add_executable(${name} ${ARG_SOURCES})
  target_compile_options(${name} PRIVATE ${PERFLEDGER_WARNINGS})
  target_link_libraries(${name} PRIVATE ${ARG_DEPS})
endfunction()

# perfledger_test(NAME SOURCES ... DEPS ... [LABELS ...] [PROPERTIES ...] [PREFIX test-name-prefix])
# Catch2 v2 tests registered one CTest case per TEST_CASE.
function(perfledger_test name)
  cmake_parse_arguments(ARG "" "PREFIX" "SOURCES;DEPS;LABELS;PROPERTIES" ${ARGN})
  add_executable(${name} ${ARG_SOURCES})
  target_compile_options(${name} PRIVATE ${PERFLEDGER_WARNINGS})
  target_link_libraries(${name} PRIVATE ${ARG_DEPS} Catch2::Catch2WithMain)
  target_compile_definitions(${name} PRIVATE
    PERFLEDGER_BINARY_DIR="${PROJECT_BINARY_DIR}"
    PERFLEDGER_SOURCE_DIR="${PROJECT_SOURCE_DIR}")
  # catch_discover_tests flattens its PROPERTIES, so a list of labels cannot pass through it:
  # the first label goes there, and a CTest include file run after the discovered tests'
  # sets the whole list on each of them.
  set(first_label "")
  if(ARG_LABELS)
    list(GET ARG_LABELS 0 first_label)
  endif()
  catch_discover_tests(${name} PROPERTIES LABELS "${first_label}" ${ARG_PROPERTIES}
    DISCOVERY_TIMEOUT 30 TEST_LIST ${name}_TESTS TEST_PREFIX "${ARG_PREFIX}")
  list(LENGTH ARG_LABELS label_count)
  if(label_count GREATER 1)
    set(labels_file "${CMAKE_CURRENT_BINARY_DIR}/${name}_labels.cmake")
    file(WRITE "${labels_file}"
      "foreach(t IN LISTS ${name}_TESTS)\n"
      "  set_tests_properties(\"\${t}\" PROPERTIES LABELS \"${ARG_LABELS}\")\n"
      "endforeach()\n")
    set_property(DIRECTORY APPEND PROPERTY TEST_INCLUDE_FILES "${labels_file}")
  endif()
endfunction()
