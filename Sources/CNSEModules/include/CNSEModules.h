/* Lua C modules the child provides to nselib (openssl, zlib, ...): our own
 * bindings over Debian's C libraries. They are plain Lua C functions: errors are
 * raised with luaL_error in C, never through a Swift frame. */
#ifndef NSEBOX_CNSEMODULES_H
#define NSEBOX_CNSEMODULES_H
#include <stddef.h>
#include <lua5.4/lua.h>

/** Sets package.preload[name] for every module in this target. */
void nse_register_preloads(lua_State *L);

/** Makes every later random byte of this process come from ChaCha20 keyed by
 *  `seed` (32 bytes; random.c). Returns 0, or -1 on a bad seed. */
int nse_random_seed(const unsigned char *seed, size_t len);
/** Fills `out` from the seeded stream (OpenSSL's RAND_bytes before a seed).
 *  Returns 0, or -1 on failure. */
int nse_random_fill(unsigned char *out, size_t len);
/** Initializes libcrypto once per process, without reading openssl.cnf (the
 *  sandboxed child cannot open files), and loads the built-in default provider.
 *  The openssl and certificate modules call it; the zygote calls it first, so
 *  that no instance has to. */
void nse_openssl_init(void);

/** The zygote's cold heap (coldheap.c): Lua memory for nselib's data.* modules
 *  that no fork copies. Create it before confinement (memfd_create, a shared
 *  mapping of `capacity` bytes): 0, or -1 with errno. */
int nse_coldheap_create(size_t capacity);
/** Routes `L`'s allocations through the cold heap (nothing without one). */
void nse_coldheap_attach(lua_State *L);
/** Pushes a Lua function: f(true) makes new blocks come from the cold heap,
 *  f(false) from the state's own allocator again. */
void nse_coldheap_push_use(lua_State *L);
/** Before the first fork: maps the cold heap again as a private mapping of
 *  the same file and closes it. Returns the bytes used (0 without one), or -1
 *  with errno, when the zygote must not fork (the mapping may still be shared). */
long nse_coldheap_freeze(void);
#endif
