/*
 * eb_proxy: mesh-broker's stable bootstrap address.  The mock brokers listen
 * on random ports; this TCP listener forwards each connection to an up mock
 * broker, or to the control endpoint when the connection starts with an
 * HTTP method, so clients only need to know one address.
 *
 * Runs on mesh-broker's loop thread.
 */
#ifndef EB_PROXY_H
#define EB_PROXY_H

#include "eb_cluster.h"
#include "mw_err.h"
#include "mw_metrics.h"

struct event_base;

typedef struct eb_proxy eb_proxy_t;

typedef struct eb_proxy_conf {
    struct event_base *base;  /* borrowed, outlives the proxy */
    const char *listener;     /* "host:port", port 0 picks one; copied */
    eb_cluster_t *cluster;    /* borrowed: picks the broker to forward to */
    const char *control_addr; /* "127.0.0.1:port" of the control endpoint;
                               * copied */
    mw_metrics_t *metrics;    /* borrowed, outlives the proxy */
} eb_proxy_conf_t;

/* Binds the listener and starts accepting.  NULL with err set when the
 * address cannot be resolved or bound (the message names the listener). */
eb_proxy_t *eb_proxy_new(const eb_proxy_conf_t *conf, mw_err_t *err);

/* Closes the listener and every forwarded connection at once (pending
 * bytes are dropped).  Accepts NULL. */
void eb_proxy_destroy(eb_proxy_t *proxy);

/* The bound port (useful with port 0). */
int eb_proxy_port(const eb_proxy_t *proxy);

/* Number of connections being forwarded or classified right now. */
int eb_proxy_conn_cnt(const eb_proxy_t *proxy);

#endif /* EB_PROXY_H */
