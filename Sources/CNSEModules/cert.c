/* The `nsebox_cert` Lua module: X.509 certificates parsed into the table nmap
 * 7.93's nmap.socket.parse_ssl_certificate returns (what nselib's sslcert.lua
 * and ssl-cert.nse read):
 *
 *   cert.subject, cert.issuer   { [long name or {OID components}] = raw value }
 *   cert.sig_algorithm          long name of the signature algorithm
 *   cert.validity               { notBefore = date, notAfter = date }: a date is
 *                               {year, month, day, hour, min, sec}, or the raw
 *                               ASN.1 text when it does not parse
 *   cert.pem                    PEM text
 *   cert.extensions             { {name=, critical=true|nil, value=|error=true} }
 *                               (absent when there are none)
 *   cert.pubkey                 { type = "rsa"|"dsa"|"dh"|"ec"|"unknown", bits,
 *                                 exponent, modulus (BIGNUMs, RSA),
 *                                 ecdhparams = {curve_params = {ec_curve_type,
 *                                 curve}} (EC) }
 *   cert:digest(alg)            raw digest of the DER, nothing if alg is unknown
 *
 * The certificate is a userdata (metatable "SSL_CERT") whose __index reads an
 * attribute table, itself falling back to the methods, as in nmap.
 *
 * parse_der(der) is nmap's function (DER only, nil if it does not decode);
 * parse(s) takes DER or PEM. Neither reads files. Like nmap, they leave
 * libcrypto's (per-thread) error queue as OpenSSL leaves it. */
#include "openssl_shared.h"
#include <string.h>
#include <openssl/bio.h>
#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/objects.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

int luaopen_nse_cert(lua_State *L);

#define CERT_TNAME "SSL_CERT"
#define CERT_ATTRS_TNAME "nsebox SSL_CERT attributes"

typedef struct { X509 *cert; } cert_ud;

/* cert:digest(algorithm) */
static int cert_digest(lua_State *L) {
    cert_ud *u = (cert_ud *) luaL_checkudata(L, 1, CERT_TNAME);
    const char *alg = luaL_checkstring(L, 2);
    nse_md md;
    if (u->cert == NULL || !nse_md_lookup(alg, &md)) return 0;
    unsigned char *der = NULL;
    int len = i2d_X509(u->cert, &der);
    if (len < 0) return 0;
    unsigned char out[EVP_MAX_MD_SIZE];
    unsigned int outlen = 0;
    int ok = nse_md_digest(&md, der, (size_t) len, out, &outlen);
    OPENSSL_free(der);
    if (!ok) return 0;
    lua_pushlstring(L, (const char *) out, outlen);
    return 1;
}

/* The key for a name attribute: its long name, or for an OID OpenSSL does not
 * know, an array of its components as strings ({"1", "2", "3"}). */
static void push_obj_key(lua_State *L, const ASN1_OBJECT *obj) {
    int nid = OBJ_obj2nid(obj);
    if (nid != NID_undef) {
        lua_pushstring(L, OBJ_nid2ln(nid));
        return;
    }
    int n = OBJ_obj2txt(NULL, 0, obj, 1);
    lua_newtable(L);
    if (n <= 0) return;
    luaL_Buffer b;
    char *text = luaL_buffinitsize(L, &b, (size_t) n + 1);
    OBJ_obj2txt(text, n + 1, obj, 1);
    lua_Integer i = 0;
    const char *p = text;
    for (;;) {
        const char *dot = strchr(p, '.');
        size_t len = dot != NULL ? (size_t) (dot - p) : strlen(p);
        lua_pushlstring(L, p, len);
        lua_rawseti(L, -3, ++i); /* the table is below the buffer box */
        if (dot == NULL) break;
        p = dot + 1;
    }
    lua_pop(L, 1); /* the buffer box */
}

static void push_name(lua_State *L, const X509_NAME *name) {
    int n = X509_NAME_entry_count(name);
    lua_createtable(L, 0, n > 0 ? n : 0);
    for (int i = 0; i < n; i++) {
        const X509_NAME_ENTRY *e = X509_NAME_get_entry(name, i);
        const ASN1_STRING *v = X509_NAME_ENTRY_get_data(e);
        push_obj_key(L, X509_NAME_ENTRY_get_object(e));
        lua_pushlstring(L, (const char *) ASN1_STRING_get0_data(v), (size_t) ASN1_STRING_length(v));
        lua_settable(L, -3);
    }
}

/* Pushes the extensions array and returns 1, or pushes nothing if there are none. */
static int push_extensions(lua_State *L, const STACK_OF(X509_EXTENSION) *exts) {
    int n = sk_X509_EXTENSION_num(exts);
    if (n <= 0) return 0;
    lua_createtable(L, n, 0);
    for (int i = 0; i < n; i++) {
        X509_EXTENSION *ext = sk_X509_EXTENSION_value(exts, i);
        lua_createtable(L, 0, 3);
        /* nmap's name buffer holds 256 bytes: longer names are cut there. */
        char name[256];
        int len = OBJ_obj2txt(name, sizeof name, X509_EXTENSION_get_object(ext), 0);
        if (len < 0) len = 0;
        lua_pushlstring(L, name, len < (int) sizeof name ? (size_t) len : sizeof name);
        lua_setfield(L, -2, "name");
        if (X509_EXTENSION_get_critical(ext)) {
            lua_pushboolean(L, 1);
            lua_setfield(L, -2, "critical");
        }
        BIO *bio = BIO_new(BIO_s_mem());
        if (bio != NULL && X509V3_EXT_print(bio, ext, 0, 0)) {
            char *text = NULL;
            long tlen = BIO_get_mem_data(bio, &text);
            lua_pushlstring(L, text, tlen > 0 ? (size_t) tlen : 0);
            lua_setfield(L, -2, "value");
        } else {
            lua_pushboolean(L, 1);
            lua_setfield(L, -2, "error");
        }
        BIO_free_all(bio);
        lua_rawseti(L, -2, i + 1);
    }
    return 1;
}

/* n decimal digits at s, or -1. */
static int digits(const unsigned char *s, int n) {
    int v = 0;
    for (int i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9') return -1;
        v = v * 10 + (s[i] - '0');
    }
    return v;
}

/* UTCTime YYMMDDhhmmssZ (years 50-99 are 19xx) or GeneralizedTime
 * YYYYMMDDhhmmssZ as a date table; anything else (fractions, offsets, month
 * 00) as its raw text, as nmap does. Day and time ranges are not checked. */
static void push_time(lua_State *L, const ASN1_TIME *t) {
    if (t == NULL) {
        lua_pushnil(L);
        return;
    }
    const unsigned char *d = ASN1_STRING_get0_data(t);
    int len = ASN1_STRING_length(t);
    int year = -1, f[5] = { -1, -1, -1, -1, -1 };
    const unsigned char *p = NULL;
    if (len == 13 && d[12] == 'Z') {
        year = digits(d, 2);
        if (year >= 0) year += year < 50 ? 2000 : 1900;
        p = d + 2;
    } else if (len == 15 && d[14] == 'Z') {
        year = digits(d, 4);
        p = d + 4;
    }
    int ok = year >= 0;
    for (int i = 0; ok && i < 5; i++) {
        f[i] = digits(p + 2 * i, 2);
        ok = f[i] >= 0;
    }
    if (!ok || f[0] == 0) {
        lua_pushlstring(L, (const char *) d, len > 0 ? (size_t) len : 0);
        return;
    }
    static const char *const keys[] = { "month", "day", "hour", "min", "sec" };
    lua_createtable(L, 0, 6);
    lua_pushinteger(L, year);
    lua_setfield(L, -2, "year");
    for (int i = 0; i < 5; i++) {
        lua_pushinteger(L, f[i]);
        lua_setfield(L, -2, keys[i]);
    }
}

static const char *pkey_type_name(int type) {
    switch (type) {
    case EVP_PKEY_RSA: return "rsa";
    case EVP_PKEY_DSA: return "dsa";
    case EVP_PKEY_DH: return "dh";
    case EVP_PKEY_EC: return "ec";
    default: return "unknown";
    }
}

/* ecdhparams = {curve_params = {curve = NAME, ec_curve_type = "namedcurve"}},
 * or ec_curve_type "explicit_prime"/"explicit_char2" for explicit parameters. */
static void push_ecdhparams(lua_State *L, const EVP_PKEY *key) {
    char text[64] = { 0 };
    size_t len = 0;
    lua_createtable(L, 0, 1);
    lua_createtable(L, 0, 2);
    if (EVP_PKEY_get_utf8_string_param(key, OSSL_PKEY_PARAM_GROUP_NAME, text, sizeof text, &len)) {
        lua_pushlstring(L, text, len);
        lua_setfield(L, -2, "curve");
        lua_pushliteral(L, "namedcurve");
        lua_setfield(L, -2, "ec_curve_type");
    } else if (EVP_PKEY_get_utf8_string_param(key, OSSL_PKEY_PARAM_EC_FIELD_TYPE, text, sizeof text, &len)) {
        if (len == strlen(SN_X9_62_prime_field) && memcmp(text, SN_X9_62_prime_field, len) == 0)
            lua_pushliteral(L, "explicit_prime");
        else if (len == strlen(SN_X9_62_characteristic_two_field)
                 && memcmp(text, SN_X9_62_characteristic_two_field, len) == 0)
            lua_pushliteral(L, "explicit_char2");
        else
            lua_pushlstring(L, text, len);
        lua_setfield(L, -2, "ec_curve_type");
    }
    lua_setfield(L, -2, "curve_params");
}

/* Pushes key's BIGNUM parameter as a BIGNUM userdata into the table on top. */
static void set_bn_field(lua_State *L, const EVP_PKEY *key, const char *param, const char *field) {
    BIGNUM *bn = NULL;
    if (EVP_PKEY_get_bn_param(key, param, &bn) && bn != NULL) {
        nse_bignum_push(L, bn);
        lua_setfield(L, -2, field);
    }
}

static void push_pem(lua_State *L, X509 *cert) {
    BIO *bio = BIO_new(BIO_s_mem());
    char *text = NULL;
    long len = 0;
    if (bio != NULL && PEM_write_bio_X509(bio, cert)) len = BIO_get_mem_data(bio, &text);
    lua_pushlstring(L, text != NULL ? text : "", len > 0 ? (size_t) len : 0);
    BIO_free_all(bio);
}

static void push_attrs_metatable(lua_State *L) {
    if (luaL_newmetatable(L, CERT_ATTRS_TNAME)) {
        lua_createtable(L, 0, 1);
        lua_pushcfunction(L, cert_digest);
        lua_setfield(L, -2, "digest");
        lua_setfield(L, -2, "__index");
    }
}

static int cert_index(lua_State *L) {
    luaL_checkudata(L, 1, CERT_TNAME);
    lua_getiuservalue(L, 1, 1);
    lua_pushvalue(L, 2);
    lua_gettable(L, -2);
    return 1;
}

static int cert_gc(lua_State *L) {
    cert_ud *u = (cert_ud *) luaL_checkudata(L, 1, CERT_TNAME);
    X509_free(u->cert);
    u->cert = NULL;
    return 0;
}

static void push_cert_metatable(lua_State *L) {
    if (luaL_newmetatable(L, CERT_TNAME)) {
        lua_pushcfunction(L, cert_index);
        lua_setfield(L, -2, "__index");
        lua_pushcfunction(L, cert_gc);
        lua_setfield(L, -2, "__gc");
    }
}

/* Pushes the certificate object for cert (whose ownership it takes), or nil
 * and a message when its public key cannot be decoded (as nmap). */
static int push_cert(lua_State *L, X509 *cert) {
    cert_ud *u = (cert_ud *) lua_newuserdatauv(L, sizeof *u, 1);
    u->cert = cert;
    push_cert_metatable(L); /* from here on __gc frees cert */
    lua_setmetatable(L, -2);

    lua_createtable(L, 0, 7);
    const X509_NAME *subject = X509_get_subject_name(cert);
    if (subject != NULL) {
        push_name(L, subject);
        lua_setfield(L, -2, "subject");
    }
    lua_pushstring(L, OBJ_nid2ln(X509_get_signature_nid(cert)));
    lua_setfield(L, -2, "sig_algorithm");
    const X509_NAME *issuer = X509_get_issuer_name(cert);
    if (issuer != NULL) {
        push_name(L, issuer);
        lua_setfield(L, -2, "issuer");
    }
    lua_createtable(L, 0, 2);
    push_time(L, X509_get0_notBefore(cert));
    lua_setfield(L, -2, "notBefore");
    push_time(L, X509_get0_notAfter(cert));
    lua_setfield(L, -2, "notAfter");
    lua_setfield(L, -2, "validity");
    push_pem(L, cert);
    lua_setfield(L, -2, "pem");
    if (push_extensions(L, X509_get0_extensions(cert))) lua_setfield(L, -2, "extensions");

    EVP_PKEY *key = X509_get_pubkey(cert);
    if (key == NULL) {
        char err[256];
        ERR_error_string_n(ERR_get_error(), err, sizeof err);
        lua_pushnil(L);
        lua_pushfstring(L, "Error parsing cert: %s", err);
        return 2;
    }
    int type = EVP_PKEY_get_base_id(key);
    lua_createtable(L, 0, 4);
    if (type == EVP_PKEY_EC) {
        push_ecdhparams(L, key);
        lua_setfield(L, -2, "ecdhparams");
    } else if (type == EVP_PKEY_RSA) {
        set_bn_field(L, key, OSSL_PKEY_PARAM_RSA_E, "exponent");
        set_bn_field(L, key, OSSL_PKEY_PARAM_RSA_N, "modulus");
    }
    lua_pushstring(L, pkey_type_name(type));
    lua_setfield(L, -2, "type");
    lua_pushinteger(L, EVP_PKEY_get_bits(key));
    lua_setfield(L, -2, "bits");
    lua_setfield(L, -2, "pubkey");
    EVP_PKEY_free(key);

    push_attrs_metatable(L);
    lua_setmetatable(L, -2);
    lua_setiuservalue(L, -2, 1);
    return 1;
}

static int is_pem(const char *s, size_t len) {
    static const char begin[] = "-----BEGIN";
    while (len > 0 && (*s == ' ' || *s == '\t' || *s == '\r' || *s == '\n')) s++, len--;
    return len >= sizeof begin - 1 && memcmp(s, begin, sizeof begin - 1) == 0;
}

/* parse_der(der): nmap's nmap.socket.parse_ssl_certificate. */
static int l_parse_der(lua_State *L) {
    size_t len;
    const unsigned char *der = (const unsigned char *) luaL_checklstring(L, 1, &len);
    nse_openssl_init();
    X509 *cert = d2i_X509(NULL, &der, (long) len);
    if (cert == NULL) {
        lua_pushnil(L);
        return 1;
    }
    return push_cert(L, cert);
}

/* parse(der_or_pem) */
static int l_parse(lua_State *L) {
    size_t len;
    const char *s = luaL_checklstring(L, 1, &len);
    if (!is_pem(s, len)) return l_parse_der(L);
    nse_openssl_init();
    BIO *bio = BIO_new_mem_buf(s, (int) len);
    X509 *cert = bio != NULL ? PEM_read_bio_X509(bio, NULL, NULL, NULL) : NULL;
    BIO_free_all(bio);
    if (cert == NULL) {
        lua_pushnil(L);
        return 1;
    }
    return push_cert(L, cert);
}

int luaopen_nse_cert(lua_State *L) {
    nse_openssl_init();
    nse_bignum_pushmetatable(L); /* RSA keys are BIGNUMs, with or without require "openssl" */
    push_cert_metatable(L);
    push_attrs_metatable(L);
    lua_pop(L, 3);
    lua_createtable(L, 0, 2);
    lua_pushcfunction(L, l_parse);
    lua_setfield(L, -2, "parse");
    lua_pushcfunction(L, l_parse_der);
    lua_setfield(L, -2, "parse_der");
    return 1;
}
