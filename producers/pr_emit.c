/*
 * pr_emit: encode, produce, and report each event once Kafka acknowledged
 * it (see pr_emit.h for the contract).  Schema resolution lives in
 * pr_emit_schema.c.
 *
 * Every accepted event becomes one pr_msg_t, the librdkafka message's
 * opaque: it carries the source's done callback, the bytes it holds against
 * max.inflight.bytes and its send time; the delivery callback (loop thread,
 * through bk_producer_attach) releases the bytes, calls done and frees it.
 * Outstanding messages are also linked in a list so that destroy can fail
 * any the producer did not report, and done is called exactly once.
 *
 * Back-pressure: past the bound, or when librdkafka's own queue is full,
 * send answers MW_ERR_FULL and remembers that someone waits; once deliveries
 * bring the in-flight bytes back under PR_RESUME_PCT of the bound, the room
 * callback runs from a separate loop event (never inside the delivery
 * callback chain, so a source may send again right away).
 *
 * Degraded (Kafka unreachable): librdkafka reports all brokers down
 * (bk_producer_is_brokers_down, at once, cleared by an ack or a broker up
 * again); besides, it is inferred for what that error misses (brokers
 * connected but not answering): messages are outstanding and none was
 * acknowledged for PR_DEGRADED_AFTER_MS, or a delivery failed with a
 * transport error or a timeout less than PR_DEGRADED_AFTER_MS ago and no
 * acknowledgement came since.
 *
 * Thread: the daemon's loop thread, everything, callbacks included.
 */
#include "pr_emit.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <event2/event.h>

#include "bk_producer.h"
#include "mw_buf.h"
#include "mw_log.h"
#include "mw_pool.h"
#include "mw_time.h"
#include "pr_emit_int.h"
#include "av_jtext.h"
#include "sr_frame.h"

#define PR_COMPONENT "emit"
#define PR_RESUME_PCT 80
#define PR_DEGRADED_AFTER_MS 5000
#define PR_HEADERS_MAX 8
#define PR_PREPARE_TIMEOUT_MS 500

/* Per-topic counts and series (labels: topic, a bounded set). */
typedef struct pr_topic {
    struct pr_topic *next;
    char *name;
    size_t inflight_bytes;
    long msg_cnt;
    mw_counter_t *in, *out, *failed, *dlq;
    mw_histogram_t *latency;
    mw_gauge_t *inflight, *depth;
} pr_topic_t;

/* Idle message records kept for reuse (64 B each): enough for a window's
 * worth of steady traffic, not a burst's peak. */
#define PR_MSG_POOL_KEEP 16384

/* One message in flight: librdkafka's msg_opaque. */
typedef struct pr_msg {
    struct pr_msg *prev, *next;
    pr_topic_t *topic;
    pr_emit_done_cb *done;
    void *ctx;
    size_t bytes;
    uint64_t sent_ms;
    uint32_t key_id, value_id;
} pr_msg_t;

/* Which of the mesh.* headers an event carries (the `headers` key); a
 * traceparent the application sent is passed on in every mode, and dead
 * letters always carry all of theirs. */
typedef enum pr_headers {
    PR_HEADERS_NONE,   /* none of ours */
    PR_HEADERS_SOURCE, /* mesh.source */
    PR_HEADERS_ALL,    /* mesh.source and mesh.position */
} pr_headers_t;

const char *const pr_emit_header_modes[] = {"none", "source", "all", NULL};

static pr_headers_t pr_headers_parse(const char *v)
{
    if (v && strcasecmp(v, "all") == 0)
        return PR_HEADERS_ALL;
    if (v && strcasecmp(v, "source") == 0)
        return PR_HEADERS_SOURCE;
    return PR_HEADERS_NONE; /* the key's enum allows nothing else */
}

struct pr_emit {
    struct event_base *base;
    mw_metrics_t *metrics;
    bk_producer_t *prod;
    pr_emit_schema_t *sch;
    char *topic;          /* `topic` key or NULL */
    char *dlq_topic;      /* `dlq.topic` key or NULL: "<topic>.dlq" */
    pr_headers_t headers; /* `headers` key: which mesh.* headers events get */
    size_t inflight_bytes, max_inflight;
    bool want_room, closing;
    pr_emit_room_cb *room_cb;
    void *room_opaque;
    struct event *room_ev;
    pr_topic_t *topics;
    pr_msg_t *msgs;
    size_t msg_cnt;
    mw_pool_t *msg_pool; /* idle pr_msg_t, one taken per event */
    mw_buf_t *kbuf, *vbuf;
    uint64_t progress_ms;  /* last ack, or when the first message went out */
    uint64_t failed_ms;    /* last transport failure, 0 after an ack */
    uint64_t fail_log_cnt; /* delivery failures, for rate-limited logs */
};

/* ---------------------------------------------------------------- topics */

static mw_counter_t *pr_counter(pr_emit_t *emit, const char *name,
                                const char *help, const char *labels)
{
    return mw_metrics_counter(emit->metrics, name, help, labels);
}

static void pr_topic_series(pr_emit_t *emit, pr_topic_t *t)
{
    char labels[PR_TOPIC_MAX + 16];

    if (!emit->metrics)
        return;
    snprintf(labels, sizeof(labels), "topic=\"%s\"", t->name);
    t->in = pr_counter(emit, "mesh_producer_events_in_total",
                       "Events accepted for producing.", labels);
    t->out = pr_counter(emit, "mesh_producer_events_out_total",
                        "Events acknowledged by Kafka.", labels);
    t->failed = pr_counter(emit, "mesh_producer_events_failed_total",
                           "Events refused (schema) or not delivered.", labels);
    t->dlq = pr_counter(emit, "mesh_producer_dlq_total",
                        "Events sent to the dead-letter topic.", labels);
    t->latency = mw_metrics_histogram(
        emit->metrics, "mesh_producer_delivery_seconds",
        "Time from send to Kafka's acknowledgement.", labels, NULL, 0);
    t->inflight =
        mw_metrics_gauge(emit->metrics, "mesh_producer_inflight_bytes",
                         "Bytes of events not yet acknowledged.", labels);
    t->depth = mw_metrics_gauge(emit->metrics, "mesh_producer_queue_depth",
                                "Events not yet acknowledged.", labels);
}

bool pr_emit_topic_is_valid(const char *name)
{
    size_t len = strlen(name);

    if (!len || len > PR_TOPIC_MAX || !strcmp(name, ".") || !strcmp(name, ".."))
        return false;
    return strspn(name, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                        "0123456789._-") == len;
}

/* A topic's metadata before its first event: without it the first events
 * to a topic new to the daemon waited up to a second (see
 * bk_producer_prepare_topic).  Once per topic (the first 8), on the loop
 * thread: ~1 ms while brokers answer, at most PR_PREPARE_TIMEOUT_MS when
 * they do not, and skipped while they are known down. */
static void pr_topic_prepare(pr_emit_t *emit, const char *topic)
{
    mw_err_t err = {0};

    if (!emit->prod || pr_emit_is_degraded(emit))
        return;
    if (bk_producer_prepare_topic(emit->prod, topic, PR_PREPARE_TIMEOUT_MS,
                                  &err) != 0 &&
        err.code != MW_ERR_FULL)
        mw_log_info(PR_COMPONENT, "topic metadata not fetched ahead",
                    "topic=%s error=%s", topic, mw_log_q(err.msg));
}

/* The topic's entry, or NULL when it was never used. */
static pr_topic_t *pr_topic_find(pr_emit_t *emit, const char *name)
{
    for (pr_topic_t *t = emit->topics; t; t = t->next)
        if (!strcmp(t->name, name))
            return t;
    return NULL;
}

/* The topic's entry, created (and prepared) on first use; NULL on
 * ENOMEM. */
static pr_topic_t *pr_topic_get(pr_emit_t *emit, const char *name)
{
    pr_topic_t *t = pr_topic_find(emit, name);

    if (t)
        return t;
    t = calloc(1, sizeof(*t));
    if (!t || !(t->name = strdup(name))) {
        free(t);
        return NULL;
    }
    pr_topic_series(emit, t);
    t->next = emit->topics;
    emit->topics = t;
    pr_topic_prepare(emit, t->name);
    return t;
}

/* -------------------------------------------------------------- delivery */

static void pr_room_fire(evutil_socket_t fd, short what, void *arg)
{
    pr_emit_t *emit = arg;

    (void)fd;
    (void)what;
    if (emit->room_cb)
        emit->room_cb(emit->room_opaque);
}

/* Hysteresis: wake the waiting source only once the in-flight bytes are
 * back under PR_RESUME_PCT of the bound, so it does not bounce off the
 * bound for every single acknowledgement. */
static void pr_check_room(pr_emit_t *emit)
{
    if (!emit->want_room ||
        emit->inflight_bytes > emit->max_inflight / 100 * PR_RESUME_PCT)
        return;
    emit->want_room = false;
    if (emit->room_ev && !emit->closing)
        event_active(emit->room_ev, EV_TIMEOUT, 0);
}

static void pr_msg_unlink(pr_emit_t *emit, pr_msg_t *msg)
{
    if (msg->prev)
        msg->prev->next = msg->next;
    else
        emit->msgs = msg->next;
    if (msg->next)
        msg->next->prev = msg->prev;
    emit->msg_cnt--;
    emit->inflight_bytes -= msg->bytes;
    msg->topic->inflight_bytes -= msg->bytes;
    msg->topic->msg_cnt--;
    mw_gauge_set(msg->topic->inflight, (double)msg->topic->inflight_bytes);
    mw_gauge_set(msg->topic->depth, (double)msg->topic->msg_cnt);
}

static void pr_count_outcome(pr_emit_t *emit, pr_msg_t *msg, int code,
                             const char *reason)
{
    uint64_t now = (uint64_t)mw_time_mono_ms();

    if (code == 0) {
        mw_counter_inc(msg->topic->out);
        mw_histogram_observe(msg->topic->latency,
                             (double)(now - msg->sent_ms) / 1000.0);
        emit->progress_ms = now;
        emit->failed_ms = 0;
        return;
    }
    mw_counter_inc(msg->topic->failed);
    if (code == MW_ERR_TRANSPORT || code == MW_ERR_TIMEOUT)
        emit->failed_ms = now;
    /* The first failure, then one line per thousand. */
    if (emit->fail_log_cnt++ % 1000 == 0)
        mw_log_warn(PR_COMPONENT, "delivery failed",
                    "topic=%s err=%s "
                    "reason=%s count=%" PRIu64,
                    msg->topic->name, mw_err_name(code), mw_log_q(reason),
                    emit->fail_log_cnt);
}

/* Reports msg with res, releases it and maybe wakes the waiting source. */
static void pr_msg_finish(pr_emit_t *emit, pr_msg_t *msg, pr_result_t *res)
{
    pr_msg_unlink(emit, msg);
    pr_count_outcome(emit, msg, res->code, res->message);
    res->key_schema_id = msg->key_id;
    res->value_schema_id = msg->value_id;
    if (msg->done)
        msg->done(msg->ctx, res);
    mw_pool_put(emit->msg_pool, msg);
    pr_check_room(emit);
}

/* bk_producer's delivery callback, on the loop thread.  During destroy the
 * unflushed rest is reported failed: the contract calls it a timeout. */
static void pr_on_delivery(void *opaque, void *msg_opaque,
                           const bk_delivery_t *dr)
{
    pr_emit_t *emit = opaque;
    pr_msg_t *msg = msg_opaque;
    pr_result_t res = {
        .topic = dr->topic,
        .partition = dr->partition,
        .offset = dr->code ? -1 : dr->offset,
        .code = dr->code,
        .message = dr->message ? dr->message : "",
    };

    if (emit->closing && res.code != 0)
        res.code = MW_ERR_TIMEOUT;
    pr_msg_finish(emit, msg, &res);
}

/* ------------------------------------------------------------- lifecycle */

static int pr_emit_configure(pr_emit_t *emit, const mw_conf_t *conf,
                             mw_err_t *err)
{
    const char *topic = mw_conf_get_str(conf, "topic");
    const char *dlq = mw_conf_get_str(conf, "dlq.topic");
    long long max = mw_conf_get_int(conf, "max.inflight.bytes");
    const char *headers = mw_conf_get_str(conf, "headers");

    if (topic && *topic && !pr_emit_topic_is_valid(topic))
        return mw_err_set(err, MW_ERR_CONFIG,
                          "key 'topic': '%s' is not a "
                          "valid topic name ([a-zA-Z0-9._-], 1-249)",
                          topic);
    if (dlq && *dlq && !pr_emit_topic_is_valid(dlq))
        return mw_err_set(err, MW_ERR_CONFIG,
                          "key 'dlq.topic': '%s' is not "
                          "a valid topic name ([a-zA-Z0-9._-], 1-249)",
                          dlq);
    emit->topic = topic && *topic ? strdup(topic) : NULL;
    emit->dlq_topic = dlq && *dlq ? strdup(dlq) : NULL;
    emit->max_inflight = max > 0 ? (size_t)max : (size_t)64 << 20;
    emit->headers = pr_headers_parse(headers);
    return 0;
}

pr_emit_t *pr_emit_new(struct event_base *base, const mw_conf_t *conf,
                       mw_metrics_t *metrics, mw_err_t *err)
{
    pr_emit_t *emit = calloc(1, sizeof(*emit));

    if (!emit) {
        mw_err_set(err, MW_ERR_NOMEM, "out of memory for the emitter");
        return NULL;
    }
    emit->base = base;
    emit->metrics = metrics;
    if (pr_emit_configure(emit, conf, err) != 0)
        goto fail;
    emit->sch = pr_emit_schema_new(conf, err);
    if (!emit->sch)
        goto fail;
    emit->kbuf = mw_buf_new(0);
    emit->vbuf = mw_buf_new(0);
    emit->msg_pool =
        mw_pool_new(sizeof(pr_msg_t), MW_POOL_KEEP(PR_MSG_POOL_KEEP));
    emit->room_ev = event_new(base, -1, 0, pr_room_fire, emit);
    if (!emit->kbuf || !emit->vbuf || !emit->msg_pool || !emit->room_ev) {
        mw_err_set(err, MW_ERR_NOMEM, "out of memory for the emitter");
        goto fail;
    }
    emit->prod = bk_producer_new(conf, pr_on_delivery, emit, metrics, err);
    if (!emit->prod || bk_producer_attach(emit->prod, base, err) != 0)
        goto fail;
    /* The configured topic is known, and prepared, before its first
     * event (pr_topic_get). */
    if (emit->topic && *emit->topic && !pr_topic_get(emit, emit->topic)) {
        mw_err_set(err, MW_ERR_NOMEM, "out of memory for the emitter");
        goto fail;
    }
    return emit;
fail:
    pr_emit_destroy(emit, 0);
    return NULL;
}

/* Fails whatever the producer did not report (it should report all). */
static void pr_fail_remaining(pr_emit_t *emit)
{
    while (emit->msgs) {
        pr_result_t res = {
            .topic = emit->msgs->topic->name,
            .partition = -1,
            .offset = -1,
            .code = MW_ERR_TIMEOUT,
            .message = "not delivered before shutdown",
        };

        pr_msg_finish(emit, emit->msgs, &res);
    }
}

int pr_emit_flush(pr_emit_t *emit, int timeout_ms, mw_err_t *err)
{
    size_t abandoned = 0;

    if (bk_producer_flush(emit->prod, timeout_ms, err) == 0 && !emit->msgs) {
        emit->closing = true;
        return 0;
    }
    emit->closing = true;
    /* The producer still owns these messages and reports them later (or
     * in destroy): the source hears of them now, and only now. */
    for (pr_msg_t *msg = emit->msgs; msg; msg = msg->next) {
        pr_result_t res = {
            .topic = msg->topic->name,
            .partition = -1,
            .offset = -1,
            .key_schema_id = msg->key_id,
            .value_schema_id = msg->value_id,
            .code = MW_ERR_TIMEOUT,
            .message = "not acknowledged before the shutdown deadline",
        };

        if (!msg->done)
            continue;
        msg->done(msg->ctx, &res);
        msg->done = NULL;
        abandoned++;
    }
    mw_log_warn(PR_COMPONENT, "flush incomplete", "failed=%zu", abandoned);
    return mw_err_set(err, MW_ERR_TIMEOUT,
                      "%zu events not acknowledged "
                      "within %d ms",
                      abandoned, timeout_ms);
}

void pr_emit_destroy(pr_emit_t *emit, int flush_timeout_ms)
{
    mw_err_t err = {0};

    if (!emit)
        return;
    if (emit->prod) {
        if (!emit->closing)
            pr_emit_flush(emit, flush_timeout_ms, &err);
        bk_producer_destroy(emit->prod);
    }
    emit->closing = true;
    pr_fail_remaining(emit);
    if (emit->room_ev)
        event_free(emit->room_ev);
    pr_emit_schema_destroy(emit->sch);
    while (emit->topics) {
        pr_topic_t *next = emit->topics->next;

        free(emit->topics->name);
        free(emit->topics);
        emit->topics = next;
    }
    mw_buf_destroy(emit->kbuf);
    mw_buf_destroy(emit->vbuf);
    mw_pool_free(emit->msg_pool);
    free(emit->topic);
    free(emit->dlq_topic);
    free(emit);
}

/* ----------------------------------------------------------------- sends */

/* One encoded side of a record: bytes borrowed from the emitter's buffer
 * until the next encode of that side (data NULL: no key / a tombstone),
 * and the schema id they were framed with (0: none). */
typedef struct pr_encoded {
    const void *data;
    size_t len;
    uint32_t id;
} pr_encoded_t;

/* The fast path's key: Avro JSON text transcoded with the key schema, or
 * without one the bytes of a plain string literal.  MW_ERR_UNSUPPORTED for
 * anything else (the caller takes the jansson path). */
static int pr_encode_key_text(pr_emit_t *emit, const pr_emit_resolved_t *res,
                              const pr_event_t *ev, uint32_t *id, mw_err_t *err)
{
    const char *t = ev->key_text;
    size_t n = ev->key_text_len;

    if (res) {
        *id = res->id;
        if (sr_frame_write(emit->kbuf, res->id, err) != 0 ||
            av_jtext_encode(res->plan, t, n, emit->kbuf, err) != 0)
            return mw_err_set(err, MW_ERR_UNSUPPORTED, "key: slow path");
        return 0;
    }
    /* The span was validated by the scan that found it (av_jtext_members
     * or av_jtext_member_first): a literal without escapes is its own
     * UTF-8. */
    if (n < 2 || t[0] != '"' || t[n - 1] != '"' || memchr(t, '\\', n))
        return mw_err_set(err, MW_ERR_UNSUPPORTED, "key: slow path");
    if (mw_buf_append(emit->kbuf, t + 1, n - 2) != 0)
        return mw_err_set(err, MW_ERR_UNSUPPORTED, "key: slow path");
    return 0;
}

static bool pr_text_is_null(const char *t, size_t n)
{
    return n == 4 && memcmp(t, "null", 4) == 0;
}

/* A body the source encoded itself: framed with the id its reference
 * names (resolved, so an unknown id is refused as for any event). */
static int pr_encode_avro(pr_emit_t *emit, const char *topic,
                          pr_emit_side_t side, const pr_schema_ref_t *ref,
                          const void *body, size_t len, mw_buf_t *buf,
                          pr_encoded_t *out, mw_err_t *err)
{
    const pr_emit_resolved_t *res = NULL;

    if (ref->id <= 0)
        return mw_err_set(err, MW_ERR_INVALID,
                          "%s: an encoded body needs its schema id",
                          pr_emit_side_name(side));
    if (pr_emit_schema_resolve(emit->sch, topic, side, ref, &res, err) != 0)
        return err->code;
    if (!res || sr_frame_write(buf, res->id, err) != 0 ||
        mw_buf_append(buf, body, len) != 0)
        return mw_err_set(err, MW_ERR_FULL, "%s too large",
                          pr_emit_side_name(side));
    out->id = res->id;
    out->data = mw_buf_data(buf);
    out->len = mw_buf_len(buf);
    return 0;
}

/* Key bytes in emit->kbuf, or out->data NULL for no key.  Without a key
 * schema a string key is its UTF-8 and any other JSON its compact text. */
static int pr_encode_key(pr_emit_t *emit, const char *topic,
                         const pr_event_t *ev, pr_encoded_t *out, mw_err_t *err)
{
    const pr_emit_resolved_t *res = NULL;
    char *text;
    int rc;

    out->data = NULL;
    out->len = 0;
    mw_buf_reset(emit->kbuf);
    if (ev->key_avro)
        return pr_encode_avro(emit, topic, PR_EMIT_SIDE_KEY, &ev->key_schema,
                              ev->key_avro, ev->key_avro_len, emit->kbuf, out,
                              err);
    if (ev->key_text ? pr_text_is_null(ev->key_text, ev->key_text_len)
                     : !ev->key || json_is_null(ev->key))
        return 0;
    if (pr_emit_schema_resolve(emit->sch, topic, PR_EMIT_SIDE_KEY,
                               &ev->key_schema, &res, err) != 0)
        return err->code;
    if (ev->key_text) {
        if (pr_encode_key_text(emit, res, ev, &out->id, err) != 0)
            return err->code;
    } else if (res) {
        out->id = res->id;
        if (sr_frame_encode(res->plan, res->id, ev->key, emit->kbuf, err))
            return mw_err_prefix(err, "key");
    } else if (json_is_string(ev->key)) {
        rc = mw_buf_append(emit->kbuf, json_string_value(ev->key),
                           json_string_length(ev->key));
        if (rc != 0)
            return mw_err_set(err, rc, "key too large");
    } else {
        text = json_dumps(ev->key, JSON_COMPACT | JSON_ENCODE_ANY);
        rc =
            text ? mw_buf_append(emit->kbuf, text, strlen(text)) : MW_ERR_NOMEM;
        free(text);
        if (rc != 0)
            return mw_err_set(err, rc, "key too large");
    }
    out->data = mw_buf_data(emit->kbuf);
    out->len = mw_buf_len(emit->kbuf);
    return 0;
}

/* Value bytes in emit->vbuf (Confluent framing), out->data NULL for a
 * tombstone.  Serde messages name the JSON path ("$.price: ..."). */
static int pr_encode_value(pr_emit_t *emit, const char *topic,
                           const pr_event_t *ev, pr_encoded_t *out,
                           mw_err_t *err)
{
    const pr_emit_resolved_t *res = NULL;

    out->data = NULL;
    out->len = 0;
    mw_buf_reset(emit->vbuf);
    if (ev->value_avro)
        return pr_encode_avro(emit, topic, PR_EMIT_SIDE_VALUE,
                              &ev->value_schema, ev->value_avro,
                              ev->value_avro_len, emit->vbuf, out, err);
    if (!ev->value && !ev->value_text)
        return 0;
    if (pr_emit_schema_resolve(emit->sch, topic, PR_EMIT_SIDE_VALUE,
                               &ev->value_schema, &res, err) != 0)
        return err->code;
    if (!res)
        return mw_err_set(err, MW_ERR_NOT_FOUND,
                          "no value schema for topic "
                          "'%s'",
                          topic);
    out->id = res->id;
    if (ev->value_text) {
        if (sr_frame_write(emit->vbuf, res->id, err) != 0 ||
            av_jtext_encode(res->plan, ev->value_text, ev->value_text_len,
                            emit->vbuf, err) != 0)
            return mw_err_set(err, MW_ERR_UNSUPPORTED, "value: slow path");
    } else if (sr_frame_encode(res->plan, res->id, ev->value, emit->vbuf,
                               err) != 0) {
        return err->code;
    }
    out->data = mw_buf_data(emit->vbuf);
    out->len = mw_buf_len(emit->vbuf);
    return 0;
}

static size_t pr_add_header(bk_header_t *hdrs, size_t cnt, const char *name,
                            const char *value)
{
    if (!value)
        return cnt;
    hdrs[cnt] = (bk_header_t){name, value, strlen(value)};
    return cnt + 1;
}

/* The shared tail of send and dead_letter: bound check, produce, account.
 * t is the stats entry of the topic produced to. */
static int pr_produce(pr_emit_t *emit, pr_topic_t *t, const bk_message_t *m,
                      pr_msg_t *proto, mw_err_t *err)
{
    size_t bytes = sizeof(pr_msg_t) + m->key_len + m->value_len;
    pr_msg_t *msg;
    int rc;

    for (size_t i = 0; i < m->header_cnt; i++)
        bytes += strlen(m->headers[i].name) + m->headers[i].value_len;
    /* One event bigger than the bound still goes when nothing is in
     * flight: refusing it forever would stall the source. */
    if (emit->inflight_bytes &&
        emit->inflight_bytes + bytes > emit->max_inflight) {
        emit->want_room = true;
        return mw_err_set(err, MW_ERR_FULL,
                          "in-flight bytes at the bound "
                          "(max.inflight.bytes=%zu)",
                          emit->max_inflight);
    }
    msg = mw_pool_get(emit->msg_pool);
    if (!msg)
        return mw_err_set(err, MW_ERR_NOMEM, "out of memory for a message");
    *msg = *proto;
    msg->topic = t;
    msg->bytes = bytes;
    msg->sent_ms = (uint64_t)mw_time_mono_ms();
    rc = bk_producer_send(emit->prod, m, msg, err);
    if (rc != 0) {
        mw_pool_put(emit->msg_pool, msg);
        if (rc == MW_ERR_FULL)
            emit->want_room = true;
        return rc;
    }
    if (!emit->msg_cnt)
        emit->progress_ms = msg->sent_ms;
    msg->prev = NULL;
    msg->next = emit->msgs;
    if (emit->msgs)
        emit->msgs->prev = msg;
    emit->msgs = msg;
    emit->msg_cnt++;
    emit->inflight_bytes += bytes;
    t->inflight_bytes += bytes;
    t->msg_cnt++;
    mw_gauge_set(t->inflight, (double)t->inflight_bytes);
    mw_gauge_set(t->depth, (double)t->msg_cnt);
    return 0;
}

/* MW_ERR_INVALID unless topic is set and a legal name. */
static int pr_topic_check(const char *topic, mw_err_t *err)
{
    if (!topic)
        return mw_err_set(err, MW_ERR_INVALID,
                          "no topic: the event names "
                          "none and the `topic` key is not set");
    if (!pr_emit_topic_is_valid(topic))
        return mw_err_set(err, MW_ERR_INVALID,
                          "'%s' is not a valid topic "
                          "name ([a-zA-Z0-9._-], 1-249 characters)",
                          topic);
    return 0;
}

/* The topic an event goes to, validated, and its stats entry.  A known
 * topic was validated when it was first seen. */
static int pr_route(pr_emit_t *emit, const char *topic, pr_topic_t **t,
                    mw_err_t *err)
{
    *t = topic ? pr_topic_find(emit, topic) : NULL;
    if (!*t && pr_topic_check(topic, err) != 0)
        return err->code;
    if (bk_producer_check_fatal(emit->prod, err) != 0)
        return err->code;
    if (emit->closing)
        return mw_err_set(err, MW_ERR_STATE, "the emitter is shutting down");
    if (!*t)
        *t = pr_topic_get(emit, topic);
    if (!*t)
        return mw_err_set(err, MW_ERR_NOMEM, "out of memory for a topic");
    if (emit->inflight_bytes >= emit->max_inflight) {
        emit->want_room = true;
        return mw_err_set(err, MW_ERR_FULL,
                          "in-flight bytes at the bound "
                          "(max.inflight.bytes=%zu)",
                          emit->max_inflight);
    }
    return 0;
}

/* An event that did not encode: counted when it failed for good.  A
 * declined fast path is not a failure: the caller retries the event in
 * its json_t form, which counts what really fails.  Returns code. */
static int pr_encode_failed(pr_topic_t *t, const pr_event_t *ev, int code)
{
    if (code == MW_ERR_UNSUPPORTED && ev->value_text)
        return code;
    if (mw_err_class(code) == MW_ERR_CLASS_PERMANENT)
        mw_counter_inc(t->failed);
    return code;
}

int pr_emit_send(pr_emit_t *emit, const pr_event_t *ev, pr_emit_done_cb *done,
                 void *ctx, mw_err_t *err)
{
    mw_err_t local = {0};
    const char *topic = ev->topic ? ev->topic : emit->topic;
    pr_msg_t proto = {.done = done, .ctx = ctx};
    bk_header_t hdrs[PR_HEADERS_MAX];
    bk_message_t m = {
        .topic = topic, .partition = ev->partition, .headers = hdrs};
    pr_topic_t *t = NULL;
    pr_encoded_t key = {0}, value = {0};
    pr_event_t keyed;
    int rc;

    if (!err)
        err = &local;
    mw_err_clear(err);
    if (pr_route(emit, topic, &t, err) != 0)
        return err->code;
    if (ev->value_text && ev->key_member) {
        /* Value first: only a transcoded value makes the short key scan
         * (av_jtext_member_first) give jansson's answer. */
        if (pr_encode_value(emit, topic, ev, &value, err) != 0)
            return pr_encode_failed(t, ev, err->code);
        keyed = *ev;
        if (av_jtext_member_first(ev->value_text, ev->value_text_len,
                                  ev->key_member, &keyed.key_text,
                                  &keyed.key_text_len) != 0)
            return mw_err_set(err, MW_ERR_UNSUPPORTED, "key: slow path");
        if (pr_encode_key(emit, topic, &keyed, &key, err) != 0)
            return pr_encode_failed(t, ev, err->code);
    } else if (pr_encode_key(emit, topic, ev, &key, err) != 0 ||
               pr_encode_value(emit, topic, ev, &value, err) != 0) {
        return pr_encode_failed(t, ev, err->code);
    }
    m.key = key.data;
    m.key_len = key.len;
    m.value = value.data;
    m.value_len = value.len;
    proto.key_id = key.id;
    proto.value_id = value.id;
    if (m.partition < 0)
        m.partition = BK_PARTITION_ANY;
    /* librdkafka 2.0.2 allocates, serialises and frees each header of each
     * message: two per event cost more than the rest of the event (see
     * bench/README.md), so they are the user's choice. */
    if (emit->headers != PR_HEADERS_NONE)
        m.header_cnt = pr_add_header(hdrs, 0, "mesh.source", ev->source);
    if (emit->headers == PR_HEADERS_ALL)
        m.header_cnt =
            pr_add_header(hdrs, m.header_cnt, "mesh.position", ev->position);
    m.header_cnt =
        pr_add_header(hdrs, m.header_cnt, "traceparent", ev->traceparent);
    rc = pr_produce(emit, t, &m, &proto, err);
    if (rc == 0)
        mw_counter_inc(t->in);
    else if (rc == MW_ERR_INVALID)
        mw_counter_inc(t->failed);
    return rc;
}

int pr_emit_register(pr_emit_t *emit, const char *topic, bool key,
                     const char *schema_text, uint32_t *id, mw_err_t *err)
{
    if (pr_topic_check(topic, err) != 0)
        return err->code;
    return pr_emit_schema_register(emit->sch, topic,
                                   key ? PR_EMIT_SIDE_KEY : PR_EMIT_SIDE_VALUE,
                                   schema_text, id, err);
}

int pr_emit_check(pr_emit_t *emit, const pr_event_t *ev,
                  uint32_t *key_schema_id, uint32_t *value_schema_id,
                  mw_err_t *err)
{
    mw_err_t local = {0};
    const char *topic = ev->topic ? ev->topic : emit->topic;
    pr_encoded_t key = {0}, value = {0};

    if (!err)
        err = &local;
    mw_err_clear(err);
    if (pr_topic_check(topic, err) != 0)
        return err->code;
    if (pr_encode_key(emit, topic, ev, &key, err) != 0 ||
        pr_encode_value(emit, topic, ev, &value, err) != 0)
        return err->code;
    if (key_schema_id)
        *key_schema_id = key.id;
    if (value_schema_id)
        *value_schema_id = value.id;
    return 0;
}

int pr_emit_dead_letter(pr_emit_t *emit, const pr_dead_letter_t *dl,
                        pr_emit_done_cb *done, void *ctx, mw_err_t *err)
{
    mw_err_t local = {0};
    const pr_event_t *origin = dl->origin;
    const char *reason = dl->reason;
    const char *orig = dl->topic                 ? dl->topic
                       : origin && origin->topic ? origin->topic
                                                 : emit->topic;
    char dlq[PR_TOPIC_MAX + 8];
    pr_msg_t proto = {.done = done, .ctx = ctx};
    bk_header_t hdrs[PR_HEADERS_MAX];
    bk_message_t m = {.topic = dlq,
                      .partition = BK_PARTITION_ANY,
                      .value = dl->raw,
                      .value_len = dl->raw_len,
                      .headers = hdrs};
    pr_topic_t *t = NULL, *ot = NULL;

    if (!err)
        err = &local;
    mw_err_clear(err);
    if (emit->dlq_topic)
        snprintf(dlq, sizeof(dlq), "%s", emit->dlq_topic);
    else if (orig)
        snprintf(dlq, sizeof(dlq), "%s.dlq", orig);
    else
        dlq[0] = '\0';
    if (pr_route(emit, orig, &ot, err) != 0 || pr_route(emit, dlq, &t, err))
        return err->code;
    m.header_cnt = pr_add_header(hdrs, 0, "mesh.error", reason ? reason : "");
    m.header_cnt = pr_add_header(hdrs, m.header_cnt, "mesh.topic", orig);
    if (origin) {
        m.header_cnt =
            pr_add_header(hdrs, m.header_cnt, "mesh.source", origin->source);
        m.header_cnt = pr_add_header(hdrs, m.header_cnt, "mesh.position",
                                     origin->position);
        m.header_cnt = pr_add_header(hdrs, m.header_cnt, "traceparent",
                                     origin->traceparent);
    }
    if (pr_produce(emit, t, &m, &proto, err) != 0)
        return err->code;
    mw_counter_inc(ot->dlq);
    return 0;
}

/* ------------------------------------------------------------- accessors */

void pr_emit_set_room_cb(pr_emit_t *emit, pr_emit_room_cb *cb, void *opaque)
{
    emit->room_cb = cb;
    emit->room_opaque = opaque;
}

size_t pr_emit_inflight_bytes(const pr_emit_t *emit)
{
    return emit->inflight_bytes;
}

size_t pr_emit_max_inflight_bytes(const pr_emit_t *emit)
{
    return emit->max_inflight;
}

bool pr_emit_is_degraded(const pr_emit_t *emit)
{
    uint64_t now = (uint64_t)mw_time_mono_ms();

    /* librdkafka reports "all brokers down" but never "back up"; the flag
     * only clears on a delivery or a statistics report.  So it counts only
     * while events are waiting: with nothing in flight the next request is
     * let through as a probe, and its delivery (or its waiting) decides. */
    if (emit->prod && emit->msg_cnt > 0 &&
        bk_producer_is_brokers_down(emit->prod))
        return true;
    if (emit->failed_ms && now - emit->failed_ms < PR_DEGRADED_AFTER_MS)
        return true;
    return emit->msg_cnt > 0 && now - emit->progress_ms > PR_DEGRADED_AFTER_MS;
}

int pr_emit_check_fatal(const pr_emit_t *emit, mw_err_t *err)
{
    return emit->prod ? bk_producer_check_fatal(emit->prod, err) : 0;
}

const char *pr_emit_default_topic(const pr_emit_t *emit)
{
    return emit->topic;
}
