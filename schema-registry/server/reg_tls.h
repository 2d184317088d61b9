/*
 * reg_tls: TLS on mesh-registry's REST listener (OpenSSL through
 * libevent's bufferevent_openssl), optionally mutual: a client that
 * presents a certificate must present one signed by tls.client.ca.file,
 * and its subject's common name then names the principal (reg_auth), in
 * place of Basic credentials.
 *
 * Thread: the registry's loop thread.
 */
#ifndef REG_TLS_H
#define REG_TLS_H

#include <stdbool.h>
#include <stddef.h>

#include "mw_err.h"

struct evhttp;
struct evhttp_request;

typedef struct reg_tls reg_tls_t;

/* A server context from PEM files: cert (the chain, leaf first) and key;
 * client_ca (may be NULL) turns client certificates on.  NULL with err
 * naming the file and OpenSSL's reason. */
reg_tls_t *reg_tls_new(const char *cert, const char *key, const char *client_ca,
                       mw_err_t *err);
void reg_tls_destroy(reg_tls_t *tls);

/* Every later connection of http is TLS (tls borrowed, outlives http). */
void reg_tls_attach(reg_tls_t *tls, struct evhttp *http);

/* The common name of the verified client certificate of req's
 * connection into buf (cap bytes); false when it presented none. */
bool reg_tls_peer_name(struct evhttp_request *req, char *buf, size_t cap);

#endif /* REG_TLS_H */
