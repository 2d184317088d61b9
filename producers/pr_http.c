/*
 * pr_http: the http source — an ingest endpoint compatible with the
 * Confluent REST Proxy v2 produce call, so existing REST-proxy clients work.
 *
 *   POST /topics/{topic}                     produce records
 *   POST /topics/{topic}/partitions/{p}      produce records to partition p
 *   GET  /topics, GET /topics/{topic}        discovery (pr_http_topics.c)
 *
 * Where it sits: app --HTTP--> pr_http --pr_emit_send--> Kafka.  Each record
 * of a request becomes one event (mesh.source=http, mesh.position=
 * "<request seq>:<record index>", the request's traceparent).
 *
 * Invariants:
 *   1. A request is rejected whole or produced whole: every record is
 *      encoded with pr_emit_check before the first pr_emit_send, so a bad
 *      record (422 with the JSON path) leaves nothing in Kafka.
 *   2. The 200 reply is sent only once every record's done callback fired,
 *      i.e. after Kafka acknowledged (or refused) each one; per-record Kafka
 *      failures appear in "offsets" with error_code 50002/50003, as the REST
 *      Proxy reports them.
 *   3. The in-flight bound is checked before a request starts: when the
 *      emitter is degraded or full, the answer is 503 + Retry-After and
 *      nothing of the request was produced.
 *   4. A request's state lives until its last callback, whatever the client
 *      does: a client that hangs up leaves evhttp's request detached (evhttp
 *      frees it when we reply), never freed under us.  Our state is freed
 *      only when its hold count drops to zero, outside the sending loop.
 *   5. After close, requests still in flight keep the source's struct
 *      alive (zombie) until their last callback; nothing else is touched.
 *
 * Every accepted content type carries Avro's JSON encoding: Meshwork topics
 * are always Avro-typed, so application/vnd.kafka.json.v2+json and
 * application/json go through the subject's schema like the avro type.
 *
 * Thread: the daemon's loop thread, callbacks included.
 */
#include "pr_source.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>

#include "mw_http.h"
#include "mw_http_limit.h"
#include "mw_log.h"
#include "mw_time.h"
#include "pr_emit.h"
#include "pr_http_int.h"
#include "sr_proto.h"

#define TRACEPARENT_MAX 256
#define POSITION_MAX 48

typedef struct pr_http pr_http_t;
typedef struct pr_http_req pr_http_req_t;

/* One record's outcome, filled by its done callback. */
typedef struct pr_http_rec {
    pr_http_req_t *owner;
    int32_t partition;
    int64_t offset;
    int error_code; /* 0: null in the reply */
    char *error;    /* malloc'd, or NULL */
} pr_http_rec_t;

/* One produce request in flight. */
struct pr_http_req {
    pr_http_t *src;
    struct evhttp_request *req; /* NULL once answered (shutdown) */
    pr_http_req_t *prev, *next;
    uint64_t seq;
    size_t holds; /* the sending loop's + one per record in flight */
    size_t rec_cnt;
    pr_http_rec_t *recs;
    uint32_t key_schema_id, value_schema_id;
    int64_t started_us;
};

struct pr_http {
    struct event_base *base;
    const mw_conf_t *conf;
    pr_emit_t *emit;
    pr_http_topics_t *topics;
    struct evhttp *http;
    mw_http_limit_t *limit; /* http.max.connections */
    const char *listener;
    size_t max_body_bytes;
    size_t max_conns;
    int port;
    char url[300];
    uint64_t next_seq;
    pr_http_req_t *reqs; /* requests in flight, newest first */
    size_t req_cnt;
    bool stopping, zombie;
    mw_counter_t *records_total, *rejected_total;
    mw_gauge_t *inflight_gauge;
    mw_histogram_t *latency;
    mw_metrics_t *metrics;
};

static void count_reply(pr_http_t *src, int status)
{
    if (src->zombie)
        return;
    char labels[32];
    snprintf(labels, sizeof(labels), "status=\"%d\"", status);
    mw_counter_inc(mw_metrics_counter(
        src->metrics, "mesh_producer_http_requests_total",
        "Produce requests answered, by HTTP status.", labels));
}

/* Answers an error and counts it. */
#define REPLY_ERR(src, req, code, ...)                                         \
    do {                                                                       \
        count_reply((src), pr_http_status(code));                              \
        pr_http_reply_error((req), (code), __VA_ARGS__);                       \
    } while (0)

/* ------------------------------------------------------------ replies */

static json_t *schema_id_json(uint32_t id)
{
    return id ? json_integer(id) : json_null();
}

static json_t *offsets_json(const pr_http_req_t *r)
{
    json_t *offsets = json_array();
    for (size_t i = 0; offsets && i < r->rec_cnt; i++) {
        const pr_http_rec_t *rec = &r->recs[i];
        json_t *o = json_object();
        json_object_set_new(o, "partition", json_integer(rec->partition));
        json_object_set_new(o, "offset",
                            rec->error_code ? json_null()
                                            : json_integer(rec->offset));
        json_object_set_new(o, "error_code",
                            rec->error_code ? json_integer(rec->error_code)
                                            : json_null());
        json_object_set_new(o, "error",
                            rec->error ? json_string(rec->error) : json_null());
        json_array_append_new(offsets, o);
    }
    return offsets;
}

static void req_free(pr_http_req_t *r)
{
    for (size_t i = 0; i < r->rec_cnt; i++)
        free(r->recs[i].error);
    free(r->recs);
    free(r);
}

static void source_free(pr_http_t *src)
{
    pr_http_topics_destroy(src->topics);
    free(src);
}

/* Last hold gone: answer the client (unless shutdown did), unlink, free. */
static void req_finish(pr_http_req_t *r)
{
    pr_http_t *src = r->src;
    if (r->req) {
        json_t *body = json_object();
        json_object_set_new(body, "offsets", offsets_json(r));
        json_object_set_new(body, "key_schema_id",
                            schema_id_json(r->key_schema_id));
        json_object_set_new(body, "value_schema_id",
                            schema_id_json(r->value_schema_id));
        count_reply(src, 200);
        pr_http_reply_json(r->req, 200, body);
    }
    if (!src->zombie)
        mw_histogram_observe(src->latency,
                             (double)(mw_time_mono_us() - r->started_us) / 1e6);
    if (r->prev)
        r->prev->next = r->next;
    else
        src->reqs = r->next;
    if (r->next)
        r->next->prev = r->prev;
    src->req_cnt--;
    if (!src->zombie)
        mw_gauge_set(src->inflight_gauge, (double)src->req_cnt);
    req_free(r);
    if (src->zombie && src->req_cnt == 0)
        source_free(src);
}

static void req_release(pr_http_req_t *r)
{
    if (--r->holds == 0)
        req_finish(r);
}

/* Kafka error class -> REST Proxy code: retriable ones may succeed if the
 * client posts again. */
static int kafka_code(int code)
{
    return mw_err_class(code) == MW_ERR_CLASS_RETRIABLE
               ? PR_HTTP_E_KAFKA_RETRIABLE
               : PR_HTTP_E_KAFKA;
}

static void rec_fail(pr_http_rec_t *rec, int code, const char *msg)
{
    int rp = kafka_code(code);
    rec->error_code = rp;
    rec->offset = -1;
    free(rec->error);
    size_t n = strlen(msg) + 32;
    rec->error = malloc(n);
    if (rec->error)
        snprintf(rec->error, n, "%s%s",
                 rp == PR_HTTP_E_KAFKA ? "Kafka error: "
                                       : "Retriable Kafka error: ",
                 msg);
}

static void on_done(void *ctx, const pr_result_t *res)
{
    pr_http_rec_t *rec = ctx;
    pr_http_req_t *r = rec->owner;
    rec->partition = res->partition;
    rec->offset = res->offset;
    if (res->code != 0)
        rec_fail(rec, res->code, res->message ? res->message : "");
    if (res->key_schema_id)
        r->key_schema_id = res->key_schema_id;
    if (res->value_schema_id)
        r->value_schema_id = res->value_schema_id;
    req_release(r);
}

/* ------------------------------------------------------------ parsing */

/* Accepted Content-Types (parameters such as charset ignored).  Binary,
 * protobuf and jsonschema embedded formats are refused with 415. */
static bool content_type_ok(struct evhttp_request *req)
{
    static const char *const ok[] = {
        "application/vnd.kafka.avro.v2+json",
        "application/vnd.kafka.json.v2+json",
        "application/vnd.kafka.v2+json",
        "application/vnd.kafka+json",
        "application/json",
    };
    const char *ct = evhttp_find_header(evhttp_request_get_input_headers(req),
                                        "Content-Type");
    if (!ct)
        return false;
    size_t n = strcspn(ct, ";");
    while (n > 0 && (ct[n - 1] == ' ' || ct[n - 1] == '\t'))
        n--;
    for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++)
        if (strlen(ok[i]) == n && !strncasecmp(ct, ok[i], n))
            return true;
    return false;
}

/* ------------------------------------------------------------ producing */

/* The event of record i (every pointer borrowed from b or the caller). */
static void record_event(const pr_http_body_t *b, const char *topic, size_t i,
                         const char *position, const char *traceparent,
                         pr_event_t *ev)
{
    json_t *rec = json_array_get(b->records, i);
    json_t *p = json_object_get(rec, "partition");
    json_t *key = json_object_get(rec, "key");
    json_t *value = json_object_get(rec, "value");
    int32_t partition = -1;
    if (b->forced_partition >= 0)
        partition = b->forced_partition;
    else if (json_is_integer(p))
        partition = (int32_t)json_integer_value(p);
    *ev = (pr_event_t){
        .topic = topic,
        .partition = partition,
        .key = json_is_null(key) ? NULL : key,
        .value = json_is_null(value) ? NULL : value,
        .key_schema = b->key_ref,
        .value_schema = b->value_ref,
        .source = "http",
        .position = position,
        .traceparent = traceparent,
    };
}

/* pr_emit_check's refusal of one side of record i -> REST Proxy code. */
static int check_error(int rc, const char *side, size_t i, int *code,
                       mw_err_t *err)
{
    switch (rc) {
    case MW_ERR_INVALID:
        *code = PR_HTTP_E_JSON_AVRO;
        return mw_err_prefix(err,
                             "Conversion of JSON to Avro failed: "
                             "records[%zu].%s",
                             i, side);
    case MW_ERR_NOT_FOUND:
        *code = side[0] == 'k' ? PR_HTTP_E_KEY_SCHEMA_MISSING
                               : PR_HTTP_E_VALUE_SCHEMA_MISSING;
        return mw_err_prefix(err,
                             "Request includes %ss but no %s schema "
                             "was given or found",
                             side, side);
    case MW_ERR_TRANSPORT:
    case MW_ERR_TIMEOUT:
        *code = PR_HTTP_E_SCHEMA_LOOKUP;
        return mw_err_prefix(err, "Schema registration or lookup failed");
    default:
        *code = kafka_code(rc);
        return mw_err_prefix(err, "records[%zu].%s", i, side);
    }
}

/* Encodes every record (value side, then key side, so a refusal names its
 * side) without producing anything: invariant 1. */
static int check_records(pr_http_t *src, const pr_http_body_t *b,
                         const char *topic, int *code, mw_err_t *err)
{
    size_t cnt = json_array_size(b->records);
    for (size_t i = 0; i < cnt; i++) {
        pr_event_t ev, side;
        record_event(b, topic, i, "", NULL, &ev);
        side = ev;
        side.key = NULL;
        int rc = pr_emit_check(src->emit, &side, NULL, NULL, err);
        if (rc != 0)
            return check_error(rc, "value", i, code, err);
        if (!ev.key)
            continue;
        side = ev;
        side.value = NULL;
        rc = pr_emit_check(src->emit, &side, NULL, NULL, err);
        if (rc != 0)
            return check_error(rc, "key", i, code, err);
    }
    return 0;
}

/* Invariant 3: room for about body_len more bytes (an empty emitter always
 * takes one request, so a request larger than the bound still passes). */
static bool has_room(const pr_http_t *src, size_t body_len)
{
    if (pr_emit_is_degraded(src->emit))
        return false;
    size_t used = pr_emit_inflight_bytes(src->emit);
    return used == 0 ||
           used + body_len <= pr_emit_max_inflight_bytes(src->emit);
}

/* Sends every record of r.  A send refused midway (the bound reached by
 * another source's burst) fails that record and the rest with 50003: what
 * was sent cannot be taken back, so the reply reports it per record. */
static void send_records(pr_http_req_t *r, const pr_http_body_t *b,
                         const char *topic, const char *traceparent)
{
    bool full = false;
    for (size_t i = 0; i < r->rec_cnt; i++) {
        pr_http_rec_t *rec = &r->recs[i];
        rec->owner = r;
        rec->partition = -1;
        rec->offset = -1;
        if (full) {
            rec_fail(rec, MW_ERR_FULL, "in-flight bound reached");
            continue;
        }
        char pos[POSITION_MAX];
        snprintf(pos, sizeof(pos), "%" PRIu64 ":%zu", r->seq, i);
        pr_event_t ev;
        record_event(b, topic, i, pos, traceparent, &ev);
        if (ev.partition >= 0)
            rec->partition = ev.partition;
        mw_err_t err;
        mw_err_clear(&err);
        r->holds++;
        int rc = pr_emit_send(r->src->emit, &ev, on_done, rec, &err);
        if (rc != 0) {
            r->holds--;
            rec_fail(rec, rc, err.msg);
            full = rc == MW_ERR_FULL;
        }
    }
}

/* The request's traceparent, when present and of sane length. */
static const char *traceparent_of(struct evhttp_request *req)
{
    const char *tp = evhttp_find_header(evhttp_request_get_input_headers(req),
                                        "traceparent");
    return tp && strlen(tp) <= TRACEPARENT_MAX ? tp : NULL;
}

/* Registers r in flight and produces it; the reply comes from req_finish. */
static void start_request(pr_http_t *src, struct evhttp_request *req,
                          const pr_http_body_t *b, const char *topic)
{
    size_t cnt = json_array_size(b->records);
    pr_http_req_t *r = calloc(1, sizeof(*r));
    pr_http_rec_t *recs = r ? calloc(cnt, sizeof(*recs)) : NULL;
    if (!recs) {
        free(r);
        REPLY_ERR(src, req, PR_HTTP_E_INTERNAL, "out of memory");
        return;
    }
    r->started_us = mw_time_mono_us();
    r->src = src;
    r->req = req;
    r->seq = ++src->next_seq;
    r->recs = recs;
    r->rec_cnt = cnt;
    r->holds = 1; /* the sending loop's own, so callbacks that run during
                   * pr_emit_send cannot finish r under the loop */
    r->next = src->reqs;
    if (src->reqs)
        src->reqs->prev = r;
    src->reqs = r;
    src->req_cnt++;
    mw_gauge_set(src->inflight_gauge, (double)src->req_cnt);
    mw_counter_add(src->records_total, cnt);
    send_records(r, b, topic, traceparent_of(req));
    req_release(r);
}

/* Every check before anything is produced; *code and err on refusal. */
static int prepare(pr_http_t *src, const char *topic, pr_http_body_t *b,
                   int *code, mw_err_t *err)
{
    int rc = pr_http_body_parse(b, code, err);
    if (rc != 0)
        return rc;
    int partitions = 0;
    rc = pr_emit_topic_is_valid(topic)
             ? pr_http_topics_lookup(src->topics, topic, &partitions, err)
             : MW_ERR_NOT_FOUND;
    if (rc != 0) {
        *code = rc == MW_ERR_NOT_FOUND ? PR_HTTP_E_TOPIC_NOT_FOUND
                                       : PR_HTTP_E_KAFKA_RETRIABLE;
        return rc == MW_ERR_NOT_FOUND
                   ? mw_err_set(err, rc, "Topic not found.")
                   : mw_err_prefix(err, "Retriable Kafka error");
    }
    rc = pr_http_body_check(b, partitions, code, err);
    if (rc != 0)
        return rc;
    return check_records(src, b, topic, code, err);
}

static void handle_produce(pr_http_t *src, struct evhttp_request *req,
                           const char *topic, int32_t forced_partition)
{
    if (!content_type_ok(req)) {
        REPLY_ERR(src, req, PR_HTTP_E_MEDIA_TYPE,
                  "HTTP 415 Unsupported Media Type");
        return;
    }
    size_t len = 0;
    int too_big = 0;
    char *text = mw_http_body(req, src->max_body_bytes, &len, &too_big);
    if (!text) {
        if (too_big)
            REPLY_ERR(src, req, PR_HTTP_E_TOO_LARGE,
                      "Request body larger than http.max.body.bytes (%zu)",
                      src->max_body_bytes);
        else
            REPLY_ERR(src, req, PR_HTTP_E_INTERNAL, "out of memory");
        return;
    }
    pr_http_body_t b = {
        .text = text, .text_len = len, .forced_partition = forced_partition};
    int code = 0;
    mw_err_t err;
    mw_err_clear(&err);
    if (prepare(src, topic, &b, &code, &err) != 0) {
        mw_counter_add(src->rejected_total, json_array_size(b.records));
        REPLY_ERR(src, req, code, "%s", err.msg);
    } else if (!has_room(src, len)) {
        REPLY_ERR(src, req, PR_HTTP_E_KAFKA_RETRIABLE,
                  "Retriable Kafka error: %s",
                  pr_emit_is_degraded(src->emit)
                      ? "Kafka unreachable, retry later"
                      : "in-flight bound reached, retry later");
    } else {
        start_request(src, req, &b, topic);
    }
    json_decref(b.root);
    free(text);
}

/* ------------------------------------------------------------ routing */

/* libevent calls back a second time, without URI, for a request whose read
 * failed (body over the evhttp bound, bad headers): answer it in JSON. */
static void reply_read_failure(pr_http_t *src, struct evhttp_request *req)
{
    if (evhttp_request_get_response_code(req) == 413)
        REPLY_ERR(src, req, PR_HTTP_E_TOO_LARGE,
                  "Request body larger than http.max.body.bytes (%zu)",
                  src->max_body_bytes);
    else
        REPLY_ERR(src, req, PR_HTTP_E_BAD_REQUEST, "malformed HTTP request");
}

static void on_request(struct evhttp_request *req, void *arg)
{
    pr_http_t *src = arg;
    const struct evhttp_uri *uri = evhttp_request_get_evhttp_uri(req);
    /* Past http.max.connections: 503 with Retry-After, counted. */
    if (!mw_http_limit_admit(src->limit, req))
        return;
    if (!evhttp_request_get_uri(req) || !uri) {
        reply_read_failure(src, req);
        return;
    }
    const char *path = evhttp_uri_get_path(uri);
    char *topic = NULL;
    int32_t partition = -1;
    enum evhttp_cmd_type cmd = evhttp_request_get_command(req);
    if (!path || !pr_http_parse_path(path, &topic, &partition)) {
        REPLY_ERR(src, req, PR_HTTP_E_NOT_FOUND, "HTTP 404 Not Found");
    } else if (src->stopping) {
        REPLY_ERR(src, req, PR_HTTP_E_KAFKA_RETRIABLE,
                  "Retriable Kafka error: shutting down");
    } else if (cmd == EVHTTP_REQ_POST && topic) {
        handle_produce(src, req, topic, partition);
    } else if (cmd == EVHTTP_REQ_GET && !topic) {
        pr_http_topics_get_list(src->topics, req);
    } else if (cmd == EVHTTP_REQ_GET && partition < 0) {
        pr_http_topics_get_one(src->topics, req, topic);
    } else {
        REPLY_ERR(src, req, PR_HTTP_E_METHOD, "HTTP 405 Method Not Allowed");
    }
    free(topic);
}

/* ------------------------------------------------------------ ops */

/* The http source's keys (their values are checked by mw_conf). */
static const mw_conf_key_t http_keys[] = {
    {.name = "http.listener",
     .type = MW_CONF_LISTENER,
     .dflt = "127.0.0.1:8082",
     .doc = "source=http: the ingest listener; port 0 picks one."},
    {.name = "http.max.body.bytes",
     .type = MW_CONF_INT,
     .dflt = "16777216",
     .min = 1024,
     .max = 1073741824,
     .doc = "source=http: largest request body; larger ones get 413."},
    {.name = "http.max.connections",
     .type = MW_CONF_INT,
     .dflt = "1024",
     .min = 1,
     .max = 1000000,
     .doc = "source=http: connections the listener serves at once (counted "
            "from their first request); a request on a further one gets 503 "
            "with Retry-After and the connection is closed."},
};

/* Cross-key checks when source=http. */
static int http_check(const mw_conf_t *conf, mw_err_t *err)
{
    const char *listener = mw_conf_get_str(conf, "http.listener");

    if (!listener || !*listener)
        return mw_err_set(err, MW_ERR_CONFIG,
                          "http.listener: required with source=http");
    return 0;
}

static void *http_open(const pr_source_env_t *env, mw_err_t *err)
{
    const mw_conf_t *conf = env->conf;
    pr_http_t *src = calloc(1, sizeof(*src));
    mw_metrics_t *metrics = env->metrics;

    if (!src) {
        mw_err_set(err, MW_ERR_NOMEM, "http source: out of memory");
        return NULL;
    }
    src->topics = pr_http_topics_new(conf, err);
    if (!src->topics) {
        free(src);
        return NULL;
    }
    src->base = env->base;
    src->conf = conf;
    src->emit = env->emit;
    src->metrics = metrics;
    src->listener = mw_conf_get_str(conf, "http.listener");
    src->max_body_bytes = (size_t)mw_conf_get_int(conf, "http.max.body.bytes");
    src->max_conns = (size_t)mw_conf_get_int(conf, "http.max.connections");
    src->records_total = mw_metrics_counter(
        metrics, "mesh_producer_http_records_total",
        "Records received in accepted produce requests.", NULL);
    src->rejected_total = mw_metrics_counter(
        metrics, "mesh_producer_http_rejected_records_total",
        "Records of produce requests refused before producing (4xx).", NULL);
    src->inflight_gauge = mw_metrics_gauge(
        metrics, "mesh_producer_http_inflight_requests",
        "Produce requests waiting for Kafka's acknowledgements.", NULL);
    src->latency = mw_metrics_histogram(
        metrics, "mesh_producer_http_request_seconds",
        "Produce request duration, arrival to reply.", NULL, NULL, 0);
    return src;
}

static int http_start(void *state, mw_err_t *err)
{
    pr_http_t *src = state;
    src->limit = mw_http_limit_new(src->max_conns, "http", src->metrics);
    src->http = src->limit ? evhttp_new(src->base) : NULL;
    if (!src->http)
        return mw_err_set(err, MW_ERR_NOMEM, "http source: evhttp_new failed");
    /* evhttp reads at most twice the bound: bodies a little over it get
     * our JSON 413 on a connection that stays usable, larger ones are cut
     * off by evhttp (413 too) without being buffered. */
    size_t hard = src->max_body_bytes <= SIZE_MAX / 2 ? src->max_body_bytes * 2
                                                      : src->max_body_bytes;
    evhttp_set_max_body_size(src->http, (ev_ssize_t)hard);
    evhttp_set_gencb(src->http, on_request, src);
    int rc = mw_http_bind(src->http, src->listener, &src->port, err);
    if (rc != 0) {
        evhttp_free(src->http);
        src->http = NULL;
        mw_http_limit_destroy(src->limit);
        src->limit = NULL;
        return rc;
    }
    mw_conf_listener_url(src->listener, src->port, src->url, sizeof(src->url),
                         NULL);
    mw_log_info("http", "http source listening", "url=%s max_body_bytes=%zu",
                src->url, src->max_body_bytes);
    return 0;
}

static void http_stop(void *state)
{
    pr_http_t *src = state;
    src->stopping = true;
}

static bool http_is_drained(void *state)
{
    const pr_http_t *src = state;
    return src->req_cnt == 0;
}

static bool http_health(void *state, char *reason, size_t reason_size)
{
    const pr_http_t *src = state;
    const char *why = !src->http      ? "http source not listening"
                      : src->stopping ? "http source stopping"
                                      : NULL;
    if (why && reason && reason_size)
        snprintf(reason, reason_size, "%s", why);
    return why == NULL;
}

static void http_ready_info(void *state, json_t *ready)
{
    const pr_http_t *src = state;
    if (src->http)
        json_object_set_new(ready, "http", json_string(src->url));
}

/* Requests still waiting for Kafka get a 503 now (their records may still
 * land: the client must treat them as unknown and retry) and live on until
 * their callbacks: invariant 5. */
static void http_close(void *state)
{
    pr_http_t *src = state;
    if (!src)
        return;
    for (pr_http_req_t *r = src->reqs; r; r = r->next) {
        if (r->req)
            pr_http_reply_error(r->req, PR_HTTP_E_KAFKA_RETRIABLE,
                                "Retriable Kafka error: shut down before "
                                "Kafka acknowledged every record");
        r->req = NULL;
    }
    if (src->http)
        evhttp_free(src->http);
    src->http = NULL;
    /* After evhttp_free, whose close callbacks uncount into it. */
    mw_http_limit_destroy(src->limit);
    src->limit = NULL;
    pr_http_topics_destroy(src->topics);
    src->topics = NULL;
    if (src->req_cnt == 0) {
        source_free(src);
        return;
    }
    mw_log_warn("http", "http source destroyed with requests in flight",
                "requests=%zu", src->req_cnt);
    src->zombie = true;
}

const pr_source_ops_t pr_source_http_ops = {
    .conf = {.name = "http",
             .doc = "REST Proxy v2 compatible ingest endpoint",
             .keys = http_keys,
             .key_cnt = sizeof(http_keys) / sizeof(*http_keys),
             .check = http_check},
    .open = http_open,
    .start = http_start,
    .stop = http_stop,
    .is_drained = http_is_drained,
    .health = http_health,
    .close = http_close,
    .ready_info = http_ready_info,
};
