/*
 * mat_loop: the materializer's consume -> decode -> apply -> commit cycle.
 *
 * One consumer-group member (bk_consumer) attached to the program's
 * event_base.  Each record: Confluent framing -> writer schema by id
 * (sr_client, cached) -> plan (writer, reader.schema or writer) from the
 * serde cache -> Avro JSON -> mat_envelope -> mat_map row -> mat_sink_apply.
 * Records are applied in batches (batch.max.records, batch.max.ms), each
 * one sink transaction that also stores every touched partition's next
 * offset; the offsets the sink stores are where the partition resumes
 * on assignment (Kafka's committed offsets are only informative, for lag
 * tools).  A record that cannot be decoded or mapped goes to the
 * dead-letter topic (on.error=dlq), flushed before the batch commits, or
 * stops its partition (on.error=stop); an incompatible schema change
 * always stops its partition.
 *
 * Thread: the loop thread only (the event_base's); the sink's blocking
 * calls run there too, which is the materializer's own loop (docs/STYLE.md §8).
 */
#ifndef MAT_LOOP_H
#define MAT_LOOP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "mat_sink.h"
#include "mw_conf.h"
#include "mw_err.h"
#include "mw_metrics.h"

struct event_base;

typedef struct mat_loop mat_loop_t;

/* Called on the loop thread after an unrecoverable error (a fatal Kafka
 * error, a sink that fails to load offsets): the program shuts down with
 * exit 1.  err is borrowed for the call. */
typedef void(mat_loop_fatal_cb)(void *opaque, const mw_err_t *err);

/* Called on the loop thread at the end of every chores tick (once a
 * second, not while stopping): the program's own periodic work (the
 * catalog report, mat_report), which must return quickly. */
typedef void(mat_loop_chore_cb)(void *opaque);

/* What a loop is built on; everything borrowed, outliving the loop. */
typedef struct mat_loop_deps {
    struct event_base *base;
    const mw_conf_t *conf;
    mat_sink_t *sink;
    mw_metrics_t *metrics;
    mat_loop_fatal_cb *fatal_cb;
    void *fatal_opaque;          /* fatal_cb's first argument */
    mat_loop_chore_cb *chore_cb; /* or NULL */
    void *chore_opaque;          /* chore_cb's first argument */
} mat_loop_deps_t;

/* What this instance serves now, for the catalog's live facts. */
typedef struct mat_loop_facts {
    int64_t offset;       /* committed next offsets, summed over the
                           * partitions assigned here that have one */
    uint64_t applied;     /* changes committed to the sink since start */
    int64_t newest_ts_ms; /* newest committed source timestamp over the
                           * assigned partitions, -1 when none */
    size_t partitions;    /* partitions assigned here */
} mat_loop_facts_t;

/* Builds the loop from conf's keys (topics, group.id, mode, table.name,
 * reader.schema, nested, batch.*, dlq.topic, on.error, registry.url,
 * kafka.*).  NULL with err (MW_ERR_CONFIG naming the key for a bad
 * reader.schema or topics value). */
mat_loop_t *mat_loop_new(const mat_loop_deps_t *deps, mw_err_t *err);

/* Subscribes and starts consuming through the loop. */
int mat_loop_start(mat_loop_t *loop, mw_err_t *err);

/* Graceful stop, blocking up to timeout_ms: commits the batch in progress
 * (rows and offsets), leaves the group (the revoke commits nothing more)
 * and flushes the dead-letter producer.  0, or the first error. */
int mat_loop_stop(mat_loop_t *loop, int timeout_ms, mw_err_t *err);

/* For /healthz: false with a reason while a partition is stopped or the
 * loop is backing off after a sink failure. */
bool mat_loop_health(mat_loop_t *loop, char *reason, size_t reason_size);

/* Fills facts from the loop's bookkeeping (no I/O). */
void mat_loop_facts(const mat_loop_t *loop, mat_loop_facts_t *facts);

/* Destroys; call mat_loop_stop first for a clean stop (without it the
 * batch in progress is rolled back).  Accepts NULL. */
void mat_loop_destroy(mat_loop_t *loop);

#endif /* MAT_LOOP_H */
