/*
 * eb_control: the HTTP + JSON control endpoint of mesh-broker.
 *
 * It is how tests and the admin adapter drive the mock cluster: create and
 * list topics (the mock does not implement CreateTopics), take brokers down
 * and up, add round-trip time and push request errors.  It also serves
 * mesh-broker's ops endpoint (/healthz, /metrics) on the same listener,
 * rendered from the same mw_metrics registry as mw_ops would, because
 * mw_ops needs a listener of its own and the contract puts them here.
 *
 * Invariants: every reply is JSON (Prometheus text for /metrics), errors
 * are {"error_code": <status>, "message": "..."}; input is validated before
 * anything reaches the mock, so a bad request never changes state.
 * Request bodies are bounded by EB_CONTROL_MAX_BODY.
 *
 * Thread: everything runs on mesh-broker's loop thread.
 */
#include "eb_control.h"

#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>
#include <event2/http.h>

#include "mw_buf.h"
#include "mw_http.h"
#include "mw_log.h"

#define EB_COMPONENT "control"
#define EB_CONTROL_MAX_BODY (1024 * 1024)
#define EB_MAX_SEGMENTS 4
#define EB_MAX_PUSHED_ERRORS 10000
#define EB_TOPIC_NAME_MAX 249

enum eb_fault {
    EB_FAULT_DOWN,
    EB_FAULT_UP,
    EB_FAULT_RTT,
    EB_FAULT_ERRORS,
    EB_FAULT__CNT
};
static const char *const eb_fault_names[] = {"broker_down", "broker_up",
                                             "broker_rtt", "request_errors"};
_Static_assert(sizeof(eb_fault_names) / sizeof(*eb_fault_names) ==
                   EB_FAULT__CNT,
               "fault names match the enum");

struct eb_control {
    struct evhttp *http;
    eb_cluster_t *cluster;
    mw_metrics_t *metrics;
    int port;
    int default_partitions;
    mw_gauge_t *brokers_up;
    mw_counter_t *faults[EB_FAULT__CNT];
};

/* One parsed request path: "/brokers/2/down" -> {"brokers","2","down"}. */
typedef struct eb_route {
    char *decoded; /* owned, segments point into it */
    const char *seg[EB_MAX_SEGMENTS];
    int seg_cnt;
} eb_route_t;

static int eb_status_of(int code)
{
    switch (code) {
    case MW_ERR_INVALID:
        return 400;
    case MW_ERR_NOT_FOUND:
        return 404;
    case MW_ERR_EXISTS:
        return 409;
    case MW_ERR_TRANSPORT:
    case MW_ERR_TIMEOUT:
        return 503;
    default:
        return 500;
    }
}

/* Replies with json (consumed). */
static void eb_reply_json(struct evhttp_request *req, int status, json_t *json)
{
    char *text = json ? json_dumps(json, JSON_COMPACT) : NULL;

    json_decref(json);
    if (!text) {
        mw_http_reply_error(req, 500, "out of memory building the reply");
        return;
    }
    mw_http_reply(req, status, "application/json", text, strlen(text));
    free(text);
}

static void eb_reply_err(struct evhttp_request *req, const mw_err_t *err)
{
    mw_http_reply_error(req, eb_status_of(err->code), "%s", err->msg);
}

/* Parses the body as a JSON object; on failure replies 400/413 and returns
 * NULL.  The result is a new reference. */
static json_t *eb_body_object(struct evhttp_request *req)
{
    size_t len = 0;
    int too_big = 0;
    char *body = mw_http_body(req, EB_CONTROL_MAX_BODY, &len, &too_big);
    json_error_t jerr;
    json_t *json;

    if (!body) {
        if (too_big)
            mw_http_reply_error(req, 413,
                                "request body is larger than %d "
                                "bytes",
                                EB_CONTROL_MAX_BODY);
        else
            mw_http_reply_error(req, 500, "out of memory reading the body");
        return NULL;
    }
    json = json_loadb(body, len, 0, &jerr);
    free(body);
    if (!json) {
        mw_http_reply_error(req, 400,
                            "malformed JSON at line %d column %d: "
                            "%s",
                            jerr.line, jerr.column, jerr.text);
        return NULL;
    }
    if (!json_is_object(json)) {
        json_decref(json);
        mw_http_reply_error(req, 400, "request body must be a JSON object");
        return NULL;
    }
    return json;
}

/* Reads optional integer field key of obj into *out (default kept when
 * absent); false with a 400 reply when present but not in [lo, hi]. */
static bool eb_int_field(struct evhttp_request *req, const json_t *obj,
                         const char *key, long long lo, long long hi, int *out)
{
    const json_t *v = json_object_get(obj, key);

    if (!v)
        return true;
    if (!json_is_integer(v) || json_integer_value(v) < lo ||
        json_integer_value(v) > hi) {
        mw_http_reply_error(req, 400,
                            "field \"%s\" must be an integer in "
                            "%lld..%lld",
                            key, lo, hi);
        return false;
    }
    *out = (int)json_integer_value(v);
    return true;
}

/* Kafka's rule: 1..249 of [a-zA-Z0-9._-], not "." or "..". */
static bool eb_topic_name_ok(const char *name)
{
    size_t len = strlen(name);

    if (len == 0 || len > EB_TOPIC_NAME_MAX || strcmp(name, ".") == 0 ||
        strcmp(name, "..") == 0)
        return false;
    return strspn(name, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                        "0123456789._-") == len;
}

/* Checks "name" and "configs" of a POST /topics body; false after a 400. */
static bool eb_topic_body_ok(struct evhttp_request *req, const json_t *body)
{
    const json_t *name = json_object_get(body, "name");
    const json_t *configs = json_object_get(body, "configs");
    const char *key;
    json_t *v;

    if (!name) {
        mw_http_reply_error(req, 400, "missing field \"name\"");
        return false;
    }
    if (!json_is_string(name) || !eb_topic_name_ok(json_string_value(name))) {
        mw_http_reply_error(req, 400,
                            "field \"name\" must be a topic name: 1 "
                            "to %d characters of a-z A-Z 0-9 . _ -, not \".\" "
                            "or \"..\"",
                            EB_TOPIC_NAME_MAX);
        return false;
    }
    if (configs && !json_is_object(configs)) {
        mw_http_reply_error(req, 400,
                            "field \"configs\" must be an object of "
                            "string values");
        return false;
    }
    json_object_foreach((json_t *)configs, key, v)
    {
        if (!json_is_string(v)) {
            mw_http_reply_error(req, 400,
                                "configs.\"%s\" must be a string "
                                "(Kafka topic configs are strings)",
                                key);
            return false;
        }
    }
    return true;
}

static void eb_topics_post(eb_control_t *ctl, struct evhttp_request *req,
                           const eb_route_t *route)
{
    int brokers = eb_cluster_broker_cnt(ctl->cluster);
    int partitions = ctl->default_partitions;
    int replication = brokers < 3 ? brokers : 3;
    json_t *body = eb_body_object(req);
    const json_t *configs;
    const char *name;
    mw_err_t err;

    (void)route;
    if (!body)
        return;
    if (!eb_topic_body_ok(req, body) ||
        !eb_int_field(req, body, "partitions", 1, EB_CLUSTER_MAX_PARTITIONS,
                      &partitions) ||
        !eb_int_field(req, body, "replication_factor", 1, brokers,
                      &replication)) {
        json_decref(body);
        return;
    }
    name = json_string_value(json_object_get(body, "name"));
    configs = json_object_get(body, "configs");
    if (eb_cluster_topic_create(ctl->cluster, name, partitions, replication,
                                configs, &err) != 0) {
        eb_reply_err(req, &err);
    } else {
        eb_reply_json(
            req, 201,
            json_pack("{s:s, s:i, s:i, s:o}", "name", name, "partitions",
                      partitions, "replication_factor", replication, "configs",
                      configs ? json_deep_copy(configs) : json_object()));
    }
    json_decref(body);
}

static void eb_topics_get(eb_control_t *ctl, struct evhttp_request *req,
                          const eb_route_t *route)
{
    const char *name = route->seg_cnt > 1 ? route->seg[1] : NULL;
    mw_err_t err;
    json_t *res = eb_cluster_topics(ctl->cluster, name, &err);

    if (!res)
        eb_reply_err(req, &err);
    else if (name)
        eb_reply_json(req, 200, res);
    else
        eb_reply_json(req, 200, json_pack("{s:o}", "topics", res));
}

static void eb_brokers_get(eb_control_t *ctl, struct evhttp_request *req,
                           const eb_route_t *route)
{
    json_t *arr = json_array();

    (void)route;

    for (int id = 1; arr && id <= eb_cluster_broker_cnt(ctl->cluster); id++)
        json_array_append_new(arr,
                              eb_cluster_broker_json(ctl->cluster, id, NULL));
    eb_reply_json(req, 200, arr ? json_pack("{s:o}", "brokers", arr) : NULL);
}

/* Broker id from a path segment; 0 when it is not a number (a 404). */
static int eb_broker_id(const char *seg)
{
    char *end;
    long id = strtol(seg, &end, 10);

    return (*seg && !*end && id > 0 && id <= EB_CLUSTER_MAX_BROKERS) ? (int)id
                                                                     : 0;
}

/* Body of PUT /brokers/{id}/rtt into *rtt_ms; false after a 400. */
static bool eb_rtt_body(struct evhttp_request *req, int *rtt_ms)
{
    json_t *body = eb_body_object(req);
    bool ok;

    if (!body)
        return false;
    if (!json_object_get(body, "rtt_ms")) {
        json_decref(body);
        mw_http_reply_error(req, 400, "missing field \"rtt_ms\"");
        return false;
    }
    ok = eb_int_field(req, body, "rtt_ms", 0, 60000, rtt_ms);
    json_decref(body);
    return ok;
}

/* Optional body of POST /brokers/{id}/down: {"move_leaders": bool}
 * (default true) into *move; false after a 400. */
static bool eb_down_body(struct evhttp_request *req, bool *move)
{
    const json_t *v;
    json_t *body;

    *move = true;
    if (evbuffer_get_length(evhttp_request_get_input_buffer(req)) == 0)
        return true;
    if (!(body = eb_body_object(req)))
        return false;
    v = json_object_get(body, "move_leaders");
    if (v && !json_is_boolean(v)) {
        json_decref(body);
        mw_http_reply_error(req, 400,
                            "field \"move_leaders\" must be true "
                            "or false");
        return false;
    }
    *move = !v || json_is_true(v);
    json_decref(body);
    return true;
}

/* POST /brokers/{id}/down|up and PUT /brokers/{id}/rtt. */
static void eb_broker_action(eb_control_t *ctl, struct evhttp_request *req,
                             const eb_route_t *route)
{
    const char *id_text = route->seg[1], *action = route->seg[2];
    int id = eb_broker_id(id_text), rtt_ms = 0, moved = 0, rc;
    enum eb_fault kind = EB_FAULT_UP;
    bool move = false;
    json_t *res;
    mw_err_t err;

    if (id == 0 || id > eb_cluster_broker_cnt(ctl->cluster)) {
        mw_http_reply_error(req, 404,
                            "broker %s does not exist (brokers are "
                            "1..%d)",
                            id_text, eb_cluster_broker_cnt(ctl->cluster));
        return;
    }
    if (strcmp(action, "rtt") == 0) {
        if (!eb_rtt_body(req, &rtt_ms))
            return;
        kind = EB_FAULT_RTT;
        rc = eb_cluster_broker_set_rtt(ctl->cluster, id, rtt_ms, &err);
    } else {
        if (strcmp(action, "down") == 0) {
            kind = EB_FAULT_DOWN;
            if (!eb_down_body(req, &move))
                return;
        }
        rc = eb_cluster_broker_set_up(ctl->cluster, id, kind == EB_FAULT_UP,
                                      move, &moved, &err);
    }
    if (rc != 0) {
        eb_reply_err(req, &err);
        return;
    }
    mw_counter_inc(ctl->faults[kind]);
    mw_gauge_set(ctl->brokers_up, eb_cluster_brokers_up(ctl->cluster));
    res = eb_cluster_broker_json(ctl->cluster, id, NULL);
    if (res && kind == EB_FAULT_DOWN)
        json_object_set_new(res, "leaders_moved", json_integer(moved));
    eb_reply_json(req, 200, res);
}

/* An ApiKey or error given as a JSON string or integer, as text. */
static bool eb_json_token(const json_t *v, char *buf, size_t size)
{
    if (json_is_string(v))
        snprintf(buf, size, "%s", json_string_value(v));
    else if (json_is_integer(v))
        snprintf(buf, size, "%lld", (long long)json_integer_value(v));
    else
        return false;
    return true;
}

/* Parses "errors" into codes[] (cnt entries); false after a 400. */
static bool eb_errors_parse(struct evhttp_request *req, const json_t *arr,
                            int *codes)
{
    char tok[128];
    mw_err_t err;
    size_t i;
    json_t *v;

    json_array_foreach(arr, i, v)
    {
        if (!eb_json_token(v, tok, sizeof(tok))) {
            mw_http_reply_error(req, 400,
                                "errors[%zu] must be an error name "
                                "or code",
                                i);
            return false;
        }
        if (eb_cluster_err_parse(tok, &codes[i], &err) != 0) {
            mw_http_reply_error(req, 400, "errors[%zu]: %s", i, err.msg);
            return false;
        }
    }
    return true;
}

static void eb_errors_post(eb_control_t *ctl, struct evhttp_request *req,
                           const eb_route_t *route)
{
    json_t *body = eb_body_object(req);
    const json_t *api_v, *errs_v;
    int api, *codes = NULL;
    char tok[128];
    size_t cnt;
    mw_err_t err;

    (void)route;
    if (!body)
        return;
    api_v = json_object_get(body, "api");
    errs_v = json_object_get(body, "errors");
    if (!api_v || !eb_json_token(api_v, tok, sizeof(tok))) {
        mw_http_reply_error(req, 400,
                            "%s field \"api\" (a request name such "
                            "as \"Produce\" or an ApiKey number)",
                            api_v ? "bad" : "missing");
    } else if (eb_cluster_api_parse(tok, &api, &err) != 0) {
        eb_reply_err(req, &err);
    } else if (!json_is_array(errs_v) || json_array_size(errs_v) == 0 ||
               json_array_size(errs_v) > EB_MAX_PUSHED_ERRORS) {
        mw_http_reply_error(req, 400,
                            "field \"errors\" must be an array of 1 "
                            "to %d error names or codes",
                            EB_MAX_PUSHED_ERRORS);
    } else if (!(codes = calloc(json_array_size(errs_v), sizeof(*codes)))) {
        mw_http_reply_error(req, 500, "out of memory");
    } else if (eb_errors_parse(req, errs_v, codes)) {
        cnt = json_array_size(errs_v);
        if (eb_cluster_push_errors(ctl->cluster, api, cnt, codes, &err) != 0) {
            eb_reply_err(req, &err);
        } else {
            mw_counter_inc(ctl->faults[EB_FAULT_ERRORS]);
            eb_reply_json(req, 200,
                          json_pack("{s:i, s:I}", "api_key", api, "count",
                                    (json_int_t)cnt));
        }
    }
    free(codes);
    json_decref(body);
}

static void eb_errors_delete(eb_control_t *ctl, struct evhttp_request *req,
                             const eb_route_t *route)
{
    mw_err_t err;
    int api;

    if (eb_cluster_api_parse(route->seg[1], &api, &err) != 0 ||
        eb_cluster_clear_errors(ctl->cluster, api, &err) != 0) {
        eb_reply_err(req, &err);
        return;
    }
    eb_reply_json(req, 200,
                  json_pack("{s:i, s:b}", "api_key", api, "cleared", 1));
}

static void eb_healthz(eb_control_t *ctl, struct evhttp_request *req,
                       const eb_route_t *route)
{
    int up = eb_cluster_brokers_up(ctl->cluster);

    (void)route;
    if (up > 0)
        eb_reply_json(
            req, 200,
            json_pack("{s:s, s:i}", "status", "ok", "brokers_up", up));
    else
        eb_reply_json(req, 503,
                      json_pack("{s:s, s:s}", "status", "unavailable", "reason",
                                "every mock broker is down"));
}

static void eb_metrics(eb_control_t *ctl, struct evhttp_request *req,
                       const eb_route_t *route)
{
    mw_buf_t *buf = mw_buf_new(0);

    (void)route;
    mw_gauge_set(ctl->brokers_up, eb_cluster_brokers_up(ctl->cluster));
    if (!buf || mw_metrics_render(ctl->metrics, buf) != 0)
        mw_http_reply_error(req, 500, "cannot render metrics");
    else
        mw_http_reply(req, 200, "text/plain; version=0.0.4; charset=utf-8",
                      mw_buf_data(buf), mw_buf_len(buf));
    mw_buf_destroy(buf);
}

/* ---- routing ------------------------------------------------------------ */

/* "*" matches any one path segment. */
static const struct {
    enum evhttp_cmd_type method;
    const char *path;
    void (*fn)(eb_control_t *ctl, struct evhttp_request *req,
               const eb_route_t *route);
} eb_routes[] = {
    {EVHTTP_REQ_GET, "/healthz", eb_healthz},
    {EVHTTP_REQ_GET, "/metrics", eb_metrics},
    {EVHTTP_REQ_GET, "/topics", eb_topics_get},
    {EVHTTP_REQ_POST, "/topics", eb_topics_post},
    {EVHTTP_REQ_GET, "/topics/*", eb_topics_get},
    {EVHTTP_REQ_GET, "/brokers", eb_brokers_get},
    {EVHTTP_REQ_POST, "/brokers/*/down", eb_broker_action},
    {EVHTTP_REQ_POST, "/brokers/*/up", eb_broker_action},
    {EVHTTP_REQ_PUT, "/brokers/*/rtt", eb_broker_action},
    {EVHTTP_REQ_POST, "/errors", eb_errors_post},
    {EVHTTP_REQ_DELETE, "/errors/*", eb_errors_delete},
};

static bool eb_route_match(const char *pattern, const eb_route_t *route)
{
    const char *p = pattern + 1;
    int i = 0;

    for (; *p && i < route->seg_cnt; i++) {
        size_t len = strcspn(p, "/");
        if (!(len == 1 && *p == '*') && (strlen(route->seg[i]) != len ||
                                         memcmp(p, route->seg[i], len) != 0))
            return false;
        p += len + (p[len] == '/');
    }
    return !*p && i == route->seg_cnt;
}

/* Splits the decoded path into segments; false when it has too many (no
 * route has more than EB_MAX_SEGMENTS) or cannot be decoded. */
static bool eb_route_parse(struct evhttp_request *req, eb_route_t *route)
{
    const struct evhttp_uri *uri = evhttp_request_get_evhttp_uri(req);
    const char *path = uri ? evhttp_uri_get_path(uri) : NULL;
    char *p, *save = NULL;

    *route = (eb_route_t){0};
    route->decoded = evhttp_uridecode(path && *path ? path : "/", 0, NULL);
    if (!route->decoded)
        return false;
    for (p = strtok_r(route->decoded, "/", &save); p;
         p = strtok_r(NULL, "/", &save)) {
        if (route->seg_cnt == EB_MAX_SEGMENTS)
            return false;
        route->seg[route->seg_cnt++] = p;
    }
    return true;
}

static void eb_request_cb(struct evhttp_request *req, void *opaque)
{
    eb_control_t *ctl = opaque;
    enum evhttp_cmd_type method = evhttp_request_get_command(req);
    bool path_known = false;
    eb_route_t route;

    if (method == EVHTTP_REQ_HEAD)
        method = EVHTTP_REQ_GET;
    if (eb_route_parse(req, &route)) {
        for (size_t i = 0; i < sizeof(eb_routes) / sizeof(*eb_routes); i++) {
            if (!eb_route_match(eb_routes[i].path, &route))
                continue;
            path_known = true;
            if (eb_routes[i].method == method) {
                mw_log_debug(EB_COMPONENT, "request", "path=%s",
                             mw_log_q(evhttp_request_get_uri(req)));
                eb_routes[i].fn(ctl, req, &route);
                free(route.decoded);
                return;
            }
        }
    }
    free(route.decoded);
    if (path_known)
        mw_http_reply_error(req, 405, "method not allowed on %s",
                            evhttp_request_get_uri(req));
    else
        mw_http_reply_error(req, 404, "no such endpoint: %s",
                            evhttp_request_get_uri(req));
}

static void eb_control_metrics(eb_control_t *ctl, mw_metrics_t *reg)
{
    char labels[64];

    ctl->brokers_up = mw_metrics_gauge(reg, "mesh_broker_brokers_up",
                                       "Mock brokers currently up.", NULL);
    for (int k = 0; k < EB_FAULT__CNT; k++) {
        snprintf(labels, sizeof(labels), "kind=\"%s\"", eb_fault_names[k]);
        ctl->faults[k] = mw_metrics_counter(
            reg, "mesh_broker_faults_total",
            "Faults injected through the control endpoint, by kind.", labels);
    }
    mw_gauge_set(ctl->brokers_up, eb_cluster_brokers_up(ctl->cluster));
}

eb_control_t *eb_control_new(const eb_control_conf_t *conf, mw_err_t *err)
{
    eb_control_t *ctl = calloc(1, sizeof(*ctl));

    if (!ctl || !(ctl->http = evhttp_new(conf->base))) {
        free(ctl);
        mw_err_set(err, MW_ERR_NOMEM,
                   "out of memory creating the control "
                   "endpoint");
        return NULL;
    }
    ctl->cluster = conf->cluster;
    ctl->metrics = conf->metrics;
    ctl->default_partitions = conf->default_partitions;
    eb_control_metrics(ctl, conf->metrics);
    evhttp_set_allowed_methods(ctl->http, EVHTTP_REQ_GET | EVHTTP_REQ_HEAD |
                                              EVHTTP_REQ_POST | EVHTTP_REQ_PUT |
                                              EVHTTP_REQ_DELETE);
    evhttp_set_max_body_size(ctl->http, EB_CONTROL_MAX_BODY);
    evhttp_set_gencb(ctl->http, eb_request_cb, ctl);
    if (mw_http_bind(ctl->http, conf->listener, &ctl->port, err) != 0) {
        mw_err_prefix(err, "control.listener");
        eb_control_destroy(ctl);
        return NULL;
    }
    mw_log_info(EB_COMPONENT, "control listening", "listener=%s port=%d",
                conf->listener, ctl->port);
    return ctl;
}

void eb_control_destroy(eb_control_t *ctl)
{
    if (!ctl)
        return;
    if (ctl->http)
        evhttp_free(ctl->http);
    free(ctl);
}

int eb_control_port(const eb_control_t *ctl)
{
    return ctl->port;
}
