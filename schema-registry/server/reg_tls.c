/*
 * reg_tls: the TLS listener (see reg_tls.h).
 *
 * evhttp asks for each accepted connection's bufferevent through the
 * bevcb hook; it gets an OpenSSL bufferevent in accepting state, which
 * does the handshake before evhttp reads a byte.  The context allows
 * TLS 1.2 and later only.  With a client CA, a client certificate is
 * asked for but not required, so Basic credentials keep working for
 * clients without one; a certificate that does not verify fails the
 * handshake.
 *
 * Thread: the registry's loop thread.
 */
#include "reg_tls.h"

#include <stdlib.h>
#include <string.h>

#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/http.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

struct reg_tls {
    SSL_CTX *ctx;
};

/* OpenSSL's last error as text, into buf. */
static const char *reg_tls_why(char *buf, size_t cap)
{
    unsigned long e = ERR_get_error();

    if (!e)
        snprintf(buf, cap, "unknown OpenSSL error");
    else
        ERR_error_string_n(e, buf, cap);
    ERR_clear_error();
    return buf;
}

reg_tls_t *reg_tls_new(const char *cert, const char *key, const char *client_ca,
                       mw_err_t *err)
{
    reg_tls_t *tls = calloc(1, sizeof(*tls));
    char why[256];

    if (!tls || !(tls->ctx = SSL_CTX_new(TLS_server_method()))) {
        free(tls);
        mw_err_set(err, MW_ERR_NOMEM, "TLS: out of memory");
        return NULL;
    }
    SSL_CTX_set_min_proto_version(tls->ctx, TLS1_2_VERSION);
    if (SSL_CTX_use_certificate_chain_file(tls->ctx, cert) != 1) {
        mw_err_set(err, MW_ERR_CONFIG, "key 'tls.cert.file': %s: %s", cert,
                   reg_tls_why(why, sizeof(why)));
        goto fail;
    }
    if (SSL_CTX_use_PrivateKey_file(tls->ctx, key, SSL_FILETYPE_PEM) != 1 ||
        SSL_CTX_check_private_key(tls->ctx) != 1) {
        mw_err_set(err, MW_ERR_CONFIG, "key 'tls.key.file': %s: %s", key,
                   reg_tls_why(why, sizeof(why)));
        goto fail;
    }
    if (client_ca) {
        if (SSL_CTX_load_verify_locations(tls->ctx, client_ca, NULL) != 1) {
            mw_err_set(err, MW_ERR_CONFIG, "key 'tls.client.ca.file': %s: %s",
                       client_ca, reg_tls_why(why, sizeof(why)));
            goto fail;
        }
        SSL_CTX_set_verify(tls->ctx, SSL_VERIFY_PEER, NULL);
    }
    return tls;
fail:
    reg_tls_destroy(tls);
    return NULL;
}

void reg_tls_destroy(reg_tls_t *tls)
{
    if (!tls)
        return;
    SSL_CTX_free(tls->ctx);
    free(tls);
}

static struct bufferevent *reg_tls_bev(struct event_base *base, void *arg)
{
    reg_tls_t *tls = arg;
    SSL *ssl = SSL_new(tls->ctx);

    /* NULL makes evhttp drop the connection: what an exhausted server
     * can do best. */
    if (!ssl)
        return NULL;
    return bufferevent_openssl_socket_new(
        base, -1, ssl, BUFFEREVENT_SSL_ACCEPTING, BEV_OPT_CLOSE_ON_FREE);
}

void reg_tls_attach(reg_tls_t *tls, struct evhttp *http)
{
    evhttp_set_bevcb(http, reg_tls_bev, tls);
}

bool reg_tls_peer_name(struct evhttp_request *req, char *buf, size_t cap)
{
    struct evhttp_connection *evcon = evhttp_request_get_connection(req);
    struct bufferevent *bev =
        evcon ? evhttp_connection_get_bufferevent(evcon) : NULL;
    SSL *ssl = bev ? bufferevent_openssl_get_ssl(bev) : NULL;
    X509 *peer;
    int n;

    if (!ssl || !(peer = SSL_get_peer_certificate(ssl)))
        return false;
    n = SSL_get_verify_result(ssl) == X509_V_OK
            ? X509_NAME_get_text_by_NID(X509_get_subject_name(peer),
                                        NID_commonName, buf, (int)cap)
            : -1;
    X509_free(peer);
    return n > 0 && (size_t)n < cap;
}
