#define _GNU_SOURCE
#include "CSandboxSys.h"
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <sched.h>
#include <pthread.h>
#include <signal.h>
#include <sys/mman.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <linux/capability.h>
#include <unistd.h>

#ifndef CLOSE_RANGE_CLOEXEC
#define CLOSE_RANGE_CLOEXEC (1U << 2)
#endif

/* Marks every fd >= first close-on-exec; async-signal-safe. */
static int cloexec_from(int first) {
    if (syscall(SYS_close_range, (unsigned)first, ~0U, CLOSE_RANGE_CLOEXEC) == 0) return 0;
    struct rlimit rl;
    long max = (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY) ? (long)rl.rlim_cur : 65536;
    for (long fd = first; fd < max; fd++) {
        int flags = fcntl((int)fd, F_GETFD);
        if (flags >= 0) fcntl((int)fd, F_SETFD, flags | FD_CLOEXEC);
    }
    return 0;
}

static void report_and_exit(int pipe_fd, int err) {
    ssize_t unused = write(pipe_fd, &err, sizeof err);
    (void)unused;
    _exit(127);
}

/* Runs in the child until exec, on its own stack but in the broker's memory
 * (CLONE_VM, as posix_spawn does): it writes no memory but its stack, and
 * changes its credentials with raw system calls, since glibc's setuid() would
 * try to have every thread listed in that memory, the broker's, change theirs. */
static void child_side(const nse_spawn_config *c, int err_pipe) {
    /* Keep the error pipe away from fd 3 too. */
    int moved = fcntl(err_pipe, F_DUPFD_CLOEXEC, 10);
    if (moved >= 0) err_pipe = moved;
    sigset_t all;
    sigfillset(&all);
    for (int s = 1; s < NSIG; s++) signal(s, SIG_DFL);
    sigemptyset(&all);
    sigprocmask(SIG_SETMASK, &all, NULL);

    /* Move the executable's fd out of the way first: fd 3 is about to be taken. */
    int exe_fd = fcntl(c->exe_fd, F_DUPFD_CLOEXEC, 10);
    if (exe_fd < 0) report_and_exit(err_pipe, errno);

    /* The RPC socket becomes fd 3 and must survive exec. */
    if (c->rpc_fd == 3) {
        if (fcntl(3, F_SETFD, 0) != 0) report_and_exit(err_pipe, errno);
    } else if (dup2(c->rpc_fd, 3) != 3) {
        report_and_exit(err_pipe, errno);
    }
    if (c->drop_to_user) {
        if (syscall(SYS_setgroups, 0, NULL) != 0) report_and_exit(err_pipe, errno);
        if (syscall(SYS_setgid, c->gid) != 0) report_and_exit(err_pipe, errno);
        if (syscall(SYS_setuid, c->uid) != 0) report_and_exit(err_pipe, errno);
        if (getuid() != c->uid || geteuid() != c->uid || getgid() != c->gid || getegid() != c->gid)
            report_and_exit(err_pipe, EPERM);
        if (syscall(SYS_setuid, 0) == 0) report_and_exit(err_pipe, EPERM); /* must not regain root */
    }
    /* Die with the broker; set after setuid, which clears it. */
    if (prctl(PR_SET_PDEATHSIG, SIGKILL) != 0) report_and_exit(err_pipe, errno);
    if (getppid() == 1) report_and_exit(err_pipe, ESRCH);

    close(0);
    close(1);
    if (!c->keep_stderr) close(2);
    cloexec_from(4); /* the exe fd and the error pipe close at exec too */

    char *empty_env[] = { NULL };
    syscall(SYS_execveat, exe_fd, "", c->argv, empty_env, AT_EMPTY_PATH);
    report_and_exit(err_pipe, errno);
}

struct spawn_start { const nse_spawn_config *config; int err_pipe; };

static int child_start(void *arg) {
    struct spawn_start *start = arg;
    child_side(start->config, start->err_pipe);
    return 127;
}

int nse_spawn(const nse_spawn_config *c, pid_t *pid_out) {
    int p[2];
    if (pipe2(p, O_CLOEXEC) != 0) return errno;
    /* The child shares the broker's memory until it execs, and the broker waits
     * (CLONE_VM | CLONE_VFORK): no copy of the broker's page tables, and no
     * copy-on-write faults in the broker afterwards. Every signal stays blocked
     * until the child has reset its handlers, which are the broker's. */
    size_t stack_size = 64 * 1024;
    void *stack = mmap(NULL, stack_size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK, -1, 0);
    if (stack == MAP_FAILED) {
        int e = errno;
        close(p[0]);
        close(p[1]);
        return e;
    }
    sigset_t all, saved;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &saved);
    struct spawn_start start = { c, p[1] };
    /* In a new PID namespace when we may (root): the child is its pid 1 and sees
     * no other process. */
    int flags = CLONE_VM | CLONE_VFORK | SIGCHLD;
    pid_t pid = clone(child_start, (char *)stack + stack_size, flags | CLONE_NEWPID, &start);
    if (pid < 0 && (errno == EPERM || errno == EINVAL || errno == ENOSPC || errno == EUSERS))
        pid = clone(child_start, (char *)stack + stack_size, flags, &start);
    int e = errno;
    pthread_sigmask(SIG_SETMASK, &saved, NULL);
    munmap(stack, stack_size);
    if (pid < 0) {
        close(p[0]);
        close(p[1]);
        return e;
    }
    close(p[1]);
    int child_err = 0;
    ssize_t n;
    do {
        n = read(p[0], &child_err, sizeof child_err);
    } while (n < 0 && errno == EINTR);
    close(p[0]);
    if (n == (ssize_t)sizeof child_err) {
        /* exec never happened: reap the child now. */
        int status;
        while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {}
        return child_err ? child_err : ECHILD;
    }
    *pid_out = pid;
    return 0;
}

int nse_yield_to_caller(pid_t pid) {
    /* The broker serves every child: a child it wakes with a reply must not
     * preempt it (SCHED_BATCH), and while both CPUs are busy the broker's share
     * is larger than any child's (nice). Neither is part of the confinement. */
    struct sched_param none = { 0 };
    int failed = sched_setscheduler(pid, SCHED_BATCH, &none) != 0;
    errno = 0;
    int mine = getpriority(PRIO_PROCESS, 0);
    if (errno == 0) failed |= setpriority(PRIO_PROCESS, (id_t)pid, mine + 5 > 19 ? 19 : mine + 5) != 0;
    return failed ? -1 : 0;
}

int nse_set_no_new_privs(void) {
    return prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0);
}

int nse_close_from(int first) {
    if (syscall(SYS_close_range, (unsigned)first, ~0U, 0) == 0) return 0;
    for (int fd = first; fd < 65536; fd++) close(fd);
    return 0;
}

int nse_capability_count(void) {
    struct __user_cap_header_struct hdr = { _LINUX_CAPABILITY_VERSION_3, 0 };
    struct __user_cap_data_struct data[2];
    memset(data, 0, sizeof data);
    if (syscall(SYS_capget, &hdr, data) != 0) return -1;
    int count = 0;
    for (int i = 0; i < 2; i++) {
        count += __builtin_popcount(data[i].effective) + __builtin_popcount(data[i].permitted) +
                 __builtin_popcount(data[i].inheritable);
    }
    return count;
}

long nse_getrandom(void *buf, unsigned long len) {
    return syscall(SYS_getrandom, buf, len, 0);
}

int nse_usable_cpus(void) {
    cpu_set_t set;
    if (sched_getaffinity(0, sizeof set, &set) != 0) return 1;
    int n = CPU_COUNT(&set);
    return n > 0 ? n : 1;
}
