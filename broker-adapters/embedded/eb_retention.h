/*
 * eb_retention: makes the mock cluster's silent retention visible.
 *
 * The 2.0.2 mock keeps only the newest EB_CLUSTER_RETENTION_MAX_BYTES or
 * EB_CLUSTER_RETENTION_MAX_BATCHES of each partition and drops the oldest
 * record batches past that without telling anyone.  This watcher reads every
 * partition's low watermark (log start offset) on a timer; when one moves
 * above 0 it logs a warning naming the topic, the partition and the records
 * gone, and counts them in
 * mesh_broker_retention_dropped_records_total{topic,partition}.
 *
 * Thread: mesh-broker's loop thread only.
 */
#ifndef EB_RETENTION_H
#define EB_RETENTION_H

#include <event2/event.h>

#include "eb_cluster.h"
#include "mw_err.h"
#include "mw_metrics.h"

typedef struct eb_retention eb_retention_t;

typedef struct eb_retention_conf {
    struct event_base *base; /* borrowed, outlives the watcher */
    eb_cluster_t *cluster;   /* borrowed, outlives the watcher */
    mw_metrics_t *metrics;   /* borrowed, outlives the watcher */
    int interval_ms;         /* between two scans, > 0 */
} eb_retention_conf_t;

/* Registers the metrics, logs the retention ceiling once and starts the
 * timer.  NULL with err set (MW_ERR_INVALID for a bad interval,
 * MW_ERR_NOMEM). */
eb_retention_t *eb_retention_new(const eb_retention_conf_t *conf,
                                 mw_err_t *err);

/* Stops the timer.  Accepts NULL. */
void eb_retention_destroy(eb_retention_t *ret);

#endif /* EB_RETENTION_H */
