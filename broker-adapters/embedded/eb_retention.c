/*
 * eb_retention: watches the low watermark of every partition of the mock
 * cluster and reports records the mock's retention dropped.
 *
 * A periodic scan (eb_cluster_scan_offsets: Metadata plus a ListOffsets
 * pair per partition, answered in-process) is the only way to see the drop
 * through the public 2.0.2 API: the mock has no callback and its partition
 * structs are private.  Between two scans records may be dropped and the
 * report comes at the next tick, never lost: the low watermark only grows.
 *
 * Invariants: seen maps "topic/partition" to the last low watermark
 * reported (absent = 0); the dropped-records counter of a partition equals
 * that value.  A warning is logged the first time a partition drops and
 * again each time its dropped count has doubled since the last warning, so
 * a producer far past the ceiling cannot flood the log.
 *
 * Thread: mesh-broker's loop thread only.
 */
#include "eb_retention.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>

#include <jansson.h>

#include "mw_log.h"

#define EB_COMPONENT "retention"

struct eb_retention {
    eb_cluster_t *cluster;
    mw_metrics_t *metrics;
    struct event *timer;
    struct timeval interval;
    json_t *seen; /* "topic/partition" -> {"low", "warned"} */
    mw_counter_t *scans;
    bool scan_failed; /* the last scan's Metadata failed (logged once) */
};

/* A partition's low watermark rose from last to offs->low. */
static void eb_dropped(eb_retention_t *ret, const eb_cluster_offsets_t *offs,
                       json_t *entry, int64_t last)
{
    char labels[320];
    int64_t warned = json_integer_value(json_object_get(entry, "warned"));

    snprintf(labels, sizeof(labels), "topic=\"%s\",partition=\"%d\"",
             offs->topic, offs->partition);
    mw_counter_add(
        mw_metrics_counter(ret->metrics,
                           "mesh_broker_retention_dropped_records_total",
                           "Records the mock cluster's retention dropped from "
                           "the start of a partition (its low watermark).",
                           labels),
        (uint64_t)(offs->low - last));
    json_object_set_new(entry, "low", json_integer(offs->low));
    if (warned > 0 && offs->low < 2 * warned)
        return;
    json_object_set_new(entry, "warned", json_integer(offs->low));
    mw_log_warn(EB_COMPONENT, "records dropped by retention",
                "topic=%s partition=%d dropped=%" PRId64 " low=%" PRId64
                " high=%" PRId64 " max_bytes=%d max_batches=%d hint=%s",
                offs->topic, offs->partition, offs->low, offs->low, offs->high,
                EB_CLUSTER_RETENTION_MAX_BYTES,
                EB_CLUSTER_RETENTION_MAX_BATCHES,
                mw_log_q("mesh-broker keeps only the newest 5 MiB or 100000 "
                         "batches of a partition; records below the low "
                         "watermark are gone: spread the topic over more "
                         "partitions, consume while producing, or use a "
                         "real Kafka"));
}

static void eb_scan_one(const eb_cluster_offsets_t *offs, void *opaque)
{
    eb_retention_t *ret = opaque;
    char key[320];
    json_t *entry;
    int64_t last;

    if (offs->low <= 0)
        return;
    snprintf(key, sizeof(key), "%s/%d", offs->topic, offs->partition);
    entry = json_object_get(ret->seen, key);
    if (!entry) {
        entry = json_pack("{s:I,s:I}", "low", (json_int_t)0, "warned",
                          (json_int_t)0);
        if (!entry || json_object_set_new(ret->seen, key, entry) != 0)
            return; /* out of memory: the next scan tries again */
    }
    last = json_integer_value(json_object_get(entry, "low"));
    if (offs->low > last)
        eb_dropped(ret, offs, entry, last);
}

/* The one periodic chore: scan, then re-arm. */
static void eb_tick(evutil_socket_t fd, short what, void *opaque)
{
    eb_retention_t *ret = opaque;
    mw_err_t err = {0};
    int rc;

    (void)fd;
    (void)what;
    rc = eb_cluster_scan_offsets(ret->cluster, eb_scan_one, ret, &err);
    if (rc < 0 && !ret->scan_failed)
        mw_log_warn(EB_COMPONENT, "retention scan failed", "error=%s",
                    mw_log_q(err.msg));
    ret->scan_failed = rc < 0;
    if (rc == 0)
        mw_counter_inc(ret->scans);
    evtimer_add(ret->timer, &ret->interval);
}

eb_retention_t *eb_retention_new(const eb_retention_conf_t *conf, mw_err_t *err)
{
    eb_retention_t *ret;

    if (conf->interval_ms <= 0) {
        mw_err_set(err, MW_ERR_INVALID,
                   "retention scan interval %d ms is not positive",
                   conf->interval_ms);
        return NULL;
    }
    ret = calloc(1, sizeof(*ret));
    if (!ret || !(ret->seen = json_object()) ||
        !(ret->timer = evtimer_new(conf->base, eb_tick, ret))) {
        eb_retention_destroy(ret);
        mw_err_set(err, MW_ERR_NOMEM,
                   "out of memory creating the "
                   "retention watcher");
        return NULL;
    }
    ret->cluster = conf->cluster;
    ret->metrics = conf->metrics;
    ret->interval.tv_sec = conf->interval_ms / 1000;
    ret->interval.tv_usec = (conf->interval_ms % 1000) * 1000;
    ret->scans = mw_metrics_counter(
        conf->metrics, "mesh_broker_retention_scans_total",
        "Complete scans of every partition's low watermark.", NULL);
    evtimer_add(ret->timer, &ret->interval);
    mw_log_info(EB_COMPONENT, "retention ceiling",
                "max_bytes_per_partition=%d max_batches_per_partition=%d "
                "interval_ms=%d beyond=%s",
                EB_CLUSTER_RETENTION_MAX_BYTES,
                EB_CLUSTER_RETENTION_MAX_BATCHES, conf->interval_ms,
                mw_log_q("the oldest batches of a partition are dropped; "
                         "mesh-broker warns and counts them in "
                         "mesh_broker_retention_dropped_records_total"));
    return ret;
}

void eb_retention_destroy(eb_retention_t *ret)
{
    if (!ret)
        return;
    if (ret->timer)
        event_free(ret->timer);
    json_decref(ret->seen);
    free(ret);
}
