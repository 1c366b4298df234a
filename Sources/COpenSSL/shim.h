#ifndef PORTCULLIS_COPENSSL_SHIM_H
#define PORTCULLIS_COPENSSL_SHIM_H
// OpenSSL 3 headers, plus one-line wrappers for the macros Swift cannot import.
//
// Every wrapper is named `CPortcullis_<what it wraps>` and does nothing but expand that macro, so
// the OpenSSL man page of the wrapped name is the documentation. Only PortcullisTLS imports this
// module (`internal import COpenSSL`).
#include <openssl/ssl.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <openssl/pem.h>
#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/ec.h>
#include <openssl/core_names.h>
#include <openssl/param_build.h>
#include <openssl/crypto.h>
#include <openssl/tls1.h>

// MARK: - SSL_CTX configuration macros

static inline int CPortcullis_SSL_CTX_set_min_proto_version(SSL_CTX *ctx, int version) {
    return (int)SSL_CTX_set_min_proto_version(ctx, version);
}

static inline int CPortcullis_SSL_CTX_set_max_proto_version(SSL_CTX *ctx, int version) {
    return (int)SSL_CTX_set_max_proto_version(ctx, version);
}

static inline uint64_t CPortcullis_SSL_CTX_set_options(SSL_CTX *ctx, uint64_t options) {
    return SSL_CTX_set_options(ctx, options);
}

static inline long CPortcullis_SSL_CTX_set_mode(SSL_CTX *ctx, long mode) {
    return SSL_CTX_set_mode(ctx, mode);
}

static inline long CPortcullis_SSL_CTX_set_session_cache_mode(SSL_CTX *ctx, long mode) {
    return SSL_CTX_set_session_cache_mode(ctx, mode);
}

static inline int CPortcullis_SSL_CTX_set1_groups_list(SSL_CTX *ctx, const char *list) {
    return (int)SSL_CTX_set1_groups_list(ctx, list);
}

static inline long CPortcullis_SSL_CTX_set_dh_auto(SSL_CTX *ctx, int onoff) {
    return SSL_CTX_set_dh_auto(ctx, onoff);
}

typedef int (*CPortcullis_servername_cb)(SSL *ssl, int *alert, void *arg);

static inline long CPortcullis_SSL_CTX_set_tlsext_servername_callback(SSL_CTX *ctx, CPortcullis_servername_cb cb) {
    return SSL_CTX_set_tlsext_servername_callback(ctx, cb);
}

static inline long CPortcullis_SSL_CTX_set_tlsext_servername_arg(SSL_CTX *ctx, void *arg) {
    return SSL_CTX_set_tlsext_servername_arg(ctx, arg);
}

static inline int CPortcullis_SSL_CTX_get_ex_new_index(void) {
    return SSL_CTX_get_ex_new_index(0, NULL, NULL, NULL, NULL);
}

// MARK: - SSL_OP_* constants (SSL_OP_BIT(n) casts, which Swift does not import)

static inline uint64_t CPortcullis_SSL_OP_NO_RENEGOTIATION(void) { return SSL_OP_NO_RENEGOTIATION; }
static inline uint64_t CPortcullis_SSL_OP_NO_TICKET(void) { return SSL_OP_NO_TICKET; }
static inline uint64_t CPortcullis_SSL_OP_NO_COMPRESSION(void) { return SSL_OP_NO_COMPRESSION; }
static inline uint64_t CPortcullis_SSL_OP_CIPHER_SERVER_PREFERENCE(void) { return SSL_OP_CIPHER_SERVER_PREFERENCE; }

// MARK: - Per-connection SSL macros

static inline int CPortcullis_SSL_set_tlsext_host_name(SSL *ssl, const char *name) {
    return (int)SSL_set_tlsext_host_name(ssl, name);
}

static inline int CPortcullis_SSL_set_min_proto_version(SSL *ssl, int version) {
    return (int)SSL_set_min_proto_version(ssl, version);
}

// MARK: - BIO macros

static inline int CPortcullis_BIO_set_mem_eof_return(BIO *bio, int value) {
    return (int)BIO_set_mem_eof_return(bio, value);
}

static inline int CPortcullis_BIO_pending(BIO *bio) {
    return BIO_pending(bio);
}

static inline long CPortcullis_BIO_get_mem_data(BIO *bio, char **data) {
    return BIO_get_mem_data(bio, data);
}

// MARK: - Memory and name printing

static inline void CPortcullis_OPENSSL_free(void *pointer) {
    OPENSSL_free(pointer);
}

static inline unsigned long CPortcullis_XN_FLAG_RFC2253(void) {
    return XN_FLAG_RFC2253;
}

// MARK: - EVP_PKEY selection macros (composite, not imported)

static inline int CPortcullis_EVP_PKEY_PUBLIC_KEY(void) { return EVP_PKEY_PUBLIC_KEY; }

// MARK: - Stack macros (STACK_OF(GENERAL_NAME), STACK_OF(X509_NAME))

static inline int CPortcullis_sk_GENERAL_NAME_num(const GENERAL_NAMES *names) {
    return sk_GENERAL_NAME_num(names);
}

static inline GENERAL_NAME *CPortcullis_sk_GENERAL_NAME_value(const GENERAL_NAMES *names, int index) {
    return sk_GENERAL_NAME_value(names, index);
}

#endif
