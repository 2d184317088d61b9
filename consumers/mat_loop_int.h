/*
 * mat_loop internals shared by mat_loop.c (consumer, rebalance, batches,
 * timers) and mat_loop_rec.c (one record's path and the dead-letter
 * topic).  Thread: the loop thread.
 */
#ifndef MAT_LOOP_INT_H
#define MAT_LOOP_INT_H

#include <stdbool.h>
#include <stdint.h>
#include <time.h>

#include "bk_consumer.h"
#include "bk_producer.h"
#include "mat_envelope.h"
#include "mat_fast.h"
#include "mat_loop.h"
#include "mat_map.h"
#include "sr_client.h"
#include "av_serde.h"

#define LOOP_COMPONENT "materializer"
#define LOOP_MAX_WRITERS 64 /* (value, key) writer pairs merged per topic */
#define LOOP_FAST_SLOTS 4   /* direct paths kept per topic */

typedef struct loop_writers {
    const av_schema_t *value, *key;
} loop_writers_t;

/* The last schema id seen in one position (value or key) of a topic, its
 * writer (kept) and plan: most records skip the client's and the plan
 * cache's locks. */
typedef struct loop_hot {
    uint32_t id;
    av_schema_t *writer;
    const av_serde_plan_t *plan;
} loop_hot_t;

/* One compiled direct path (mat_fast) of a topic: for records of value
 * plan vplan and key plan kplan (NULL: no framed key) into the table at
 * version; fast NULL when the pair needs the JSON path. */
typedef struct loop_fast {
    const av_serde_plan_t *vplan, *kplan;
    uint32_t version;
    mat_fast_t *fast;
} loop_fast_t;

/* Per topic: the table it feeds and the schemas already merged into it. */
typedef struct loop_topic {
    char *name;
    char *table_name;
    char *dlq_topic;
    mat_map_t *map;           /* NULL until the first record */
    uint32_t ensured_version; /* table version ensured in this batch, 0 */
    loop_writers_t seen[LOOP_MAX_WRITERS];
    size_t seen_cnt;
    loop_hot_t value_hot, key_hot;
    /* The value writer the envelope shape was taken from (kept). */
    av_schema_t *last_writer;
    mat_envelope_shape_t shape;
    mat_value_t *values; /* col_cnt of the map, reused per record */
    size_t values_cap;
    loop_fast_t fast[LOOP_FAST_SLOTS]; /* vplan NULL: free slot */
    unsigned fast_next;                /* the slot replaced next */
} loop_topic_t;

typedef struct loop_part {
    char *topic;
    int32_t partition;
    loop_topic_t *t;
    int64_t next;        /* next offset to process; -1 unknown */
    int64_t batch_start; /* first offset in the open batch, -1 none */
    int64_t batch_next;  /* offset to store at commit, -1 none */
    uint64_t batch_applied;
    int64_t batch_ts_ms; /* newest source timestamp in the batch */
    int64_t fresh_ts_ms; /* newest committed source timestamp, -1 */
    int64_t committed;   /* next offset the sink stored, -1 unknown */
    bool stopped;        /* on.error=stop or incompatible schema */
    mw_counter_t *applied, *batches, *dlq;
    mw_histogram_t *apply_s;
    mw_gauge_t *lag, *freshness;
} loop_part_t;

struct mat_loop {
    struct event_base *base;
    const mw_conf_t *conf;
    mat_sink_t *sink;
    mw_metrics_t *metrics;
    mat_loop_fatal_cb *fatal_cb;
    void *fatal_opaque;
    mat_loop_chore_cb *chore_cb;
    void *chore_opaque;
    bk_consumer_t *cons;
    bk_producer_t *dlq;
    sr_client_t *client;
    av_serde_cache_t *plans;
    av_schema_t *reader; /* reader.schema, kept, or NULL */
    /* settings */
    char **topics;
    size_t topic_cnt, topic_cap;
    const char *group_id;
    const char *table_name; /* table.name or NULL (derived) */
    const char *dlq_name;   /* dlq.topic or NULL (<topic>.dlq) */
    bool append, on_error_stop;
    mat_nested_t nested;
    long long batch_max_records, batch_max_ms, batch_linger_ms;
    /* state */
    loop_topic_t **tps;
    size_t tp_cnt, tp_cap;
    loop_part_t **parts;
    size_t part_cnt, part_cap;
    loop_part_t *last_part;
    bool in_batch;
    /* batch.linger.ms: linger_due once the batch is that old; drained
     * while the consumer has had nothing more to hand over since the last
     * record.  Both together commit the batch. */
    bool linger_due, drained;
    long long batch_records;
    int64_t batch_began_ns; /* mw_time_mono_ns at the batch's begin */
    size_t dlq_pending;     /* sent in this batch, not yet delivered */
    size_t dlq_failed;      /* delivery failures in this batch */
    bool backing_off, stopping, fatal;
    char health_reason[1024];
    struct event *batch_ev;   /* batch.max.ms timer */
    struct event *linger_ev;  /* batch.linger.ms timer */
    struct event *backoff_ev; /* resumes polling after a failure */
    struct event *cron_ev;    /* lag and freshness gauges */
    struct event *tick_ev;    /* sink tick, every batch.max.ms */
    unsigned cron_ticks;
    uint64_t applied_total; /* changes committed since start */
};

/* mat_loop_rec.c */
/* Processes one record (borrowed).  0, or a negative code after which the
 * caller stops polling for this round (backoff or fatal already set). */
int mat_loop_record(mat_loop_t *loop, const bk_record_t *rec);
void mat_loop_topic_free(loop_topic_t *t);
/* The topic's state, created on first use; NULL on ENOMEM. */
loop_topic_t *mat_loop_topic_get(mat_loop_t *loop, const char *name);

/* mat_loop.c */
loop_part_t *mat_loop_part_find(mat_loop_t *loop, const char *topic,
                                int32_t partition);
int mat_loop_batch_begin(mat_loop_t *loop, mw_err_t *err);
int mat_loop_batch_commit(mat_loop_t *loop, mw_err_t *err);
/* Abandons the batch after a sink failure and re-reads every partition in
 * it from its batch start, after a pause. */
void mat_loop_batch_fail(mat_loop_t *loop, const mw_err_t *err);
/* Re-reads part from offset after a pause (registry unreachable). */
void mat_loop_retry_later(mat_loop_t *loop, loop_part_t *part, int64_t offset,
                          const mw_err_t *err);
/* Stops part for good (this run): on.error=stop or an incompatible schema. */
void mat_loop_part_stop(mat_loop_t *loop, loop_part_t *part, int64_t offset,
                        const mw_err_t *err);
/* The record's offset is done (applied, skipped or dead-lettered). */
void mat_loop_offset_done(mat_loop_t *loop, loop_part_t *part,
                          const bk_record_t *rec, int64_t source_ts_ms,
                          bool applied);

#endif /* MAT_LOOP_INT_H */
