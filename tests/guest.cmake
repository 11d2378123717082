# SPDX-License-Identifier: Apache-2.0
# The suites that must also pass on the patched kernel, linked fully static for
# the QEMU guest (no shared libraries there), and GRNDPOOL_VM_PAYLOADS: the
# payload list (PATH:ARGS, as run-tests.sh --payload takes it) that the x86_64
# kernel_vm test and the arm64 cross build (vm-payloads.txt) both run.
# Included by tests/CMakeLists.txt, in the host build and in the cross build.
set(GRNDPOOL_VM_PAYLOADS)
if(NOT TARGET grndpool_fully_static)
  return()
endif()
find_library(GRNDPOOL_GTEST_ARCHIVE NAMES libgtest.a REQUIRED)
# The memlock probe, static, run in the guest with RLIMIT_MEMLOCK 0 and 4 KiB.
add_executable(probe_static probe.cc)
target_link_libraries(probe_static PRIVATE grndpool_fully_static)
add_executable(grndpool_vm_tests vm_main.cc api_test.cc source_test.cc strategies_test.cc
                                 fork_test.cc)
target_include_directories(grndpool_vm_tests PRIVATE ${CMAKE_CURRENT_SOURCE_DIR})
target_link_libraries(grndpool_vm_tests PRIVATE ${GRNDPOOL_GTEST_ARCHIVE} grndpool_fully_static)
# A static glibc warns about getaddrinfo/dlopen inside libcrypto; unused here.
# Under TCG on a loaded host, the 200-fork storm with three busy threads took
# from 4 s to 191 s per strategy, varying from run to run with the host load,
# and 20000 threads 28 s: that alone breaks the kernel test's budget (cached
# under 3 minutes). The guest keeps the storm on the default strategy (slab);
# the host runs all of them (strategy_test, slab_test).
set(vm_skip "Churn.TwentyThousandThreadsRecycleSlices")
foreach(strategy syscall vdso per_thread shared mutex)
  list(APPEND vm_skip "Strategies/ForkAndSignals.TwoHundredForksNeverShareOutput/${strategy}")
endforeach()
list(JOIN vm_skip ":" vm_skip)
list(APPEND GRNDPOOL_VM_PAYLOADS
     "$<TARGET_FILE:grndpool_vm_tests>:--gtest_filter=-${vm_skip}"
     "$<TARGET_FILE:probe_static>:memlock 0 16 --drop-ipc-lock"
     "$<TARGET_FILE:probe_static>:memlock 4096 16 --drop-ipc-lock")
# The seed's table (bench/seed_table.cc), built by bench/ when it is built.
if(GRNDPOOL_BUILD_BENCH OR GRNDPOOL_GUEST_ONLY)
  list(APPEND GRNDPOOL_VM_PAYLOADS "$<TARGET_FILE:seed_table_static>:--count 1048576")
endif()
if(NOT GRNDPOOL_GUEST_ONLY)
  # The VM-clone test's guest program (x86_64 only, see kernel_vm_clone).
  add_executable(vm_clone ${PROJECT_SOURCE_DIR}/kernel/vm/vm_clone.cc)
  target_link_libraries(vm_clone PRIVATE grndpool_fully_static)
endif()
