/* The zygote hands out every free chunk of its heap for good before it forks,
 * so that what an instance allocates comes from fresh pages past the zygote's
 * heap, not from free chunks on pages it shares with the zygote: every write to
 * a shared page is a copy-on-write fault, the largest cost of a short instance. */
#define _GNU_SOURCE
#include "CSandboxSys.h"
#include <malloc.h>
#include <stdint.h>
#include <unistd.h>

long nse_malloc_drain(void) {
    struct mallinfo2 info = mallinfo2();
    /* The top chunk (what the heap grows into) starts here; every other free
     * chunk lies below it. */
    uintptr_t top = (uintptr_t)sbrk(0) - info.keepcost;
    long taken = 0;
    /* Large requests first, so that a large free chunk goes in a few pieces;
     * then every small size class, each with its own per-thread cache and bins
     * (glibc's chunk sizes step by 16 bytes up to 1 KiB). */
    static const size_t large[] = { 65000, 16000, 4000, 2000 };
    size_t sizes[4 + 64];
    size_t n = 0;
    for (size_t i = 0; i < 4; i++) sizes[n++] = large[i];
    for (size_t chunk = 1040; chunk >= 32; chunk -= 16) sizes[n++] = chunk - 8;
    for (size_t i = 0; i < n; i++) {
        for (;;) {
            void *p = malloc(sizes[i]);
            if (p == NULL) return taken;
            /* From the top chunk: no free chunk of this size is left (this one
             * stays taken too: freed, it would wait in a bin for the next). */
            if ((uintptr_t)p >= top) break;
            taken++;
        }
    }
    return taken;
}
