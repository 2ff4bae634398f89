/* The child's random bytes: every source a script reaches (openssl.rand_bytes,
 * openssl.bignum_rand, nmap.get_random_bytes, math.random's seed) draws from one
 * stream, so that `nsebox replay` can give a script the same numbers it had when
 * it was recorded.
 *
 * The stream is ChaCha20's keystream (RFC 8439: block counter from 0, nonce 0;
 * the bytes OpenSSL's EVP_chacha20 gives for an all-zero IV) under a 32-byte key
 * the broker draws from the kernel for each instance and records in the audit
 * log's start record (a standard construction of a CSPRNG from a stream cipher).
 * Before a seed is set, bytes come from OpenSSL's RAND_bytes.
 *
 * The cipher is written out here rather than taken from OpenSSL: seeding is then
 * a copy into this file's static state, where OpenSSL's context would allocate,
 * take its locks and write five pages every instance shares with the zygote,
 * each a copy-on-write fault (docs/performance.md). */
#include "CNSEModules.h"
#include <stdint.h>
#include <string.h>
#include <openssl/rand.h>

static struct {
    uint32_t key[8];
    uint64_t block;            /* the next block's counter */
    unsigned char spare[64];   /* the rest of the last block */
    size_t spare_len;
    int seeded;
} stream;

static uint32_t rotl(uint32_t v, int n) { return (v << n) | (v >> (32 - n)); }

#define QUARTER(a, b, c, d) \
    a += b; d ^= a; d = rotl(d, 16); c += d; b ^= c; b = rotl(b, 12); \
    a += b; d ^= a; d = rotl(d, 8);  c += d; b ^= c; b = rotl(b, 7)

/* One 64-byte keystream block. RFC 8439 keeps the counter in word 12 only
 * (32 bits); OpenSSL carries it into word 13, the nonce's first word, which
 * matters only after 256 GiB of one instance's stream. */
static void block(unsigned char out[64]) {
    uint32_t in[16] = { 0x61707865, 0x3320646e, 0x79622d32, 0x6b206574 };
    memcpy(in + 4, stream.key, sizeof stream.key);
    in[12] = (uint32_t) stream.block;
    in[13] = (uint32_t) (stream.block >> 32);
    uint32_t x[16];
    memcpy(x, in, sizeof x);
    for (int i = 0; i < 10; i++) {
        QUARTER(x[0], x[4], x[8], x[12]); QUARTER(x[1], x[5], x[9], x[13]);
        QUARTER(x[2], x[6], x[10], x[14]); QUARTER(x[3], x[7], x[11], x[15]);
        QUARTER(x[0], x[5], x[10], x[15]); QUARTER(x[1], x[6], x[11], x[12]);
        QUARTER(x[2], x[7], x[8], x[13]); QUARTER(x[3], x[4], x[9], x[14]);
    }
    for (int i = 0; i < 16; i++) {
        uint32_t v = x[i] + in[i];
        out[4 * i] = (unsigned char) v;
        out[4 * i + 1] = (unsigned char) (v >> 8);
        out[4 * i + 2] = (unsigned char) (v >> 16);
        out[4 * i + 3] = (unsigned char) (v >> 24);
    }
    stream.block++;
}

int nse_random_seed(const unsigned char *seed, size_t len) {
    if (len != 32) return -1;
    for (int i = 0; i < 8; i++)
        stream.key[i] = (uint32_t) seed[4 * i] | (uint32_t) seed[4 * i + 1] << 8 |
                        (uint32_t) seed[4 * i + 2] << 16 | (uint32_t) seed[4 * i + 3] << 24;
    stream.block = 0;
    stream.spare_len = 0;
    stream.seeded = 1;
    return 0;
}

int nse_random_fill(unsigned char *out, size_t len) {
    if (!stream.seeded) {
        /* RAND_bytes takes an int: a larger request goes in pieces. */
        while (len > 0) {
            int chunk = len > (1 << 30) ? (1 << 30) : (int) len;
            if (RAND_bytes(out, chunk) != 1) return -1;
            out += chunk;
            len -= (size_t) chunk;
        }
        return 0;
    }
    size_t take = len < stream.spare_len ? len : stream.spare_len;
    memcpy(out, stream.spare + (64 - stream.spare_len), take);
    stream.spare_len -= take;
    out += take;
    len -= take;
    while (len >= 64) {
        block(out);
        out += 64;
        len -= 64;
    }
    if (len > 0) {
        block(stream.spare);
        memcpy(out, stream.spare, len);
        stream.spare_len = 64 - len;
    }
    return 0;
}
