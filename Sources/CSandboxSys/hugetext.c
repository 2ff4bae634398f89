/* Moves the zygote's code onto 2 MiB pages (see nse_hugetext in CSandboxSys.h). */
#define _GNU_SOURCE
#include "CSandboxSys.h"
#include <elf.h>
#include <errno.h>
#include <link.h>
#include <stdint.h>
#include <string.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#define HUGE_SIZE ((uintptr_t)2 << 20)

struct code_range { uintptr_t start, end; };

/* The executable segment of the program itself (the first object listed). */
static int find_code(struct dl_phdr_info *info, size_t size, void *data) {
    (void)size;
    struct code_range *range = data;
    for (int i = 0; i < info->dlpi_phnum; i++) {
        const ElfW(Phdr) *p = &info->dlpi_phdr[i];
        if (p->p_type == PT_LOAD && (p->p_flags & PF_X)) {
            range->start = info->dlpi_addr + p->p_vaddr;
            range->end = range->start + p->p_memsz;
            return 1;
        }
    }
    return 1;
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
    struct code_range code = { 0, 0 };
    dl_iterate_phdr(find_code, &code);
    uintptr_t start = (code.start + HUGE_SIZE - 1) & ~(HUGE_SIZE - 1);
    uintptr_t end = code.end & ~(HUGE_SIZE - 1);
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
