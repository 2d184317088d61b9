/*
 * mat_sink: the front of the materializer's sinks.
 *
 * The only place that names the backends (the registration table below);
 * everything else goes through mat_sink_ops_t, and the `sink` key's
 * allowed values, --help, docs and messages come from the same table
 * through mat_sink_choice.  The front adds the one
 * invariant the loop relies on: a batch is either open or not, so begin
 * twice, apply outside a batch and commit without begin are caught as
 * MW_ERR_STATE here instead of in each backend, and a failed apply or
 * commit leaves no half-open transaction (the front rolls back).
 *
 * Thread: the materializer's loop thread (see mat_sink.h).
 */
#include "mat_sink.h"

#include <stdlib.h>

extern const mat_sink_ops_t mat_sink_sqlite_ops;
extern const mat_sink_ops_t mat_sink_pg_ops;
extern const mat_sink_ops_t mat_sink_avro_ops;

static const mat_sink_ops_t *const sink_backends[] = {
    &mat_sink_sqlite_ops,
    &mat_sink_pg_ops,
    &mat_sink_avro_ops,
};

#define SINK_BACKEND_CNT (sizeof sink_backends / sizeof sink_backends[0])

static const mw_conf_backend_t *sink_backend_at(size_t i)
{
    return i < SINK_BACKEND_CNT ? &sink_backends[i]->conf : NULL;
}

const mw_conf_choice_t mat_sink_choice = {
    .key = {.name = "sink", .required = true, .doc = "Output port, one of:"},
    .backend_at = sink_backend_at,
};

struct mat_sink {
    const mat_sink_ops_t *ops;
    void *state;
    bool in_batch;
};

mat_sink_t *mat_sink_open(const mw_conf_t *conf, mw_metrics_t *metrics,
                          mw_err_t *err)
{
    const char *name = mw_conf_get_str(conf, mat_sink_choice.key.name);
    const mw_conf_backend_t *be = mw_conf_chosen(conf, &mat_sink_choice);
    const mat_sink_ops_t *ops = NULL;
    for (size_t i = 0; be && i < SINK_BACKEND_CNT; i++)
        if (&sink_backends[i]->conf == be)
            ops = sink_backends[i];
    if (!ops) {
        char names[256];
        mw_conf_choice_names(&mat_sink_choice, names, sizeof names);
        mw_err_set(err, MW_ERR_CONFIG,
                   "key 'sink': unknown sink '%s' "
                   "(expected %s)",
                   name ? name : "", names);
        return NULL;
    }
    mat_sink_t *sink = calloc(1, sizeof *sink);
    if (!sink) {
        mw_err_set(err, MW_ERR_NOMEM, "out of memory opening sink %s", name);
        return NULL;
    }
    sink->ops = ops;
    sink->state = ops->open(conf, metrics, err);
    if (!sink->state) {
        free(sink);
        return NULL;
    }
    return sink;
}

void mat_sink_close(mat_sink_t *sink)
{
    if (!sink)
        return;
    if (sink->in_batch)
        sink->ops->rollback(sink->state);
    sink->ops->close(sink->state);
    free(sink);
}

const char *mat_sink_name(const mat_sink_t *sink)
{
    return sink->ops->conf.name;
}

int mat_sink_load_offset(mat_sink_t *sink, const char *topic, int32_t partition,
                         int64_t *next_offset, mw_err_t *err)
{
    *next_offset = -1;
    return sink->ops->load_offset(sink->state, topic, partition, next_offset,
                                  err);
}

int mat_sink_begin(mat_sink_t *sink, mw_err_t *err)
{
    if (sink->in_batch)
        return mw_err_set(err, MW_ERR_STATE, "sink %s: batch already open",
                          sink->ops->conf.name);
    int rc = sink->ops->begin(sink->state, err);
    sink->in_batch = rc == 0;
    return rc;
}

/* A failed step inside a batch abandons it: the loop then re-reads from
 * the last committed offsets, so nothing is lost. */
static int sink_fail(mat_sink_t *sink, int rc)
{
    if (rc != 0 && sink->in_batch) {
        sink->ops->rollback(sink->state);
        sink->in_batch = false;
    }
    return rc;
}

int mat_sink_ensure_table(mat_sink_t *sink, const mat_table_t *table,
                          mw_err_t *err)
{
    if (!sink->in_batch)
        return mw_err_set(err, MW_ERR_STATE, "sink %s: no batch open",
                          sink->ops->conf.name);
    return sink_fail(sink, sink->ops->ensure_table(sink->state, table, err));
}

int mat_sink_apply(mat_sink_t *sink, const mat_table_t *table,
                   const mat_change_t *change, mw_err_t *err)
{
    if (!sink->in_batch)
        return mw_err_set(err, MW_ERR_STATE, "sink %s: no batch open",
                          sink->ops->conf.name);
    return sink_fail(sink, sink->ops->apply(sink->state, table, change, err));
}

int mat_sink_store_offset(mat_sink_t *sink, const char *topic,
                          int32_t partition, int64_t next_offset, mw_err_t *err)
{
    if (!sink->in_batch)
        return mw_err_set(err, MW_ERR_STATE, "sink %s: no batch open",
                          sink->ops->conf.name);
    return sink_fail(sink,
                     sink->ops->store_offset(sink->state, topic, partition,
                                             next_offset, err));
}

int mat_sink_commit(mat_sink_t *sink, mw_err_t *err)
{
    if (!sink->in_batch)
        return mw_err_set(err, MW_ERR_STATE, "sink %s: no batch open",
                          sink->ops->conf.name);
    int rc = sink->ops->commit(sink->state, err);
    if (rc == 0)
        sink->in_batch = false;
    return sink_fail(sink, rc);
}

void mat_sink_rollback(mat_sink_t *sink)
{
    if (sink->in_batch)
        sink->ops->rollback(sink->state);
    sink->in_batch = false;
}

int mat_sink_release(mat_sink_t *sink, const char *topic, int32_t partition,
                     mw_err_t *err)
{
    if (sink->in_batch)
        return mw_err_set(err, MW_ERR_STATE,
                          "sink %s: release inside a "
                          "batch",
                          sink->ops->conf.name);
    if (!sink->ops->release)
        return 0;
    return sink->ops->release(sink->state, topic, partition, err);
}

int mat_sink_tick(mat_sink_t *sink, mw_err_t *err)
{
    if (sink->in_batch)
        return mw_err_set(err, MW_ERR_STATE, "sink %s: tick inside a batch",
                          sink->ops->conf.name);
    return sink->ops->tick ? sink->ops->tick(sink->state, err) : 0;
}

bool mat_sink_health(mat_sink_t *sink, char *reason, size_t reason_size)
{
    if (!sink->ops->health)
        return true;
    return sink->ops->health(sink->state, reason, reason_size);
}
