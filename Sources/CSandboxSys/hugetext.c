/* The zygote's code on 2 MiB pages (see nse_hugefile_warm, nse_hugefile_map and
 * nse_hugetext in CSandboxSys.h).
 *
 * First choice: the page cache's own 2 MiB folios of the executable. The kernel
 * caches a file in 2 MiB folios when it reads it for a mapping marked
 * MADV_HUGEPAGE, and then maps each with one page-directory entry. That cache
 * outlives the scan and is shared by every zygote; a fork copies no entry of a
 * file mapping, and an instance maps each 2 MiB of code it runs with one fault.
 * The file's blocks that hold its data are cached so too, for a cheaper fork
 * and exit (data_span).
 *
 * Fallback: an anonymous copy on fresh huge pages (nse_hugetext), made at every
 * scan: 8 MiB to zero and copy, which on a virtual machine whose host reclaims
 * the guest's free memory sometimes takes 20 ms instead of 1
 * (docs/performance.md). */
#define _GNU_SOURCE
#include "CSandboxSys.h"
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <link.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#define HUGE_SIZE ((uintptr_t)2 << 20)

/* The program's own code segment (the first object listed, its first loadable
 * executable segment). */
struct code_segment { uintptr_t vaddr; off_t offset; size_t filesz, memsz; int found; };

/* The first loadable executable segment of a program's headers, or NULL. */
static const ElfW(Phdr) *code_header(const ElfW(Phdr) *headers, int count) {
    for (int i = 0; i < count; i++) {
        if (headers[i].p_type == PT_LOAD && (headers[i].p_flags & PF_X)) return &headers[i];
    }
    return NULL;
}

static int find_code_segment(struct dl_phdr_info *info, size_t size, void *data) {
    (void)size;
    struct code_segment *c = data;
    const ElfW(Phdr) *p = code_header(info->dlpi_phdr, info->dlpi_phnum);
    if (p != NULL) *c = (struct code_segment){ info->dlpi_addr + p->p_vaddr, (off_t)p->p_offset, p->p_filesz, p->p_memsz, 1 };
    return 1;
}

static struct code_segment own_code(void) {
    struct code_segment code = { 0, 0, 0, 0, 0 };
    dl_iterate_phdr(find_code_segment, &code);
    return code;
}

/* The whole 2 MiB pages of a code segment, where its address and its offset in
 * the file agree modulo 2 MiB (else no page-cache folio can be mapped whole). */
struct span { uintptr_t address; off_t offset; size_t length; };

static int huge_span(uintptr_t vaddr, off_t offset, size_t filesz, struct span *s) {
    if ((vaddr - (uintptr_t)offset) % HUGE_SIZE != 0) return 0;
    uintptr_t start = (vaddr + HUGE_SIZE - 1) & ~(HUGE_SIZE - 1);
    uintptr_t end = (vaddr + filesz) & ~(HUGE_SIZE - 1);
    if (end <= start) return 0;
    *s = (struct span){ start, offset + (off_t)(start - vaddr), end - start };
    return 1;
}

/* For each of `n` mappings (by start address), the KiB that page-directory
 * entries map (its FilePmdMapped line in /proc/self/smaps), or -1: one reading
 * of smaps for all of them. */
static void pmd_mapped_kib(const uintptr_t *starts, long *kib, int n) {
    for (int i = 0; i < n; i++) kib[i] = -1;
    FILE *f = fopen("/proc/self/smaps", "re");
    if (f == NULL) return;
    char line[512];
    int inside = -1;
    while (fgets(line, sizeof line, f) != NULL) {
        if ((line[0] >= '0' && line[0] <= '9') || (line[0] >= 'a' && line[0] <= 'f')) {
            unsigned long start = strtoul(line, NULL, 16);
            inside = -1;
            for (int i = 0; i < n; i++) if (starts[i] == start) inside = i;
            continue;
        }
        long value;
        if (inside >= 0 && sscanf(line, "FilePmdMapped: %ld kB", &value) == 1) kib[inside] = value;
    }
    fclose(f);
}

/* Maps the span of `fd` at a 2 MiB-aligned address, marked for huge pages, and
 * reads a byte of each 2 MiB (so that the kernel reads what it does not cache
 * yet in 2 MiB folios). Returns the mapping, NULL if it could not map. */
static void *map_span(int fd, const struct span *s, int prot) {
    size_t room = s->length + HUGE_SIZE;
    uint8_t *area = mmap(NULL, room, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (area == MAP_FAILED) return NULL;
    uintptr_t start = ((uintptr_t)area + HUGE_SIZE - 1) & ~(HUGE_SIZE - 1);
    if (start > (uintptr_t)area) munmap(area, start - (uintptr_t)area);
    munmap((void *)(start + s->length), (uintptr_t)area + room - (start + s->length));
    void *m = mmap((void *)start, s->length, prot, MAP_PRIVATE | MAP_FIXED, fd, s->offset);
    if (m == MAP_FAILED) {
        munmap((void *)start, s->length);
        return NULL;
    }
    if (madvise(m, s->length, MADV_HUGEPAGE) != 0) {
        munmap(m, s->length);
        return NULL;
    }
    for (size_t at = 0; at < s->length; at += HUGE_SIZE) (void)*(volatile const uint8_t *)((const uint8_t *)m + at);
    return m;
}

/* Whether each span of `fd` is cached in whole 2 MiB folios (each 2 MiB of a
 * fresh mapping of it is one page-directory entry); reads what is not cached. */
static void spans_whole(int fd, const struct span *spans, int n, int *whole) {
    void *maps[2];
    uintptr_t starts[2];
    long kib[2];
    for (int i = 0; i < n; i++) {
        maps[i] = map_span(fd, &spans[i], PROT_READ);
        starts[i] = (uintptr_t)maps[i];
    }
    pmd_mapped_kib(starts, kib, n);
    for (int i = 0; i < n; i++) {
        whole[i] = maps[i] != NULL && kib[i] == (long)(spans[i].length / 1024);
        if (maps[i] != NULL) munmap(maps[i], spans[i].length);
    }
}

/* The file's 2 MiB blocks that hold its writable segment (its data), those that
 * lie whole inside the file. Cached in 2 MiB folios, the zygote maps them with
 * small entries still (its addresses do not agree with the file's modulo 2 MiB),
 * but a fork copies, and an exit drops, the entries of one folio in one step
 * instead of one page at a time (docs/performance.md). */
static int data_span(const ElfW(Phdr) *headers, int count, off_t file_size, struct span *s) {
    for (int i = 0; i < count; i++) {
        if (headers[i].p_type != PT_LOAD || !(headers[i].p_flags & PF_W) || headers[i].p_filesz == 0) continue;
        off_t start = (off_t)(headers[i].p_offset & ~(HUGE_SIZE - 1));
        off_t end = (off_t)((headers[i].p_offset + headers[i].p_filesz + HUGE_SIZE - 1) & ~(HUGE_SIZE - 1));
        off_t limit = file_size & ~(off_t)(HUGE_SIZE - 1);
        if (end > limit) end = limit;
        if (end <= start) return 0;
        *s = (struct span){ 0, start, (size_t)(end - start) };
        return 1;
    }
    return 0;
}

int nse_hugefile_warm(int fd) {
    ElfW(Ehdr) eh;
    if (pread(fd, &eh, sizeof eh, 0) != (ssize_t)sizeof eh || memcmp(eh.e_ident, ELFMAG, SELFMAG) != 0 ||
        eh.e_phentsize != sizeof(ElfW(Phdr)) || eh.e_phnum == 0 || eh.e_phnum > 64) return 0;
    ElfW(Phdr) ph[64];
    size_t size = (size_t)eh.e_phnum * sizeof(ElfW(Phdr));
    if (pread(fd, ph, size, (off_t)eh.e_phoff) != (ssize_t)size) return 0;
    const ElfW(Phdr) *code = code_header(ph, eh.e_phnum);
    struct span spans[2];
    if (code == NULL || !huge_span(code->p_vaddr, (off_t)code->p_offset, code->p_filesz, &spans[0])) return 0;
    struct stat st;
    int n = 1 + (fstat(fd, &st) == 0 && data_span(ph, eh.e_phnum, st.st_size, &spans[1]));
    int whole[2] = { 0, 0 };
    for (int attempt = 0; attempt < 2; attempt++) {
        spans_whole(fd, spans, n, whole);
        if (whole[0] && (n == 1 || whole[1])) return 1;
        /* Cached in small pages (by an exec, or by writing the file): those no
         * one maps are dropped, and read again in whole 2 MiB folios. A file
         * just built is written out first (once): dirty pages stay. */
        if (attempt == 0) {
            (void)fdatasync(fd);
            for (int i = 0; i < n; i++) {
                if (!whole[i]) (void)posix_fadvise(fd, spans[i].offset, (off_t)spans[i].length, POSIX_FADV_DONTNEED);
            }
        }
    }
    return whole[0];
}

long nse_hugefile_map(void) {
    struct code_segment code = own_code();
    struct span s;
    if (!code.found || !huge_span(code.vaddr, code.offset, code.filesz, &s)) return 0;
    int fd = open("/proc/self/exe", O_RDONLY | O_CLOEXEC);
    if (fd < 0) return -1;
    void *m = map_span(fd, &s, PROT_READ | PROT_EXEC);
    int saved = errno;
    close(fd);
    if (m == NULL) {
        errno = saved;
        return -1;
    }
    long kib;
    uintptr_t start = (uintptr_t)m;
    pmd_mapped_kib(&start, &kib, 1);
    if (kib != (long)(s.length / 1024)) {
        munmap(m, s.length);
        return 0;
    }
    /* The same bytes of the same file in place of the exec's mapping, in one
     * step: this very function goes on running in the new one. */
    if (mremap(m, s.length, s.length, MREMAP_MAYMOVE | MREMAP_FIXED, (void *)s.address) == MAP_FAILED) {
        saved = errno;
        munmap(m, s.length);
        errno = saved;
        return -1;
    }
    return (long)s.length;
}

/* On 4 KiB pages the copy would be worse than the file: a fork copies an entry
 * for every page of anonymous memory. So only where the kernel gives huge pages. */
static int huge_pages_available(void) {
    char mode[128] = { 0 };
    int fd = open("/sys/kernel/mm/transparent_hugepage/enabled", O_RDONLY | O_CLOEXEC);
    if (fd < 0) return 0;
    ssize_t n = read(fd, mode, sizeof mode - 1);
    close(fd);
    return n > 0 && (strstr(mode, "[always]") != NULL || strstr(mode, "[madvise]") != NULL);
}

long nse_hugetext(void) {
    if (!huge_pages_available()) return 0;
    struct code_segment code = own_code();
    if (!code.found) return 0;
    uintptr_t start = (code.vaddr + HUGE_SIZE - 1) & ~(HUGE_SIZE - 1);
    uintptr_t end = (code.vaddr + code.memsz) & ~(HUGE_SIZE - 1);
    if (end <= start) return 0;
    size_t len = end - start;
    /* An aligned anonymous copy, on huge pages where the kernel gives them... */
    uint8_t *area = mmap(NULL, len + HUGE_SIZE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (area == MAP_FAILED) return -1;
    uintptr_t copy = ((uintptr_t)area + HUGE_SIZE - 1) & ~(HUGE_SIZE - 1);
    if (copy > (uintptr_t)area) munmap(area, copy - (uintptr_t)area);
    munmap((void *)(copy + len), (uintptr_t)area + len + HUGE_SIZE - (copy + len));
    if (madvise((void *)copy, len, MADV_HUGEPAGE) != 0) goto fail;
    memcpy((void *)copy, (const void *)start, len);
    if (mprotect((void *)copy, len, PROT_READ | PROT_EXEC) != 0) goto fail;
    /* ...then put in place of the file's pages in one step. The bytes are the same,
     * so this very function goes on running in the copy. */
    if (mremap((void *)copy, len, len, MREMAP_MAYMOVE | MREMAP_FIXED, (void *)start) == MAP_FAILED) goto fail;
    return (long)len;
fail:;
    int saved = errno;
    munmap((void *)copy, len);
    errno = saved;
    return -1;
}
