/* The zygote's cold heap: Lua memory for nselib's bulk data tables (the data.*
 * modules; data.idnaMappings, which idna requires and so url and http, is about
 * 700 KiB of small tables), kept out of what every fork copies.
 *
 * Every resident page of the zygote's own anonymous memory is a page-table
 * entry that each fork copies and each instance's exit tears down, whether the
 * instance reads the page or not (docs/performance.md). The cold heap is a
 * memfd, written through a shared mapping while the zygote loads those modules,
 * then mapped again at the same address as a private mapping of the same file
 * (nse_coldheap_freeze), which the zygote no longer writes. A fork copies no
 * entry for a mapping with no anonymous pages, and an instance maps only the
 * pages it reads (a private mapping: what it writes is a copy of its own).
 *
 * Blocks are carved in order and never reused: what the zygote frees there
 * stays a hole no instance ever maps. An instance never allocates there; it
 * leaves the cold heap's blocks it frees in place and copies one it grows. */
#define _GNU_SOURCE
#include "CNSEModules.h"
#include <errno.h>
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

static struct {
    char *base;          /* the mapping, `capacity` bytes */
    size_t capacity;
    size_t used;
    int fd;              /* the memfd, until frozen */
    int carving;         /* new blocks come from here (nse_coldheap_use) */
    int frozen;
    lua_Alloc next;      /* the state's own allocator, for everything else */
    void *next_ud;
} cold = { .fd = -1 };

static int in_cold(const void *p) {
    return p != NULL && (const char *)p >= cold.base && (const char *)p < cold.base + cold.capacity;
}

static void *cold_alloc(void *ud, void *ptr, size_t osize, size_t nsize) {
    (void)ud;
    if (in_cold(ptr)) {
        if (nsize == 0) return NULL;                        /* left in place */
        if (nsize <= osize && !cold.frozen) return ptr;     /* shrunk in place */
        void *moved = cold_alloc(ud, NULL, 0, nsize);
        if (moved != NULL) memcpy(moved, ptr, osize < nsize ? osize : nsize);
        return moved;
    }
    if (ptr == NULL && nsize > 0 && cold.carving && !cold.frozen) {
        size_t size = (nsize + 15) & ~(size_t)15;           /* Lua's strictest alignment */
        if (size <= cold.capacity - cold.used) {
            void *block = cold.base + cold.used;
            cold.used += size;
            return block;
        }
    }
    return cold.next(cold.next_ud, ptr, osize, nsize);
}

int nse_coldheap_create(size_t capacity) {
    int fd = memfd_create("nsebox-cold-heap", MFD_CLOEXEC);
    if (fd < 0) return -1;
    if (ftruncate(fd, (off_t)capacity) != 0) goto fail;
    void *base = mmap(NULL, capacity, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (base == MAP_FAILED) goto fail;
    cold.base = base;
    cold.capacity = capacity;
    cold.fd = fd;
    return 0;
fail:;
    int saved = errno;
    close(fd);
    errno = saved;
    return -1;
}

void nse_coldheap_attach(lua_State *L) {
    if (cold.base == NULL) return;
    cold.next = lua_getallocf(L, &cold.next_ud);
    lua_setallocf(L, cold_alloc, NULL);
}

static int use_cold(lua_State *L) {
    cold.carving = lua_toboolean(L, 1) && cold.base != NULL && !cold.frozen;
    return 0;
}

void nse_coldheap_push_use(lua_State *L) {
    lua_pushcfunction(L, use_cold);
}

long nse_coldheap_freeze(void) {
    if (cold.base == NULL || cold.frozen) return 0;
    cold.frozen = 1;
    cold.carving = 0;
    /* The same file at the same address, private now: what the zygote wrote
     * stays, and from here on a write makes a copy of its own. */
    void *p = mmap(cold.base, cold.capacity, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_FIXED, cold.fd, 0);
    int saved = errno;
    close(cold.fd);
    cold.fd = -1;
    if (p == MAP_FAILED) {
        errno = saved;
        return -1;
    }
    return (long)cold.used;
}
