/*
 * mat_loop: consumer, rebalances, batches and timers of the materializer.
 *
 * Exactly once rests on three invariants kept here:
 *   1. a batch's rows and the next offset of every partition it touched are
 *      committed in one sink transaction (mat_loop_batch_commit), after every
 *      dead letter of the batch is acknowledged by Kafka;
 *   2. a partition starts where the sink says (the assigned hook loads the
 *      sink's offset; Kafka's committed offsets are never read), and the
 *      revoked hook commits the batch in progress before the partitions
 *      go and has the sink release them (make them durable), so the next
 *      owner starts right after the last applied record;
 *   3. after a failed batch or a retriable error every affected partition
 *      is sought back to its first uncommitted record, and records fetched
 *      before the seek (offset below the partition's `next`) are dropped.
 * A partition stopped by on.error=stop or an incompatible schema keeps its
 * last committed offset; a restart (after fixing the cause) resumes there.
 *
 * Thread: the loop thread; librdkafka's callbacks are served by the loop
 * (bk_consumer_attach, bk_producer_attach).
 */
#include "mat_loop_int.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#include "mw_log.h"
#include "mw_time.h"
#include "mw_vec.h"

#define LOOP_POLL_BURST 2000 /* records per ready callback */
#define LOOP_BACKOFF_MS 1000
#define LOOP_CRON_MS 1000
#define LOOP_LAG_EVERY 5       /* cron ticks between watermark queries */
#define LOOP_LAG_BUDGET_MS 300 /* loop time the lag queries may take */
#define LOOP_SEEK_TIMEOUT_MS 5000
#define LOOP_DLQ_FLUSH_MS 30000
#define LOOP_REGISTRY_TIMEOUT_MS 10000

/* ---- partitions ----------------------------------------------------------*/

loop_part_t *mat_loop_part_find(mat_loop_t *loop, const char *topic,
                                int32_t partition)
{
    loop_part_t *p = loop->last_part;
    if (p && p->partition == partition && strcmp(p->topic, topic) == 0)
        return p;
    for (size_t i = 0; i < loop->part_cnt; i++) {
        p = loop->parts[i];
        if (p->partition == partition && strcmp(p->topic, topic) == 0)
            return loop->last_part = p;
    }
    return NULL;
}

static void loop_part_metrics(mat_loop_t *loop, loop_part_t *p)
{
    char labels[400];
    mw_metrics_t *m = loop->metrics;
    snprintf(labels, sizeof labels, "topic=\"%s\",partition=\"%" PRId32 "\"",
             p->topic, p->partition);
    p->applied =
        mw_metrics_counter(m, "mesh_materializer_records_applied_total",
                           "Changes applied to the sink (committed).", labels);
    p->batches = mw_metrics_counter(
        m, "mesh_materializer_batches_total",
        "Sink transactions committed that held this partition.", labels);
    p->dlq =
        mw_metrics_counter(m, "mesh_materializer_dlq_total",
                           "Records sent to the dead-letter topic.", labels);
    p->apply_s = mw_metrics_histogram(
        m, "mesh_materializer_apply_seconds",
        "Batch duration, first record to sink commit.", labels, NULL, 0);
    p->lag = mw_metrics_gauge(
        m, "mesh_materializer_lag",
        "Records between the partition's end and the next to apply.", labels);
    p->freshness = mw_metrics_gauge(
        m, "mesh_materializer_freshness_seconds",
        "Age of the newest applied event's source timestamp.", labels);
}

static loop_part_t *loop_part_add(mat_loop_t *loop, const char *topic,
                                  int32_t partition)
{
    loop_part_t *p = mat_loop_part_find(loop, topic, partition);
    if (p)
        return p;
    if (MW_VEC_RESERVE(&loop->parts, &loop->part_cap, loop->part_cnt + 1))
        return NULL;
    p = calloc(1, sizeof *p);
    if (!p || !(p->topic = strdup(topic)) ||
        !(p->t = mat_loop_topic_get(loop, topic))) {
        if (p)
            free(p->topic);
        free(p);
        return NULL;
    }
    p->partition = partition;
    p->next = p->batch_start = p->batch_next = -1;
    p->batch_ts_ms = p->fresh_ts_ms = p->committed = -1;
    loop_part_metrics(loop, p);
    loop->parts[loop->part_cnt++] = p;
    return p;
}

static void loop_part_remove(mat_loop_t *loop, const char *topic,
                             int32_t partition)
{
    loop_part_t *p = mat_loop_part_find(loop, topic, partition);
    if (!p)
        return;
    loop->last_part = NULL;
    for (size_t i = 0; i < loop->part_cnt; i++)
        if (loop->parts[i] == p)
            loop->parts[i] = loop->parts[--loop->part_cnt];
    free(p->topic);
    free(p);
}

static void loop_seek(mat_loop_t *loop, loop_part_t *p, int64_t offset)
{
    mw_err_t err = {0};
    p->next = offset;
    if (bk_consumer_seek(loop->cons, p->topic, p->partition, offset,
                         LOOP_SEEK_TIMEOUT_MS, &err) != 0)
        mw_log_warn(LOOP_COMPONENT, "seek failed",
                    "topic=%s partition=%" PRId32 " offset=%" PRId64
                    " error=%s",
                    p->topic, p->partition, offset, mw_log_q(err.msg));
}

/* ---- batches -------------------------------------------------------------*/

int mat_loop_batch_begin(mat_loop_t *loop, mw_err_t *err)
{
    const struct timeval tv = {loop->batch_max_ms / 1000,
                               (loop->batch_max_ms % 1000) * 1000};
    const struct timeval linger = {loop->batch_linger_ms / 1000,
                                   (loop->batch_linger_ms % 1000) * 1000};
    if (mat_sink_begin(loop->sink, err) != 0)
        return err->code;
    loop->in_batch = true;
    loop->linger_due = loop->batch_linger_ms == 0;
    loop->drained = false;
    if (!loop->linger_due)
        evtimer_add(loop->linger_ev, &linger);
    loop->batch_records = 0;
    loop->dlq_failed = 0;
    loop->batch_began_ns = mw_time_mono_ns();
    for (size_t i = 0; i < loop->tp_cnt; i++)
        loop->tps[i]->ensured_version = 0;
    evtimer_add(loop->batch_ev, &tv);
    return 0;
}

/* Forgets the batch's bookkeeping; seek_back re-reads its records. */
static void loop_batch_reset(mat_loop_t *loop, bool seek_back)
{
    for (size_t i = 0; i < loop->part_cnt; i++) {
        loop_part_t *p = loop->parts[i];
        if (seek_back && p->batch_start >= 0)
            loop_seek(loop, p, p->batch_start);
        p->batch_start = p->batch_next = -1;
        p->batch_applied = 0;
        p->batch_ts_ms = -1;
    }
    loop->in_batch = false;
    loop->batch_records = 0;
    evtimer_del(loop->batch_ev);
    evtimer_del(loop->linger_ev);
}

static void loop_batch_done(mat_loop_t *loop)
{
    double secs = (double)(mw_time_mono_ns() - loop->batch_began_ns) / 1e9;
    bk_partition_t kparts[64];
    size_t kcnt = 0;
    for (size_t i = 0; i < loop->part_cnt; i++) {
        loop_part_t *p = loop->parts[i];
        if (p->batch_next < 0)
            continue;
        mw_counter_add(p->applied, p->batch_applied);
        loop->applied_total += p->batch_applied;
        p->committed = p->batch_next;
        mw_counter_inc(p->batches);
        mw_histogram_observe(p->apply_s, secs);
        if (p->batch_ts_ms > p->fresh_ts_ms)
            p->fresh_ts_ms = p->batch_ts_ms;
        if (kcnt < sizeof kparts / sizeof kparts[0])
            kparts[kcnt++] =
                (bk_partition_t){p->topic, p->partition, p->batch_next};
    }
    /* Kafka's copy is for lag tools only: asynchronous, failures ignored. */
    if (kcnt)
        bk_consumer_commit(loop->cons, kparts, kcnt, false, NULL);
    mw_log_debug(LOOP_COMPONENT, "batch committed",
                 "records=%lld "
                 "seconds=%.3f",
                 loop->batch_records, secs);
    loop_batch_reset(loop, false);
}

int mat_loop_batch_commit(mat_loop_t *loop, mw_err_t *err)
{
    if (!loop->in_batch)
        return 0;
    /* 1. Dead letters durable before their offsets are. */
    if (loop->dlq_pending &&
        bk_producer_flush(loop->dlq, LOOP_DLQ_FLUSH_MS, err) != 0)
        return err->code;
    if (loop->dlq_failed)
        return mw_err_set(err, MW_ERR_TRANSPORT,
                          "%zu dead letters were not "
                          "delivered",
                          loop->dlq_failed);
    /* 2. Offsets in the rows' transaction, 3. commit. */
    for (size_t i = 0; i < loop->part_cnt; i++) {
        loop_part_t *p = loop->parts[i];
        if (p->batch_next >= 0 &&
            mat_sink_store_offset(loop->sink, p->topic, p->partition,
                                  p->batch_next, err) != 0)
            return err->code;
    }
    if (mat_sink_commit(loop->sink, err) != 0)
        return err->code;
    loop_batch_done(loop);
    return 0;
}

static void loop_backoff(mat_loop_t *loop, const char *what,
                         const mw_err_t *err)
{
    const struct timeval tv = {LOOP_BACKOFF_MS / 1000,
                               (LOOP_BACKOFF_MS % 1000) * 1000};
    snprintf(loop->health_reason, sizeof loop->health_reason, "%s: %s", what,
             err->msg);
    loop->backing_off = true;
    evtimer_add(loop->backoff_ev, &tv);
}

void mat_loop_batch_fail(mat_loop_t *loop, const mw_err_t *err)
{
    mw_log_error(LOOP_COMPONENT, "batch failed, retrying",
                 "records=%lld "
                 "error=%s",
                 loop->batch_records, mw_log_q(err->msg));
    mat_sink_rollback(loop->sink);
    loop_batch_reset(loop, true);
    loop->dlq_failed = 0;
    loop_backoff(loop, "sink batch failed", err);
}

void mat_loop_retry_later(mat_loop_t *loop, loop_part_t *part, int64_t offset,
                          const mw_err_t *err)
{
    mw_log_warn(LOOP_COMPONENT, "record postponed",
                "topic=%s partition=%" PRId32 " offset=%" PRId64 " error=%s",
                part->topic, part->partition, offset, mw_log_q(err->msg));
    loop_seek(loop, part, offset);
    loop_backoff(loop, "retrying", err);
}

void mat_loop_part_stop(mat_loop_t *loop, loop_part_t *part, int64_t offset,
                        const mw_err_t *err)
{
    part->stopped = true;
    mw_log_error(LOOP_COMPONENT, "partition stopped",
                 "topic=%s partition=%" PRId32 " offset=%" PRId64 " error=%s",
                 part->topic, part->partition, offset, mw_log_q(err->msg));
    snprintf(loop->health_reason, sizeof loop->health_reason,
             "partition %s/%" PRId32 " stopped at offset %" PRId64 ": %s",
             part->topic, part->partition, offset, err->msg);
}

void mat_loop_offset_done(mat_loop_t *loop, loop_part_t *part,
                          const bk_record_t *rec, int64_t source_ts_ms,
                          bool applied)
{
    if (part->batch_start < 0)
        part->batch_start = rec->offset;
    part->batch_next = part->next = rec->offset + 1;
    if (applied)
        part->batch_applied++;
    if (source_ts_ms > part->batch_ts_ms)
        part->batch_ts_ms = source_ts_ms;
    loop->batch_records++;
}

/* Commits, or on failure rolls back and re-reads after a pause. */
static void loop_commit_or_fail(mat_loop_t *loop)
{
    mw_err_t err = {0};
    if (mat_loop_batch_commit(loop, &err) != 0)
        mat_loop_batch_fail(loop, &err);
}

/* ---- callbacks -----------------------------------------------------------*/

static void loop_fatal(mat_loop_t *loop, const mw_err_t *err)
{
    if (loop->fatal)
        return;
    loop->fatal = true;
    snprintf(loop->health_reason, sizeof loop->health_reason, "fatal: %s",
             err->msg);
    if (loop->fatal_cb)
        loop->fatal_cb(loop->fatal_opaque, err);
}

/* The consumer has nothing more to hand over: a batch that has lingered
 * long enough commits now rather than at batch.max.ms, so at moderate
 * rates a row's delay is the linger, not the batch's upper bound; under a
 * backlog the queue never runs dry and batches still fill up to
 * batch.max.records. */
static void loop_on_drained(mat_loop_t *loop)
{
    if (!loop->in_batch)
        return;
    if (loop->linger_due)
        loop_commit_or_fail(loop);
    else
        loop->drained = true;
}

static void loop_on_ready(void *opaque)
{
    mat_loop_t *loop = opaque;
    mw_err_t err = {0};
    for (int n = 0; n < LOOP_POLL_BURST; n++) {
        bk_record_t *rec = NULL;
        if (loop->backing_off || loop->stopping || loop->fatal)
            return;
        if (bk_consumer_poll(loop->cons, 0, &rec, &err) != 0) {
            loop_fatal(loop, &err);
            return;
        }
        if (!rec) {
            loop_on_drained(loop);
            return;
        }
        loop->drained = false;
        int rc = mat_loop_record(loop, rec);
        bk_record_destroy(rec);
        if (rc != 0)
            return;
        if (loop->in_batch && loop->batch_records >= loop->batch_max_records)
            loop_commit_or_fail(loop);
    }
    bk_consumer_kick(loop->cons); /* let timers and signals run first */
}

static void loop_on_assigned(void *opaque, bk_partition_list_t *parts)
{
    mat_loop_t *loop = opaque;
    for (size_t i = 0; i < parts->cnt; i++) {
        bk_partition_t *e = &parts->elems[i];
        mw_err_t err = {0};
        int64_t next = -1;
        loop_part_t *p = loop_part_add(loop, e->topic, e->partition);
        if (!p || mat_sink_load_offset(loop->sink, e->topic, e->partition,
                                       &next, &err) != 0) {
            /* Starting anywhere else could apply a record twice. */
            if (!p)
                mw_err_set(&err, MW_ERR_NOMEM, "out of memory");
            mw_err_prefix(&err, "loading the offset of %s/%" PRId32, e->topic,
                          e->partition);
            loop_fatal(loop, &err);
            return;
        }
        p->next = p->committed = next;
        e->offset = next >= 0 ? next : BK_OFFSET_BEGINNING;
        mw_log_info(LOOP_COMPONENT, "partition assigned",
                    "topic=%s "
                    "partition=%" PRId32 " start_offset=%" PRId64,
                    e->topic, e->partition, next);
    }
}

static void loop_on_revoked(void *opaque, const bk_partition_list_t *parts)
{
    mat_loop_t *loop = opaque;
    mw_err_t err = {0};
    if (parts->lost && loop->in_batch) {
        /* Another member may own them already: their rows must not be
         * committed, and the batch is one transaction. */
        mat_sink_rollback(loop->sink);
        loop_batch_reset(loop, true);
    } else if (mat_loop_batch_commit(loop, &err) != 0) {
        mw_log_error(LOOP_COMPONENT, "commit on revoke failed", "error=%s",
                     mw_log_q(err.msg));
        mat_sink_rollback(loop->sink);
        loop_batch_reset(loop, true);
    }
    for (size_t i = 0; i < parts->cnt; i++) {
        const bk_partition_t *e = &parts->elems[i];
        mw_log_info(LOOP_COMPONENT, "partition revoked",
                    "topic=%s "
                    "partition=%" PRId32 " lost=%d",
                    e->topic, e->partition, parts->lost);
        loop_part_remove(loop, e->topic, e->partition);
        /* The next owner starts from what the sink made durable; a lost
         * partition may be written by it already, so nothing more of ours
         * may appear. */
        if (parts->lost || loop->fatal)
            continue;
        mw_err_clear(&err);
        if (mat_sink_release(loop->sink, e->topic, e->partition, &err) != 0) {
            mw_err_prefix(&err, "releasing %s/%" PRId32, e->topic,
                          e->partition);
            loop_fatal(loop, &err);
        }
    }
}

static void loop_on_dlq_delivered(void *opaque, void *msg_opaque,
                                  const bk_delivery_t *dr)
{
    mat_loop_t *loop = opaque;
    (void)msg_opaque;
    if (loop->dlq_pending)
        loop->dlq_pending--;
    if (dr->code != 0) {
        loop->dlq_failed++;
        mw_log_error(LOOP_COMPONENT, "dead letter not delivered",
                     "topic=%s "
                     "error=%s",
                     dr->topic, mw_log_q(dr->message));
    }
}

static void loop_on_batch_timer(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    loop_commit_or_fail(arg);
}

/* batch.linger.ms after the batch's begin: commits if the consumer ran dry
 * in the meantime, or else at the next moment it does. */
static void loop_on_linger(evutil_socket_t fd, short what, void *arg)
{
    mat_loop_t *loop = arg;
    (void)fd;
    (void)what;
    if (!loop->in_batch)
        return;
    loop->linger_due = true;
    if (loop->drained && !loop->backing_off && !loop->stopping && !loop->fatal)
        loop_commit_or_fail(loop);
}

/* Every batch.max.ms: the sink's timed work between batches (an idle
 * avro file rolls after avro.roll.ms even when no record follows it). */
static void loop_on_tick(evutil_socket_t fd, short what, void *arg)
{
    mat_loop_t *loop = arg;
    mw_err_t err = {0};
    (void)fd;
    (void)what;
    if (loop->in_batch || loop->backing_off || loop->stopping || loop->fatal)
        return;
    if (mat_sink_tick(loop->sink, &err) != 0)
        mw_log_error(LOOP_COMPONENT, "sink tick failed", "error=%s",
                     mw_log_q(err.msg));
}

static void loop_on_backoff(evutil_socket_t fd, short what, void *arg)
{
    mat_loop_t *loop = arg;
    (void)fd;
    (void)what;
    loop->backing_off = false;
    bk_consumer_kick(loop->cons);
}

/* Chores, every LOOP_CRON_MS: (1) freshness gauges; (2) every
 * LOOP_LAG_EVERY ticks, lag gauges from the partitions' high watermarks
 * (a short blocking query per partition, LOOP_LAG_BUDGET_MS in all);
 * (3) the program's chore callback (the catalog report when due, one
 * short HTTP call bounded by its own timeout, mat_report.h). */
static void loop_on_cron(evutil_socket_t fd, short what, void *arg)
{
    mat_loop_t *loop = arg;
    int64_t now = mw_time_wall_ms();
    (void)fd;
    (void)what;
    bool lag = ++loop->cron_ticks % LOOP_LAG_EVERY == 0 && !loop->stopping;
    /* The queries block the loop: bounded per tick, the rest waits. */
    int64_t budget_end = mw_time_mono_ms() + LOOP_LAG_BUDGET_MS;
    for (size_t i = 0; i < loop->part_cnt; i++) {
        loop_part_t *p = loop->parts[i];
        bk_watermarks_t wm;
        if (p->fresh_ts_ms > 0)
            mw_gauge_set(p->freshness, (double)(now - p->fresh_ts_ms) / 1e3);
        lag = lag && mw_time_mono_ms() < budget_end;
        if (lag && p->next >= 0 &&
            bk_consumer_watermarks(loop->cons, p->topic, p->partition, &wm, 200,
                                   NULL) == 0)
            mw_gauge_set(p->lag,
                         (double)(wm.high > p->next ? wm.high - p->next : 0));
    }
    if (loop->chore_cb && !loop->stopping && !loop->fatal)
        loop->chore_cb(loop->chore_opaque);
}

/* ---- life cycle ----------------------------------------------------------*/

/* topics: comma-separated names; a '^' prefix makes one a regex, which
 * librdkafka's subscribe understands as it is. */
static int loop_topics(mat_loop_t *loop, const char *text, mw_err_t *err)
{
    char *copy = strdup(text ? text : ""), *save = NULL;
    if (!copy)
        return mw_err_set(err, MW_ERR_NOMEM, "out of memory");
    for (char *tok = strtok_r(copy, ",", &save); tok;
         tok = strtok_r(NULL, ",", &save)) {
        while (*tok == ' ' || *tok == '\t')
            tok++;
        size_t len = strlen(tok);
        while (len && (tok[len - 1] == ' ' || tok[len - 1] == '\t'))
            tok[--len] = '\0';
        if (!len)
            continue;
        if (MW_VEC_RESERVE(&loop->topics, &loop->topic_cap,
                           loop->topic_cnt + 1) ||
            !(loop->topics[loop->topic_cnt] = strdup(tok))) {
            free(copy);
            return mw_err_set(err, MW_ERR_NOMEM, "out of memory");
        }
        loop->topic_cnt++;
    }
    free(copy);
    if (!loop->topic_cnt)
        return mw_err_set(err, MW_ERR_CONFIG,
                          "key 'topics': no topic given "
                          "(comma-separated names, or ^regex)");
    return 0;
}

static int loop_reader(mat_loop_t *loop, const char *path, mw_err_t *err)
{
    if (!path || !*path)
        return 0;
    FILE *f = fopen(path, "rb");
    char *text = NULL;
    size_t len = 0;
    if (f) {
        FILE *mem = open_memstream(&text, &len);
        char buf[8192];
        size_t n;
        while (mem && (n = fread(buf, 1, sizeof buf, f)) > 0)
            fwrite(buf, 1, n, mem);
        if (mem)
            fclose(mem);
        fclose(f);
    }
    if (!text) {
        free(text);
        return mw_err_set(err, MW_ERR_CONFIG,
                          "key 'reader.schema': cannot "
                          "read '%s'",
                          path);
    }
    loop->reader = av_schema_parse(text, len, NULL, 0, err);
    free(text);
    if (!loop->reader)
        return mw_err_set(err, MW_ERR_CONFIG, "key 'reader.schema': '%s': %s",
                          path, err->msg);
    return 0;
}

static int loop_settings(mat_loop_t *loop, const mw_conf_t *conf, mw_err_t *err)
{
    const char *s;
    loop->group_id = mw_conf_get_str(conf, "group.id");
    s = mw_conf_get_str(conf, "mode");
    loop->append = s && strcmp(s, "append") == 0;
    s = mw_conf_get_str(conf, "nested");
    loop->nested =
        s && strcmp(s, "json") == 0 ? MAT_NESTED_JSON : MAT_NESTED_FLATTEN;
    s = mw_conf_get_str(conf, "on.error");
    loop->on_error_stop = s && strcmp(s, "stop") == 0;
    s = mw_conf_get_str(conf, "table.name");
    loop->table_name = s && *s ? s : NULL;
    s = mw_conf_get_str(conf, "dlq.topic");
    loop->dlq_name = s && *s ? s : NULL;
    loop->batch_max_records = mw_conf_get_int(conf, "batch.max.records");
    loop->batch_max_ms = mw_conf_get_int(conf, "batch.max.ms");
    loop->batch_linger_ms = mw_conf_get_int(conf, "batch.linger.ms");
    if (loop->batch_linger_ms > loop->batch_max_ms)
        return mw_err_set(err, MW_ERR_CONFIG,
                          "key 'batch.linger.ms': %lld must not exceed "
                          "batch.max.ms (%lld)",
                          loop->batch_linger_ms, loop->batch_max_ms);
    if (loop_topics(loop, mw_conf_get_str(conf, "topics"), err) != 0 ||
        loop_reader(loop, mw_conf_get_str(conf, "reader.schema"), err) != 0)
        return err->code;
    loop->client = sr_client_from_conf(conf, LOOP_REGISTRY_TIMEOUT_MS, err);
    if (!loop->client)
        return err->code;
    loop->plans = av_serde_cache_new(0, err);
    return loop->plans ? 0 : err->code;
}

mat_loop_t *mat_loop_new(const mat_loop_deps_t *deps, mw_err_t *err)
{
    static const bk_rebalance_ops_t rebalance = {.assigned = loop_on_assigned,
                                                 .revoked = loop_on_revoked};
    struct event_base *base = deps->base;
    const mw_conf_t *conf = deps->conf;
    mw_metrics_t *metrics = deps->metrics;
    mat_loop_t *loop = calloc(1, sizeof *loop);
    if (!loop) {
        mw_err_set(err, MW_ERR_NOMEM, "out of memory");
        return NULL;
    }
    *loop = (mat_loop_t){.base = base,
                         .conf = conf,
                         .sink = deps->sink,
                         .metrics = metrics,
                         .fatal_cb = deps->fatal_cb,
                         .fatal_opaque = deps->fatal_opaque,
                         .chore_cb = deps->chore_cb,
                         .chore_opaque = deps->chore_opaque};
    if (loop_settings(loop, conf, err) != 0)
        goto fail;
    loop->cons =
        bk_consumer_new(conf, loop->group_id, &rebalance, loop, metrics, err);
    if (!loop->cons)
        goto fail;
    loop->dlq =
        bk_producer_new(conf, loop_on_dlq_delivered, loop, metrics, err);
    if (!loop->dlq || bk_producer_attach(loop->dlq, base, err) != 0)
        goto fail;
    loop->batch_ev = evtimer_new(base, loop_on_batch_timer, loop);
    loop->linger_ev = evtimer_new(base, loop_on_linger, loop);
    loop->backoff_ev = evtimer_new(base, loop_on_backoff, loop);
    loop->cron_ev = event_new(base, -1, EV_PERSIST, loop_on_cron, loop);
    loop->tick_ev = event_new(base, -1, EV_PERSIST, loop_on_tick, loop);
    if (!loop->batch_ev || !loop->linger_ev || !loop->backoff_ev ||
        !loop->cron_ev || !loop->tick_ev) {
        mw_err_set(err, MW_ERR_NOMEM, "cannot create the loop's timers");
        goto fail;
    }
    return loop;
fail:
    mat_loop_destroy(loop);
    return NULL;
}

int mat_loop_start(mat_loop_t *loop, mw_err_t *err)
{
    const struct timeval cron = {LOOP_CRON_MS / 1000,
                                 (LOOP_CRON_MS % 1000) * 1000};
    const struct timeval tick = {loop->batch_max_ms / 1000,
                                 (loop->batch_max_ms % 1000) * 1000};
    if (bk_consumer_subscribe(loop->cons, (const char *const *)loop->topics,
                              loop->topic_cnt, err) != 0 ||
        bk_consumer_attach(loop->cons, loop->base, loop_on_ready, loop, err) !=
            0)
        return err->code;
    event_add(loop->cron_ev, &cron);
    event_add(loop->tick_ev, &tick);
    mw_log_info(LOOP_COMPONENT, "consuming", "topics=%zu group=%s sink=%s",
                loop->topic_cnt, mw_log_q(loop->group_id ? loop->group_id : ""),
                mat_sink_name(loop->sink));
    return 0;
}

int mat_loop_stop(mat_loop_t *loop, int timeout_ms, mw_err_t *err)
{
    mw_err_t e = {0};
    int rc = 0;
    loop->stopping = true;
    evtimer_del(loop->backoff_ev);
    event_del(loop->tick_ev);
    if (!loop->fatal && mat_loop_batch_commit(loop, &e) != 0) {
        mw_log_error(LOOP_COMPONENT, "final commit failed", "error=%s",
                     mw_log_q(e.msg));
        rc = mw_err_set(err, e.code, "%s", e.msg);
    }
    if (loop->in_batch) {
        mat_sink_rollback(loop->sink);
        loop_batch_reset(loop, false);
    }
    mw_err_clear(&e);
    if (bk_consumer_close(loop->cons, &e) != 0)
        mw_log_warn(LOOP_COMPONENT, "leaving the group failed", "error=%s",
                    mw_log_q(e.msg));
    mw_err_clear(&e);
    if (bk_producer_flush(loop->dlq, timeout_ms, &e) != 0)
        mw_log_warn(LOOP_COMPONENT, "dead letters left unflushed", "error=%s",
                    mw_log_q(e.msg));
    return rc;
}

bool mat_loop_health(mat_loop_t *loop, char *reason, size_t reason_size)
{
    bool stopped = false;
    for (size_t i = 0; i < loop->part_cnt; i++)
        stopped = stopped || loop->parts[i]->stopped;
    if (!stopped && !loop->backing_off && !loop->fatal)
        return true;
    snprintf(reason, reason_size, "%s", loop->health_reason);
    return false;
}

void mat_loop_facts(const mat_loop_t *loop, mat_loop_facts_t *facts)
{
    *facts = (mat_loop_facts_t){.applied = loop->applied_total,
                                .newest_ts_ms = -1,
                                .partitions = loop->part_cnt};
    for (size_t i = 0; i < loop->part_cnt; i++) {
        const loop_part_t *p = loop->parts[i];
        if (p->committed > 0)
            facts->offset += p->committed;
        if (p->fresh_ts_ms > facts->newest_ts_ms)
            facts->newest_ts_ms = p->fresh_ts_ms;
    }
}

void mat_loop_destroy(mat_loop_t *loop)
{
    if (!loop)
        return;
    if (loop->in_batch)
        mat_sink_rollback(loop->sink);
    if (loop->batch_ev)
        event_free(loop->batch_ev);
    if (loop->linger_ev)
        event_free(loop->linger_ev);
    if (loop->backoff_ev)
        event_free(loop->backoff_ev);
    if (loop->cron_ev)
        event_free(loop->cron_ev);
    if (loop->tick_ev)
        event_free(loop->tick_ev);
    bk_consumer_destroy(loop->cons);
    bk_producer_destroy(loop->dlq);
    for (size_t i = 0; i < loop->part_cnt; i++) {
        free(loop->parts[i]->topic);
        free(loop->parts[i]);
    }
    free(loop->parts);
    for (size_t i = 0; i < loop->tp_cnt; i++)
        mat_loop_topic_free(loop->tps[i]);
    free(loop->tps);
    av_serde_cache_destroy(loop->plans);
    sr_client_destroy(loop->client);
    av_schema_release(loop->reader);
    for (size_t i = 0; i < loop->topic_cnt; i++)
        free(loop->topics[i]);
    free(loop->topics);
    free(loop);
}
