/*
 * bk_stats: librdkafka's statistics JSON (statistics.interval.ms, see
 * librdkafka's STATISTICS.md) as Prometheus series in a mw_metrics registry.
 * The metrics and their units are listed in this folder's README.md.
 *
 * Every series carries client="<role>" (producer, consumer, admin); broker,
 * topic and partition labels come from the cluster's bounded sets.
 * librdkafka's cumulative totals become counters by adding the positive
 * delta since the previous document, so they stay monotonic.
 *
 * Thread: the statistics callback is served by the client's poll, i.e. on
 * the loop thread; one bk_stats_t belongs to one librdkafka client.
 */
#ifndef BK_STATS_H
#define BK_STATS_H

#include <stddef.h>

#include "mw_err.h"
#include "mw_metrics.h"

typedef struct bk_stats bk_stats_t;

/* New exporter writing into metrics (borrowed, must outlive it) with label
 * client="<client>" (copied).  NULL on ENOMEM or when a series cannot be
 * registered (err set). */
bk_stats_t *bk_stats_new(mw_metrics_t *metrics, const char *client,
                         mw_err_t *err);
void bk_stats_destroy(bk_stats_t *stats);

/* Applies one statistics document (json, len bytes, borrowed).  0, or
 * MW_ERR_INVALID naming the JSON error position. */
int bk_stats_update(bk_stats_t *stats, const char *json, size_t len,
                    mw_err_t *err);

#endif /* BK_STATS_H */
