/* The zygote's C: passing a descriptor over a Unix socket, and the zygote's loop
 * (nse_zygote_serve), which forks the script instances.
 *
 * A fork shares every page of the zygote with the new instance, so every page
 * the zygote writes afterwards is copied on its write, one page fault each
 * (as were a Swift loop's allocations and reference counts, and glibc's fork
 * handlers). This loop writes only memory no instance inherits: its
 * state and its own stack lie in a mapping marked MADV_DONTFORK, it calls the
 * kernel without going through errno, and an instance does not return from the
 * fork on the zygote's stack but starts on a stack of its own that the zygote
 * never touches, its pages fresh. Nothing of Swift runs in an instance before
 * its own filter is on. */
#define _GNU_SOURCE
#include "CSandboxSys.h"
#include <errno.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <poll.h>
#include <signal.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/syscall.h>
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

/* A system call that returns -errno and leaves errno alone: errno lives in the
 * main thread's TLS block, on a heap page every instance shares. */
#if defined(__x86_64__)
static long sys(long n, long a, long b, long c, long d, long e) {
    register long r10 __asm__("r10") = d;
    register long r8 __asm__("r8") = e;
    long ret;
    __asm__ volatile("syscall" : "=a"(ret) : "a"(n), "D"(a), "S"(b), "d"(c), "r"(r10), "r"(r8)
                     : "rcx", "r11", "memory");
    return ret;
}
#else
static long sys(long n, long a, long b, long c, long d, long e) {
    long r = syscall(n, a, b, c, d, e);
    return r < 0 ? -errno : r;
}
#endif

/* What an instance reads after the fork: set before the first one, never
 * written again (so never copied). */
static struct {
    pid_t parent;
    long nproc;
    const void *filter;
    size_t filter_len;
    void (*instance)(void);
    uintptr_t stack_top; /* the instances' own stack (see nse_zygote_serve) */
} child;

/* In a new instance, on its own stack, its socket `fd`: fd 3, the policy's
 * limits and filter, then the instance (which never returns). */
static void instance_main(long fd) {
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = SIG_DFL;
    sigaction(SIGCHLD, &sa, NULL);
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    if (dup2((int)fd, 3) != 3) _exit(70);
    if (fd != 3) close((int)fd);
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
    if (getppid() != child.parent) _exit(70);
    if (child.nproc >= 0) {
        struct rlimit rl = { (rlim_t)child.nproc, (rlim_t)child.nproc };
        if (setrlimit(RLIMIT_NPROC, &rl) != 0) _exit(70);
    }
    struct sock_fprog prog = { (unsigned short)(child.filter_len / sizeof(struct sock_filter)),
                               (struct sock_filter *)child.filter };
    if (prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog) != 0) _exit(70);
    child.instance();
    _exit(71);
}

#if !defined(__x86_64__)
static int instance_main_arg(void *fd) { instance_main(*(long *)fd); return 0; }
#endif

/* fork(2) whose child starts in instance_main(fd) on child.stack_top: a pid,
 * 0 never (the child does not return here), or -errno. glibc's fork would run
 * its handlers and return in the child on this stack; its clone(3) would write
 * its arguments on the child's stack from here. */
static long fork_instance(int fd) {
#if defined(__x86_64__)
    register long r10 __asm__("r10") = 0;
    register long r8 __asm__("r8") = 0;
    register long fn __asm__("r12") = (long)instance_main; /* callee-saved: the child has them */
    register long arg __asm__("r13") = fd;
    long ret;
    __asm__ volatile(
        "syscall\n\t"
        "test %%rax, %%rax\n\t"
        "jnz 1f\n\t"
        /* The child: its stack pointer is the new stack's top (16-byte aligned). */
        "xor %%ebp, %%ebp\n\t"
        "mov %%r13, %%rdi\n\t"
        "call *%%r12\n\t"
        "ud2\n"
        "1:"
        : "=a"(ret)
        : "a"((long)SYS_clone), "D"((long)SIGCHLD), "S"(child.stack_top), "d"(0L), "r"(r10), "r"(r8), "r"(fn), "r"(arg)
        : "rcx", "r11", "memory");
    return ret;
#else
    long arg = fd;
    int pid = clone(instance_main_arg, (void *)child.stack_top, SIGCHLD, &arg);
    return pid < 0 ? -errno : pid;
#endif
}

/* What instances start with (`child`), and their stack: as large as a main
 * thread's usually is, a guard page below it; never touched by the zygote, so
 * each instance's stack pages are its own. 0, or -1 with errno. */
static int prepare_instances(const void *filter, size_t filter_len, long nproc, void (*instance)(void)) {
    if (child.stack_top == 0) {
        size_t stack = (size_t)8 << 20, page = (size_t)sysconf(_SC_PAGESIZE);
        uint8_t *area = mmap(NULL, stack + page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
        if (area == MAP_FAILED) return -1;
        if (mprotect(area, page, PROT_NONE) != 0) { munmap(area, stack + page); return -1; }
        child.stack_top = (uintptr_t)(area + page + stack);
    }
    child.parent = getpid();
    child.nproc = nproc;
    child.filter = filter;
    child.filter_len = filter_len;
    child.instance = instance;
    return 0;
}

pid_t nse_zygote_fork(int rpc_fd, const void *filter, size_t filter_len, long nproc, void (*instance)(void)) {
    if (prepare_instances(filter, filter_len, nproc, instance) != 0) return -1;
    long pid = fork_instance(rpc_fd);
    if (pid < 0) { errno = (int)-pid; return -1; }
    return (pid_t)pid;
}

#define LIVE_MAX 65536
#define FDS_MAX 4096
#define LOOP_STACK (256 << 10)

/* The loop's state: in the DONTFORK mapping, with the loop's stack above it. */
struct loop {
    int rpc;
    const struct nse_zygote_wire *wire;
    uint8_t spawned[64], exited[128];
    uint8_t in[8192];
    size_t in_start, in_end;
    uint8_t out[4096];
    size_t out_len;
    int fds[FDS_MAX];
    size_t fd_head, fd_count;
    size_t live_count;
    struct { long pid; int64_t id; } live[LIVE_MAX];
};

static _Noreturn void quit(int code) {
    for (;;) sys(SYS_exit_group, code, 0, 0, 0, 0);
}

static void put_int(uint8_t *at, int64_t v) {
    for (int i = 0; i < 8; i++) at[i] = (uint8_t)((uint64_t)v >> (56 - 8 * i));
}

static int64_t get_int(const uint8_t *at) {
    uint64_t v = 0;
    for (int i = 0; i < 8; i++) v = v << 8 | at[i];
    return (int64_t)v;
}

static void flush(struct loop *l) {
    size_t done = 0;
    while (done < l->out_len) {
        long n = sys(SYS_write, l->rpc, (long)(l->out + done), (long)(l->out_len - done), 0, 0);
        if (n == -EINTR) continue;
        if (n <= 0) quit(0); /* the broker is gone, and the scan with it */
        done += (size_t)n;
    }
    l->out_len = 0;
}

/* Appends a message: `template` (NSEWire's bytes) with its integers filled in. */
static void say(struct loop *l, uint8_t *template, size_t size, const size_t *offsets, const int64_t *values, int count) {
    if (l->out_len + size > sizeof l->out) flush(l);
    for (int i = 0; i < count; i++) put_int(template + offsets[i], values[i]);
    memcpy(l->out + l->out_len, template, size);
    l->out_len += size;
}

/* Every instance that ended: childExited(id, status, CPU µs, peak KiB). */
static void reap(struct loop *l) {
    for (;;) {
        int status = 0;
        struct rusage ru;
        long pid = sys(SYS_wait4, -1, (long)&status, WNOHANG, (long)&ru, 0);
        if (pid <= 0) return;
        for (size_t i = 0; i < l->live_count; i++) {
            if (l->live[i].pid != pid) continue;
            const struct nse_zygote_wire *w = l->wire;
            int64_t values[4] = { l->live[i].id, status,
                (ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1000000L + ru.ru_utime.tv_usec + ru.ru_stime.tv_usec,
                ru.ru_maxrss };
            say(l, l->exited, w->exited_size, w->exited_values, values, 4);
            l->live[i] = l->live[--l->live_count];
            break;
        }
    }
}

/* One command from the broker (a frame laid out as `wire->request`, with its
 * op or `wire->kill_op`, its request id aside); anything else ends the zygote. */
static void handle(struct loop *l, const uint8_t *frame) {
    const struct nse_zygote_wire *w = l->wire;
    size_t value = w->request_value;
    /* Bytes 5 to 8 are the request id; the value's tag comes after. */
    if (memcmp(frame + 9, w->request + 9, value - 9) != 0) quit(73);
    int64_t id = get_int(frame + value);
    if (frame[4] == w->request[4]) {
        if (l->fd_count == 0) quit(73); /* a spawn without its socket */
        int fd = l->fds[l->fd_head];
        l->fd_head = (l->fd_head + 1) % FDS_MAX;
        l->fd_count--;
        long pid = l->live_count < LIVE_MAX ? fork_instance(fd) : -EAGAIN;
        sys(SYS_close, fd, 0, 0, 0, 0);
        if (pid > 0) {
            l->live[l->live_count].pid = pid;
            l->live[l->live_count].id = id;
            l->live_count++;
        }
        int64_t values[2] = { id, pid };
        say(l, l->spawned, w->spawned_size, w->spawned_values, values, 2);
    } else if (frame[4] == w->kill_op) {
        for (size_t i = 0; i < l->live_count; i++) {
            if (l->live[i].id == id) sys(SYS_kill, l->live[i].pid, SIGKILL, 0, 0, 0);
        }
    } else {
        quit(73);
    }
}

/* Reads what the broker sent, with the sockets that came with it. */
static void receive(struct loop *l) {
    if (l->in_start > 0) {
        memmove(l->in, l->in + l->in_start, l->in_end - l->in_start);
        l->in_end -= l->in_start;
        l->in_start = 0;
    }
    struct iovec iov = { l->in + l->in_end, sizeof l->in - l->in_end };
    union { struct cmsghdr align; char space[CMSG_SPACE(sizeof(int) * 8)]; } control;
    struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1,
                          .msg_control = control.space, .msg_controllen = sizeof control.space };
    long n = sys(SYS_recvmsg, l->rpc, (long)&msg, MSG_CMSG_CLOEXEC, 0, 0);
    if (n == -EINTR || n == -EAGAIN) return;
    if (n <= 0) quit(0);
    l->in_end += (size_t)n;
    for (struct cmsghdr *c = CMSG_FIRSTHDR(&msg); c != NULL; c = CMSG_NXTHDR(&msg, c)) {
        if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS) continue;
        int count = (int)((c->cmsg_len - CMSG_LEN(0)) / sizeof(int));
        for (int i = 0; i < count; i++) {
            int fd;
            memcpy(&fd, CMSG_DATA(c) + i * sizeof(int), sizeof(int));
            if (l->fd_count == FDS_MAX) quit(73);
            l->fds[(l->fd_head + l->fd_count) % FDS_MAX] = fd;
            l->fd_count++;
        }
    }
}

static _Noreturn void serve(struct loop *l) {
    size_t size = l->wire->request_size;
    uint64_t open = 0; /* the signal mask inside ppoll: SIGCHLD let in */
    for (;;) {
        reap(l);
        while (l->in_end - l->in_start >= 4) {
            const uint8_t *frame = l->in + l->in_start;
            if (memcmp(frame, l->wire->request, 4) != 0) quit(73); /* not a command's length */
            if (l->in_end - l->in_start < size) break;
            handle(l, frame);
            l->in_start += size;
        }
        flush(l);
        struct pollfd p = { l->rpc, POLLIN, 0 };
        /* SIGCHLD is blocked except inside ppoll: an instance that ends between
         * two waits interrupts the next one instead of going unnoticed. */
        long r = sys(SYS_ppoll, (long)&p, 1, 0, (long)&open, sizeof open);
        if (r > 0) receive(l);
        else if (r < 0 && r != -EINTR) quit(0);
    }
}

#if defined(__x86_64__)
/* Calls `fn(arg)` with the stack pointer at `top`; `fn` never returns. */
static _Noreturn void run_on(uintptr_t top, void (*fn)(struct loop *), struct loop *arg) {
    __asm__ volatile("mov %0, %%rsp\n\t"
                     "xor %%ebp, %%ebp\n\t"
                     "call *%1\n\t"
                     "ud2"
                     : : "r"(top), "r"(fn), "D"(arg) : "memory");
    __builtin_unreachable();
}
#endif

void nse_zygote_serve(int rpc_fd, const struct nse_zygote_wire *wire, const void *filter, size_t filter_len,
                      long nproc, void (*instance)(void)) {
    if (wire->spawned_size > sizeof ((struct loop *)0)->spawned || wire->exited_size > sizeof ((struct loop *)0)->exited
        || wire->request_value + 8 != wire->request_size || wire->request_size > 64) quit(73);
    if (prepare_instances(filter, filter_len, nproc, instance) != 0) quit(72);
    /* The loop's own memory, out of every fork. */
    size_t page = (size_t)sysconf(_SC_PAGESIZE);
    size_t size = (sizeof(struct loop) + LOOP_STACK + page - 1) & ~(page - 1);
    uint8_t *mine = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (mine == MAP_FAILED || madvise(mine, size, MADV_DONTFORK) != 0) quit(72);
    struct loop *l = (struct loop *)mine;
    l->rpc = rpc_fd;
    l->wire = wire;
    memcpy(l->spawned, wire->spawned, wire->spawned_size);
    memcpy(l->exited, wire->exited, wire->exited_size);
#if defined(__x86_64__)
    run_on((uintptr_t)(mine + size) & ~(uintptr_t)15, serve, l);
#else
    serve(l);
#endif
}
