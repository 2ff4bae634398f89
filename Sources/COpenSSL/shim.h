#include <openssl/ssl.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/sha.h>

/* The broker's TLS client (Sources/NSEBroker/TLSSession.swift): OpenSSL's
 * function-like macros and 64-bit option masks, as functions Swift can call. */
static inline int nsebox_tls_ctx_set_min_proto_version(SSL_CTX *ctx, int version) {
    return (int)SSL_CTX_set_min_proto_version(ctx, version);
}
static inline void nsebox_tls_ctx_configure(SSL_CTX *ctx) {
    /* Every workaround, old servers' renegotiation, no tickets (no session reuse).
     * A peer closing without close_notify stays an error, as in nmap. */
    SSL_CTX_set_options(ctx, SSL_OP_ALL | SSL_OP_NO_TICKET | SSL_OP_LEGACY_SERVER_CONNECT
                             | SSL_OP_ALLOW_UNSAFE_LEGACY_RENEGOTIATION);
    SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
    SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
    SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, NULL);
}
static inline int nsebox_tls_set_server_name(SSL *ssl, const char *name) {
    return (int)SSL_set_tlsext_host_name(ssl, name);
}

/* SHA-256 through the digest's own functions. The one-shot SHA256() goes
 * through EVP, whose first use in a process loads OpenSSL's configuration and
 * providers, on the way to a scan's first script (the bytecode cache's first
 * key; bench/start). Deprecated for new code in OpenSSL 3, not
 * removed; the bytes are the same. */
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"
static inline void nsebox_sha256(const void *data, size_t count, unsigned char *digest) {
    SHA256_CTX context;
    SHA256_Init(&context);
    SHA256_Update(&context, data, count);
    SHA256_Final(digest, &context);
}
#pragma GCC diagnostic pop
