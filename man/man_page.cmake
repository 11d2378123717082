# SPDX-License-Identifier: Apache-2.0
# Writes grndpool.3 from grndpool.3.in: @GRNDPOOL_ENVIRONMENT@ becomes the
# output of `grndpool-env --roff` (the options table), @PROJECT_VERSION@ the version.
#   cmake -DTOOL=grndpool-env -DIN=grndpool.3.in -DOUT=grndpool.3 -DVERSION=x.y.z -P man_page.cmake
execute_process(COMMAND ${TOOL} --roff OUTPUT_VARIABLE environment RESULT_VARIABLE rc)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "${TOOL} --roff failed: ${rc}")
endif()
string(REGEX REPLACE "\n$" "" environment "${environment}")
file(READ ${IN} page)
string(REPLACE "@GRNDPOOL_ENVIRONMENT@" "${environment}" page "${page}")
string(REPLACE "@PROJECT_VERSION@" "${VERSION}" page "${page}")
file(WRITE ${OUT}.tmp "${page}")
file(RENAME ${OUT}.tmp ${OUT})
