/*
 * mw_http_limit: connections per evhttp listener, bounded (see the header).
 *
 * The counted connections are the keys of a hash table (their evhttp
 * connection pointers, held in a small slot that is also the value, since
 * the table borrows its keys), so a second request on a counted connection is
 * admitted at once and the close callback knows what to uncount.  evhttp
 * server connections carry no close callback of their own in 2.1, so
 * setting one takes nothing away.
 */
#include "mw_http_limit.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/http.h>
#include <event2/keyvalq_struct.h>

#include "mw_hash.h"
#include "mw_http.h"
#include "mw_log.h"

#define LIMIT_NAME_MAX 64

/* One counted connection: the table's key lives here. */
typedef struct limit_slot {
    struct evhttp_connection *evcon;
} limit_slot_t;

struct mw_http_limit {
    size_t max_conns;
    mw_htab_t *open; /* struct evhttp_connection * -> its limit_slot_t */
    bool warned;     /* the first refusal is logged at warn, later at debug */
    char name[LIMIT_NAME_MAX];
    mw_gauge_t *g_open;
    mw_counter_t *c_admitted;
    mw_counter_t *c_refused;
};

mw_http_limit_t *mw_http_limit_new(size_t max_conns, const char *name,
                                   mw_metrics_t *metrics)
{
    mw_http_limit_t *lim = calloc(1, sizeof(*lim));
    char labels[LIMIT_NAME_MAX + 16];

    if (!lim)
        return NULL;
    lim->max_conns = max_conns ? max_conns : 1;
    snprintf(lim->name, sizeof(lim->name), "%s", name ? name : "http");
    /* The table's own bound is the limit: it never holds more. */
    if (!(lim->open = mw_htab_new(lim->max_conns))) {
        free(lim);
        return NULL;
    }
    if (metrics) {
        snprintf(labels, sizeof(labels), "listener=\"%s\"", lim->name);
        lim->g_open = mw_metrics_gauge(
            metrics, "mesh_http_connections_open",
            "Connections a listener serves now (counted from their first "
            "request).",
            labels);
        lim->c_admitted = mw_metrics_counter(
            metrics, "mesh_http_connections_total",
            "Connections a listener admitted (at their first request).",
            labels);
        lim->c_refused = mw_metrics_counter(
            metrics, "mesh_http_connections_refused_total",
            "Requests answered 503 because the listener's connection bound "
            "was reached.",
            labels);
    }
    return lim;
}

void mw_http_limit_destroy(mw_http_limit_t *lim)
{
    size_t pos = 0;
    void *slot;

    if (!lim)
        return;
    /* Empty when the evhttp was freed first (its close callbacks ran);
     * whatever is left is only freed, never touched. */
    while (mw_htab_next(lim->open, &pos, NULL, NULL, &slot))
        free(slot);
    mw_htab_destroy(lim->open);
    free(lim);
}

static void limit_on_close(struct evhttp_connection *evcon, void *arg)
{
    mw_http_limit_t *lim = arg;
    limit_slot_t *slot = mw_htab_del(lim->open, &evcon, sizeof(evcon));

    free(slot);
    mw_gauge_set(lim->g_open, (double)mw_htab_cnt(lim->open));
}

static void limit_refuse(mw_http_limit_t *lim, struct evhttp_request *req)
{
    struct evkeyvalq *h = evhttp_request_get_output_headers(req);
    char retry[16];

    mw_counter_inc(lim->c_refused);
    if (!lim->warned)
        mw_log_warn("http", "connection bound reached, refusing",
                    "listener=%s max_connections=%zu", mw_log_q(lim->name),
                    lim->max_conns);
    else
        mw_log_debug("http", "connection bound reached, refusing",
                     "listener=%s max_connections=%zu", mw_log_q(lim->name),
                     lim->max_conns);
    lim->warned = true;
    snprintf(retry, sizeof(retry), "%d", MW_HTTP_LIMIT_RETRY_AFTER_S);
    evhttp_add_header(h, "Retry-After", retry);
    /* evhttp closes the connection once this answer is written. */
    evhttp_add_header(h, "Connection", "close");
    mw_http_reply_error(req, 503,
                        "%s: too many connections (the bound is %zu); retry "
                        "after %d s",
                        lim->name, lim->max_conns, MW_HTTP_LIMIT_RETRY_AFTER_S);
}

bool mw_http_limit_admit(mw_http_limit_t *lim, struct evhttp_request *req)
{
    struct evhttp_connection *evcon;
    limit_slot_t *slot;

    if (!lim)
        return true;
    evcon = evhttp_request_get_connection(req);
    if (!evcon || mw_htab_get(lim->open, &evcon, sizeof(evcon)))
        return true;
    slot =
        mw_htab_cnt(lim->open) < lim->max_conns ? malloc(sizeof(*slot)) : NULL;
    if (slot)
        slot->evcon = evcon;
    if (!slot || mw_htab_put(lim->open, &slot->evcon, sizeof(slot->evcon), slot,
                             NULL) != 0) {
        free(slot);
        limit_refuse(lim, req);
        return false;
    }
    evhttp_connection_set_closecb(evcon, limit_on_close, lim);
    mw_counter_inc(lim->c_admitted);
    mw_gauge_set(lim->g_open, (double)mw_htab_cnt(lim->open));
    return true;
}
