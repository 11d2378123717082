# SPDX-License-Identifier: Apache-2.0
# Keeps a document's options table (docs/ENVIRONMENT.md, README.md) in sync
# with `grndpool-env --markdown`.
#   cmake -DTOOL=path/to/grndpool-env -DDOC=docs/ENVIRONMENT.md -DMODE=check  -P env_docs.cmake
#   cmake -DTOOL=path/to/grndpool-env -DDOC=docs/ENVIRONMENT.md -DMODE=update -P env_docs.cmake
# The table is the run of lines starting with '|' from the line "| variable |";
# the hand-written text before and after it is kept. check fails if the table
# is stale; update rewrites it.
foreach(var TOOL DOC MODE)
  if(NOT DEFINED ${var})
    message(FATAL_ERROR "env_docs.cmake: -D${var}=... is required")
  endif()
endforeach()

execute_process(COMMAND ${TOOL} --markdown
  OUTPUT_VARIABLE generated RESULT_VARIABLE rc)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "${TOOL} --markdown failed: ${rc}")
endif()

file(READ ${DOC} doc)
string(FIND "${doc}" "| variable |" table_start)
if(table_start EQUAL -1)
  message(FATAL_ERROR "${DOC}: no table (a line starting with '| variable |')")
endif()
string(SUBSTRING "${doc}" 0 ${table_start} intro)
string(SUBSTRING "${doc}" ${table_start} -1 rest)
string(REGEX MATCH "^(\\|[^\n]*\n)+" table "${rest}")
string(LENGTH "${table}" table_length)
string(SUBSTRING "${rest}" ${table_length} -1 outro)

if(MODE STREQUAL "update")
  file(WRITE ${DOC} "${intro}${generated}${outro}")
  message(STATUS "Wrote ${DOC}")
elseif(NOT table STREQUAL generated)
  message(FATAL_ERROR "${DOC} is stale: its table differs from `grndpool-env --markdown`.\n"
                      "Regenerate it with: cmake --build <build> --target grndpool_env_docs\n"
                      "--- expected ---\n${generated}--- found ---\n${table}")
endif()
