/* For the sandbox death tests: make a system call by name, with all arguments 0,
 * straight through syscall(2), so that nothing in libc stands between the test and
 * the seccomp filter. */
#ifndef NSEBOX_CSYSCALLPROBE_H
#define NSEBOX_CSYSCALLPROBE_H

/** The x86_64 number of a system call in the probe's table, or -1. */
long nse_probe_number(const char *name);

/** syscall(number, 0, 0, 0, 0, 0, 0); its result (-1 with errno on failure). */
long nse_probe_call(long number);
#endif
