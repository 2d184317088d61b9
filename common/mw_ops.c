/*
 * mw_ops: the operations endpoint (/healthz, /metrics) every daemon serves.
 *
 * It is an evhttp server on the daemon's own event_base, so every request
 * and every health check runs on the loop thread; checks must therefore be
 * quick and non-blocking (they read state the loop already keeps).  The
 * endpoint counts its own requests in mesh_ops_requests_total, labelled with
 * one of three fixed values ("/healthz", "/metrics", "other") so a scanner
 * probing random paths cannot grow the registry.
 *
 * Invariants: the health check table only grows; the registry and the base
 * are borrowed and outlive the endpoint.
 */
#include "mw_ops.h"

#include <event2/event.h>
#include <event2/http.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mw_buf.h"
#include "mw_http.h"
#include "mw_http_limit.h"
#include "mw_log.h"
#include "mw_vec.h"

#define OPS_REASON_MAX 256
#define OPS_METRICS_MAX ((size_t)16 << 20)
#define OPS_BODY_MAX 4096
#define OPS_TIMEOUT_S 30

typedef enum ops_path {
    OPS_PATH_HEALTHZ = 0,
    OPS_PATH_METRICS,
    OPS_PATH_OTHER,
    OPS_PATH__CNT
} ops_path_t;

static const char *const ops_path_labels[OPS_PATH__CNT] = {
    "path=\"/healthz\"", "path=\"/metrics\"", "path=\"other\""};

typedef struct ops_check {
    char *name;
    mw_ops_health_cb *cb;
    void *opaque;
} ops_check_t;

struct mw_ops {
    struct evhttp *http;
    mw_http_limit_t *limit; /* freed after http (its close callbacks) */
    mw_metrics_t *metrics;  /* borrowed, may be NULL */
    int port;
    ops_check_t *checks;
    size_t check_cnt, check_cap;
    mw_counter_t *requests[OPS_PATH__CNT];
};

static ops_path_t classify(struct evhttp_request *req)
{
    const struct evhttp_uri *uri = evhttp_request_get_evhttp_uri(req);
    const char *path = uri ? evhttp_uri_get_path(uri) : NULL;
    if (path && strcmp(path, "/healthz") == 0)
        return OPS_PATH_HEALTHZ;
    if (path && strcmp(path, "/metrics") == 0)
        return OPS_PATH_METRICS;
    return OPS_PATH_OTHER;
}

static void reply_json(struct evhttp_request *req, int status, json_t *obj)
{
    char *text = obj ? json_dumps(obj, JSON_COMPACT) : NULL;
    json_decref(obj);
    if (!text) {
        mw_http_reply_error(req, 500, "cannot encode the health status");
        return;
    }
    mw_http_reply(req, status, "application/json", text, strlen(text));
    free(text);
}

/* 1. every check passes: 200 {"status":"ok"};
 * 2. the first failing check answers 503 with "name: reason". */
static void serve_healthz(mw_ops_t *ops, struct evhttp_request *req)
{
    for (size_t i = 0; i < ops->check_cnt; i++) {
        char reason[OPS_REASON_MAX] = "";
        const ops_check_t *c = &ops->checks[i];
        if (c->cb(c->opaque, reason, sizeof(reason)))
            continue;
        char text[OPS_REASON_MAX + 128];
        snprintf(text, sizeof(text), "%s: %s", c->name,
                 reason[0] ? reason : "unhealthy");
        json_t *obj =
            json_pack("{s:s,s:s}", "status", "unavailable", "reason", text);
        if (!obj) /* reason was not UTF-8: keep the check's name at least */
            obj = json_pack("{s:s,s:s}", "status", "unavailable", "reason",
                            c->name);
        reply_json(req, 503, obj);
        return;
    }
    reply_json(req, 200, json_pack("{s:s}", "status", "ok"));
}

static void serve_metrics(mw_ops_t *ops, struct evhttp_request *req)
{
    mw_buf_t *buf = mw_buf_new(OPS_METRICS_MAX);
    if (!buf) {
        mw_http_reply_error(req, 500, "out of memory");
        return;
    }
    int rc = mw_metrics_render(ops->metrics, buf);
    if (rc != 0) {
        mw_log_error("ops", "metrics render failed", "error=%s",
                     mw_err_name(rc));
        mw_http_reply_error(req, 500, "cannot render metrics: %s",
                            mw_err_name(rc));
    } else {
        mw_http_reply(req, 200, "text/plain; version=0.0.4; charset=utf-8",
                      mw_buf_data(buf), mw_buf_len(buf));
    }
    mw_buf_destroy(buf);
}

/* Every request lands here (generic callback), on the loop thread. */
static void ops_handle(struct evhttp_request *req, void *arg)
{
    mw_ops_t *ops = arg;
    ops_path_t path;

    if (!mw_http_limit_admit(ops->limit, req))
        return;
    path = classify(req);
    mw_counter_inc(ops->requests[path]);
    if (path == OPS_PATH_OTHER) {
        const char *uri = evhttp_request_get_uri(req);
        mw_http_reply_error(req, 404, "no such path: %s", uri ? uri : "");
        return;
    }
    if (evhttp_request_get_command(req) != EVHTTP_REQ_GET) {
        evhttp_add_header(evhttp_request_get_output_headers(req), "Allow",
                          "GET");
        mw_http_reply_error(req, 405, "only GET is allowed on %s",
                            path == OPS_PATH_HEALTHZ ? "/healthz" : "/metrics");
        return;
    }
    if (path == OPS_PATH_HEALTHZ)
        serve_healthz(ops, req);
    else
        serve_metrics(ops, req);
}

static void ops_register_metrics(mw_ops_t *ops)
{
    for (int i = 0; i < OPS_PATH__CNT; i++)
        ops->requests[i] = mw_metrics_counter(
            ops->metrics, "mesh_ops_requests_total",
            "Requests served by the operations endpoint, by path.",
            ops_path_labels[i]);
}

mw_ops_t *mw_ops_new(struct event_base *base, const char *listener,
                     size_t max_conns, mw_metrics_t *metrics, mw_err_t *err)
{
    mw_ops_t *ops = calloc(1, sizeof(*ops));
    if (!ops) {
        mw_err_set(err, MW_ERR_NOMEM, "ops endpoint: out of memory");
        return NULL;
    }
    ops->metrics = metrics;
    ops->limit = mw_http_limit_new(
        max_conns ? max_conns : MW_OPS_MAX_CONNECTIONS, "ops", metrics);
    ops->http = ops->limit ? evhttp_new(base) : NULL;
    if (!ops->http) {
        mw_err_set(err, MW_ERR_NOMEM, "ops endpoint %s: evhttp_new failed",
                   listener ? listener : "(null)");
        mw_ops_destroy(ops);
        return NULL;
    }
    /* Every method reaches ops_handle, which answers 405 with Allow itself
     * instead of libevent's bare 405 for methods outside its default set. */
    evhttp_set_allowed_methods(
        ops->http, EVHTTP_REQ_GET | EVHTTP_REQ_POST | EVHTTP_REQ_HEAD |
                       EVHTTP_REQ_PUT | EVHTTP_REQ_DELETE | EVHTTP_REQ_OPTIONS |
                       EVHTTP_REQ_TRACE | EVHTTP_REQ_CONNECT |
                       EVHTTP_REQ_PATCH);
    evhttp_set_max_body_size(ops->http, OPS_BODY_MAX);
    evhttp_set_timeout(ops->http, OPS_TIMEOUT_S);
    evhttp_set_gencb(ops->http, ops_handle, ops);
    if (mw_http_bind(ops->http, listener, &ops->port, err) != 0) {
        mw_ops_destroy(ops);
        return NULL;
    }
    ops_register_metrics(ops);
    mw_log_info("ops", "ops endpoint listening", "listener=%s port=%d",
                mw_log_q(listener), ops->port);
    return ops;
}

void mw_ops_destroy(mw_ops_t *ops)
{
    if (!ops)
        return;
    if (ops->http)
        evhttp_free(ops->http);
    mw_http_limit_destroy(ops->limit);
    for (size_t i = 0; i < ops->check_cnt; i++)
        free(ops->checks[i].name);
    free(ops->checks);
    free(ops);
}

int mw_ops_add_health(mw_ops_t *ops, const char *name, mw_ops_health_cb *cb,
                      void *opaque)
{
    if (!ops || !name || !cb)
        return MW_ERR_INVALID;
    if (MW_VEC_RESERVE(&ops->checks, &ops->check_cap, ops->check_cnt + 1))
        return MW_ERR_NOMEM;
    char *copy = strdup(name);
    if (!copy)
        return MW_ERR_NOMEM;
    ops->checks[ops->check_cnt++] =
        (ops_check_t){.name = copy, .cb = cb, .opaque = opaque};
    return 0;
}

int mw_ops_port(const mw_ops_t *ops)
{
    return ops ? ops->port : -1;
}
