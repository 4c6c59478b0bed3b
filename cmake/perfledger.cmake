# One helper per module kind: libraries, binaries and Catch2 tests share warnings and options.

include(Catch)

set(PERFLEDGER_WARNINGS -Wall -Wextra -Wno-unused-parameter)

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

# perfledger_test(NAME SOURCES ... DEPS ... [LABELS ...])
# Catch2 v2 tests registered one CTest case per TEST_CASE.
function(perfledger_test name)
  cmake_parse_arguments(ARG "" "" "SOURCES;DEPS;LABELS" ${ARGN})
  add_executable(${name} ${ARG_SOURCES})
  target_compile_options(${name} PRIVATE ${PERFLEDGER_WARNINGS})
  target_link_libraries(${name} PRIVATE ${ARG_DEPS} Catch2::Catch2WithMain)
  target_compile_definitions(${name} PRIVATE
    PERFLEDGER_BINARY_DIR="${PROJECT_BINARY_DIR}"
    PERFLEDGER_SOURCE_DIR="${PROJECT_SOURCE_DIR}")
  catch_discover_tests(${name} PROPERTIES LABELS "${ARG_LABELS}" DISCOVERY_TIMEOUT 30)
endfunction()
