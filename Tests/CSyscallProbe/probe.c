#include "CSyscallProbe.h"
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

/* The calls the death tests make; each must kill a sandboxed child. */
static const struct { const char *name; long number; } table[] = {
#define C(n) { #n, SYS_##n }
    C(socket), C(socketpair), C(connect), C(bind), C(listen), C(accept4), C(sendfile),
    C(execve), C(execveat), C(fork), C(vfork), C(clone), C(clone3),
    C(kill), C(tkill), C(tgkill), C(ptrace), C(process_vm_readv), C(process_vm_writev),
    C(mount), C(umount2), C(unshare), C(setns), C(chroot), C(pivot_root),
    C(setuid), C(setgid), C(setresuid), C(capset), C(prctl), C(seccomp), C(bpf),
    C(perf_event_open), C(keyctl), C(add_key), C(ioctl), C(userfaultfd), C(io_uring_setup),
    C(memfd_create), C(mknod), C(symlink), C(unlink), C(rename), C(mkdir), C(chmod), C(chown),
    C(truncate), C(init_module), C(finit_module), C(reboot), C(kexec_load), C(sethostname),
    C(syslog), C(personality), C(pipe2), C(dup), C(dup3), C(splice), C(inotify_init1),
    C(eventfd2), C(timerfd_create), C(signalfd4), C(getdents64), C(sysinfo), C(uname),
    C(nanosleep), C(getuid), C(getppid), C(setsockopt), C(getsockname), C(select), C(pselect6),
    /* What a zygote may do and its instances may not (Sandbox.zygoteRules). */
    C(wait4), C(ppoll), C(rt_sigaction), C(dup2), C(prlimit64), C(setrlimit), C(close),
    C(set_robust_list),
#undef C
};

long nse_probe_number(const char *name) {
    for (size_t i = 0; i < sizeof table / sizeof table[0]; i++) {
        if (strcmp(table[i].name, name) == 0) return table[i].number;
    }
    return -1;
}

long nse_probe_call(long number) {
    return syscall(number, 0L, 0L, 0L, 0L, 0L, 0L);
}
