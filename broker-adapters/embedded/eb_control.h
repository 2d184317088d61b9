/*
 * eb_control: mesh-broker's control endpoint, HTTP + JSON on
 * control.listener: topics (create, list, describe), fault injection
 * (broker down/up, round-trip time, request errors), /healthz and
 * /metrics.  The contract is in broker-adapters/embedded/README.md.
 *
 * Runs on mesh-broker's loop thread.
 */
#ifndef EB_CONTROL_H
#define EB_CONTROL_H

#include "eb_cluster.h"
#include "mw_err.h"
#include "mw_metrics.h"

struct event_base;

typedef struct eb_control eb_control_t;

typedef struct eb_control_conf {
    struct event_base *base; /* borrowed, outlives the endpoint */
    const char *listener;    /* "host:port", port 0 picks one */
    eb_cluster_t *cluster;   /* borrowed, outlives the endpoint */
    mw_metrics_t *metrics;   /* borrowed: served at /metrics */
    int default_partitions;  /* for POST /topics without "partitions" */
} eb_control_conf_t;

/* Binds the listener and serves requests from the loop.  NULL with err set
 * when the address cannot be bound (the message names the listener). */
eb_control_t *eb_control_new(const eb_control_conf_t *conf, mw_err_t *err);

/* Closes the listener and open HTTP connections.  Accepts NULL. */
void eb_control_destroy(eb_control_t *ctl);

/* The bound port (useful with port 0). */
int eb_control_port(const eb_control_t *ctl);

#endif /* EB_CONTROL_H */
