/*
 * mw_ops: the operations endpoint every daemon serves on `ops.listener`,
 * built on libevent's HTTP server in the daemon's event loop:
 *
 *   GET /healthz  200 {"status":"ok"} or 503 {"status":"unavailable",
 *                 "reason":"..."} from the registered health checks
 *   GET /metrics  Prometheus text of the daemon's mw_metrics registry
 *
 * Other paths answer 404, other methods 405.  Runs on the loop's thread.
 */
#ifndef MW_OPS_H
#define MW_OPS_H

#include <stdbool.h>
#include <stddef.h>

#include "mw_err.h"
#include "mw_metrics.h"

struct event_base;

typedef struct mw_ops mw_ops_t;

/* Health check: returns true when healthy; otherwise writes a short reason
 * into reason (reason_size bytes).  Called on the loop thread for each
 * /healthz request. */
typedef bool(mw_ops_health_cb)(void *opaque, char *reason, size_t reason_size);

/* Binds listener (host:port, port 0 picks one) on base, serving at most
 * max_conns connections at once (0: MW_OPS_MAX_CONNECTIONS; beyond: 503,
 * mw_http_limit with listener="ops").  base and metrics are borrowed and
 * must outlive the endpoint.  NULL with err set when the address cannot be
 * bound (the message names the listener). */
#define MW_OPS_MAX_CONNECTIONS 1024
mw_ops_t *mw_ops_new(struct event_base *base, const char *listener,
                     size_t max_conns, mw_metrics_t *metrics, mw_err_t *err);
void mw_ops_destroy(mw_ops_t *ops);

/* Adds a named health check (name is copied); all must pass for 200. */
int mw_ops_add_health(mw_ops_t *ops, const char *name, mw_ops_health_cb *cb,
                      void *opaque);

/* The bound port (useful after port 0). */
int mw_ops_port(const mw_ops_t *ops);

#endif /* MW_OPS_H */
