/* SPDX-License-Identifier: Apache-2.0 */
/* Real seccomp filters for the sandbox tests, built with libseccomp from
 * command-line rules (sandbox_exec applies one before exec, sandbox_child
 * inside a running process):
 *
 *   --deny NAME:ERRNO        NAME answers -ERRNO (EPERM, ENOSYS or a number).
 *                            NAME mmap-droppable: only mmap with MAP_DROPPABLE.
 *   --allow-file FILE        allow-list mode: the syscalls named in FILE (one a
 *                            line) are allowed, every other one gets --default
 *   --default ERRNO|kill     what a syscall off the allow list gets (kill:
 *                            SIGSYS to the process, systemd's default)
 *   --expect NAME:ERRNO      adds no rule; checks that NAME fails so
 *
 * Each --deny and --expect is checked after loading (the positive control):
 * the raw call is made and must fail with that errno. */
#ifndef GRNDPOOL_TESTS_SANDBOX_FILTER_H
#define GRNDPOOL_TESTS_SANDBOX_FILTER_H

#ifdef __cplusplus
extern "C" {
#endif

/* Consumes the filter options at the start of argv (up to "--" or the first
 * argument that is not one), installs the filter with no_new_privs, checks
 * every --deny, and returns the index of the first argument not consumed.
 * Prints one line and returns -1 on a bad option or a failed check. */
int SandboxApply(int argc, char **argv);

#ifdef __cplusplus
}
#endif
#endif
