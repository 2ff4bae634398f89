/* What must be C: the code between fork and exec, and calls Swift cannot make
 * (variadic prctl, syscalls glibc does not wrap). */
#ifndef NSEBOX_CSANDBOXSYS_H
#define NSEBOX_CSANDBOXSYS_H
#include <sys/types.h>

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
#endif
