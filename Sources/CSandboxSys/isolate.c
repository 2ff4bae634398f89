/* Namespaces and an empty root for the child, after exec (its libraries are
 * loaded) and before its seccomp filter (which forbids all of this). */
#define _GNU_SOURCE
#include "CSandboxSys.h"
#include <errno.h>
#include <fcntl.h>
#include <linux/capability.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

static int write_text(const char *path, const char *text) {
    int fd = open(path, O_WRONLY | O_CLOEXEC);
    if (fd < 0) return -1;
    ssize_t n = write(fd, text, strlen(text));
    int saved = errno;
    close(fd);
    errno = saved;
    return n == (ssize_t)strlen(text) ? 0 : -1;
}

#define STEP(call, name) do { if ((call) != 0) { *step = (name); return -1; } } while (0)

int nse_isolate(const char **step) {
    uid_t uid = getuid();
    gid_t gid = getgid();
    if (unshare(CLONE_NEWUSER | CLONE_NEWNS | CLONE_NEWNET | CLONE_NEWIPC) != 0) {
        /* No user namespaces here (disabled, or none left): the seccomp filter
         * and rlimits still apply. */
        if (errno == EPERM || errno == EINVAL || errno == ENOSPC || errno == EUSERS || errno == ENOSYS) return 1;
        *step = "unshare";
        return -1;
    }
    char map[64];
    /* The same ids inside as outside; no supplementary groups. */
    STEP(write_text("/proc/self/setgroups", "deny"), "setgroups deny");
    snprintf(map, sizeof map, "%u %u 1\n", (unsigned)uid, (unsigned)uid);
    STEP(write_text("/proc/self/uid_map", map), "uid_map");
    snprintf(map, sizeof map, "%u %u 1\n", (unsigned)gid, (unsigned)gid);
    STEP(write_text("/proc/self/gid_map", map), "gid_map");
    /* Our mounts stay ours; then an empty tmpfs becomes the root. */
    STEP(mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL), "mount private");
    const char *dir = access("/tmp", F_OK) == 0 ? "/tmp" : "/mnt";
    STEP(mount("nsebox-empty", dir, "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC, "size=4k,mode=0555,nr_inodes=1"),
         "mount empty root");
    STEP(mount(NULL, dir, NULL, MS_REMOUNT | MS_BIND | MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL),
         "remount empty root read-only");
    STEP(chdir(dir), "chdir to empty root");
    STEP(chroot("."), "chroot");
    STEP(chdir("/"), "chdir /");
    /* The capabilities the new namespace gave us, all of them gone. */
    struct __user_cap_header_struct header = { _LINUX_CAPABILITY_VERSION_3, 0 };
    struct __user_cap_data_struct data[2];
    memset(data, 0, sizeof data);
    STEP((int)syscall(SYS_capset, &header, data), "capset");
    return 0;
}
