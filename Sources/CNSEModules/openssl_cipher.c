/* openssl.encrypt, decrypt, supported_ciphers, DES_string_to_key.
 *
 * Ciphers come from the default provider. DES (single), DESX, CAST5, Blowfish,
 * SEED, RC2 and RC4 live only in OpenSSL 3's legacy provider, a shared object
 * the sandboxed child cannot load (no file can be opened). For those we build
 * EVP ciphers with EVP_CIPHER_meth_new, which libcrypto runs on its built-in
 * (provider-free) code path, over the low-level block functions libcrypto still
 * exports (DES_ecb_encrypt, CAST_ecb_encrypt, ...). The modes (ECB, CBC, 64/128
 * bit CFB and OFB) are ours; EVP does the buffering and padding, as for any
 * cipher. */
#include "openssl_shared.h"
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <openssl/blowfish.h>
#include <openssl/cast.h>
#include <openssl/des.h>
#include <openssl/err.h>
#include <openssl/objects.h>
#include <openssl/rc2.h>
#include <openssl/rc4.h>
#include <openssl/seed.h>

enum { ALG_DES, ALG_DESX, ALG_CAST, ALG_BF, ALG_SEED, ALG_RC2, ALG_RC4 };

typedef struct {
    int nid;
    int alg;
    unsigned long mode;  /* EVP_CIPH_*_MODE */
    int keylen;          /* default key length */
    int variable;        /* key length may be changed */
    int rc2_bits;        /* RC2's effective key bits */
} legacy_def;

static const legacy_def legacy_defs[] = {
    { NID_des_ecb, ALG_DES, EVP_CIPH_ECB_MODE, 8, 0, 0 },
    { NID_des_cbc, ALG_DES, EVP_CIPH_CBC_MODE, 8, 0, 0 },
    { NID_des_cfb64, ALG_DES, EVP_CIPH_CFB_MODE, 8, 0, 0 },
    { NID_des_ofb64, ALG_DES, EVP_CIPH_OFB_MODE, 8, 0, 0 },
    { NID_desx_cbc, ALG_DESX, EVP_CIPH_CBC_MODE, 24, 0, 0 },
    { NID_cast5_ecb, ALG_CAST, EVP_CIPH_ECB_MODE, 16, 1, 0 },
    { NID_cast5_cbc, ALG_CAST, EVP_CIPH_CBC_MODE, 16, 1, 0 },
    { NID_cast5_cfb64, ALG_CAST, EVP_CIPH_CFB_MODE, 16, 1, 0 },
    { NID_cast5_ofb64, ALG_CAST, EVP_CIPH_OFB_MODE, 16, 1, 0 },
    { NID_bf_ecb, ALG_BF, EVP_CIPH_ECB_MODE, 16, 1, 0 },
    { NID_bf_cbc, ALG_BF, EVP_CIPH_CBC_MODE, 16, 1, 0 },
    { NID_bf_cfb64, ALG_BF, EVP_CIPH_CFB_MODE, 16, 1, 0 },
    { NID_bf_ofb64, ALG_BF, EVP_CIPH_OFB_MODE, 16, 1, 0 },
    { NID_seed_ecb, ALG_SEED, EVP_CIPH_ECB_MODE, 16, 0, 0 },
    { NID_seed_cbc, ALG_SEED, EVP_CIPH_CBC_MODE, 16, 0, 0 },
    { NID_seed_cfb128, ALG_SEED, EVP_CIPH_CFB_MODE, 16, 0, 0 },
    { NID_seed_ofb128, ALG_SEED, EVP_CIPH_OFB_MODE, 16, 0, 0 },
    { NID_rc2_ecb, ALG_RC2, EVP_CIPH_ECB_MODE, 16, 1, 128 },
    { NID_rc2_cbc, ALG_RC2, EVP_CIPH_CBC_MODE, 16, 1, 128 },
    { NID_rc2_cfb64, ALG_RC2, EVP_CIPH_CFB_MODE, 16, 1, 128 },
    { NID_rc2_ofb64, ALG_RC2, EVP_CIPH_OFB_MODE, 16, 1, 128 },
    { NID_rc2_40_cbc, ALG_RC2, EVP_CIPH_CBC_MODE, 5, 1, 40 },
    { NID_rc2_64_cbc, ALG_RC2, EVP_CIPH_CBC_MODE, 8, 1, 64 },
    { NID_rc4, ALG_RC4, EVP_CIPH_STREAM_CIPHER, 16, 1, 0 },
    { NID_rc4_40, ALG_RC4, EVP_CIPH_STREAM_CIPHER, 5, 1, 0 },
};
#define NLEGACY (sizeof legacy_defs / sizeof legacy_defs[0])

/* The per-context state of one of our ciphers (EVP allocates and clears it). */
typedef struct {
    const legacy_def *def;
    int block;               /* bytes of the underlying block, 0 for RC4 */
    int enc;
    int num;                 /* position in the CFB/OFB keystream block */
    unsigned char iv[16];
    union {
        DES_key_schedule des;
        struct { DES_key_schedule ks; unsigned char in[8], out[8]; } desx;
        CAST_KEY cast;
        BF_KEY bf;
        SEED_KEY_SCHEDULE seed;
        RC2_KEY rc2;
        RC4_KEY rc4;
    } k;
} legacy_state;

static const legacy_def *find_def(int nid) {
    for (size_t i = 0; i < NLEGACY; i++)
        if (legacy_defs[i].nid == nid) return &legacy_defs[i];
    return NULL;
}

static int block_bytes(int alg) { return alg == ALG_SEED ? 16 : alg == ALG_RC4 ? 0 : 8; }

/* One block through the underlying cipher, in either direction. */
static void one_block(legacy_state *s, const unsigned char *in, unsigned char *out, int enc) {
    unsigned char t[16];
    switch (s->def->alg) {
    case ALG_DES:
        DES_ecb_encrypt((const_DES_cblock *) in, (DES_cblock *) out, &s->k.des, enc);
        break;
    case ALG_DESX: /* E(x ^ in-whitening) ^ out-whitening, and back */
        for (int i = 0; i < 8; i++) t[i] = in[i] ^ (enc ? s->k.desx.in[i] : s->k.desx.out[i]);
        DES_ecb_encrypt((const_DES_cblock *) t, (DES_cblock *) t, &s->k.desx.ks, enc);
        for (int i = 0; i < 8; i++) out[i] = t[i] ^ (enc ? s->k.desx.out[i] : s->k.desx.in[i]);
        break;
    case ALG_CAST: CAST_ecb_encrypt(in, out, &s->k.cast, enc); break;
    case ALG_BF: BF_ecb_encrypt(in, out, &s->k.bf, enc); break;
    case ALG_SEED: SEED_ecb_encrypt(in, out, &s->k.seed, enc); break;
    case ALG_RC2: RC2_ecb_encrypt(in, out, &s->k.rc2, enc); break;
    }
}

static int legacy_init(EVP_CIPHER_CTX *ctx, const unsigned char *key, const unsigned char *iv, int enc) {
    legacy_state *s = EVP_CIPHER_CTX_get_cipher_data(ctx);
    const legacy_def *def = find_def(EVP_CIPHER_CTX_get_nid(ctx));
    if (s == NULL || def == NULL) return 0;
    int klen = EVP_CIPHER_CTX_get_key_length(ctx);
    s->def = def;
    s->block = block_bytes(def->alg);
    s->enc = enc;
    s->num = 0;
    memset(s->iv, 0, sizeof s->iv);
    if (iv != NULL && s->block > 0 && def->mode != EVP_CIPH_ECB_MODE) memcpy(s->iv, iv, (size_t) s->block);
    if (key == NULL) return 1;
    switch (def->alg) {
    case ALG_DES: DES_set_key_unchecked((const_DES_cblock *) key, &s->k.des); break;
    case ALG_DESX:
        DES_set_key_unchecked((const_DES_cblock *) key, &s->k.desx.ks);
        memcpy(s->k.desx.in, key + 8, 8);
        memcpy(s->k.desx.out, key + 16, 8);
        break;
    case ALG_CAST: CAST_set_key(&s->k.cast, klen, key); break;
    case ALG_BF: BF_set_key(&s->k.bf, klen, key); break;
    case ALG_SEED: SEED_set_key(key, &s->k.seed); break;
    case ALG_RC2: RC2_set_key(&s->k.rc2, klen, key, def->rc2_bits); break;
    case ALG_RC4: RC4_set_key(&s->k.rc4, klen, key); break;
    }
    return 1;
}

static int legacy_do_cipher(EVP_CIPHER_CTX *ctx, unsigned char *out, const unsigned char *in, size_t n) {
    legacy_state *s = EVP_CIPHER_CTX_get_cipher_data(ctx);
    if (s == NULL || s->def == NULL) return 0;
    size_t bs = (size_t) s->block;
    unsigned char t[16], c[16];
    switch (s->def->mode) {
    case EVP_CIPH_STREAM_CIPHER:
        RC4(&s->k.rc4, n, in, out);
        return 1;
    case EVP_CIPH_ECB_MODE:
        for (size_t i = 0; i + bs <= n; i += bs) one_block(s, in + i, out + i, s->enc);
        return 1;
    case EVP_CIPH_CBC_MODE:
        for (size_t i = 0; i + bs <= n; i += bs) {
            if (s->enc) {
                for (size_t j = 0; j < bs; j++) t[j] = in[i + j] ^ s->iv[j];
                one_block(s, t, out + i, 1);
                memcpy(s->iv, out + i, bs);
            } else {
                memcpy(c, in + i, bs);
                one_block(s, c, t, 0);
                for (size_t j = 0; j < bs; j++) out[i + j] = t[j] ^ s->iv[j];
                memcpy(s->iv, c, bs);
            }
        }
        return 1;
    case EVP_CIPH_CFB_MODE: /* full-block feedback, byte by byte */
        for (size_t i = 0; i < n; i++) {
            if (s->num == 0) one_block(s, s->iv, s->iv, 1);
            unsigned char x = in[i];
            unsigned char y = x ^ s->iv[s->num];
            s->iv[s->num] = s->enc ? y : x;
            out[i] = y;
            s->num = (s->num + 1) % (int) bs;
        }
        return 1;
    case EVP_CIPH_OFB_MODE:
        for (size_t i = 0; i < n; i++) {
            if (s->num == 0) one_block(s, s->iv, s->iv, 1);
            out[i] = in[i] ^ s->iv[s->num];
            s->num = (s->num + 1) % (int) bs;
        }
        return 1;
    }
    return 0;
}

/* Our EVP_CIPHER for a legacy-provider algorithm, made once; NULL if we have none. */
static const EVP_CIPHER *legacy_cipher(int nid) {
    static EVP_CIPHER *made[NLEGACY];
    for (size_t i = 0; i < NLEGACY; i++) {
        const legacy_def *d = &legacy_defs[i];
        if (d->nid != nid) continue;
        if (made[i] != NULL) return made[i];
        int bs = block_bytes(d->alg);
        int stream = d->mode != EVP_CIPH_ECB_MODE && d->mode != EVP_CIPH_CBC_MODE;
        EVP_CIPHER *c = EVP_CIPHER_meth_new(nid, stream ? 1 : bs, d->keylen);
        if (c == NULL) return NULL;
        if (!EVP_CIPHER_meth_set_iv_length(c, d->mode == EVP_CIPH_ECB_MODE ? 0 : bs)
            || !EVP_CIPHER_meth_set_flags(c, d->mode | (d->variable ? EVP_CIPH_VARIABLE_LENGTH : 0))
            || !EVP_CIPHER_meth_set_init(c, legacy_init)
            || !EVP_CIPHER_meth_set_do_cipher(c, legacy_do_cipher)
            || !EVP_CIPHER_meth_set_impl_ctx_size(c, sizeof(legacy_state))) {
            EVP_CIPHER_meth_free(c);
            return NULL;
        }
        made[i] = c;
        return c;
    }
    return NULL;
}

/* The cipher to run for a name: the provider's, else ours, else the name's own
 * (which then fails in EVP with OpenSSL's "unsupported" error). */
static const EVP_CIPHER *cipher_for(const EVP_CIPHER *named) {
    ERR_set_mark(); /* the probe leaves the error queue as it was */
    EVP_CIPHER *fetched = EVP_CIPHER_fetch(NULL, EVP_CIPHER_get0_name(named), NULL);
    if (fetched != NULL) {
        EVP_CIPHER_free(fetched);
        ERR_pop_to_mark();
        return named;
    }
    ERR_pop_to_mark();
    const EVP_CIPHER *ours = legacy_cipher(EVP_CIPHER_get_nid(named));
    return ours != NULL ? ours : named;
}

/* encrypt/decrypt(algorithm, key, iv, data, padding) */
static int run_cipher(lua_State *L, int enc) {
    nse_openssl_init();
    const char *alg = luaL_checkstring(L, 1);
    const EVP_CIPHER *named = EVP_get_cipherbyname(alg);
    if (named == NULL) return luaL_error(L, "Unknown cipher algorithm: %s", alg);
    size_t klen, ivlen, dlen;
    const unsigned char *key = (const unsigned char *) luaL_checklstring(L, 2, &klen);
    const unsigned char *iv = (const unsigned char *) luaL_optlstring(L, 3, "", &ivlen);
    const unsigned char *data = (const unsigned char *) luaL_checklstring(L, 4, &dlen);
    int padding = lua_toboolean(L, 5);
    /* nmap 7.93 takes an iv whose first byte is zero (or an empty one) as none:
     * the context's iv stays all zeros. */
    if (iv[0] == '\0') iv = NULL;
    if (dlen > (size_t) INT_MAX - EVP_MAX_BLOCK_LENGTH) return luaL_error(L, "Couldn't allocate memory.");

    const EVP_CIPHER *cipher = cipher_for(named);
    EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
    if (ctx == NULL) return nse_openssl_error(L);
    if (!(EVP_CipherInit_ex(ctx, cipher, NULL, NULL, NULL, enc)
          && EVP_CIPHER_CTX_set_key_length(ctx, (int) klen)
          && EVP_CIPHER_CTX_set_padding(ctx, padding))) {
        EVP_CIPHER_CTX_free(ctx);
        return nse_openssl_error(L);
    }
    int want = EVP_CIPHER_CTX_get_iv_length(ctx);
    if (iv != NULL && (int) ivlen != want) {
        EVP_CIPHER_CTX_free(ctx);
        return luaL_error(L, "Length of iv is %d; should be %d", (int) ivlen, want);
    }
    unsigned char *out = malloc(dlen + EVP_MAX_BLOCK_LENGTH);
    if (out == NULL) {
        EVP_CIPHER_CTX_free(ctx);
        return luaL_error(L, "Couldn't allocate memory.");
    }
    int outlen = 0, finlen = 0;
    int ok = EVP_CipherInit_ex(ctx, NULL, NULL, key, iv, enc)
          && EVP_CipherUpdate(ctx, out, &outlen, data, (int) dlen)
          && EVP_CipherFinal_ex(ctx, out + outlen, &finlen);
    EVP_CIPHER_CTX_free(ctx);
    if (!ok) {
        free(out);
        return nse_openssl_error(L);
    }
    lua_pushlstring(L, (const char *) out, (size_t) (outlen + finlen));
    free(out);
    return 1;
}

static int l_encrypt(lua_State *L) { return run_cipher(L, 1); }
static int l_decrypt(lua_State *L) { return run_cipher(L, 0); }

static int l_supported_ciphers(lua_State *L) { return nse_push_obj_names(L, OBJ_NAME_TYPE_CIPHER_METH); }

/* DES_string_to_key(7 bytes): the 56 key bits spread over 8 bytes, 7 bits in
 * each byte's high bits. As in nmap 7.93, the low (parity) bit is left 0. */
static int l_DES_string_to_key(lua_State *L) {
    size_t len;
    const unsigned char *in = (const unsigned char *) luaL_checklstring(L, 1, &len);
    if (len != 7) return luaL_error(L, "String must have length of 7 bytes.");
    unsigned char key[8];
    unsigned int acc = 0; /* bits not yet placed, left-aligned in the low 16 bits */
    int have = 0;
    size_t next = 0;
    for (int i = 0; i < 8; i++) {
        if (have < 7) {
            acc |= (unsigned int) in[next++] << (8 - have);
            have += 8;
        }
        key[i] = (unsigned char) ((acc >> 8) & 0xFE);
        acc = (acc << 7) & 0xFFFF;
        have -= 7;
    }
    lua_pushlstring(L, (const char *) key, 8);
    return 1;
}

static const luaL_Reg cipher_funcs[] = {
    { "encrypt", l_encrypt },
    { "decrypt", l_decrypt },
    { "DES_string_to_key", l_DES_string_to_key },
    { "supported_ciphers", l_supported_ciphers },
    { NULL, NULL },
};

void nse_openssl_add_cipher(lua_State *L) { luaL_setfuncs(L, cipher_funcs, 0); }
