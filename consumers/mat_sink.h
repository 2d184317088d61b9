/*
 * mat_sink: the front of mesh-materializer's output ports (docs/STYLE.md §3:
 * one ops table, one file per backend — mat_sqlite*.c, mat_pg*.c, mat_avro*.c —
 * named only in mat_sink.c's registration table; each backend declares its
 * own configuration keys and checks in its ops table).
 *
 * The loop (mat_loop) hands a sink typed changes in batches, each batch one
 * transaction that also stores the consumed offsets, so a crash at any
 * instant leaves each event applied exactly once:
 *
 *   load_offset  (on partition assignment) where to resume; the loop seeks
 *   begin        start a batch
 *   ensure_table create the table or add new nullable columns (schema
 *                evolution), inside the batch's transaction
 *   apply        one change: upsert or delete by key, or append
 *   store_offset the next offset to consume per partition, in the batch
 *   commit       make rows and offsets durable together
 *   rollback     abandon the batch (error, revoke without commit)
 *   release      (optional) a partition is revoked, its last batch
 *                committed: finish what the sink keeps open for it
 *   tick         (optional) between batches, every batch.max.ms: timed
 *                housekeeping of committed state (idle avro files roll)
 *
 * Thread: the materializer's loop thread; a sink may block in commit
 * (fsync, a PostgreSQL round trip): the loop runs nothing else meanwhile,
 * which is the sink's own loop (docs/STYLE.md §8).
 */
#ifndef MAT_SINK_H
#define MAT_SINK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "mat_map.h"
#include "mw_conf.h"
#include "mw_err.h"
#include "mw_metrics.h"

typedef struct mat_sink mat_sink_t;

typedef struct mat_sink_ops {
    /* The backend as the configuration sees it: conf.name is the `sink`
     * key's value; conf.keys its own keys (sqlite.path, postgres.conninfo,
     * avro.dir, ...) with their defaults and docs; conf.check the cross-key
     * checks run at configuration time when it is the chosen sink. */
    mw_conf_backend_t conf;
    /* Opens the backend from its keys, already checked by conf.check.
     * Creates the offsets store (_mesh_offsets) if missing. */
    void *(*open)(const mw_conf_t *conf, mw_metrics_t *metrics, mw_err_t *err);
    /* Next offset to consume for (topic, partition) as stored by the last
     * committed batch, or -1 when the sink has none. */
    int (*load_offset)(void *state, const char *topic, int32_t partition,
                       int64_t *next_offset, mw_err_t *err);
    int (*begin)(void *state, mw_err_t *err);
    /* table: the target's full current shape (name, columns, key columns).
     * Called once per batch per table before its first apply, and again
     * when the shape changes; adds missing columns (nullable), never drops
     * or retypes one (MW_ERR_INVALID when asked to). */
    int (*ensure_table)(void *state, const mat_table_t *table, mw_err_t *err);
    int (*apply)(void *state, const mat_table_t *table,
                 const mat_change_t *change, mw_err_t *err);
    int (*store_offset)(void *state, const char *topic, int32_t partition,
                        int64_t next_offset, mw_err_t *err);
    int (*commit)(void *state, mw_err_t *err);
    void (*rollback)(void *state);
    /* Optional (NULL: nothing to do).  Called outside a batch when
     * (topic, partition) is revoked after the loop committed its last
     * batch (not when it was lost): the sink makes everything committed for
     * it durable now (the avro sink rolls its open file), since the next
     * owner starts from what is durable.  An error is fatal for the loop:
     * a restart recovers from the durable state. */
    int (*release)(void *state, const char *topic, int32_t partition,
                   mw_err_t *err);
    /* Optional (NULL: nothing timed).  Called outside a batch every
     * batch.max.ms, also when no record arrives, so time-based work on
     * committed state (avro.roll.ms) does not wait for the next record.
     * Never changes what is committed; an error is logged and the sink
     * reports it through health. */
    int (*tick)(void *state, mw_err_t *err);
    /* Health for /healthz. */
    bool (*health)(void *state, char *reason, size_t reason_size);
    void (*close)(void *state);
} mat_sink_ops_t;

/* The `sink` key: its allowed values, the backends' keys and their checks
 * come from the registration table in mat_sink.c.  Goes into the program's
 * mw_conf_program_t.choices. */
extern const mw_conf_choice_t mat_sink_choice;

/* Opens the sink chosen by conf's `sink` key (MW_ERR_CONFIG naming the key
 * when unknown).  conf and metrics borrowed, outlive the sink. */
mat_sink_t *mat_sink_open(const mw_conf_t *conf, mw_metrics_t *metrics,
                          mw_err_t *err);
void mat_sink_close(mat_sink_t *sink);
const char *mat_sink_name(const mat_sink_t *sink);

int mat_sink_load_offset(mat_sink_t *sink, const char *topic, int32_t partition,
                         int64_t *next_offset, mw_err_t *err);
int mat_sink_begin(mat_sink_t *sink, mw_err_t *err);
int mat_sink_ensure_table(mat_sink_t *sink, const mat_table_t *table,
                          mw_err_t *err);
int mat_sink_apply(mat_sink_t *sink, const mat_table_t *table,
                   const mat_change_t *change, mw_err_t *err);
int mat_sink_store_offset(mat_sink_t *sink, const char *topic,
                          int32_t partition, int64_t next_offset,
                          mw_err_t *err);
int mat_sink_commit(mat_sink_t *sink, mw_err_t *err);
void mat_sink_rollback(mat_sink_t *sink);
/* The release op (0 when the backend has none); MW_ERR_STATE inside a
 * batch. */
int mat_sink_release(mat_sink_t *sink, const char *topic, int32_t partition,
                     mw_err_t *err);
/* The tick op (0 when the backend has none); MW_ERR_STATE inside a batch. */
int mat_sink_tick(mat_sink_t *sink, mw_err_t *err);
bool mat_sink_health(mat_sink_t *sink, char *reason, size_t reason_size);

#endif /* MAT_SINK_H */
