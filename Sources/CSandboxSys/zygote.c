/* The zygote's C: passing a descriptor over a Unix socket, waiting for a command
 * or a child's end without a race, and the fork after which a script instance is
 * confined (nothing of Swift runs between fork and the instance's own filter). */
#define _GNU_SOURCE
#include "CSandboxSys.h"
#include <errno.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <poll.h>
#include <signal.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

ssize_t nse_send_with_fd(int sock, const void *buf, size_t len, int fd) {
    struct iovec iov = { (void *)buf, len };
    union { struct cmsghdr align; char space[CMSG_SPACE(sizeof(int))]; } control;
    memset(&control, 0, sizeof control);
    struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1,
                          .msg_control = control.space, .msg_controllen = sizeof control.space };
    struct cmsghdr *c = CMSG_FIRSTHDR(&msg);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN(sizeof(int));
    memcpy(CMSG_DATA(c), &fd, sizeof(int));
    return sendmsg(sock, &msg, MSG_NOSIGNAL);
}

ssize_t nse_recv_with_fds(int sock, void *buf, size_t cap, int *fds, int max_fds, int *nfds) {
    struct iovec iov = { buf, cap };
    union { struct cmsghdr align; char space[CMSG_SPACE(sizeof(int) * 8)]; } control;
    struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1,
                          .msg_control = control.space, .msg_controllen = sizeof control.space };
    *nfds = 0;
    ssize_t n = recvmsg(sock, &msg, MSG_CMSG_CLOEXEC);
    if (n < 0) return n;
    for (struct cmsghdr *c = CMSG_FIRSTHDR(&msg); c != NULL; c = CMSG_NXTHDR(&msg, c)) {
        if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS) continue;
        int count = (int)((c->cmsg_len - CMSG_LEN(0)) / sizeof(int));
        for (int i = 0; i < count; i++) {
            int fd;
            memcpy(&fd, CMSG_DATA(c) + i * sizeof(int), sizeof(int));
            if (*nfds < max_fds) fds[(*nfds)++] = fd; else close(fd);
        }
    }
    return n;
}

static void on_child(int sig) { (void)sig; }

int nse_zygote_prepare(void) {
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_child; /* no SA_RESTART: ppoll returns EINTR */
    sigemptyset(&sa.sa_mask);
    if (sigaction(SIGCHLD, &sa, NULL) != 0) return -1;
    sigset_t block;
    sigemptyset(&block);
    sigaddset(&block, SIGCHLD);
    return sigprocmask(SIG_BLOCK, &block, NULL);
}

int nse_zygote_wait(int fd) {
    struct pollfd p = { fd, POLLIN, 0 };
    sigset_t open;
    sigemptyset(&open);
    /* SIGCHLD is blocked except inside ppoll: a child that ends between two waits
     * interrupts the next one instead of going unnoticed. */
    int r = ppoll(&p, 1, NULL, &open);
    if (r < 0) return errno == EINTR ? 0 : -1;
    return 1;
}

pid_t nse_zygote_fork(int rpc_fd, const void *filter, size_t filter_len, long nproc) {
    pid_t parent = getpid();
    pid_t pid = fork();
    if (pid != 0) return pid;
    /* The instance: its own socket as fd 3, the policy's limits and filter. */
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = SIG_DFL;
    sigaction(SIGCHLD, &sa, NULL);
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    if (dup2(rpc_fd, 3) != 3) _exit(70);
    if (rpc_fd != 3) close(rpc_fd);
    if (prctl(PR_SET_PDEATHSIG, SIGKILL) != 0) _exit(70);
    /* Its name comes first on its socket, written by the broker with its job (for
     * an instance forked ahead, when a job takes it). */
    char name[NSE_NAME_BYTES + 1];
    size_t got = 0;
    while (got < NSE_NAME_BYTES) {
        ssize_t n = read(3, name + got, NSE_NAME_BYTES - got);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) _exit(0); /* the scan ended without needing it */
        got += (size_t)n;
    }
    name[NSE_NAME_BYTES] = 0;
    (void)prctl(PR_SET_NAME, name, 0, 0, 0); /* ps shows the instance, not "nsebox-child" */
    if (getppid() != parent) _exit(70);
    if (nproc >= 0) {
        struct rlimit rl = { (rlim_t)nproc, (rlim_t)nproc };
        if (setrlimit(RLIMIT_NPROC, &rl) != 0) _exit(70);
    }
    struct sock_fprog prog = { (unsigned short)(filter_len / sizeof(struct sock_filter)),
                               (struct sock_filter *)filter };
    if (prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog) != 0) _exit(70);
    return 0;
}

pid_t nse_zygote_reap(int *status, long *cpu_us, long *maxrss_kib) {
    struct rusage ru;
    memset(&ru, 0, sizeof ru);
    pid_t pid = wait4(-1, status, WNOHANG, &ru);
    if (pid > 0) {
        *cpu_us = (long)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1000000L + ru.ru_utime.tv_usec + ru.ru_stime.tv_usec;
        *maxrss_kib = ru.ru_maxrss;
    }
    return pid;
}
