/* nsebox's micro benchmark references (bench/run): what the machine itself costs.
 *   micro fork N        fork a child that sets no_new_privs, loads a seccomp
 *                       filter allowing everything, writes a byte to a pipe and
 *                       exits; time from fork to that byte
 *   micro socketpair N  a 32-byte request and reply over a socketpair with a
 *                       forked echo process; time of each round trip
 *   micro calls N       the system calls of one nsebox round trip and nothing
 *                       else: the requester writes 9 bytes, waits in poll(2) and
 *                       reads; the server, which polls its socket and a second
 *                       one as the broker polls several, reads and writes 18
 *                       bytes back; time of each round trip
 * Prints "p50 X us, p99 Y us".
 *   micro pages P N     a parent with P resident anonymous 4 KiB pages (no huge
 *                       pages) forks N children, one at a time, each of which
 *                       writes 40 of those pages and exits; prints the CPU time
 *                       (user and system, parent and children) per fork and exit:
 *                       what each page a zygote holds costs every instance. */
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static double now_us(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec * 1e6 + t.tv_nsec / 1e3;
}

static int by_value(const void *a, const void *b) {
    double x = *(const double *) a, y = *(const double *) b;
    return (x > y) - (x < y);
}

static void report(double *v, int n) {
    qsort(v, n, sizeof *v, by_value);
    printf("p50 %.1f us, p99 %.1f us\n", v[n / 2], v[n * 99 / 100]);
}

static double cpu_us(int who) {
    struct rusage u;
    getrusage(who, &u);
    return (u.ru_utime.tv_sec + u.ru_stime.tv_sec) * 1e6 + u.ru_utime.tv_usec + u.ru_stime.tv_usec;
}

static int pages(size_t count, int n) {
    size_t size = count * 4096;
    char *m = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (m == MAP_FAILED) return 1;
    madvise(m, size, MADV_NOHUGEPAGE);
    for (size_t i = 0; i < count; i++) m[i * 4096] = 1;
    double self = cpu_us(RUSAGE_SELF), children = cpu_us(RUSAGE_CHILDREN);
    for (int i = 0; i < n; i++) {
        pid_t pid = fork();
        if (pid == 0) {
            for (size_t j = 0; j < 40; j++) m[(j * 7 % count) * 4096] = 2;
            _exit(0);
        }
        waitpid(pid, NULL, 0);
    }
    printf("%.1f us\n", (cpu_us(RUSAGE_SELF) - self + cpu_us(RUSAGE_CHILDREN) - children) / n);
    return 0;
}

/* nsebox's round trip without nsebox: the same system calls, no work between. */
static int calls(double *v, int n) {
    int s[2], idle[2];
    char buf[64] = { 0 };
    if (socketpair(AF_UNIX, SOCK_STREAM, 0, s) != 0 || socketpair(AF_UNIX, SOCK_STREAM, 0, idle) != 0) return 1;
    pid_t pid = fork();
    if (pid == 0) {
        close(s[0]);
        struct pollfd p[2] = { { s[1], POLLIN, 0 }, { idle[0], POLLIN, 0 } };
        for (;;) {
            if (poll(p, 2, 1000) <= 0) continue;
            if (read(s[1], buf, sizeof buf) <= 0) _exit(0);
            if (write(s[1], buf, 18) != 18) _exit(1);
        }
    }
    close(s[1]);
    for (int i = 0; i < n; i++) {
        struct pollfd p = { s[0], POLLIN, 0 };
        double t0 = now_us();
        if (write(s[0], buf, 9) != 9 || poll(&p, 1, -1) != 1 || read(s[0], buf, sizeof buf) <= 0) return 1;
        v[i] = now_us() - t0;
    }
    close(s[0]);
    waitpid(pid, NULL, 0);
    return 0;
}

int main(int argc, char **argv) {
    if (argc == 4 && strcmp(argv[1], "pages") == 0) return pages((size_t) atoi(argv[2]), atoi(argv[3]));
    if (argc != 3) { fprintf(stderr, "usage: micro fork|socketpair|calls N | micro pages P N\n"); return 2; }
    int n = atoi(argv[2]);
    double *v = calloc(n, sizeof *v);
    if (strcmp(argv[1], "fork") == 0) {
        struct sock_filter allow[] = { BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW) };
        struct sock_fprog prog = { 1, allow };
        for (int i = 0; i < n; i++) {
            int p[2];
            char b;
            if (pipe(p) != 0) return 1;
            double t0 = now_us();
            pid_t pid = fork();
            if (pid == 0) {
                prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0);
                syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &prog);
                (void) !write(p[1], "x", 1);
                _exit(0);
            }
            if (read(p[0], &b, 1) != 1) return 1;
            v[i] = now_us() - t0;
            waitpid(pid, NULL, 0);
            close(p[0]);
            close(p[1]);
        }
    } else if (strcmp(argv[1], "calls") == 0) {
        if (calls(v, n) != 0) return 1;
    } else {
        int s[2];
        char buf[32] = { 0 };
        if (socketpair(AF_UNIX, SOCK_STREAM, 0, s) != 0) return 1;
        pid_t pid = fork();
        if (pid == 0) {
            close(s[0]);
            while (read(s[1], buf, sizeof buf) == sizeof buf) (void) !write(s[1], buf, sizeof buf);
            _exit(0);
        }
        close(s[1]);
        for (int i = 0; i < n; i++) {
            double t0 = now_us();
            if (write(s[0], buf, sizeof buf) != sizeof buf || read(s[0], buf, sizeof buf) != sizeof buf) return 1;
            v[i] = now_us() - t0;
        }
        close(s[0]);
        waitpid(pid, NULL, 0);
    }
    report(v, n);
    return 0;
}
