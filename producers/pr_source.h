/*
 * pr_source: the front of mesh-producer's sources (docs/STYLE.md §3: one ops
 * table, one file per backend, backends named only in pr_source.c's
 * registration table).
 *
 * A source reads changes from an operational system and hands each one to
 * the emitter (pr_emit.h); it acknowledges its own position (an HTTP
 * response, a file checkpoint) only in the emitter's done callbacks, i.e.
 * after Kafka acknowledged the event.
 *
 * Each backend describes itself in its ops table: its name, its doc line,
 * its own configuration keys and their cross-checks (ops.conf).  The front
 * exposes them as the `source` key's choice (pr_source_choice), so
 * mesh-producer's --help, docs/CONFIGURATION.md and every message that
 * lists the sources come from the registration table.
 *
 * Lifecycle, all on the daemon's loop thread:
 *   open     read the source's own keys (checked already by mw_conf;
 *            MW_ERR_CONFIG for what only opening finds: exit 2)
 *   start    open listeners / files, begin reading
 *   stop     stop intake (first phase of shutdown); events in flight still
 *            complete through their callbacks
 *   drained  true once every event read has been acknowledged or failed
 *   close    final checkpoint, close
 */
#ifndef PR_SOURCE_H
#define PR_SOURCE_H

#include <stdbool.h>

#include <jansson.h>

#include "mw_conf.h"
#include "mw_err.h"
#include "mw_metrics.h"
#include "pr_emit.h"

struct event_base;

typedef struct pr_source pr_source_t;

/* A source that cannot go on (the registry refused a table's new schema,
 * the replication slot was lost) reports it here: the daemon shuts down in
 * order (events in flight still complete) and exits 1. */
typedef void(pr_source_fail_cb)(void *opaque, const mw_err_t *err);

/* What a backend's open gets, all borrowed: they outlive the source. */
typedef struct pr_source_env {
    struct event_base *base;
    const mw_conf_t *conf;
    pr_emit_t *emit;
    mw_metrics_t *metrics;
    pr_source_fail_cb *fail;
    void *fail_opaque;
} pr_source_env_t;

/* One backend.  Each backend file defines one `const pr_source_ops_t`. */
typedef struct pr_source_ops {
    /* conf.name is the `source` key's value ("http", "file"); conf.keys
     * the backend's keys, conf.check its cross-key checks. */
    mw_conf_backend_t conf;
    /* Returns the backend's state or NULL with err. */
    void *(*open)(const pr_source_env_t *env, mw_err_t *err);
    int (*start)(void *state, mw_err_t *err);
    void (*stop)(void *state);
    bool (*is_drained)(void *state);
    /* Health for /healthz: true, or false with a reason. */
    bool (*health)(void *state, char *reason, size_t reason_size);
    void (*close)(void *state);
    /* Optional (NULL: nothing to add).  Adds the backend's fields to the
     * ready.file JSON object once started, e.g. the http source's
     * "http": "http://127.0.0.1:PORT" with the bound port. */
    void (*ready_info)(void *state, json_t *ready);
} pr_source_ops_t;

/* The `source` key: its allowed values, the backends' keys and checks
 * come from the registration table.  For mw_conf_program_t.choices. */
extern const mw_conf_choice_t pr_source_choice;

/* Opens the source named by env->conf's `source` key.  MW_ERR_CONFIG
 * naming the key when the source is unknown or its keys are bad. */
pr_source_t *pr_source_open(const pr_source_env_t *env, mw_err_t *err);
int pr_source_start(pr_source_t *src, mw_err_t *err);
void pr_source_stop(pr_source_t *src);
bool pr_source_is_drained(const pr_source_t *src);
bool pr_source_health(const pr_source_t *src, char *reason, size_t reason_size);
/* NULL-safe. */
void pr_source_close(pr_source_t *src);
const char *pr_source_name(const pr_source_t *src);
/* Lets the backend add its fields to ready (borrowed); after start. */
void pr_source_ready_info(const pr_source_t *src, json_t *ready);

#endif /* PR_SOURCE_H */
