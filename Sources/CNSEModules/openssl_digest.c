/* openssl.digest, hmac, md4/md5/sha1/ripemd160, supported_digests, rand_*.
 *
 * Digests come from the default provider. MD4 and Whirlpool (and RIPEMD-160 on
 * a libcrypto older than 3.0.7) live only in the legacy provider, a shared
 * object the sandboxed child cannot load, so for those we use libcrypto's
 * low-level functions, which need no provider, and our own HMAC over them. */
#include "openssl_shared.h"
#include "CNSEModules.h"
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <openssl/err.h>
#include <openssl/hmac.h>
#include <openssl/md4.h>
#include <openssl/objects.h>
#include <openssl/rand.h>
#include <openssl/ripemd.h>
#include <openssl/whrlpool.h>

int nse_md_lookup(const char *name, nse_md *out) {
    nse_openssl_init();
    const EVP_MD *md = EVP_get_digestbyname(name);
    if (md == NULL) return 0;
    memset(out, 0, sizeof *out);
    out->md = md;
    out->size = EVP_MD_get_size(md);
    out->block = EVP_MD_get_block_size(md);
    /* Does a loaded provider implement it? (The probe leaves the error queue as it was.) */
    ERR_set_mark();
    EVP_MD *fetched = EVP_MD_fetch(NULL, EVP_MD_get0_name(md), NULL);
    if (fetched != NULL) {
        EVP_MD_free(fetched);
        ERR_pop_to_mark();
        return 1;
    }
    ERR_pop_to_mark();
    switch (EVP_MD_get_type(md)) {
    case NID_md4: out->legacy = NID_md4; out->size = MD4_DIGEST_LENGTH; out->block = MD4_CBLOCK; break;
    case NID_ripemd160: out->legacy = NID_ripemd160; out->size = RIPEMD160_DIGEST_LENGTH; out->block = RIPEMD160_CBLOCK; break;
    case NID_whirlpool: out->legacy = NID_whirlpool; out->size = WHIRLPOOL_DIGEST_LENGTH; out->block = WHIRLPOOL_BBLOCK / 8; break;
    default: break; /* EVP_DigestInit_ex will report it unsupported */
    }
    return 1;
}

/* Our digests, over libcrypto's provider-free low-level functions. */
static void legacy_digest(int nid, const unsigned char *d, size_t n, unsigned char *out) {
    switch (nid) {
    case NID_md4: MD4(d, n, out); break;
    case NID_ripemd160: RIPEMD160(d, n, out); break;
    case NID_whirlpool: WHIRLPOOL(d, n, out); break;
    }
}

int nse_md_digest(const nse_md *md, const void *data, size_t len,
                  unsigned char *out, unsigned int *outlen) {
    if (md->legacy) {
        legacy_digest(md->legacy, data, len, out);
        *outlen = (unsigned int) md->size;
        return 1;
    }
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    int ok = ctx != NULL
        && EVP_DigestInit_ex(ctx, md->md, NULL)
        && EVP_DigestUpdate(ctx, data, len)
        && EVP_DigestFinal_ex(ctx, out, outlen);
    EVP_MD_CTX_free(ctx);
    return ok;
}

/* digest(algorithm, message) */
static int l_digest(lua_State *L) {
    size_t len;
    const char *alg = luaL_checkstring(L, 1);
    const char *msg = luaL_checklstring(L, 2, &len);
    nse_md md;
    if (!nse_md_lookup(alg, &md)) return luaL_error(L, "Unknown digest algorithm: %s", alg);
    unsigned char out[EVP_MAX_MD_SIZE];
    unsigned int outlen = 0;
    if (!nse_md_digest(&md, msg, len, out, &outlen)) return nse_openssl_error(L);
    lua_pushlstring(L, (const char *) out, outlen);
    return 1;
}

/* md4(message) and friends are digest(name, message), arguments numbered so. */
#define NAMED_DIGEST(fn, name) \
    static int fn(lua_State *L) { lua_pushliteral(L, name); lua_insert(L, 1); return l_digest(L); }
NAMED_DIGEST(l_md4, "md4")
NAMED_DIGEST(l_md5, "md5")
NAMED_DIGEST(l_sha1, "sha1")
NAMED_DIGEST(l_ripemd160, "ripemd160")

/* RFC 2104 HMAC over one of our digests. */
static void legacy_hmac(const nse_md *md, const unsigned char *key, size_t klen,
                        const unsigned char *msg, size_t mlen, unsigned char *out) {
    size_t bs = (size_t) md->block;
    unsigned char k[EVP_MAX_MD_SIZE > 128 ? EVP_MAX_MD_SIZE : 128];
    unsigned char inner[EVP_MAX_MD_SIZE];
    memset(k, 0, sizeof k);
    if (klen > bs) legacy_digest(md->legacy, key, klen, k);
    else memcpy(k, key, klen);

    unsigned char *buf = malloc(bs + (mlen > (size_t) md->size ? mlen : (size_t) md->size));
    if (buf == NULL) return;
    for (size_t i = 0; i < bs; i++) buf[i] = k[i] ^ 0x36;
    memcpy(buf + bs, msg, mlen);
    legacy_digest(md->legacy, buf, bs + mlen, inner);
    for (size_t i = 0; i < bs; i++) buf[i] = k[i] ^ 0x5c;
    memcpy(buf + bs, inner, (size_t) md->size);
    legacy_digest(md->legacy, buf, bs + (size_t) md->size, out);
    OPENSSL_cleanse(buf, bs);
    OPENSSL_cleanse(k, sizeof k);
    free(buf);
}

/* hmac(algorithm, key, message) */
static int l_hmac(lua_State *L) {
    size_t klen, mlen;
    const char *alg = luaL_checkstring(L, 1);
    const unsigned char *key = (const unsigned char *) luaL_checklstring(L, 2, &klen);
    const unsigned char *msg = (const unsigned char *) luaL_checklstring(L, 3, &mlen);
    nse_md md;
    if (!nse_md_lookup(alg, &md)) return luaL_error(L, "Unknown digest algorithm: %s", alg);
    unsigned char out[EVP_MAX_MD_SIZE];
    unsigned int outlen = 0;
    if (md.legacy) {
        legacy_hmac(&md, key, klen, msg, mlen, out);
        outlen = (unsigned int) md.size;
    } else if (HMAC(md.md, key, (int) klen, msg, mlen, out, &outlen) == NULL) {
        return nse_openssl_error(L);
    }
    lua_pushlstring(L, (const char *) out, outlen);
    return 1;
}

/* Every name and alias of one OBJ_NAME type, sorted by strcmp, as an array:
 * what OBJ_NAME_do_all_sorted gives nmap. That function sorts with glibc's
 * qsort, which calls sysinfo(2) (to size its buffer), a system call the
 * child's seccomp filter kills: so we collect the names and sort them here. */
typedef struct { const char **names; size_t n, cap; int failed; } name_list;

static void add_name(const OBJ_NAME *name, void *arg) {
    name_list *list = arg;
    if (list->failed) return;
    if (list->n == list->cap) {
        size_t cap = list->cap ? list->cap * 2 : 256;
        const char **grown = realloc(list->names, cap * sizeof *grown);
        if (grown == NULL) {
            list->failed = 1;
            return;
        }
        list->names = grown;
        list->cap = cap;
    }
    list->names[list->n++] = name->name;
}

/* Merge sort of a[0..n) using tmp (n entries). */
static void sort_names(const char **a, const char **tmp, size_t n) {
    if (n < 2) return;
    size_t h = n / 2;
    sort_names(a, tmp, h);
    sort_names(a + h, tmp, n - h);
    size_t i = 0, j = h, k = 0;
    while (i < h && j < n) tmp[k++] = strcmp(a[j], a[i]) < 0 ? a[j++] : a[i++];
    while (i < h) tmp[k++] = a[i++];
    while (j < n) tmp[k++] = a[j++];
    memcpy(a, tmp, n * sizeof *a);
}

int nse_push_obj_names(lua_State *L, int type) {
    nse_openssl_init();
    name_list list = { NULL, 0, 0, 0 };
    OBJ_NAME_do_all(type, add_name, &list);
    const char **tmp = list.n > 0 ? malloc(list.n * sizeof *tmp) : NULL;
    if (list.failed || (list.n > 0 && tmp == NULL)) {
        free(list.names);
        free(tmp);
        return luaL_error(L, "Couldn't allocate memory.");
    }
    sort_names(list.names, tmp, list.n);
    free(tmp);
    lua_createtable(L, (int) list.n, 0);
    for (size_t i = 0; i < list.n; i++) {
        lua_pushstring(L, list.names[i]);
        lua_rawseti(L, -2, (lua_Integer) i + 1);
    }
    free(list.names);
    return 1;
}

static int l_supported_digests(lua_State *L) { return nse_push_obj_names(L, OBJ_NAME_TYPE_MD_METH); }

static int push_random(lua_State *L) {
    lua_Integer n = luaL_checkinteger(L, 1);
    if (n < 0 || n > INT_MAX) return luaL_error(L, "Couldn't allocate memory.");
    luaL_Buffer b;
    unsigned char *p = (unsigned char *) luaL_buffinitsize(L, &b, (size_t) n);
    if (nse_random_fill(p, (size_t) n) != 0) return luaL_error(L, "Failure in RAND_bytes.");
    luaL_pushresultsize(&b, (size_t) n);
    return 1;
}

static int l_rand_bytes(lua_State *L) { return push_random(L); }
static int l_rand_pseudo_bytes(lua_State *L) { return push_random(L); }

static const luaL_Reg digest_funcs[] = {
    { "rand_bytes", l_rand_bytes },
    { "rand_pseudo_bytes", l_rand_pseudo_bytes },
    { "md4", l_md4 },
    { "md5", l_md5 },
    { "sha1", l_sha1 },
    { "ripemd160", l_ripemd160 },
    { "digest", l_digest },
    { "hmac", l_hmac },
    { "supported_digests", l_supported_digests },
    { NULL, NULL },
};

void nse_openssl_add_digest(lua_State *L) { luaL_setfuncs(L, digest_funcs, 0); }
