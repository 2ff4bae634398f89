/* The child's random bytes: every source a script reaches (openssl.rand_bytes,
 * openssl.bignum_rand, nmap.get_random_bytes, math.random's seed) draws from one
 * stream, so that `nsebox replay` can give a script the same numbers it had when
 * it was recorded.
 *
 * The stream is ChaCha20's keystream under a 32-byte key the broker draws from
 * the kernel for each instance and records in the audit log's start record (a
 * standard construction of a CSPRNG from a stream cipher). Before a seed is set,
 * bytes come from OpenSSL's RAND_bytes. */
#include "openssl_shared.h"
#include "CNSEModules.h"
#include <string.h>
#include <openssl/rand.h>

static EVP_CIPHER_CTX *stream;

int nse_random_seed(const unsigned char *seed, size_t len) {
    if (len != 32) return -1;
    nse_openssl_init();
    EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
    unsigned char iv[16] = { 0 };
    if (ctx == NULL || EVP_EncryptInit_ex(ctx, EVP_chacha20(), NULL, seed, iv) != 1) {
        EVP_CIPHER_CTX_free(ctx);
        return -1;
    }
    EVP_CIPHER_CTX_free(stream);
    stream = ctx;
    return 0;
}

int nse_random_fill(unsigned char *out, size_t len) {
    if (stream == NULL) return RAND_bytes(out, (int) len) == 1 ? 0 : -1;
    memset(out, 0, len);
    while (len > 0) {
        int chunk = len > (1 << 20) ? (1 << 20) : (int) len, done = 0;
        if (EVP_EncryptUpdate(stream, out, &done, out, chunk) != 1 || done != chunk) return -1;
        out += chunk;
        len -= (size_t) chunk;
    }
    return 0;
}
