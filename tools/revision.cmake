# Writes OUT, a header that defines CAIRN_REVISION as the short git revision
# of SOURCE_DIR ("unknown" outside a git checkout; "-dirty" when the work
# tree has changes). Leaves OUT untouched when the revision is the same.
# Run by the build: cmake -DSOURCE_DIR=... -DOUT=... -P revision.cmake
set(revision "unknown")
find_package(Git QUIET)
if(GIT_FOUND)
  execute_process(
    COMMAND ${GIT_EXECUTABLE} -C ${SOURCE_DIR} rev-parse --short=12 HEAD
    OUTPUT_VARIABLE head OUTPUT_STRIP_TRAILING_WHITESPACE
    RESULT_VARIABLE rc ERROR_QUIET)
  if(rc EQUAL 0 AND head)
    set(revision "${head}")
    execute_process(
      COMMAND ${GIT_EXECUTABLE} -C ${SOURCE_DIR} diff --quiet HEAD --
      RESULT_VARIABLE dirty ERROR_QUIET)
    if(NOT dirty EQUAL 0)
      set(revision "${revision}-dirty")
    endif()
  endif()
endif()
set(text "#pragma once\n#define CAIRN_REVISION \"${revision}\"\n")
if(EXISTS "${OUT}")
  file(READ "${OUT}" old)
endif()
if(NOT "${old}" STREQUAL "${text}")
  file(WRITE "${OUT}" "${text}")
endif()
