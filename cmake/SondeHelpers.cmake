# sonde_cc_library(NAME name SRCS ... [HDRS ...] [DEPS ...])
#   Declares library `sonde_<name>`, aliased `sonde::<name>`.
# sonde_cc_test(NAME name SRCS ... [DEPS ...] [LABELS ...] [TIMEOUT s] [SERIAL] [COST n])
#   Declares a GoogleTest binary and registers its tests with CTest. SERIAL
#   tests never run beside others (process- and timing-heavy tests); a high
#   COST starts a long test first under ctest -j.
# sonde_cc_binary(NAME name SRCS ... [DEPS ...])

function(sonde_cc_library)
  cmake_parse_arguments(A "" "NAME" "SRCS;HDRS;DEPS" ${ARGN})
  add_library(sonde_${A_NAME} STATIC ${A_SRCS} ${A_HDRS})
  target_include_directories(sonde_${A_NAME} PUBLIC ${PROJECT_SOURCE_DIR} ${PROJECT_BINARY_DIR}/proto)
  target_link_libraries(sonde_${A_NAME} PUBLIC ${A_DEPS})
  add_library(sonde::${A_NAME} ALIAS sonde_${A_NAME})
endfunction()

function(sonde_cc_binary)
  cmake_parse_arguments(A "" "NAME" "SRCS;DEPS" ${ARGN})
  add_executable(${A_NAME} ${A_SRCS})
  target_link_libraries(${A_NAME} PRIVATE ${A_DEPS})
  set_target_properties(${A_NAME} PROPERTIES RUNTIME_OUTPUT_DIRECTORY ${PROJECT_BINARY_DIR}/bin)
endfunction()

function(sonde_cc_test)
  cmake_parse_arguments(A "SERIAL" "NAME;TIMEOUT;COST" "SRCS;DEPS;LABELS" ${ARGN})
  add_executable(${A_NAME} ${A_SRCS})
  target_link_libraries(${A_NAME} PRIVATE ${A_DEPS} GTest::gmock GTest::gtest_main)
  target_include_directories(${A_NAME} PRIVATE ${PROJECT_SOURCE_DIR})
  if(NOT A_TIMEOUT)
    set(A_TIMEOUT 120)
  endif()
  if(NOT A_LABELS)
    set(A_LABELS unit)
  endif()
  set(serial FALSE)
  if(A_SERIAL)
    set(serial TRUE)
  endif()
  if(NOT A_COST)
    set(A_COST 0)
  endif()
  # gtest_discover_tests splits a property's list value, so a test with
  # several labels ("hostile;longrun") gets the first here and all of them
  # from a script that runs after the discovered tests are added.
  list(GET A_LABELS 0 first_label)
  gtest_discover_tests(${A_NAME}
    PROPERTIES LABELS "${first_label}" TIMEOUT ${A_TIMEOUT} RUN_SERIAL ${serial} COST ${A_COST}
    ENVIRONMENT "SONDE_BIN_DIR=${PROJECT_BINARY_DIR}/bin"
    ENVIRONMENT_MODIFICATION "SONDE_SOURCE_DIR=set:${PROJECT_SOURCE_DIR}"
    DISCOVERY_TIMEOUT 30)
  list(LENGTH A_LABELS label_count)
  if(label_count GREATER 1)
    set(labels_file "${CMAKE_CURRENT_BINARY_DIR}/${A_NAME}_labels.cmake")
    file(WRITE "${labels_file}"
         "if(${A_NAME}_TESTS)\n"
         "  set_tests_properties(\${${A_NAME}_TESTS} PROPERTIES LABELS \"${A_LABELS}\")\n"
         "endif()\n")
    set_property(DIRECTORY APPEND PROPERTY TEST_INCLUDE_FILES "${labels_file}")
  endif()
endfunction()

include(GoogleTest)
