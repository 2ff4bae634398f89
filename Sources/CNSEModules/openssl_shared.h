/* Internal to CNSEModules: what the openssl module's files (openssl*.c) and the
 * certificate module (cert.c) share. Not part of the target's public header. */
#ifndef NSEBOX_OPENSSL_SHARED_H
#define NSEBOX_OPENSSL_SHARED_H
#define OPENSSL_SUPPRESS_DEPRECATED 1 /* low-level DES_*, MD4, ...: see openssl_cipher.c */
#include <stddef.h>
#include <lua5.4/lua.h>
#include <lua5.4/lauxlib.h>
#include <openssl/bn.h>
#include <openssl/evp.h>
#include "CNSEModules.h" /* nse_openssl_init */

/* nmap's metatable name for bignums (luaL_checkudata checks it). */
#define NSE_BIGNUM_TNAME "BIGNUM"

/* Raises "OpenSSL error: <libcrypto's first queued error>", as nmap does. */
int nse_openssl_error(lua_State *L);

/* Pushes the BIGNUM metatable, creating it on first use. */
void nse_bignum_pushmetatable(lua_State *L);
/* Pushes a new BIGNUM userdata that owns bn (freed by __gc). bn may be NULL:
 * then an error is raised. */
int nse_bignum_push(lua_State *L, BIGNUM *bn);
BIGNUM *nse_bignum_check(lua_State *L, int arg);

/* A message digest: a provider implementation, or one of ours for algorithms
 * that only OpenSSL 3's legacy provider has (it is a shared object, which the
 * sandboxed child cannot load). */
typedef struct {
    const EVP_MD *md; /* provider path when legacy == 0 */
    int legacy;       /* NID of our own implementation, or 0 */
    int size;         /* output bytes */
    int block;        /* input block bytes (for HMAC) */
} nse_md;

/* Looks a digest up by any OpenSSL name or alias; 0 if unknown. */
int nse_md_lookup(const char *name, nse_md *out);
/* One-shot digest; returns 1 on success, 0 on an OpenSSL error (queued). */
int nse_md_digest(const nse_md *md, const void *data, size_t len,
                  unsigned char *out, unsigned int *outlen);

/* Pushes a sorted array of every OBJ_NAME of the type (digests or ciphers). */
int nse_push_obj_names(lua_State *L, int type);

/* Each file's part of the openssl module table (at the top of the stack). */
void nse_openssl_add_bignum(lua_State *L);
void nse_openssl_add_digest(lua_State *L);
void nse_openssl_add_cipher(lua_State *L);
#endif
