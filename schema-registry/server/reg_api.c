/*
 * reg_api: the REST server of mesh-registry.  One evhttp callback receives
 * every request; reg_api_parse.c splits and URL-decodes its path, reads
 * the query, negotiates media types the way Confluent's Jersey resources
 * do (406 for an Accept we cannot satisfy, 415 for a body of another
 * type), matches the route table (404 unknown path, 405 a known path with
 * another method) and parses JSON bodies (400 when unparseable, with a
 * nesting limit); the callback answers its refusals, checks the
 * principal's rights and calls the handler.
 *
 * Limits: evhttp enforces body and header sizes (answering 413 and closing
 * the connection, before any handler runs) and the slow-client timeout;
 * schema size and nesting are checked by the handlers.
 *
 * Thread: the loop thread.
 */
#include "reg_api.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/listener.h>

#include "mw_buf.h"
#include "mw_http.h"
#include "mw_log.h"
#include "reg_api_int.h"
#include "reg_api_ui.h"

static void reg_api_root(reg_api_req_t *r);
static void reg_api_healthz(reg_api_req_t *r);
static void reg_api_metrics(reg_api_req_t *r);

const reg_api_route_t reg_api_routes[] = {
    {"root", {NULL}, .get = reg_api_root},
    {"schemas_types", {"schemas", "types"}, .get = reg_api_schema_types},
    {"schemas", {"schemas"}, .get = reg_api_schemas_list},
    {"schemas_id", {"schemas", "ids", "*"}, .get = reg_api_schema_by_id},
    {"schemas_id_schema",
     {"schemas", "ids", "*", "schema"},
     .get = reg_api_schema_by_id_raw},
    {"schemas_id_versions",
     {"schemas", "ids", "*", "versions"},
     .get = reg_api_schema_id_versions},
    {"schemas_id_subjects",
     {"schemas", "ids", "*", "subjects"},
     .get = reg_api_schema_id_subjects},
    {"subjects", {"subjects"}, .get = reg_api_subjects_list},
    {"subject",
     {"subjects", "*"},
     .post = reg_api_subject_lookup,
     .del = reg_api_subject_delete},
    {"subject_versions",
     {"subjects", "*", "versions"},
     .get = reg_api_versions_list,
     .post = reg_api_register},
    {"subject_version",
     {"subjects", "*", "versions", "*"},
     .get = reg_api_version_get,
     .del = reg_api_version_delete},
    {"subject_version_schema",
     {"subjects", "*", "versions", "*", "schema"},
     .get = reg_api_version_schema_get},
    {"subject_metadata",
     {"subjects", "*", "metadata"},
     .get = reg_api_subject_metadata},
    {"subject_version_referencedby",
     {"subjects", "*", "versions", "*", "referencedby"},
     .get = reg_api_version_referencedby},
    {"config",
     {"config"},
     .get = reg_api_config_get,
     .put = reg_api_config_put,
     .del = reg_api_config_delete},
    {"config_subject",
     {"config", "*"},
     .get = reg_api_config_get,
     .put = reg_api_config_put,
     .del = reg_api_config_delete},
    {"mode", {"mode"}, .get = reg_api_mode_get, .put = reg_api_mode_put},
    {"mode_subject",
     {"mode", "*"},
     .get = reg_api_mode_get,
     .put = reg_api_mode_put,
     .del = reg_api_mode_delete},
    {"compatibility",
     {"compatibility", "subjects", "*", "versions"},
     .post = reg_api_compat_check},
    {"compatibility_version",
     {"compatibility", "subjects", "*", "versions", "*"},
     .post = reg_api_compat_check},
    {"catalog_products", {"catalog", "products"}, .get = reg_api_catalog_list},
    {"catalog_product",
     {"catalog", "products", "*", "*"},
     .get = reg_api_catalog_get,
     .put = reg_api_catalog_put,
     .del = reg_api_catalog_delete},
    {"catalog_port_status",
     {"catalog", "products", "*", "*", "ports", "*", "status"},
     .put = reg_api_catalog_status_put,
     .post = reg_api_catalog_status_put},
    {"catalog_lineage", {"catalog", "lineage"}, .get = reg_api_catalog_lineage},
    {"governance_policies",
     {"governance", "policies"},
     .get = reg_api_gov_policies},
    {"governance_policy_mesh",
     {"governance", "policies", "mesh"},
     .get = reg_api_gov_policy_get,
     .put = reg_api_gov_policy_put},
    {"governance_policy_domain",
     {"governance", "policies", "domains", "*"},
     .get = reg_api_gov_policy_get,
     .put = reg_api_gov_policy_put},
    {"governance_report", {"governance", "report"}, .get = reg_api_gov_report},
    {"healthz", {"healthz"}, .get = reg_api_healthz},
    {"metrics", {"metrics"}, .get = reg_api_metrics},
    {"ui", {"ui"}, .get = reg_api_ui_get},
    {"ui_file", {"ui", "*"}, .get = reg_api_ui_get},
};
const size_t reg_api_route_cnt =
    sizeof(reg_api_routes) / sizeof(reg_api_routes[0]);

/* ---- small handlers ------------------------------------------------ */

static void reg_api_root(reg_api_req_t *r)
{
    reg_api_reply_json(r, 200, json_object());
}

static void reg_api_healthz(reg_api_req_t *r)
{
    json_t *o = json_object();
    bool ready = reg_store_is_ready(r->api->store) &&
                 reg_store_is_ready(r->api->catalog_store);

    json_object_set_new(o, "status", json_string(ready ? "ok" : "unavailable"));
    if (!ready)
        json_object_set_new(o, "reason", json_string("store is catching up"));
    r->ctype = "application/json";
    reg_api_reply_json(r, ready ? 200 : 503, o);
}

static void reg_api_metrics(reg_api_req_t *r)
{
    mw_buf_t *buf = mw_buf_new(0);

    r->ctype = "text/plain; version=0.0.4";
    if (!buf || mw_metrics_render(r->api->metrics, buf) != 0) {
        mw_buf_destroy(buf);
        reg_api_reply_err(r, SR_PROTO_E_INTERNAL, "cannot render metrics");
        return;
    }
    reg_api_reply_text(r, 200, mw_buf_data(buf), mw_buf_len(buf));
    mw_buf_destroy(buf);
}

/* ---- request decoding ---------------------------------------------- */

/* Answers a refusal of reg_api_parse_head / reg_api_parse_body. */
static void reg_api_refuse(reg_api_req_t *r, int code, const mw_err_t *err)
{
    if (err->msg[0])
        reg_api_reply_err(r, code, "%s", err->msg);
    else
        reg_api_reply_code(r, code, NULL, NULL);
}

static void reg_api_handle(struct evhttp_request *req, void *arg)
{
    reg_api_t *api = arg;
    reg_api_req_t *r;
    const struct evhttp_uri *uri = evhttp_request_get_evhttp_uri(req);
    struct evkeyvalq *headers = evhttp_request_get_input_headers(req);
    reg_api_in_t in = {
        .cmd = evhttp_request_get_command(req),
        .path = uri ? evhttp_uri_get_path(uri) : NULL,
        .query = uri ? evhttp_uri_get_query(uri) : NULL,
        .accept = evhttp_find_header(headers, "Accept"),
        .content_type = evhttp_find_header(headers, "Content-Type"),
        .max_body_bytes = api->conf.request_max_bytes,
    };
    reg_api_handler_t *h = NULL;
    mw_err_t err = {0};
    int code;

    /* Past listener.max.connections: 503 before anything is allocated. */
    if (!mw_http_limit_admit(api->limit, req))
        return;
    if (!(r = calloc(1, sizeof(*r)))) {
        evhttp_send_error(req, 503, "out of memory");
        return;
    }
    r->api = api;
    r->req = req;
    r->t0_us = mw_time_mono_us();
    if ((code = reg_api_parse_head(r, &in, &h, &err))) {
        reg_api_refuse(r, code, &err);
        return;
    }
    if (!reg_api_auth_allows(r, in.cmd))
        return;
    if (in.cmd == EVHTTP_REQ_POST || in.cmd == EVHTTP_REQ_PUT) {
        struct evbuffer *body = evhttp_request_get_input_buffer(req);

        in.body_len = evbuffer_get_length(body);
        in.body = in.body_len ? (const char *)evbuffer_pullup(body, -1) : "";
        if ((code = reg_api_parse_body(r, &in, &err))) {
            reg_api_refuse(r, code, &err);
            return;
        }
    }
    h(r);
}

/* ---- lifecycle ----------------------------------------------------- */

static int reg_api_metrics_init(reg_api_t *api)
{
    static const char *const classes[REG_API_CLASS_CNT] = {
        "other", "1xx", "2xx", "3xx", "4xx", "5xx"};
    char labels[160];

    api->route_metrics =
        calloc(reg_api_route_cnt + 1, sizeof(*api->route_metrics));
    api->auth_refused =
        calloc(reg_api_route_cnt + 1, sizeof(*api->auth_refused));
    if (!api->route_metrics || !api->auth_refused)
        return MW_ERR_NOMEM;
    for (size_t i = 0; api->metrics && i <= reg_api_route_cnt; i++) {
        const char *name =
            i < reg_api_route_cnt ? reg_api_routes[i].name : "none";
        reg_api_route_metrics_t *m = &api->route_metrics[i];

        for (size_t c = 0; c < REG_API_CLASS_CNT; c++) {
            snprintf(labels, sizeof(labels), "route=\"%s\",code=\"%s\"", name,
                     classes[c]);
            m->requests[c] = mw_metrics_counter(
                api->metrics, "mesh_registry_requests_total",
                "REST requests answered, by route and status class.", labels);
        }
        snprintf(labels, sizeof(labels), "route=\"%s\"", name);
        api->auth_refused[i] = mw_metrics_counter(
            api->metrics, "mesh_registry_auth_refused_total",
            "Writes refused for want of credentials (401) or of a role "
            "(403), by route.",
            labels);
        m->latency = mw_metrics_histogram(
            api->metrics, "mesh_registry_request_duration_seconds",
            "Time from request to answer, store round trip included.", labels,
            NULL, 0);
    }
    return 0;
}

reg_api_t *reg_api_new(const reg_api_conf_t *conf, mw_err_t *err)
{
    reg_api_t *api = calloc(1, sizeof(*api));

    if (!api) {
        mw_err_set(err, MW_ERR_NOMEM, "out of memory for the API");
        return NULL;
    }
    api->conf = *conf;
    api->base = conf->base;
    api->state = conf->state;
    api->store = conf->store;
    api->catalog = conf->catalog;
    api->catalog_store = conf->catalog_store;
    api->gov = conf->gov;
    api->metrics = conf->metrics;
    if (reg_api_metrics_init(api) != 0 ||
        !(api->limit = mw_http_limit_new(conf->max_connections, "registry",
                                         api->metrics)) ||
        !(api->http = evhttp_new(api->base))) {
        mw_err_set(err, MW_ERR_NOMEM, "out of memory for the API");
        reg_api_destroy(api);
        return NULL;
    }
    /* Every method reaches reg_api_handle, so unknown ones get a Confluent
     * 405 body rather than evhttp's HTML one. */
    evhttp_set_allowed_methods(
        api->http, EVHTTP_REQ_GET | EVHTTP_REQ_POST | EVHTTP_REQ_HEAD |
                       EVHTTP_REQ_PUT | EVHTTP_REQ_DELETE | EVHTTP_REQ_OPTIONS |
                       EVHTTP_REQ_PATCH | EVHTTP_REQ_TRACE);
    /* evhttp's body limit sits one byte above ours, so a body of exactly
     * the limit passes and a larger one is refused before it is buffered. */
    evhttp_set_max_body_size(api->http,
                             (ev_ssize_t)conf->request_max_bytes + 1);
    evhttp_set_max_headers_size(api->http, (ev_ssize_t)conf->header_max_bytes);
    evhttp_set_timeout_tv(api->http,
                          &(struct timeval){conf->timeout_ms / 1000,
                                            (conf->timeout_ms % 1000) * 1000});
    /* Read the rest of an oversized body before closing, so the client
     * sees the 413 instead of a reset. */
    evhttp_set_flags(api->http, EVHTTP_SERVER_LINGERING_CLOSE);
    evhttp_set_default_content_type(api->http, SR_PROTO_CT_V1);
    evhttp_set_gencb(api->http, reg_api_handle, api);
    if (conf->tls)
        reg_tls_attach(conf->tls, api->http);
    if (mw_http_bind(api->http, conf->listener, &api->port, err) != 0) {
        reg_api_destroy(api);
        return NULL;
    }
    return api;
}

int reg_api_port(const reg_api_t *api)
{
    return api->port;
}

static void reg_api_disable_listener(struct evhttp_bound_socket *bound,
                                     void *arg)
{
    (void)arg;
    evconnlistener_disable(evhttp_bound_socket_get_listener(bound));
}

void reg_api_stop_accepting(reg_api_t *api)
{
    if (api && api->http)
        evhttp_foreach_bound_socket(api->http, reg_api_disable_listener, NULL);
}

void reg_api_destroy(reg_api_t *api)
{
    if (!api)
        return;
    /* Registrations waiting for their turn or a retry timer would never be
     * answered once the loop has stopped: answer them (50002) first. */
    reg_api_register_close(api);
    if (api->http)
        evhttp_free(api->http);
    /* After evhttp_free: its close callbacks uncount into the limit. */
    mw_http_limit_destroy(api->limit);
    free(api->route_metrics);
    free(api->auth_refused);
    free(api);
}
