/* The `openssl` Lua module nselib requires (nmap 7.93's API, see
 * /usr/share/nmap/nselib/openssl.luadoc), over libcrypto. Split by job:
 *   openssl.c         module table, library initialisation, errors
 *   openssl_bignum.c  BIGNUM userdata and the bignum_* functions
 *   openssl_digest.c  digests, HMAC, random bytes
 *   openssl_cipher.c  encrypt/decrypt, DES_string_to_key, our legacy ciphers
 *
 * The module is opened in the sandboxed child, after its seccomp filter: no
 * file can be opened. So libcrypto is initialised without openssl.cnf and only
 * the built-in default provider is used; the algorithms nmap gets from the
 * legacy provider (legacy.so, which would have to be dlopen'ed) are provided by
 * our own code over libcrypto's low-level functions. */
#include "openssl_shared.h"
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/provider.h>

int luaopen_nse_openssl(lua_State *L);

void nse_openssl_init(void) {
    static int done = 0;
    if (done) return;
    done = 1;
    OPENSSL_init_crypto(OPENSSL_INIT_NO_LOAD_CONFIG | OPENSSL_INIT_ADD_ALL_CIPHERS
                        | OPENSSL_INIT_ADD_ALL_DIGESTS | OPENSSL_INIT_LOAD_CRYPTO_STRINGS, NULL);
    /* Built into libcrypto: needs no file. Kept loaded for the process. */
    ERR_set_mark();
    (void) OSSL_PROVIDER_load(NULL, "default");
    ERR_pop_to_mark();
}

/* Like nmap, takes only the oldest queued error: later ones stay queued and
 * show up in the next error message, as they do in nmap. */
int nse_openssl_error(lua_State *L) {
    char buf[256];
    ERR_error_string_n(ERR_get_error(), buf, sizeof buf);
    return luaL_error(L, "OpenSSL error: %s", buf);
}

int luaopen_nse_openssl(lua_State *L) {
    nse_openssl_init();
    lua_newtable(L);
    nse_openssl_add_bignum(L);
    nse_openssl_add_digest(L);
    nse_openssl_add_cipher(L);
    nse_bignum_pushmetatable(L); /* registers BIGNUM for luaL_checkudata */
    lua_pop(L, 1);
    return 1;
}
