/*
 * bk_consumer: librdkafka high-level consumer behind Meshwork's own types.
 *
 * Data path: records are fetched by librdkafka's threads into the consumer
 * queue; bk_consumer_poll hands them to the caller one at a time as
 * bk_record_t (owned by the caller).  Offsets move only when the caller
 * says so: bk_consumer_store + bk_consumer_commit_stored, or explicit
 * commits, or start offsets chosen in the assigned callback.
 *
 * Invariants:
 *  - the main queue is forwarded to the consumer queue
 *    (rd_kafka_poll_set_consumer), so rebalances, errors and statistics are
 *    all served by rd_kafka_consumer_poll on the owning thread;
 *  - the caller's revoked hook runs while the partitions are still
 *    assigned, so a synchronous commit there succeeds and the next owner
 *    starts exactly after the last processed record (no duplicates);
 *  - the assignment call matches the group's protocol (incremental for
 *    COOPERATIVE, full for EAGER).
 */
#include "bk_consumer.h"

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bk_int.h"
#include "mw_log.h"
#include "mw_time.h"

/* The record handed out: public part first, then what keeps it alive.
 * Fixed size, so one block can be reused for the next record (see
 * bk_consumer.spare). */
typedef struct bk_record_priv {
    bk_record_t pub;
    rd_kafka_message_t *rkm;
    bk_consumer_t *cons; /* whose spare slot takes the block back */
} bk_record_priv_t;

struct bk_consumer {
    bk_client_t cli; /* first: librdkafka's opaque points here */
    bk_rebalance_ops_t ops;
    void *opaque;
    bk_wake_t *wake;
    bk_consumer_ready_cb *ready_cb;
    void *ready_opaque;
    uint64_t poll_errors; /* transient errors, for rate limiting */
    /* auto.offset.reset resolves to the log start (earliest), so a start
     * at BK_OFFSET_BEGINNING may be given to librdkafka as offset 0 (see
     * bk_start_offset). */
    bool reset_earliest;
    /* One freed record block kept for the next poll.  The usual caller
     * destroys each record before polling the next, so the block is reused
     * forever instead of a malloc/free pair per record, which glibc serves
     * slowly here: librdkafka's broker threads allocate the messages the
     * polling thread frees, so that thread's cache for this size stays
     * full and every free took the arena path (~100 instructions, a third
     * of the adapter's remaining per-record cost).  Atomic because a record
     * may be destroyed on another thread.  Records are destroyed before the
     * consumer: librdkafka already requires every message destroyed before
     * rd_kafka_destroy (INTRODUCTION.md, "Termination"). */
    _Atomic(bk_record_priv_t *) spare;
};

/* ------------------------------------------------------------ rebalance */

/* Copies librdkafka's list into ours; NULL on ENOMEM. */
static bk_partition_t *bk_parts_from(const rd_kafka_topic_partition_list_t *l)
{
    bk_partition_t *elems = calloc((size_t)l->cnt + 1, sizeof(*elems));

    for (int i = 0; elems && i < l->cnt; i++) {
        elems[i].topic = l->elems[i].topic;
        elems[i].partition = l->elems[i].partition;
        elems[i].offset = BK_OFFSET_STORED;
    }
    return elems;
}

/* The offset librdkafka is given for a partition the caller starts at `off`.
 * librdkafka 2.0.2 turns a logical start (beginning) into a ListOffsets
 * request, and when the partition's leader is not known yet at that instant
 * it retries from a fixed 500 ms timer instead of when the leader becomes
 * known.  Right after a group assignment that is the usual case: the
 * assignment creates the partitions' state and hands each to its broker
 * thread asynchronously, so some of them (measured: 5 of 8, 40 of 64 on
 * mesh-broker) start fetching 500 ms late while the others are read.  An
 * absolute offset needs no query: the fetch starts as soon as the broker
 * thread has the partition.  Offset 0 is the log start unless retention or
 * compaction removed the head; then the broker answers OFFSET_OUT_OF_RANGE
 * and auto.offset.reset moves the fetch to the log start, which is what
 * `beginning` means, so this is done only when auto.offset.reset is
 * earliest (our default). */
static int64_t bk_start_offset(const bk_consumer_t *cons, int64_t off)
{
    return off == BK_OFFSET_BEGINNING && cons->reset_earliest ? 0 : off;
}

static void bk_consumer_assign(bk_consumer_t *cons,
                               rd_kafka_topic_partition_list_t *l)
{
    rd_kafka_t *rk = cons->cli.rk;
    bk_partition_list_t parts = {.elems = bk_parts_from(l),
                                 .cnt = (size_t)l->cnt};
    rd_kafka_error_t *error = NULL;
    rd_kafka_resp_err_t rerr = RD_KAFKA_RESP_ERR_NO_ERROR;
    mw_err_t err;

    if (parts.elems && cons->ops.assigned) {
        cons->ops.assigned(cons->opaque, &parts);
        for (int i = 0; i < l->cnt; i++)
            if (parts.elems[i].offset != BK_OFFSET_STORED)
                l->elems[i].offset =
                    bk_start_offset(cons, parts.elems[i].offset);
    }
    free(parts.elems);
    if (!strcmp(rd_kafka_rebalance_protocol(rk), "COOPERATIVE"))
        error = rd_kafka_incremental_assign(rk, l);
    else
        rerr = rd_kafka_assign(rk, l);
    if (error)
        bk_err_set_obj(&err, error, "incremental assign");
    else if (rerr)
        bk_err_set(&err, rerr, "assign");
    if (error || rerr)
        mw_log_error(BK_COMPONENT, "assignment failed", "reason=%s",
                     mw_log_q(err.msg));
    mw_log_info(BK_COMPONENT, "partitions assigned", "count=%d protocol=%s",
                l->cnt, rd_kafka_rebalance_protocol(rk));
}

static void bk_consumer_revoke(bk_consumer_t *cons,
                               rd_kafka_topic_partition_list_t *l)
{
    rd_kafka_t *rk = cons->cli.rk;
    bk_partition_list_t parts = {.elems = bk_parts_from(l),
                                 .cnt = (size_t)l->cnt,
                                 .lost = rd_kafka_assignment_lost(rk) != 0};
    rd_kafka_error_t *error;

    if (parts.elems && cons->ops.revoked)
        cons->ops.revoked(cons->opaque, &parts);
    free(parts.elems);
    if (!strcmp(rd_kafka_rebalance_protocol(rk), "COOPERATIVE")) {
        error = rd_kafka_incremental_unassign(rk, l);
        if (error)
            rd_kafka_error_destroy(error);
    } else {
        rd_kafka_assign(rk, NULL);
    }
    mw_log_info(BK_COMPONENT, "partitions revoked", "count=%d lost=%s", l->cnt,
                parts.lost ? "true" : "false");
}

/* Polling thread (inside rd_kafka_consumer_poll). */
static void bk_rebalance_cb(rd_kafka_t *rk, rd_kafka_resp_err_t rerr,
                            rd_kafka_topic_partition_list_t *l, void *opaque)
{
    bk_consumer_t *cons = opaque;

    if (rerr == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS) {
        bk_consumer_assign(cons, l);
    } else if (rerr == RD_KAFKA_RESP_ERR__REVOKE_PARTITIONS) {
        bk_consumer_revoke(cons, l);
    } else {
        mw_log_error(BK_COMPONENT, "rebalance failed", "err=%s",
                     rd_kafka_err2name(rerr));
        rd_kafka_assign(rk, NULL);
    }
}

/* ------------------------------------------------------------ lifecycle */

/* Whether rconf's auto.offset.reset means the log start (librdkafka reads
 * its three names back as the first one, "smallest"). */
static bool bk_reset_is_earliest(const rd_kafka_conf_t *rconf)
{
    char val[32];
    size_t len = sizeof(val);

    if (rd_kafka_conf_get(rconf, "auto.offset.reset", val, &len) !=
        RD_KAFKA_CONF_OK)
        return false;
    return !strcmp(val, "smallest") || !strcmp(val, "earliest") ||
           !strcmp(val, "beginning");
}

bk_consumer_t *bk_consumer_new(const mw_conf_t *conf, const char *group_id,
                               const bk_rebalance_ops_t *ops, void *opaque,
                               mw_metrics_t *metrics, mw_err_t *err)
{
    const char *extra[] = {"group.id", group_id, NULL};

    return bk_consumer_new_props(conf, group_id ? extra : NULL, ops, opaque,
                                 metrics, err);
}

bk_consumer_t *bk_consumer_new_props(const mw_conf_t *conf,
                                     const char *const *props,
                                     const bk_rebalance_ops_t *ops,
                                     void *opaque, mw_metrics_t *metrics,
                                     mw_err_t *err)
{
    bk_consumer_t *cons = calloc(1, sizeof(*cons));
    rd_kafka_conf_t *rconf;
    char gid[256];
    size_t gid_len = sizeof(gid);

    if (!cons) {
        mw_err_set(err, MW_ERR_NOMEM, "out of memory for kafka consumer");
        return NULL;
    }
    if (ops)
        cons->ops = *ops;
    cons->opaque = opaque;
    if (metrics && !(cons->cli.stats = bk_stats_new(metrics, "consumer", err)))
        goto fail;
    rconf = bk_conf_build(conf, BK_ROLE_CONSUMER, props, &cons->cli, err);
    if (!rconf)
        goto fail;
    if (rd_kafka_conf_get(rconf, "group.id", gid, &gid_len) !=
            RD_KAFKA_CONF_OK ||
        !gid[0]) {
        rd_kafka_conf_destroy(rconf);
        mw_err_set(err, MW_ERR_CONFIG,
                   "key 'kafka.group.id': a consumer group id is required");
        goto fail;
    }
    cons->reset_earliest = bk_reset_is_earliest(rconf);
    rd_kafka_conf_set_rebalance_cb(rconf, bk_rebalance_cb);
    if (!bk_client_open(&cons->cli, rconf, err))
        goto fail;
    rd_kafka_poll_set_consumer(cons->cli.rk);
    mw_log_info(BK_COMPONENT, "consumer started", "client=%s group=%s",
                rd_kafka_name(cons->cli.rk), mw_log_q(gid));
    return cons;
fail:
    bk_stats_destroy(cons->cli.stats);
    free(cons);
    return NULL;
}

void bk_consumer_destroy(bk_consumer_t *cons)
{
    if (!cons)
        return;
    bk_wake_destroy(cons->wake);
    if (cons->cli.rk)
        rd_kafka_destroy(cons->cli.rk);
    bk_stats_destroy(cons->cli.stats);
    free(atomic_load(&cons->spare));
    free(cons);
}

int bk_consumer_subscribe(bk_consumer_t *cons, const char *const *topics,
                          size_t topic_cnt, mw_err_t *err)
{
    rd_kafka_topic_partition_list_t *l =
        rd_kafka_topic_partition_list_new((int)topic_cnt);
    rd_kafka_resp_err_t rerr;

    for (size_t i = 0; i < topic_cnt; i++)
        rd_kafka_topic_partition_list_add(l, topics[i], RD_KAFKA_PARTITION_UA);
    rerr = rd_kafka_subscribe(cons->cli.rk, l);
    rd_kafka_topic_partition_list_destroy(l);
    return rerr ? bk_err_set(err, rerr, "subscribe") : 0;
}

int bk_consumer_close(bk_consumer_t *cons, mw_err_t *err)
{
    rd_kafka_resp_err_t rerr = rd_kafka_consumer_close(cons->cli.rk);

    if (rerr && rerr != RD_KAFKA_RESP_ERR__FATAL)
        return bk_err_set(err, rerr, "consumer close");
    mw_log_info(BK_COMPONENT, "consumer closed", "client=%s",
                rd_kafka_name(cons->cli.rk));
    return bk_client_check_fatal(&cons->cli, err);
}

/* ------------------------------------------------------------ records */

/* Wraps rkm (consumed) into a caller-owned record; NULL on ENOMEM, in
 * which case rkm is destroyed.  Per-record cost matters here (millions a
 * second): only plain loads and the timestamp read (a field load behind a
 * call).  Headers are NOT touched: rd_kafka_message_headers parses a v2
 * record's header section even when it holds zero headers (a shadow buffer
 * allocated and freed per record), which doubled the poll's cost. */
static bk_record_t *bk_record_wrap(bk_consumer_t *cons, rd_kafka_message_t *rkm)
{
    bk_record_priv_t *priv = atomic_exchange(&cons->spare, NULL);

    if (!priv)
        priv = malloc(sizeof(*priv));

    if (!priv) {
        rd_kafka_message_destroy(rkm);
        return NULL;
    }
    priv->rkm = rkm;
    priv->cons = cons;
    priv->pub = (bk_record_t){
        .topic = rd_kafka_topic_name(rkm->rkt),
        .partition = rkm->partition,
        .offset = rkm->offset,
        .key = rkm->key,
        .key_len = rkm->key_len,
        .value = rkm->payload,
        .value_len = rkm->len,
        .timestamp_ms = rd_kafka_message_timestamp(rkm, NULL),
    };
    return &priv->pub;
}

static rd_kafka_message_t *bk_record_rkm(const bk_record_t *rec)
{
    return ((const bk_record_priv_t *)rec)->rkm;
}

void bk_record_destroy(bk_record_t *rec)
{
    bk_record_priv_t *priv = (bk_record_priv_t *)rec;

    if (!priv)
        return;
    rd_kafka_message_destroy(priv->rkm);
    /* Keep this block as the spare; free the one it replaces, if any. */
    free(atomic_exchange(&priv->cons->spare, priv));
}

/* librdkafka's parsed header list, or NULL when the record has none. */
static rd_kafka_headers_t *bk_record_hdrs(const bk_record_t *rec)
{
    rd_kafka_headers_t *hdrs = NULL;

    if (rd_kafka_message_headers(bk_record_rkm(rec), &hdrs))
        return NULL;
    return hdrs;
}

size_t bk_record_header_cnt(const bk_record_t *rec)
{
    rd_kafka_headers_t *hdrs = bk_record_hdrs(rec);

    return hdrs ? rd_kafka_header_cnt(hdrs) : 0;
}

int bk_record_header_at(const bk_record_t *rec, size_t idx, bk_header_t *hdr)
{
    rd_kafka_headers_t *hdrs = bk_record_hdrs(rec);

    if (!hdrs || rd_kafka_header_get_all(hdrs, idx, &hdr->name, &hdr->value,
                                         &hdr->value_len))
        return MW_ERR_NOT_FOUND;
    return 0;
}

int bk_record_header(const bk_record_t *rec, const char *name,
                     const void **value, size_t *value_len)
{
    rd_kafka_headers_t *hdrs = bk_record_hdrs(rec);

    if (!hdrs || rd_kafka_header_get_last(hdrs, name, value, value_len))
        return MW_ERR_NOT_FOUND;
    return 0;
}

/* A consumer error message: fatal ends polling, end-of-partition is
 * ignored, the rest is transient (librdkafka retries) and only logged. */
static int bk_consumer_poll_error(bk_consumer_t *cons,
                                  const rd_kafka_message_t *rkm, mw_err_t *err)
{
    if (rkm->err == RD_KAFKA_RESP_ERR__PARTITION_EOF)
        return 0;
    if (rkm->err == RD_KAFKA_RESP_ERR__FATAL || cons->cli.fatal_code)
        return cons->cli.fatal_code ? bk_client_check_fatal(&cons->cli, err)
                                    : bk_err_set(err, rkm->err, "consume");
    cons->poll_errors++;
    mw_log(cons->poll_errors % 100 == 1 ? MW_LOG_WARN : MW_LOG_DEBUG,
           BK_COMPONENT, "consume error",
           "topic=%s partition=%d err=%s "
           "reason=%s count=%llu",
           rkm->rkt ? rd_kafka_topic_name(rkm->rkt) : "-", (int)rkm->partition,
           rd_kafka_err2name(rkm->err), mw_log_q(rd_kafka_message_errstr(rkm)),
           (unsigned long long)cons->poll_errors);
    return 0;
}

int bk_consumer_poll(bk_consumer_t *cons, int timeout_ms, bk_record_t **rec,
                     mw_err_t *err)
{
    /* Timeout 0 (the loop's way) needs no clock at all.  The coarse clock
     * only bounds a poll's timeout, where a few ms do not matter; the
     * precise one cost ~100 ns per record on this VM, about a quarter of
     * librdkafka's own poll. */
    int64_t deadline = timeout_ms > 0 ? mw_time_coarse_ms() + timeout_ms : 0;
    int left = timeout_ms;

    *rec = NULL;
    for (;;) {
        rd_kafka_message_t *rkm = rd_kafka_consumer_poll(cons->cli.rk, left);
        int rc;

        if (!rkm)
            return bk_client_check_fatal(&cons->cli, err);
        if (!rkm->err) {
            *rec = bk_record_wrap(cons, rkm);
            return *rec ? 0
                        : mw_err_set(err, MW_ERR_NOMEM,
                                     "out of memory for a kafka record");
        }
        rc = bk_consumer_poll_error(cons, rkm, err);
        rd_kafka_message_destroy(rkm);
        if (rc)
            return rc;
        /* Keep the caller's deadline: an error is not a record. */
        left = timeout_ms <= 0 ? 0 : (int)(deadline - mw_time_coarse_ms());
        if (left < 0)
            left = 0;
    }
}

/* ------------------------------------------------------------ offsets */

/* rd_kafka_offset_store (topic handle + partition, stores offset + 1)
 * rather than rd_kafka_offsets_store: no partition list allocated and
 * freed per record, and the same __STATE check for unassigned partitions. */
int bk_consumer_store(bk_consumer_t *cons, const bk_record_t *rec,
                      mw_err_t *err)
{
    rd_kafka_resp_err_t rerr = rd_kafka_offset_store(
        bk_record_rkm(rec)->rkt, rec->partition, rec->offset);
    char what[300];

    (void)cons; /* the record's topic handle belongs to cons already */
    if (!rerr)
        return 0;
    snprintf(what, sizeof(what), "store offset %s [%d] @ %lld", rec->topic,
             (int)rec->partition, (long long)rec->offset + 1);
    return bk_err_set(err, rerr, what);
}

static int bk_commit_result(rd_kafka_resp_err_t rerr, mw_err_t *err)
{
    /* Nothing stored since the last commit: nothing to do. */
    if (rerr == RD_KAFKA_RESP_ERR_NO_ERROR ||
        rerr == RD_KAFKA_RESP_ERR__NO_OFFSET)
        return 0;
    return bk_err_set(err, rerr, "offset commit");
}

int bk_consumer_commit_stored(bk_consumer_t *cons, bool sync, mw_err_t *err)
{
    return bk_commit_result(rd_kafka_commit(cons->cli.rk, NULL, !sync), err);
}

int bk_consumer_commit(bk_consumer_t *cons, const bk_partition_t *parts,
                       size_t cnt, bool sync, mw_err_t *err)
{
    rd_kafka_topic_partition_list_t *l =
        rd_kafka_topic_partition_list_new((int)cnt);
    rd_kafka_resp_err_t rerr;

    for (size_t i = 0; i < cnt; i++)
        rd_kafka_topic_partition_list_add(l, parts[i].topic, parts[i].partition)
            ->offset = parts[i].offset;
    rerr = rd_kafka_commit(cons->cli.rk, l, !sync);
    rd_kafka_topic_partition_list_destroy(l);
    return bk_commit_result(rerr, err);
}

int bk_consumer_seek(bk_consumer_t *cons, const char *topic, int32_t partition,
                     int64_t offset, int timeout_ms, mw_err_t *err)
{
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(1);
    rd_kafka_error_t *error;
    rd_kafka_resp_err_t rerr;
    char what[300];

    rd_kafka_topic_partition_list_add(l, topic, partition)->offset = offset;
    error = rd_kafka_seek_partitions(cons->cli.rk, l, timeout_ms);
    rerr = l->elems[0].err;
    rd_kafka_topic_partition_list_destroy(l);
    snprintf(what, sizeof(what), "seek %s [%d] to %lld", topic, (int)partition,
             (long long)offset);
    if (error)
        return bk_err_set_obj(err, error, what);
    return rerr ? bk_err_set(err, rerr, what) : 0;
}

/* ------------------------------------------------------------ manual */

int bk_consumer_assign_partition(bk_consumer_t *cons, const char *topic,
                                 int32_t partition, int64_t offset,
                                 mw_err_t *err)
{
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(1);
    rd_kafka_resp_err_t rerr;
    char what[300];

    rd_kafka_topic_partition_list_add(l, topic, partition)->offset = offset;
    rerr = rd_kafka_assign(cons->cli.rk, l);
    rd_kafka_topic_partition_list_destroy(l);
    if (!rerr) {
        mw_log_info(BK_COMPONENT, "partition assigned manually",
                    "topic=%s partition=%d offset=%lld", mw_log_q(topic),
                    (int)partition, (long long)offset);
        return 0;
    }
    snprintf(what, sizeof(what), "assign %s [%d]", topic, (int)partition);
    return bk_err_set(err, rerr, what);
}

int bk_consumer_watermarks(bk_consumer_t *cons, const char *topic,
                           int32_t partition, bk_watermarks_t *wm,
                           int timeout_ms, mw_err_t *err)
{
    rd_kafka_resp_err_t rerr = rd_kafka_query_watermark_offsets(
        cons->cli.rk, topic, partition, &wm->low, &wm->high, timeout_ms);
    char what[300];

    if (!rerr)
        return 0;
    snprintf(what, sizeof(what), "watermarks of %s [%d]", topic,
             (int)partition);
    return bk_err_set(err, rerr, what);
}

/* ------------------------------------------------------------ loop */

static void bk_consumer_on_wake(void *opaque)
{
    bk_consumer_t *cons = opaque;

    cons->ready_cb(cons->ready_opaque);
}

int bk_consumer_attach(bk_consumer_t *cons, struct event_base *base,
                       bk_consumer_ready_cb *cb, void *opaque, mw_err_t *err)
{
    if (cons->wake)
        return mw_err_set(err, MW_ERR_STATE,
                          "kafka consumer already attached to a loop");
    cons->ready_cb = cb;
    cons->ready_opaque = opaque;
    cons->wake = bk_wake_new(base, rd_kafka_queue_get_consumer(cons->cli.rk),
                             bk_consumer_on_wake, cons, err);
    return cons->wake ? 0 : (err ? err->code : MW_ERR_NOMEM);
}

void bk_consumer_kick(bk_consumer_t *cons)
{
    bk_wake_kick(cons->wake);
}
