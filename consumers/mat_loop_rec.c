/*
 * mat_loop_rec: one record's way from bytes to a sink change, and the
 * dead-letter topic for the ones that cannot make it.
 *
 * Each failure is classified once, here, into what the loop does next:
 *   - poison (bad framing, unknown schema id, undecodable body, a value
 *     that does not fit the table): dead-letter it (on.error=dlq) and go
 *     on, or stop the partition (on.error=stop);
 *   - incompatible schema change: stop the partition whatever on.error
 *     says, because the table cannot follow and skipping would silently
 *     drop data;
 *   - retriable (registry unreachable, DLQ queue full): re-read the
 *     partition from this record after a pause;
 *   - sink failure: abandon the batch and re-read it after a pause.
 * Nothing here blocks for long except the registry lookup of a schema id
 * never seen before (once per id, cached for the process's life).
 *
 * Thread: the loop thread.
 */
#include "mat_loop_int.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mw_log.h"
#include "mw_vec.h"
#include "sr_frame.h"

typedef enum rec_outcome {
    REC_OK = 0,
    REC_POISON,
    REC_STOP,
    REC_RETRY,
    REC_SINK
} rec_outcome_t;

/* What one record decoded to; the JSON values are owned. */
typedef struct rec_ctx {
    const bk_record_t *rec;
    loop_part_t *part;
    av_schema_t *writer; /* borrowed from the topic's cache */
    json_t *value, *key;
    const av_node_t *key_root; /* NULL without a framed key */
    av_schema_t *key_writer;   /* borrowed from the topic, or NULL */
    int64_t source_ts_ms;
    bool applied;
} rec_ctx_t;

void mat_loop_topic_free(loop_topic_t *t)
{
    if (!t)
        return;
    for (size_t i = 0; i < LOOP_FAST_SLOTS; i++)
        mat_fast_destroy(t->fast[i].fast);
    mat_map_destroy(t->map);
    av_schema_release(t->last_writer);
    av_schema_release(t->value_hot.writer);
    av_schema_release(t->key_hot.writer);
    free(t->values);
    free(t->name);
    free(t->table_name);
    free(t->dlq_topic);
    free(t);
}

static loop_topic_t *rec_topic_new(const mat_loop_t *loop, const char *name)
{
    loop_topic_t *t = calloc(1, sizeof *t);
    if (!t)
        return NULL;
    t->name = strdup(name);
    t->table_name = strdup(loop->table_name ? loop->table_name : name);
    if (loop->dlq_name)
        t->dlq_topic = strdup(loop->dlq_name);
    else if (asprintf(&t->dlq_topic, "%s.dlq", name) < 0)
        t->dlq_topic = NULL;
    if (!t->name || !t->table_name || !t->dlq_topic) {
        mat_loop_topic_free(t);
        return NULL;
    }
    /* The derived table name: '.' and '-' are not SQL identifier chars. */
    for (char *p = t->table_name; !loop->table_name && *p; p++)
        if (*p == '.' || *p == '-')
            *p = '_';
    return t;
}

loop_topic_t *mat_loop_topic_get(mat_loop_t *loop, const char *name)
{
    for (size_t i = 0; i < loop->tp_cnt; i++)
        if (strcmp(loop->tps[i]->name, name) == 0)
            return loop->tps[i];
    if (MW_VEC_RESERVE(&loop->tps, &loop->tp_cap, loop->tp_cnt + 1))
        return NULL;
    loop_topic_t *t = rec_topic_new(loop, name);
    if (t)
        loop->tps[loop->tp_cnt++] = t;
    return t;
}

/* Registry errors: an id the registry does not know (or a schema it
 * cannot parse) is the record's fault; anything else is the registry's. */
static rec_outcome_t rec_registry_class(int code)
{
    return code == MW_ERR_NOT_FOUND || code == MW_ERR_INVALID ? REC_POISON
                                                              : REC_RETRY;
}

/* One framed value or key to decode: its bytes, the reader schema (NULL:
 * the writer's own) and the topic's cache of the last writer's plan. */
typedef struct rec_src {
    const void *data;
    size_t len;
    av_schema_t *reader;
    loop_hot_t *hot;
} rec_src_t;

/* Framed bytes -> the Avro body and the plan for its writer (or the
 * reader), which src->hot then holds. */
static rec_outcome_t rec_resolve(mat_loop_t *loop, const rec_src_t *src,
                                 const uint8_t **body, size_t *body_len,
                                 mw_err_t *err)
{
    av_schema_t *reader = src->reader;
    loop_hot_t *hot = src->hot;
    uint32_t id;
    if (sr_frame_parse(src->data, src->len, &id, body, body_len, err) != 0)
        return REC_POISON;
    if (!hot->writer || hot->id != id) {
        av_schema_t *w = sr_client_get_schema_by_id(loop->client, id, err);
        if (!w) {
            mw_err_prefix(err, "schema id %" PRIu32, id);
            return rec_registry_class(err->code);
        }
        const av_serde_plan_t *plan =
            av_serde_cache_get(loop->plans, w, reader, err);
        if (!plan) {
            av_schema_release(w);
            return REC_POISON;
        }
        av_schema_release(hot->writer);
        *hot = (loop_hot_t){.id = id, .writer = w, .plan = plan};
    }
    return REC_OK;
}

/* Framed bytes -> JSON with the writer's (or reader's) plan; *writer is
 * borrowed from src->hot. */
static rec_outcome_t rec_decode(mat_loop_t *loop, const rec_src_t *src,
                                av_schema_t **writer, json_t **out,
                                mw_err_t *err)
{
    const uint8_t *body;
    size_t body_len;
    rec_outcome_t rc = rec_resolve(loop, src, &body, &body_len, err);
    if (rc != REC_OK)
        return rc;
    *writer = src->hot->writer;
    if (av_serde_avro_to_json(src->hot->plan, body, body_len, out, err) != 0)
        return REC_POISON;
    return REC_OK;
}

static rec_outcome_t rec_decode_value(mat_loop_t *loop, rec_ctx_t *c,
                                      mw_err_t *err)
{
    loop_topic_t *t = c->part->t;
    const bk_record_t *rec = c->rec;
    av_schema_t *writer = NULL;
    rec_outcome_t out = rec_decode(
        loop,
        &(rec_src_t){rec->value, rec->value_len, loop->reader, &t->value_hot},
        &writer, &c->value, err);
    if (out == REC_OK && writer != t->last_writer) {
        /* The shape is read from what the JSON follows: the reader when
         * one is configured, else this writer. */
        mat_envelope_shape_t shape;
        av_schema_t *s = loop->reader ? loop->reader : writer;
        if (mat_envelope_inspect(av_schema_root(s), &shape, err) != 0)
            return REC_POISON;
        av_schema_release(t->last_writer);
        t->last_writer = av_schema_keep(writer);
        t->shape = shape;
    }
    c->writer = t->last_writer;
    return out;
}

/* Only a Confluent-framed key carries a schema; a raw key (or none)
 * gives a table without key columns, i.e. appends. */
static bool rec_framed_key(const mat_loop_t *loop, const bk_record_t *rec)
{
    return !loop->append && rec->key && rec->key_len >= SR_FRAME_HEADER_LEN &&
           ((const uint8_t *)rec->key)[0] == 0;
}

static rec_outcome_t rec_decode_key(mat_loop_t *loop, rec_ctx_t *c,
                                    mw_err_t *err)
{
    const bk_record_t *rec = c->rec;
    if (!rec_framed_key(loop, rec))
        return REC_OK;
    rec_outcome_t out = rec_decode(
        loop, &(rec_src_t){rec->key, rec->key_len, NULL, &c->part->t->key_hot},
        &c->key_writer, &c->key, err);
    if (out == REC_OK)
        c->key_root = av_schema_root(c->key_writer);
    else
        mw_err_prefix(err, "key");
    return out;
}

static bool rec_seen(const loop_topic_t *t, const av_schema_t *value,
                     const av_schema_t *key)
{
    for (size_t i = 0; i < t->seen_cnt; i++)
        if (t->seen[i].value == value && t->seen[i].key == key)
            return true;
    return false;
}

/* The topic's table follows every (value, key) writer pair seen: created
 * from the first, merged with each new one (schema evolution). */
static rec_outcome_t rec_table(mat_loop_t *loop, rec_ctx_t *c, mw_err_t *err)
{
    loop_topic_t *t = c->part->t;
    const av_schema_t *vs = loop->reader ? loop->reader : c->writer;
    if (rec_seen(t, vs, c->key_writer))
        return REC_OK;
    if (!t->map) {
        t->map = mat_map_new(t->shape.row, c->key_root, loop->nested,
                             t->table_name, t->name, err);
        if (!t->map)
            return REC_POISON;
    } else {
        int rc = mat_map_merge(t->map, t->shape.row, c->key_root, err);
        if (rc < 0)
            return rc == MW_ERR_INVALID ? REC_STOP : REC_RETRY;
        if (rc > 0)
            mw_log_info(LOOP_COMPONENT, "table gained columns",
                        "topic=%s table=%s columns=%zu version=%" PRIu32,
                        t->name, t->table_name, mat_map_table(t->map)->col_cnt,
                        mat_map_table(t->map)->version);
    }
    size_t cols = mat_map_table(t->map)->col_cnt;
    if (MW_VEC_RESERVE(&t->values, &t->values_cap, cols))
        return mw_err_set(err, MW_ERR_NOMEM, "out of memory"), REC_RETRY;
    if (t->seen_cnt < LOOP_MAX_WRITERS)
        t->seen[t->seen_cnt++] = (loop_writers_t){vs, c->key_writer};
    return REC_OK;
}

/* The change's timestamp; false when it has nothing to apply. */
static bool rec_event(rec_ctx_t *c, const mat_table_t *table,
                      const mat_envelope_event_t *ev)
{
    c->source_ts_ms =
        ev->source_ts_ms >= 0 ? ev->source_ts_ms : c->rec->timestamp_ms;
    /* A delete needs a key to find its row; a keyless table has none. */
    return !ev->skip && !(ev->op == MAT_OP_DELETE && table->key_cnt == 0);
}

/* The topic's values (filled for this record) to the sink. */
static rec_outcome_t rec_write(mat_loop_t *loop, rec_ctx_t *c,
                               const mat_envelope_event_t *ev, mw_err_t *err)
{
    loop_topic_t *t = c->part->t;
    const mat_table_t *table = mat_map_table(t->map);
    if (t->ensured_version != table->version) {
        if (mat_sink_ensure_table(loop->sink, table, err) != 0)
            return err->code == MW_ERR_INVALID ? REC_STOP : REC_SINK;
        t->ensured_version = table->version;
    }
    mat_change_t change = {.op = ev->op,
                           .values = t->values,
                           .topic = t->name,
                           .partition = c->part->partition,
                           .offset = c->rec->offset,
                           .source_ts_ms = c->source_ts_ms,
                           .src_op = ev->op_code};
    if (mat_sink_apply(loop->sink, table, &change, err) != 0)
        return REC_SINK;
    c->applied = true;
    return REC_OK;
}

static rec_outcome_t rec_apply(mat_loop_t *loop, rec_ctx_t *c, mw_err_t *err)
{
    loop_topic_t *t = c->part->t;
    const mat_table_t *table = mat_map_table(t->map);
    mat_envelope_event_t ev;
    if (mat_envelope_read(&t->shape, c->value, table->key_cnt > 0, loop->append,
                          &ev, err) != 0)
        return REC_POISON;
    if (!rec_event(c, table, &ev))
        return REC_OK;
    if (mat_map_row(t->map, ev.row, c->key, t->values, err) != 0)
        return REC_POISON;
    return rec_write(loop, c, &ev, err);
}

/* The topic's direct path for (vplan, kplan) at the table's version,
 * compiled on first use; NULL when the pair needs the JSON path. */
static mat_fast_t *rec_fast_get(mat_loop_t *loop, loop_topic_t *t,
                                const av_serde_plan_t *vplan,
                                const av_serde_plan_t *kplan)
{
    uint32_t version = mat_map_table(t->map)->version;
    for (size_t i = 0; i < LOOP_FAST_SLOTS; i++) {
        loop_fast_t *s = &t->fast[i];
        if (s->vplan == vplan && s->kplan == kplan && s->version == version)
            return s->fast;
    }
    loop_fast_t *s = &t->fast[t->fast_next++ % LOOP_FAST_SLOTS];
    mw_err_t err = {0};
    mat_fast_destroy(s->fast);
    *s = (loop_fast_t){.vplan = vplan, .kplan = kplan, .version = version};
    s->fast = mat_fast_new(t->map, vplan, kplan, loop->append, &err);
    if (!s->fast)
        mw_log_info(LOOP_COMPONENT, "records decode through JSON",
                    "topic=%s schema_id=%" PRIu32 " reason=%s", t->name,
                    t->value_hot.id, mw_log_q(err.msg));
    return s->fast;
}

/* The Avro body of framed bytes whose schema id is src->hot's: false
 * for any other (the JSON path then looks the id up, once). */
static bool rec_hot_body(const rec_src_t *src, const uint8_t **body,
                         size_t *body_len)
{
    uint32_t id;
    return src->hot->writer &&
           sr_frame_parse(src->data, src->len, &id, body, body_len, NULL) ==
               0 &&
           id == src->hot->id;
}

/* The direct path (mat_fast): true when it filled *ev and the topic's
 * values.  Only for writer pairs the table has merged already, so that
 * the JSON path alone meets every new schema; any doubt, and the caller
 * takes the JSON path, which gives the same change or the error. */
static bool rec_fast(mat_loop_t *loop, rec_ctx_t *c, mat_envelope_event_t *ev)
{
    loop_topic_t *t = c->part->t;
    const bk_record_t *rec = c->rec;
    mat_fast_rec_t in = {0};
    const uint8_t *vb, *kb = NULL;
    const av_serde_plan_t *kplan = NULL;
    const av_schema_t *kw = NULL;
    if (!t->map || !rec_hot_body(&(rec_src_t){rec->value, rec->value_len,
                                              loop->reader, &t->value_hot},
                                 &vb, &in.value_len))
        return false;
    if (rec_framed_key(loop, rec)) {
        if (!rec_hot_body(
                &(rec_src_t){rec->key, rec->key_len, NULL, &t->key_hot}, &kb,
                &in.key_len))
            return false;
        kw = t->key_hot.writer;
        kplan = t->key_hot.plan;
    }
    if (!rec_seen(t, loop->reader ? loop->reader : t->value_hot.writer, kw))
        return false;
    mat_fast_t *fast = rec_fast_get(loop, t, t->value_hot.plan, kplan);
    in.value = vb;
    in.key = kb;
    return fast && mat_fast_row(fast, t->map, &in, ev, t->values) == 0;
}

static rec_outcome_t rec_run(mat_loop_t *loop, rec_ctx_t *c, mw_err_t *err)
{
    if (!c->rec->value) {
        c->source_ts_ms = -1; /* a tombstone: its delete came before */
        return REC_OK;
    }
    mat_envelope_event_t ev;
    if (rec_fast(loop, c, &ev))
        return rec_event(c, mat_map_table(c->part->t->map), &ev)
                   ? rec_write(loop, c, &ev, err)
                   : REC_OK;
    rec_outcome_t out = rec_decode_value(loop, c, err);
    if (out == REC_OK)
        out = rec_decode_key(loop, c, err);
    if (out == REC_OK)
        out = rec_table(loop, c, err);
    if (out == REC_OK)
        out = rec_apply(loop, c, err);
    return out;
}

static void rec_header(bk_header_t *h, const char *name, const char *value)
{
    h->name = name;
    h->value = value;
    h->value_len = strlen(value);
}

/* The raw record to the dead-letter topic, reason in headers.  The batch's
 * commit waits for its delivery (mat_loop_batch_commit), so a record's offset
 * is never stored before its dead letter is durable. */
static int rec_dead_letter(mat_loop_t *loop, rec_ctx_t *c, const char *why,
                           mw_err_t *err)
{
    const bk_record_t *rec = c->rec;
    char part[16], off[24];
    bk_header_t hdrs[4];
    snprintf(part, sizeof part, "%" PRId32, rec->partition);
    snprintf(off, sizeof off, "%" PRId64, rec->offset);
    rec_header(&hdrs[0], "mesh.error", why);
    rec_header(&hdrs[1], "mesh.topic", rec->topic);
    rec_header(&hdrs[2], "mesh.partition", part);
    rec_header(&hdrs[3], "mesh.offset", off);
    bk_message_t msg = {.topic = c->part->t->dlq_topic,
                        .partition = BK_PARTITION_ANY,
                        .key = rec->key,
                        .key_len = rec->key_len,
                        .value = rec->value,
                        .value_len = rec->value_len,
                        .headers = hdrs,
                        .header_cnt = 4};
    int rc;
    for (int tries = 0; tries < 50; tries++) {
        rc = bk_producer_send(loop->dlq, &msg, NULL, err);
        if (rc != MW_ERR_FULL)
            break;
        bk_producer_poll(loop->dlq, 20);
    }
    if (rc != 0)
        return rc;
    loop->dlq_pending++;
    mw_counter_inc(c->part->dlq);
    mw_log_warn(
        LOOP_COMPONENT, "record dead-lettered",
        "topic=%s partition=%" PRId32 " offset=%" PRId64 " dlq=%s error=%s",
        rec->topic, rec->partition, rec->offset, msg.topic, mw_log_q(why));
    return 0;
}

/* The sink failed while rec was being applied (or its batch begun): the
 * batch is rolled back and every partition in it re-read from its first
 * record.  rec's own partition is re-read from rec when the batch held
 * none of its records yet: without that seek the records fetched after
 * rec would be applied next and rec itself skipped for good. */
static void rec_sink_failed(mat_loop_t *loop, loop_part_t *part,
                            const bk_record_t *rec, const mw_err_t *err)
{
    if (part->batch_start < 0)
        part->batch_start = rec->offset;
    mat_loop_batch_fail(loop, err);
}

/* Acts on a failed record; 0 when the loop goes on with the next one. */
static int rec_failed(mat_loop_t *loop, rec_ctx_t *c, rec_outcome_t out,
                      mw_err_t *err)
{
    mw_err_t dlq_err = {0};
    switch (out) {
    case REC_POISON:
        if (loop->on_error_stop) {
            mat_loop_part_stop(loop, c->part, c->rec->offset, err);
            return 0;
        }
        if (rec_dead_letter(loop, c, err->msg, &dlq_err) != 0) {
            mat_loop_retry_later(loop, c->part, c->rec->offset, &dlq_err);
            return -1;
        }
        mat_loop_offset_done(loop, c->part, c->rec, -1, false);
        return 0;
    case REC_STOP:
        mat_loop_part_stop(loop, c->part, c->rec->offset, err);
        return 0;
    case REC_RETRY:
        mat_loop_retry_later(loop, c->part, c->rec->offset, err);
        return -1;
    case REC_SINK:
        rec_sink_failed(loop, c->part, c->rec, err);
        return -1;
    case REC_OK:
        break;
    }
    return 0;
}

int mat_loop_record(mat_loop_t *loop, const bk_record_t *rec)
{
    mw_err_t err = {0};
    loop_part_t *part = mat_loop_part_find(loop, rec->topic, rec->partition);
    /* Not ours (any more), stopped, or fetched before a seek back. */
    if (!part || part->stopped || (part->next >= 0 && rec->offset < part->next))
        return 0;
    if (!loop->in_batch && mat_loop_batch_begin(loop, &err) != 0) {
        rec_sink_failed(loop, part, rec, &err);
        return -1;
    }
    rec_ctx_t c = {.rec = rec, .part = part};
    rec_outcome_t out = rec_run(loop, &c, &err);
    int rc = 0;
    if (out == REC_OK)
        mat_loop_offset_done(loop, part, rec, c.source_ts_ms, c.applied);
    else
        rc = rec_failed(loop, &c, out, &err);
    json_decref(c.value);
    json_decref(c.key);
    return rc;
}
