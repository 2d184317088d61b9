/*
 * bk_stats: parses librdkafka's statistics JSON with jansson and updates
 * Prometheus series.  librdkafka emits a document every
 * statistics.interval.ms through the stats callback, served by the client's
 * poll on the loop thread; bk_stats_update is the whole work and only reads
 * the document.
 *
 * Invariants: counters only grow (the delta of a cumulative total is added
 * when positive; a smaller total means a restarted client and is taken as
 * the new base); labels come from bounded sets (client role, broker node
 * id, topic and partition of the assignment), never keys or ids.
 */
#include "bk_stats.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bk_int.h"
#include "mw_log.h"

/* Cumulative totals of the top-level object exported as counters. */
typedef struct bk_total_def {
    const char *field;  /* librdkafka's name */
    const char *metric; /* ours */
    const char *help;
} bk_total_def_t;

static const bk_total_def_t bk_totals[] = {
    {"txmsgs", "mesh_kafka_tx_msgs_total",
     "Messages transmitted (produced) to brokers."},
    {"txmsg_bytes", "mesh_kafka_tx_bytes_total",
     "Message bytes (payload and key) transmitted to brokers."},
    {"rxmsgs", "mesh_kafka_rx_msgs_total",
     "Messages consumed, not including ignored messages."},
    {"rxmsg_bytes", "mesh_kafka_rx_bytes_total",
     "Message bytes (payload and key) consumed."},
};
#define BK_TOTAL_CNT (sizeof(bk_totals) / sizeof(bk_totals[0]))

struct bk_stats {
    mw_metrics_t *metrics;
    char client[32];
    char labels[64];        /* client="producer" */
    mw_gauge_t *outq_msgs;  /* msg_cnt */
    mw_gauge_t *outq_bytes; /* msg_size */
    mw_counter_t *totals[BK_TOTAL_CNT];
    long long last[BK_TOTAL_CNT]; /* previous cumulative values */
};

bk_stats_t *bk_stats_new(mw_metrics_t *metrics, const char *client,
                         mw_err_t *err)
{
    bk_stats_t *stats = calloc(1, sizeof(*stats));

    if (!stats) {
        mw_err_set(err, MW_ERR_NOMEM, "out of memory for kafka statistics");
        return NULL;
    }
    stats->metrics = metrics;
    snprintf(stats->client, sizeof(stats->client), "%s", client);
    snprintf(stats->labels, sizeof(stats->labels), "client=\"%s\"",
             stats->client);
    stats->outq_msgs = mw_metrics_gauge(
        metrics, "mesh_kafka_outq_msgs",
        "Messages waiting in the client's queues (not yet acknowledged).",
        stats->labels);
    stats->outq_bytes = mw_metrics_gauge(
        metrics, "mesh_kafka_outq_bytes",
        "Bytes of the messages waiting in the client's queues.", stats->labels);
    for (size_t i = 0; i < BK_TOTAL_CNT; i++)
        stats->totals[i] = mw_metrics_counter(metrics, bk_totals[i].metric,
                                              bk_totals[i].help, stats->labels);
    if (!stats->outq_msgs || !stats->outq_bytes || !stats->totals[0]) {
        mw_err_set(err, MW_ERR_NOMEM,
                   "cannot register kafka metrics for client %s", client);
        bk_stats_destroy(stats);
        return NULL;
    }
    return stats;
}

void bk_stats_destroy(bk_stats_t *stats)
{
    /* Series belong to the registry and live as long as it does. */
    free(stats);
}

static void bk_stats_totals(bk_stats_t *stats, json_t *root)
{
    for (size_t i = 0; i < BK_TOTAL_CNT; i++) {
        json_t *v = json_object_get(root, bk_totals[i].field);
        long long now;

        if (!json_is_integer(v))
            continue;
        now = json_integer_value(v);
        if (now > stats->last[i])
            mw_counter_add(stats->totals[i], (uint64_t)(now - stats->last[i]));
        stats->last[i] = now;
    }
}

/* brokers.<name>.rtt.avg (microseconds) per real broker; the bootstrap
 * pseudo-brokers (nodeid -1) have no stable identity and are skipped. */
static void bk_stats_brokers(bk_stats_t *stats, json_t *root)
{
    json_t *brokers = json_object_get(root, "brokers");
    const char *name;
    json_t *b;

    json_object_foreach(brokers, name, b)
    {
        json_int_t nodeid = json_integer_value(json_object_get(b, "nodeid"));
        json_t *avg = json_object_get(json_object_get(b, "rtt"), "avg");
        char labels[128];

        if (nodeid < 0 || !json_is_integer(avg))
            continue;
        snprintf(labels, sizeof(labels), "%s,broker=\"%lld\"", stats->labels,
                 (long long)nodeid);
        mw_gauge_set(mw_metrics_gauge(stats->metrics,
                                      "mesh_kafka_broker_rtt_seconds",
                                      "Average broker round-trip time over "
                                      "the last statistics interval.",
                                      labels),
                     (double)json_integer_value(avg) / 1e6);
    }
}

/* topics.<t>.partitions.<p>.consumer_lag for assigned partitions; -1
 * (unknown) and the internal partition -1 are skipped. */
static void bk_stats_lag(bk_stats_t *stats, json_t *root)
{
    json_t *topics = json_object_get(root, "topics");
    const char *tname, *pname;
    json_t *t, *p;

    json_object_foreach(topics, tname, t)
    {
        json_t *parts = json_object_get(t, "partitions");
        json_object_foreach(parts, pname, p)
        {
            json_t *lag = json_object_get(p, "consumer_lag");
            char labels[320];

            if (atoi(pname) < 0 || !json_is_integer(lag) ||
                json_integer_value(lag) < 0)
                continue;
            snprintf(labels, sizeof(labels), "%s,topic=\"%s\",partition=\"%s\"",
                     stats->labels, tname, pname);
            mw_gauge_set(mw_metrics_gauge(stats->metrics,
                                          "mesh_kafka_consumer_lag_messages",
                                          "Messages between the consumer's "
                                          "position and the partition end.",
                                          labels),
                         (double)json_integer_value(lag));
        }
    }
}

/* A top-level integer field into a gauge.  A missing or non-integer field
 * leaves the gauge as it was: 0 would claim an empty queue we know nothing
 * about. */
static void bk_stats_gauge(mw_gauge_t *gauge, json_t *root, const char *field)
{
    json_t *v = json_object_get(root, field);

    if (json_is_integer(v))
        mw_gauge_set(gauge, (double)json_integer_value(v));
}

int bk_stats_update(bk_stats_t *stats, const char *json, size_t len,
                    mw_err_t *err)
{
    json_error_t jerr;
    json_t *root = json_loadb(json, len, 0, &jerr);

    if (!root || !json_is_object(root)) {
        json_decref(root);
        return mw_err_set(err, MW_ERR_INVALID,
                          "kafka statistics JSON: %s at line %d column %d",
                          root ? "not an object" : jerr.text, jerr.line,
                          jerr.column);
    }
    bk_stats_gauge(stats->outq_msgs, root, "msg_cnt");
    bk_stats_gauge(stats->outq_bytes, root, "msg_size");
    bk_stats_totals(stats, root);
    bk_stats_brokers(stats, root);
    bk_stats_lag(stats, root); /* producers report lag -1: skipped */
    json_decref(root);
    return 0;
}

/* librdkafka's stats callback (polling thread).  Returning 0 lets
 * librdkafka free the document. */
int bk_stats_cb(rd_kafka_t *rk, char *json, size_t json_len, void *opaque)
{
    bk_client_t *cli = opaque;
    mw_err_t err;

    (void)rk;
    if (cli && cli->stats && bk_stats_update(cli->stats, json, json_len, &err))
        mw_log_warn(BK_COMPONENT, "statistics not parsed", "reason=%s",
                    mw_log_q(err.msg));
    return 0;
}
