/*
 * reg_api: the REST server of mesh-registry.  One evhttp callback receives
 * every request; it splits the path into segments and then URL-decodes each
 * one (so a subject may hold an encoded '/'), negotiates media types the way
 * Confluent's Jersey resources do (406 for an Accept we cannot satisfy, 415
 * for a body of another type), parses JSON bodies (400 when unparseable,
 * with a nesting limit), matches the route table (404 unknown path, 405 a
 * known path with another method) and calls the handler.
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

/* Splits the (still encoded) path on '/', then decodes each segment.
 * Empty segments are dropped except in the middle, where they stay and
 * fail to match "*".  false when there are too many or one decodes to a
 * string holding NUL. */
static bool reg_api_split_path(reg_api_req_t *r, const char *path)
{
    const char *p = path ? path : "/";

    while (*p) {
        const char *end;
        size_t len;
        char *enc, *dec;

        while (*p == '/' && (p[1] == '/' || p[1] == '\0' || p == path))
            p++;
        if (*p == '/')
            p++;
        if (!*p)
            break;
        end = strchr(p, '/');
        len = end ? (size_t)(end - p) : strlen(p);
        if (r->seg_cnt == REG_API_SEG_MAX || !(enc = strndup(p, len)))
            return false;
        dec = evhttp_uridecode(enc, 0, &len);
        free(enc);
        if (!dec)
            return false;
        r->seg[r->seg_cnt++] = dec;
        if (strlen(dec) != len)
            return false;
        p += end ? (size_t)(end - p) : strlen(p);
    }
    return true;
}

/* Query string: name[=value] pairs, '+' as space, unknown names kept (and
 * ignored by handlers), so newer clients' parameters are accepted. */
static void reg_api_split_query(reg_api_req_t *r, const char *q)
{
    while (q && *q && r->q_cnt < REG_API_QUERY_MAX) {
        const char *amp = strchr(q, '&');
        size_t len = amp ? (size_t)(amp - q) : strlen(q);
        char *pair = strndup(q, len), *eq;

        if (pair && *pair) {
            eq = strchr(pair, '=');
            if (eq)
                *eq++ = '\0';
            r->qname[r->q_cnt] = evhttp_uridecode(pair, 1, NULL);
            r->qval[r->q_cnt] = evhttp_uridecode(eq ? eq : "", 1, NULL);
            if (r->qname[r->q_cnt] && r->qval[r->q_cnt])
                r->q_cnt++;
            else {
                free(r->qname[r->q_cnt]);
                free(r->qval[r->q_cnt]);
            }
        }
        free(pair);
        q += len + (amp ? 1 : 0);
    }
}

/* Media type of one Accept / Content-Type item, without parameters and
 * surrounding spaces, into out. */
static void reg_api_media(const char *s, size_t len, char *out, size_t size)
{
    size_t n = 0;

    while (len && (*s == ' ' || *s == '\t'))
        s++, len--;
    while (len && *s != ';' && *s != ' ' && n + 1 < size)
        out[n++] = *s++, len--;
    out[n] = '\0';
}

static const char *reg_api_our_type(const char *media)
{
    static const char *const ours[] = {SR_PROTO_CT_V1, SR_PROTO_CT_ANY,
                                       SR_PROTO_CT_JSON};

    for (size_t i = 0; i < 3; i++)
        if (!strcasecmp(media, ours[i]))
            return ours[i];
    return NULL;
}

/* Picks the response type from Accept: the first of ours it names, v1 for
 * wildcards (Java's default "text/html, image/gif, image/jpeg, *; q=.2,
 * * / *; q=.2" included) or no header; NULL when nothing fits (406). */
static const char *reg_api_negotiate(const char *accept)
{
    const char *p = accept;
    bool wildcard = false;

    if (!accept || !*accept)
        return SR_PROTO_CT_V1;
    while (*p) {
        const char *comma = strchr(p, ',');
        size_t len = comma ? (size_t)(comma - p) : strlen(p);
        char media[128];
        const char *ours;

        reg_api_media(p, len, media, sizeof(media));
        if ((ours = reg_api_our_type(media)))
            return ours;
        if (!strcmp(media, "*") || !strcmp(media, "*/*") ||
            !strcasecmp(media, "application/*"))
            wildcard = true;
        p += len + (comma ? 1 : 0);
    }
    return wildcard ? SR_PROTO_CT_V1 : NULL;
}

/* Body types Confluent consumes: ours, octet-stream (what Jersey assumes
 * when a client sends none) and no header at all. */
static bool reg_api_content_type_ok(const char *ctype)
{
    char media[128];

    if (!ctype || !*ctype)
        return true;
    reg_api_media(ctype, strlen(ctype), media, sizeof(media));
    return reg_api_our_type(media) ||
           !strcasecmp(media, "application/octet-stream");
}

/* Deepest [ / { nesting of a JSON text, strings skipped. */
static size_t reg_api_json_depth(const char *s, size_t len)
{
    size_t depth = 0, max = 0;
    bool in_str = false;

    for (size_t i = 0; i < len; i++) {
        char c = s[i];

        if (in_str) {
            if (c == '\\')
                i++;
            else if (c == '"')
                in_str = false;
        } else if (c == '"') {
            in_str = true;
        } else if (c == '[' || c == '{') {
            if (++depth > max)
                max = depth;
        } else if ((c == ']' || c == '}') && depth) {
            depth--;
        }
    }
    return max;
}

/* Parses the body of POST/PUT into r->body; replies and returns false on
 * bad input.  An empty body reads as JSON null (handlers answer 422). */
static bool reg_api_read_body(reg_api_req_t *r)
{
    struct evbuffer *in = evhttp_request_get_input_buffer(r->req);
    size_t len = evbuffer_get_length(in);
    const char *data = len ? (const char *)evbuffer_pullup(in, -1) : "";
    json_error_t jerr;

    if (!reg_api_content_type_ok(evhttp_find_header(
            evhttp_request_get_input_headers(r->req), "Content-Type"))) {
        reg_api_reply_code(r, SR_PROTO_E_MEDIA_TYPE, NULL, NULL);
        return false;
    }
    if (len > r->api->conf.request_max_bytes) {
        reg_api_reply_err(r, SR_PROTO_E_TOO_LARGE,
                          "Request body of %zu bytes is larger than "
                          "request.max.bytes (%zu)",
                          len, r->api->conf.request_max_bytes);
        return false;
    }
    if (len == 0) {
        r->body = json_null();
        return true;
    }
    if (reg_api_json_depth(data, len) > REG_API_DEPTH_MAX) {
        reg_api_reply_err(r, SR_PROTO_E_BAD_REQUEST,
                          "JSON body nested deeper than %d levels",
                          REG_API_DEPTH_MAX);
        return false;
    }
    r->body = json_loadb(data, len, JSON_DECODE_ANY | JSON_ALLOW_NUL, &jerr);
    if (!r->body) {
        reg_api_reply_err(r, SR_PROTO_E_BAD_REQUEST,
                          "Unexpected JSON: %s (line %d, column %d)", jerr.text,
                          jerr.line, jerr.column);
        return false;
    }
    return true;
}

/* ---- dispatch ------------------------------------------------------ */

static bool reg_api_route_match(const reg_api_route_t *rt,
                                const reg_api_req_t *r)
{
    size_t n = 0;

    while (n < REG_API_SEG_MAX && rt->pattern[n])
        n++;
    if (n != r->seg_cnt)
        return false;
    for (size_t i = 0; i < n; i++) {
        if (!strcmp(rt->pattern[i], "*")) {
            if (!r->seg[i][0])
                return false;
        } else if (strcmp(rt->pattern[i], r->seg[i])) {
            return false;
        }
    }
    return true;
}

static reg_api_handler_t *reg_api_route_handler(const reg_api_route_t *rt,
                                                enum evhttp_cmd_type cmd)
{
    switch (cmd) {
    case EVHTTP_REQ_GET:
    case EVHTTP_REQ_HEAD:
        return rt->get;
    case EVHTTP_REQ_POST:
        return rt->post;
    case EVHTTP_REQ_PUT:
        return rt->put;
    case EVHTTP_REQ_DELETE:
        return rt->del;
    default:
        return NULL;
    }
}

/* Routes r: handler, or NULL after replying 404/405. */
static reg_api_handler_t *reg_api_route(reg_api_req_t *r,
                                        enum evhttp_cmd_type cmd)
{
    for (size_t i = 0; i < reg_api_route_cnt; i++) {
        reg_api_handler_t *h;

        if (!reg_api_route_match(&reg_api_routes[i], r))
            continue;
        r->route = i;
        h = reg_api_route_handler(&reg_api_routes[i], cmd);
        if (!h)
            reg_api_reply_code(r, SR_PROTO_E_METHOD, NULL, NULL);
        return h;
    }
    reg_api_reply_code(r, SR_PROTO_E_NOT_FOUND, NULL, NULL);
    return NULL;
}

static void reg_api_handle(struct evhttp_request *req, void *arg)
{
    reg_api_t *api = arg;
    reg_api_req_t *r;
    const struct evhttp_uri *uri = evhttp_request_get_evhttp_uri(req);
    enum evhttp_cmd_type cmd = evhttp_request_get_command(req);
    reg_api_handler_t *h;

    /* Past listener.max.connections: 503 before anything is allocated. */
    if (!mw_http_limit_admit(api->limit, req))
        return;
    if (!(r = calloc(1, sizeof(*r)))) {
        evhttp_send_error(req, 503, "out of memory");
        return;
    }
    r->api = api;
    r->req = req;
    r->route = reg_api_route_cnt;
    r->ctype = SR_PROTO_CT_V1;
    r->t0_us = mw_time_mono_us();
    if (!reg_api_split_path(r, uri ? evhttp_uri_get_path(uri) : "/")) {
        reg_api_reply_code(r, SR_PROTO_E_NOT_FOUND, NULL, NULL);
        return;
    }
    reg_api_split_query(r, uri ? evhttp_uri_get_query(uri) : NULL);
    r->ctype = reg_api_negotiate(
        evhttp_find_header(evhttp_request_get_input_headers(req), "Accept"));
    if (!r->ctype) {
        r->ctype = SR_PROTO_CT_V1;
        /* The catalog page's files are not in the API's media types: what
         * a browser accepts decides nothing there. */
        if (!reg_api_ui_is_path(r)) {
            reg_api_reply_code(r, SR_PROTO_E_NOT_ACCEPTABLE, NULL, NULL);
            return;
        }
    }
    if (!(h = reg_api_route(r, cmd)) || !reg_api_auth_allows(r, cmd))
        return;
    if ((cmd == EVHTTP_REQ_POST || cmd == EVHTTP_REQ_PUT) &&
        !reg_api_read_body(r))
        return;
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
