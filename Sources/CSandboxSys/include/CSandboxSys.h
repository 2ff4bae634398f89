/* What must be C: the code between fork and exec, and calls Swift cannot make
 * (variadic prctl, syscalls glibc does not wrap). */
#ifndef NSEBOX_CSANDBOXSYS_H
#define NSEBOX_CSANDBOXSYS_H
#include <sys/types.h>
#include <stdint.h>

/** How to start a sandboxed child. */
typedef struct {
    int rpc_fd;        /**< becomes fd 3 in the child; every other fd is closed */
    int exe_fd;        /**< the child executable, opened by the broker */
    int keep_stderr;   /**< non-zero: fd 2 stays open (debugging only) */
    int drop_to_user;  /**< non-zero: setgroups/setgid/setuid to uid/gid below */
    uid_t uid;
    gid_t gid;
    char *const *argv;
} nse_spawn_config;

/** Forks and execs the child with an empty environment. Returns 0 and sets *pid,
 *  or an errno value: the child's failure before exec comes back over a
 *  close-on-exec pipe, so a child that could not drop privileges never runs. */
int nse_spawn(const nse_spawn_config *config, pid_t *pid);

/** Makes process `pid` SCHED_BATCH, 5 nice levels below the caller (at most
 *  19). Returns 0, or -1 if either failed (both are tried). */
int nse_yield_to_caller(pid_t pid);

/** prctl(PR_SET_NO_NEW_PRIVS, 1): returns 0 or -1 with errno. */
int nse_set_no_new_privs(void);

/** Closes every fd from `first` up. Returns 0 or -1 with errno. */
int nse_close_from(int first);

/** Number of capabilities in the effective, permitted or inheritable sets
 *  (0 when the process has none). -1 on error. */
int nse_capability_count(void);
/** getrandom(2), which Swift cannot see through glibc's headers. */
long nse_getrandom(void *buf, unsigned long len);

/** Moves the calling (single-threaded) process into new user, mount, network
 *  and IPC namespaces, makes its root an empty read-only tmpfs, and drops the
 *  capabilities the new user namespace gave it. Returns 0; 1 when the kernel
 *  refuses new namespaces (nothing changed); -1 with errno and *step naming the
 *  call when a later step failed (the caller must not go on). */
int nse_isolate(const char **step);

/* The zygote (zygote.c). */

/** sendmsg(2) of `len` bytes with `fd` attached (SCM_RIGHTS). As sendmsg. */
ssize_t nse_send_with_fd(int sock, const void *buf, size_t len, int fd);
/** Installs a SIGCHLD handler and blocks SIGCHLD (nse_zygote_serve lets it in
 *  while it waits). */
int nse_zygote_prepare(void);
/** The frames the zygote's loop reads and writes, as NSEWire lays them out
 *  (IntegerFrameLayout): the commands it takes, spawnChild (`request`'s layout)
 *  and killChild (the same but for its op, `kill_op`), each with the instance's
 *  id (the request id is not looked at), and what it says, childSpawned (id,
 *  pid or -errno) and childExited (id, wait status, CPU microseconds, peak
 *  resident KiB). `*_values`: where each integer's 8 big-endian bytes begin. */
struct nse_zygote_wire {
    const uint8_t *request;
    size_t request_size, request_value;
    uint8_t kill_op;
    const uint8_t *spawned;
    size_t spawned_size, spawned_values[2];
    const uint8_t *exited;
    size_t exited_size, exited_values[4];
};
/** The zygote's loop on its socket `rpc_fd`, until the broker closes it (then it
 *  exits 0; 73 on a command it does not know, 72 without memory): a spawnChild
 *  takes the next socket that came with the commands and forks an instance on
 *  it (as nse_zygote_fork), a killChild kills one, and the end of each is
 *  reported. It writes no memory an instance shares (see zygote.c). Never
 *  returns. */
_Noreturn void nse_zygote_serve(int rpc_fd, const struct nse_zygote_wire *wire, const void *filter,
                                size_t filter_len, long nproc, void (*instance)(void));
/** Forks an instance that starts, on a stack of its own, once it holds
 *  `rpc_fd` as fd 3 (and no other copy of it), has read its name from it
 *  (NSE_NAME_BYTES) and taken it, dies with its parent, has RLIMIT_NPROC `nproc`
 *  (unless negative), and has stacked `filter` (a seccomp BPF program of
 *  `filter_len` bytes) on the zygote's: then it runs `instance`, which must not
 *  return; it exits with 70 if any of that fails. Returns the pid, or -1 with
 *  errno. */
pid_t nse_zygote_fork(int rpc_fd, const void *filter, size_t filter_len, long nproc, void (*instance)(void));
/** An instance's first bytes on its socket: its name (what ps shows), padded with
 *  NULs. It reads them before anything else, and exits quietly if the socket
 *  ends first (an instance forked ahead of a job that never came). */
#define NSE_NAME_BYTES 16
/** Puts an anonymous copy of the program's code, on 2 MiB pages where the kernel
 *  has them, in place of its file-backed pages (the whole 2 MiB pages of the
 *  executable segment). A process forked afterwards shares those pages through a
 *  few page-directory entries: it takes no page fault to run code, and its exit
 *  unmaps a few entries instead of one per 4 KiB page. Returns the bytes moved
 *  (0: the segment has no whole huge page, or the kernel gives no huge pages,
 *  when the copy would cost more than it saves), or -1 with errno. Call before
 *  confinement (mmap, mprotect with PROT_EXEC, mremap). */
long nse_hugetext(void);

/** Readies the page cache of executable `fd` (nsebox-child) for nse_hugefile_map:
 *  maps its code segment's whole 2 MiB pages marked MADV_HUGEPAGE and reads them,
 *  so that the kernel caches them in 2 MiB folios; if they were cached in small
 *  pages, drops those no process maps and tries once more. The 2 MiB blocks of
 *  the file holding its data segment are readied the same way: mapped with small
 *  entries still, a folio's entries are copied at a fork and dropped at an exit
 *  in one step. Returns 1 when each 2 MiB of code was mapped whole, else 0. The
 *  broker calls it before it spawns a zygote: once the zygote has run, its own
 *  exec has cached what it read. */
int nse_hugefile_warm(int fd);
/** The zygote's code from the page cache's 2 MiB folios (nse_hugefile_warm),
 *  mapped with one page-directory entry each, in place of the exec's mapping of
 *  the same bytes. Returns the bytes mapped so, 0 when the cache does not hold
 *  them whole (call nse_hugetext then), -1 with errno. Before confinement (it
 *  opens /proc/self/exe and reads /proc/self/smaps). */
long nse_hugefile_map(void);

/** The zygote's heap: every free chunk allocated for good (an instance's own
 *  allocations then come from fresh pages, not pages shared with the zygote).
 *  Returns how many chunks it took. */
long nse_malloc_drain(void);

/** How many CPUs this process may run on (its affinity mask; 1 if unknown). */
int nse_usable_cpus(void);
#endif
