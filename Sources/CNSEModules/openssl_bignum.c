/* openssl.bignum_*: BIGNUM userdata (metatable "BIGNUM", shared with cert.c for
 * RSA keys) and the arithmetic nselib uses. Failures inside OpenSSL's
 * arithmetic leave the result zero and raise nothing, as in nmap. */
#include "openssl_shared.h"
#include "CNSEModules.h"
#include <stdlib.h>
#include <openssl/crypto.h>

typedef struct { BIGNUM *bn; } nse_bignum;

BIGNUM *nse_bignum_check(lua_State *L, int arg) {
    nse_bignum *u = (nse_bignum *) luaL_checkudata(L, arg, NSE_BIGNUM_TNAME);
    if (u->bn == NULL) luaL_argerror(L, arg, "freed bignum");
    return u->bn;
}

int nse_bignum_push(lua_State *L, BIGNUM *bn) {
    if (bn == NULL) return luaL_error(L, "Couldn't allocate memory.");
    nse_bignum *u = (nse_bignum *) lua_newuserdatauv(L, sizeof *u, 0);
    u->bn = bn;
    nse_bignum_pushmetatable(L);
    lua_setmetatable(L, -2);
    return 1;
}

/* A new zero BIGNUM, or a Lua error. */
static BIGNUM *new_bn(lua_State *L) {
    BIGNUM *bn = BN_new();
    if (bn == NULL) luaL_error(L, "Couldn't allocate memory.");
    return bn;
}

static int l_bin2bn(lua_State *L) {
    size_t len;
    const unsigned char *s = (const unsigned char *) luaL_checklstring(L, 1, &len);
    BIGNUM *bn = new_bn(L);
    BN_bin2bn(s, (int) len, bn);
    return nse_bignum_push(L, bn);
}

static int l_dec2bn(lua_State *L) {
    const char *s = luaL_checkstring(L, 1);
    BIGNUM *bn = new_bn(L);
    BN_dec2bn(&bn, s);
    return nse_bignum_push(L, bn);
}

static int l_hex2bn(lua_State *L) {
    const char *s = luaL_checkstring(L, 1);
    BIGNUM *bn = new_bn(L);
    BN_hex2bn(&bn, s);
    return nse_bignum_push(L, bn);
}

static int l_rand(lua_State *L) {
    lua_Integer bits = luaL_checkinteger(L, 1);
    if (bits < 0 || bits > (1 << 20)) return luaL_error(L, "bignum_rand: bad number of bits");
    /* From the instance's random stream (random.c), as BN_rand(bits, TOP_ANY,
     * BOTTOM_ANY) would make it: `bits` random bits. */
    size_t n = ((size_t) bits + 7) / 8;
    unsigned char *buf = n ? (unsigned char *) lua_newuserdatauv(L, n, 0) : NULL;
    if (n && nse_random_fill(buf, n) != 0) return luaL_error(L, "Failure in RAND_bytes.");
    if (n && bits % 8) buf[0] &= (unsigned char) (0xff >> (8 - bits % 8));
    BIGNUM *bn = BN_bin2bn(buf, (int) n, NULL);
    if (n) lua_pop(L, 1);
    return nse_bignum_push(L, bn);
}

static int l_mod_exp(lua_State *L) {
    BIGNUM *a = nse_bignum_check(L, 1), *p = nse_bignum_check(L, 2), *m = nse_bignum_check(L, 3);
    BIGNUM *r = new_bn(L);
    BN_CTX *ctx = BN_CTX_new();
    if (ctx != NULL) BN_mod_exp(r, a, p, m, ctx);
    BN_CTX_free(ctx);
    return nse_bignum_push(L, r);
}

static int l_div(lua_State *L) {
    BIGNUM *a = nse_bignum_check(L, 1), *d = nse_bignum_check(L, 2);
    BIGNUM *q = new_bn(L);
    nse_bignum_push(L, q);
    BIGNUM *r = new_bn(L);
    nse_bignum_push(L, r);
    BN_CTX *ctx = BN_CTX_new();
    if (ctx != NULL) BN_div(q, r, a, d, ctx);
    BN_CTX_free(ctx);
    return 2;
}

static int l_add(lua_State *L) {
    BIGNUM *a = nse_bignum_check(L, 1), *b = nse_bignum_check(L, 2);
    BIGNUM *r = new_bn(L);
    BN_add(r, a, b);
    return nse_bignum_push(L, r);
}

static int l_num_bits(lua_State *L) {
    lua_pushinteger(L, BN_num_bits(nse_bignum_check(L, 1)));
    return 1;
}

static int l_num_bytes(lua_State *L) {
    lua_pushinteger(L, BN_num_bytes(nse_bignum_check(L, 1)));
    return 1;
}

static int l_set_bit(lua_State *L) {
    BIGNUM *bn = nse_bignum_check(L, 1);
    BN_set_bit(bn, (int) luaL_checkinteger(L, 2));
    return 0;
}

static int l_clear_bit(lua_State *L) {
    BIGNUM *bn = nse_bignum_check(L, 1);
    BN_clear_bit(bn, (int) luaL_checkinteger(L, 2));
    return 0;
}

static int l_is_bit_set(lua_State *L) {
    BIGNUM *bn = nse_bignum_check(L, 1);
    lua_pushboolean(L, BN_is_bit_set(bn, (int) luaL_checkinteger(L, 2)));
    return 1;
}

/* BN_check_prime's answer (1 prime, 0 composite, -1 error: true, as nmap). */
static int check_prime(const BIGNUM *bn, BN_CTX *ctx) {
    return BN_check_prime(bn, ctx, NULL);
}

static int l_is_prime(lua_State *L) {
    BIGNUM *bn = nse_bignum_check(L, 1);
    BN_CTX *ctx = BN_CTX_new();
    int prime = check_prime(bn, ctx);
    BN_CTX_free(ctx);
    lua_pushboolean(L, prime);
    return 1;
}

/* Returns safe, prime: p is a safe prime when (p-1)/2 is prime too. */
static int l_is_safe_prime(lua_State *L) {
    BIGNUM *bn = nse_bignum_check(L, 1);
    BN_CTX *ctx = BN_CTX_new();
    int prime = check_prime(bn, ctx), safe = 0;
    if (prime) {
        BIGNUM *half = BN_dup(bn);
        if (half != NULL) {
            BN_sub_word(half, 1);
            BN_div_word(half, 2);
            safe = check_prime(half, ctx);
            BN_clear_free(half);
        }
    }
    BN_CTX_free(ctx);
    lua_pushboolean(L, safe);
    lua_pushboolean(L, prime);
    return 2;
}

static int l_bn2bin(lua_State *L) {
    BIGNUM *bn = nse_bignum_check(L, 1);
    int n = BN_num_bytes(bn);
    luaL_Buffer b;
    unsigned char *p = (unsigned char *) luaL_buffinitsize(L, &b, (size_t) n);
    int len = BN_bn2bin(bn, p);
    luaL_pushresultsize(&b, (size_t) (len < 0 ? 0 : len));
    return 1;
}

/* Pushes an OpenSSL-allocated string and frees it. */
static int push_ossl_string(lua_State *L, char *s) {
    if (s == NULL) return luaL_error(L, "Couldn't allocate memory.");
    lua_pushstring(L, s);
    OPENSSL_free(s);
    return 1;
}

static int l_bn2dec(lua_State *L) { return push_ossl_string(L, BN_bn2dec(nse_bignum_check(L, 1))); }
static int l_bn2hex(lua_State *L) { return push_ossl_string(L, BN_bn2hex(nse_bignum_check(L, 1))); }

static int l_gc(lua_State *L) {
    nse_bignum *u = (nse_bignum *) luaL_checkudata(L, 1, NSE_BIGNUM_TNAME);
    if (u->bn != NULL) BN_clear_free(u->bn);
    u->bn = NULL;
    return 0;
}

/* Methods of a BIGNUM (metatable.__index = metatable), as nmap 7.93 has them. */
static const luaL_Reg bignum_methods[] = {
    { "num_bits", l_num_bits },
    { "num_bytes", l_num_bytes },
    { "tobin", l_bn2bin },
    { "todec", l_bn2dec },
    { "tohex", l_bn2hex },
    { "is_bit_set", l_is_bit_set },
    { "set_bit", l_set_bit },
    { "clear_bit", l_clear_bit },
    { "is_prime", l_is_prime },
    { "is_safe_prime", l_is_safe_prime },
    { "__gc", l_gc },
    { "__tostring", l_bn2hex },
    { NULL, NULL },
};

void nse_bignum_pushmetatable(lua_State *L) {
    if (luaL_newmetatable(L, NSE_BIGNUM_TNAME)) {
        lua_pushvalue(L, -1);
        lua_setfield(L, -2, "__index");
        luaL_setfuncs(L, bignum_methods, 0);
    }
}

static const luaL_Reg bignum_funcs[] = {
    { "bignum_num_bits", l_num_bits },
    { "bignum_num_bytes", l_num_bytes },
    { "bignum_set_bit", l_set_bit },
    { "bignum_clear_bit", l_clear_bit },
    { "bignum_is_bit_set", l_is_bit_set },
    { "bignum_is_prime", l_is_prime },
    { "bignum_is_safe_prime", l_is_safe_prime },
    { "bignum_bin2bn", l_bin2bn },
    { "bignum_dec2bn", l_dec2bn },
    { "bignum_hex2bn", l_hex2bn },
    { "bignum_rand", l_rand },
    { "bignum_pseudo_rand", l_rand },
    { "bignum_bn2bin", l_bn2bin },
    { "bignum_bn2dec", l_bn2dec },
    { "bignum_bn2hex", l_bn2hex },
    { "bignum_add", l_add },
    { "bignum_mod_exp", l_mod_exp },
    { "bignum_div", l_div },
    { NULL, NULL },
};

void nse_openssl_add_bignum(lua_State *L) { luaL_setfuncs(L, bignum_funcs, 0); }
