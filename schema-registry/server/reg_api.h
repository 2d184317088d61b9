/*
 * reg_api: mesh-registry's REST API, Confluent Schema Registry v1 compatible
 * (paths, fields, status codes, error_code values and messages), served by
 * libevent's evhttp on the registry's loop.  Reads answer from reg_state;
 * writes append a record to reg_store and answer in its done callback, once
 * the record is durable and applied.  /healthz and /metrics are served on
 * the same port.
 *
 * Thread: the loop thread.
 */
#ifndef REG_API_H
#define REG_API_H

#include <stdbool.h>
#include <stddef.h>

#include "mw_err.h"
#include "mw_metrics.h"
#include "reg_auth.h"
#include "reg_catalog.h"
#include "reg_gov.h"
#include "reg_state.h"
#include "reg_store.h"
#include "reg_tls.h"

struct event_base;

typedef struct reg_api reg_api_t;

typedef struct reg_api_conf {
    struct event_base *base;    /* borrowed */
    const char *listener;       /* "http://127.0.0.1:8081", port 0 allowed */
    reg_state_t *state;         /* borrowed, outlives the API */
    reg_store_t *store;         /* borrowed, outlives the API */
    reg_catalog_t *catalog;     /* borrowed, outlives the API */
    reg_store_t *catalog_store; /* borrowed: the catalog's log */
    reg_gov_t *gov;             /* borrowed: the governance policies */
    mw_metrics_t *metrics;      /* borrowed; may be NULL */
    size_t request_max_bytes;   /* body limit (413 past it) */
    size_t schema_max_bytes;    /* schema text limit (42209 past it) */
    size_t header_max_bytes;    /* request line + headers */
    int timeout_ms;             /* idle / slow client timeout */
    size_t max_connections;     /* served at once (503 beyond) */
    reg_auth_t *auth;           /* borrowed; NULL: no authentication */
    bool auth_reads;            /* reads need credentials too */
    reg_tls_t *tls;             /* borrowed; NULL: plain HTTP */
} reg_api_conf_t;

/* Binds the listener and starts serving.  NULL with err set (the message
 * names the listener). */
reg_api_t *reg_api_new(const reg_api_conf_t *conf, mw_err_t *err);

/* The bound port. */
int reg_api_port(const reg_api_t *api);

/* Stops accepting new connections; open ones keep being served until
 * reg_api_destroy (so writes in flight can still answer). */
void reg_api_stop_accepting(reg_api_t *api);

/* Closes every connection and frees the API.  Requests still waiting for
 * the store get no answer: close the store first.  NULL-safe. */
void reg_api_destroy(reg_api_t *api);

#endif /* REG_API_H */
