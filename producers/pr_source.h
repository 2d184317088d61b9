/*
 * pr_source: the front of mesh-producer's sources (STYLE 1: one ops table,
 * one file per backend, backends named only in pr_source.c's table).
 *
 * A source reads changes from an operational system and hands each one to
 * the emitter (pr_emit.h); it acknowledges its own position (an HTTP
 * response, a file checkpoint, a PostgreSQL LSN) only in the emitter's done
 * callbacks, i.e. after Kafka acknowledged the event.
 *
 * Lifecycle, all on the daemon's loop thread:
 *   new    parse and check the source's own keys (exit 2 on bad config)
 *   start  open listeners / files / replication, begin reading
 *   stop   stop intake (first phase of shutdown); events in flight still
 *          complete through their callbacks
 *   drained  true once every event read has been acknowledged or failed
 *   destroy  final checkpoint, close
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

/* One backend.  Each backend file defines one `const pr_source_ops_t`. */
typedef struct pr_source_ops {
    const char *name; /* value of the `source` key: "http", "file", "pg" */
    /* Returns the backend's state or NULL with err. */
    void *(*create)(struct event_base *base, const mw_conf_t *conf,
                    pr_emit_t *emit, mw_metrics_t *metrics, mw_err_t *err);
    int (*start)(void *state, mw_err_t *err);
    void (*stop)(void *state);
    bool (*is_drained)(void *state);
    /* Health for /healthz: true, or false with a reason. */
    bool (*health)(void *state, char *reason, size_t reason_size);
    void (*destroy)(void *state);
    /* Optional (NULL: nothing to add).  Adds the backend's fields to the
     * ready.file JSON object once started, e.g. the http source's
     * "http": "http://127.0.0.1:PORT" with the bound port. */
    void (*ready_info)(void *state, json_t *ready);
} pr_source_ops_t;

/* Creates the source named by conf's `source` key (conf, base, emit and
 * metrics borrowed; they outlive the source).  MW_ERR_CONFIG naming the key
 * when the source is unknown or its keys are bad. */
pr_source_t *pr_source_new(struct event_base *base, const mw_conf_t *conf,
                           pr_emit_t *emit, mw_metrics_t *metrics,
                           mw_err_t *err);
int pr_source_start(pr_source_t *src, mw_err_t *err);
void pr_source_stop(pr_source_t *src);
bool pr_source_is_drained(const pr_source_t *src);
bool pr_source_health(const pr_source_t *src, char *reason,
                      size_t reason_size);
void pr_source_destroy(pr_source_t *src);
const char *pr_source_name(const pr_source_t *src);
/* Lets the backend add its fields to ready (borrowed); after start. */
void pr_source_ready_info(const pr_source_t *src, json_t *ready);

#endif /* PR_SOURCE_H */
