# The version every Sonde binary prints (--version) and probers announce:
# PROJECT_VERSION plus the git revision, read once at configure time with
# `git describe`. A tree without .git (a release tarball) falls back to
# $SONDE_GIT_REVISION or "unknown", so building never needs git.
set(SONDE_GIT_REVISION "$ENV{SONDE_GIT_REVISION}")
if(NOT SONDE_GIT_REVISION)
  find_program(GIT_EXECUTABLE git)
  if(GIT_EXECUTABLE AND EXISTS "${PROJECT_SOURCE_DIR}/.git")
    execute_process(
      COMMAND "${GIT_EXECUTABLE}" describe --always --dirty --abbrev=12
      WORKING_DIRECTORY "${PROJECT_SOURCE_DIR}"
      OUTPUT_VARIABLE SONDE_GIT_REVISION
      OUTPUT_STRIP_TRAILING_WHITESPACE
      ERROR_QUIET)
  endif()
endif()
if(NOT SONDE_GIT_REVISION)
  set(SONDE_GIT_REVISION "unknown")
endif()
configure_file("${PROJECT_SOURCE_DIR}/common/version/version.h.in"
               "${PROJECT_BINARY_DIR}/generated/common/version/version.h" @ONLY)
