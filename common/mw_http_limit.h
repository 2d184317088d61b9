/*
 * mw_http_limit: a bound on the connections one evhttp listener serves at
 * once, with a clean refusal beyond it.
 *
 * libevent 2.1 has no connection limit of its own (evhttp_set_max_
 * connections came with 2.2) and hands an accepted socket to evhttp with
 * no hook to refuse it.  So the bound is kept where a request arrives: a
 * connection counts from its first request until evhttp closes it (a close
 * callback set on that request's connection); a request on a connection
 * not counted while the bound is reached is answered 503 with a JSON body,
 * `Retry-After` and `Connection: close`, and counted as refused.  A
 * connection that never sends a request holds no slot; evhttp's own
 * timeout closes it.
 *
 * Thread: the loop thread of the evhttp.
 */
#ifndef MW_HTTP_LIMIT_H
#define MW_HTTP_LIMIT_H

#include <stdbool.h>
#include <stddef.h>

#include "mw_metrics.h"

struct evhttp_request;

typedef struct mw_http_limit mw_http_limit_t;

/* Retry-After of a refusal, in seconds. */
#define MW_HTTP_LIMIT_RETRY_AFTER_S 1

/* A bound of max_conns (>= 1) connections.  name labels the metrics
 * (listener="name" on mesh_http_connections_open,
 * mesh_http_connections_total and mesh_http_connections_refused_total,
 * when metrics is not NULL) and the
 * refusal's log line.  Destroy it only after the evhttp it guards is freed
 * (evhttp_free runs the close callbacks).  NULL on ENOMEM. */
mw_http_limit_t *mw_http_limit_new(size_t max_conns, const char *name,
                                   mw_metrics_t *metrics);
void mw_http_limit_destroy(mw_http_limit_t *lim);

/* Called first by the listener's request callback: true to serve req;
 * false after answering it 503 (the caller must not touch req again).
 * lim NULL admits everything. */
bool mw_http_limit_admit(mw_http_limit_t *lim, struct evhttp_request *req);

#endif /* MW_HTTP_LIMIT_H */
