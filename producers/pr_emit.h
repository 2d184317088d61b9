/*
 * pr_emit: turns a source's events into Kafka records, with no loss.
 *
 * The emitter is the one path from every source (http, file, pg) to Kafka:
 *   1. resolve the topic's value (and key) schema once, through the
 *      registry client: by id, by subject version, or the subject's latest
 *      (TopicNameStrategy by default; RecordNameStrategy and
 *      TopicRecordNameStrategy selectable); with auto.register on, a schema
 *      given inline is registered;
 *   2. encode the event's JSON (Avro JSON encoding) with the serde's plan
 *      into Confluent framing — an event that does not fit is refused
 *      synchronously with MW_ERR_INVALID and the JSON path of the first
 *      offending field, so the source can answer 422 or dead-letter it;
 *   3. produce it (idempotent, acks=all) with the headers the `headers`
 *      key asks for (mesh.source, mesh.position) and traceparent when
 *      given;
 *   4. call the event's done callback from the delivery report, and only
 *      then: that is where a source acknowledges its position.
 * In-flight memory is bounded (max.inflight.bytes): past it pr_emit_send
 * answers MW_ERR_FULL and the source pauses (file) or answers 503 (http)
 * until the room callback fires.
 *
 * Thread: the daemon's loop thread, everything, callbacks included.
 */
#ifndef PR_EMIT_H
#define PR_EMIT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "mw_conf.h"
#include "mw_err.h"
#include "mw_metrics.h"

struct event_base;

typedef struct pr_emit pr_emit_t;

/* How the schema of one side (key or value) of an event is chosen.  All
 * strings borrowed for the call. */
typedef struct pr_schema_ref {
    int64_t id;          /* > 0: this registered id */
    const char *schema;  /* inline schema text (registered if allowed) */
    const char *subject; /* NULL: from the naming strategy */
    int32_t version;     /* > 0: this version of subject; else latest */
} pr_schema_ref_t;

/* One event.  Every pointer is borrowed for the duration of pr_emit_send:
 * the emitter copies what it keeps (the encoded bytes). */
typedef struct pr_event {
    const char *topic;            /* NULL: the daemon's `topic` key */
    int32_t partition;            /* -1: the partitioner (murmur2 on the key) */
    const json_t *key;            /* NULL: no key */
    const json_t *value;          /* NULL: tombstone */
    pr_schema_ref_t key_schema;   /* zeroed: key encoded per key.* keys;
                                   * a string key with no key schema is
                                   * sent as raw UTF-8 bytes */
    pr_schema_ref_t value_schema; /* zeroed: per value.* keys */
    const char *source;           /* "http", "file", "pg": mesh.source header */
    const char *position;         /* source position text: mesh.position */
    const char *traceparent;      /* W3C trace context from the app, or NULL */
    /* Instead of key/value (which must then be NULL), the Avro JSON text
     * of each, as sources that hold text (the file source) have it: the
     * value is transcoded straight to Avro (av_jtext) without building a
     * jansson tree.  key_text NULL: no key; "null": no key.  Without a key
     * schema only a plain string literal is taken as the key's bytes.
     * When the fast path declines (av_jtext.h lists when: anything odd or
     * invalid), pr_emit_send returns MW_ERR_UNSUPPORTED having sent and
     * counted nothing, and the caller parses the text and sends the json_t
     * form, which gives the precise error. */
    const char *key_text;
    size_t key_text_len;
    const char *value_text;
    size_t value_text_len;
    /* Instead of the JSON forms, the Avro binary bodies a source encoded
     * itself against its own registered schemas (the pg source: it
     * derived them from the table), which key_schema.id and
     * value_schema.id must then name: the emitter only adds Confluent's
     * framing.  key_avro NULL: no key; value_avro NULL: a tombstone. */
    const void *key_avro;
    size_t key_avro_len;
    const void *value_avro;
    size_t value_avro_len;
    /* With value_text and no key_text: the key is the value of this
     * top-level member of value_text (file.key.field), found once the
     * value was transcoded, which proves the text valid and its keys
     * unique, so the scan can stop at the member. */
    const char *key_member;
} pr_event_t;

/* Outcome of one event, borrowed for the callback. */
typedef struct pr_result {
    const char *topic;
    int32_t partition;
    int64_t offset;         /* -1 on failure */
    uint32_t key_schema_id; /* 0 when the key had none */
    uint32_t value_schema_id;
    int code;            /* 0 or MW_ERR_* */
    const char *message; /* "" on success */
} pr_result_t;

typedef void(pr_emit_done_cb)(void *ctx, const pr_result_t *res);
typedef void(pr_emit_room_cb)(void *opaque);

/* The `headers` key, declared by every program that makes an emitter. */
extern const char *const pr_emit_header_modes[];
#define PR_EMIT_KEY_HEADERS                                                    \
    {                                                                          \
        .name = "headers", .type = MW_CONF_ENUM, .dflt = "none",               \
        .allowed = pr_emit_header_modes,                                       \
        .doc =                                                                 \
            "Headers added to each event: none, source (mesh.source) or all "  \
            "(mesh.source and mesh.position); a traceparent sent by the "      \
            "application is always passed on."                                 \
    }

/* New emitter on base (borrowed) from conf's keys (registry.url, topic,
 * value.subject, value.schema.id, value.schema.version, key.subject,
 * subject.name.strategy, auto.register, dlq.topic, max.inflight.bytes,
 * headers, kafka.*).  NULL with err (MW_ERR_CONFIG naming the key). */
pr_emit_t *pr_emit_new(struct event_base *base, const mw_conf_t *conf,
                       mw_metrics_t *metrics, mw_err_t *err);

/* Shutdown, phase "drain": waits up to timeout_ms for every event in
 * flight to be acknowledged (their done callbacks run), then fails the rest
 * at once with MW_ERR_TIMEOUT, so every done callback has run when this
 * returns and none comes later.  Later sends answer MW_ERR_STATE.  The
 * source is destroyed after this (its final checkpoint sees every outcome)
 * and the emitter after the source.  0 or MW_ERR_TIMEOUT naming how many
 * events were failed. */
int pr_emit_flush(pr_emit_t *emit, int timeout_ms, mw_err_t *err);

/* Flushes with the deadline (delivered events get their callbacks; the rest
 * fail with MW_ERR_TIMEOUT) and destroys.  NULL-safe. */
void pr_emit_destroy(pr_emit_t *emit, int flush_timeout_ms);

/* Encodes and enqueues ev; done(ctx, result) is called exactly once later,
 * on the loop thread, if and only if this returns 0.  Errors, returned
 * synchronously: MW_ERR_INVALID (the value or key does not fit its schema;
 * message names the JSON path), MW_ERR_NOT_FOUND (no schema for the
 * subject / unknown id), MW_ERR_FULL (in-flight bound reached: retry after
 * the room callback), MW_ERR_TRANSPORT (registry unreachable). */
int pr_emit_send(pr_emit_t *emit, const pr_event_t *ev, pr_emit_done_cb *done,
                 void *ctx, mw_err_t *err);

/* Resolves the schemas and encodes ev's key and value exactly as
 * pr_emit_send would, but sends nothing and takes no in-flight bytes: lets
 * the http source refuse a whole request before producing any record.
 * key_schema_id / value_schema_id (either may be NULL) get the ids, 0 for
 * a key without schema.  Errors as pr_emit_send, without MW_ERR_FULL. */
int pr_emit_check(pr_emit_t *emit, const pr_event_t *ev,
                  uint32_t *key_schema_id, uint32_t *value_schema_id,
                  mw_err_t *err);

/* Registers schema_text, a schema the source derived itself (the pg
 * source: a table's shape), for the key (key true) or the value of topic,
 * under the subject subject.name.strategy gives, whatever auto.register
 * says: the registry's compatibility rules and policies decide.  *id gets
 * its id, for events that name it (pr_schema_ref_t.id).  Blocks for the
 * registry round trip.  Errors: MW_ERR_INVALID with the registry's reason
 * when it refused the schema (sr_client_last_error_code() tells 409 from
 * 422), MW_ERR_TRANSPORT / MW_ERR_TIMEOUT when it could not be asked. */
int pr_emit_register(pr_emit_t *emit, const char *topic, bool key,
                     const char *schema_text, uint32_t *id, mw_err_t *err);

/* Raw input that could not become an event.  Every pointer borrowed for
 * the duration of pr_emit_dead_letter. */
typedef struct pr_dead_letter {
    const char *topic; /* meant for; NULL: origin's, else `topic` */
    const void *raw;
    size_t raw_len;
    const char *reason;       /* why: the mesh.error header */
    const pr_event_t *origin; /* its source, position, traceparent; or
                               * NULL */
} pr_dead_letter_t;

/* Sends dl's raw bytes to the dead-letter topic (dlq.topic, default
 * "<topic>.dlq") with headers mesh.error (reason), mesh.topic, and the
 * origin's mesh.source, mesh.position and traceparent; done as for
 * pr_emit_send. */
int pr_emit_dead_letter(pr_emit_t *emit, const pr_dead_letter_t *dl,
                        pr_emit_done_cb *done, void *ctx, mw_err_t *err);

/* Registers the callback run once room is available again after
 * MW_ERR_FULL (one per emitter; NULL clears). */
void pr_emit_set_room_cb(pr_emit_t *emit, pr_emit_room_cb *cb, void *opaque);

/* Bytes currently in flight and the bound. */
size_t pr_emit_inflight_bytes(const pr_emit_t *emit);
size_t pr_emit_max_inflight_bytes(const pr_emit_t *emit);

/* True while the producer reports the cluster unreachable (all brokers
 * down): the http source answers 503 with Retry-After at once. */
bool pr_emit_is_degraded(const pr_emit_t *emit);

/* MW_ERR_FATAL with the producer's reason once Kafka raised a fatal error
 * (idempotence broken, authorization): the daemon shuts down and exits 1.
 * 0 otherwise. */
int pr_emit_check_fatal(const pr_emit_t *emit, mw_err_t *err);

/* True for a legal Kafka topic name: [a-zA-Z0-9._-]{1,249}, not "." or
 * "..". */
bool pr_emit_topic_is_valid(const char *topic);

/* The daemon's `topic` key (borrowed for the emitter's life), or NULL. */
const char *pr_emit_default_topic(const pr_emit_t *emit);

#endif /* PR_EMIT_H */
