/*
 * bk_producer: librdkafka producer behind Meshwork's own types.
 *
 * Data path: a caller's bk_message_t is copied into librdkafka's queue by
 * bk_producer_send together with the caller's msg_opaque; librdkafka
 * batches, retries idempotently and reports each message exactly once
 * through the dr_msg callback, which we turn into a bk_delivery_t for the
 * caller.  The caller acknowledges upstream only there.
 *
 * Invariants: delivery reports, errors and statistics are served only by
 * rd_kafka_poll / rd_kafka_flush on the owning thread (or the loop thread
 * after bk_producer_attach); a send that fails was not taken and produces
 * no delivery report.  A fatal error (idempotence guarantees broken) makes
 * every later send fail with MW_ERR_FATAL.
 */
#include "bk_producer.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bk_int.h"
#include "mw_log.h"

#define BK_PREPARED_MAX 8

struct bk_producer {
    bk_client_t cli; /* first: librdkafka's opaque points here */
    bk_delivery_cb *cb;
    void *opaque;
    bk_wake_t *wake;
    rd_kafka_topic_t *prepared[BK_PREPARED_MAX]; /* kept known to librdkafka */
    size_t prepared_cnt;
};

/* Polling thread: one delivery report per message. */
static void bk_producer_dr_cb(rd_kafka_t *rk, const rd_kafka_message_t *rkm,
                              void *opaque)
{
    bk_producer_t *prod = opaque;
    bk_delivery_t dr = {
        .topic = rkm->rkt ? rd_kafka_topic_name(rkm->rkt) : "",
        .partition = rkm->partition,
        .offset = rkm->err ? -1 : rkm->offset,
        .code = bk_err_code(rkm->err),
        .message = rkm->err ? rd_kafka_err2str(rkm->err) : "",
    };

    (void)rk;
    if (!rkm->err)
        prod->cli.brokers_down = false; /* an ack: a broker is back */
    if (prod->cb)
        prod->cb(prod->opaque, rkm->_private, &dr);
}

bk_producer_t *bk_producer_new(const mw_conf_t *conf, bk_delivery_cb *cb,
                               void *opaque, mw_metrics_t *metrics,
                               mw_err_t *err)
{
    bk_producer_t *prod = calloc(1, sizeof(*prod));
    rd_kafka_conf_t *rconf;

    if (!prod) {
        mw_err_set(err, MW_ERR_NOMEM, "out of memory for kafka producer");
        return NULL;
    }
    prod->cb = cb;
    prod->opaque = opaque;
    if (metrics) {
        prod->cli.stats = bk_stats_new(metrics, "producer", err);
        if (!prod->cli.stats)
            goto fail;
    }
    rconf = bk_conf_build(conf, BK_ROLE_PRODUCER, NULL, &prod->cli, err);
    if (!rconf)
        goto fail;
    rd_kafka_conf_set_dr_msg_cb(rconf, bk_producer_dr_cb);
    if (!bk_client_open(&prod->cli, rconf, err))
        goto fail;
    mw_log_info(BK_COMPONENT, "producer started", "client=%s",
                rd_kafka_name(prod->cli.rk));
    return prod;
fail:
    bk_stats_destroy(prod->cli.stats);
    free(prod);
    return NULL;
}

void bk_producer_destroy(bk_producer_t *prod)
{
    if (!prod)
        return;
    /* The wake-up pipe goes first so librdkafka never writes into a closed
     * descriptor while it tears down. */
    bk_wake_destroy(prod->wake);
    for (size_t i = 0; i < prod->prepared_cnt; i++)
        rd_kafka_topic_destroy(prod->prepared[i]);
    if (prod->cli.rk)
        rd_kafka_destroy(prod->cli.rk);
    bk_stats_destroy(prod->cli.stats);
    free(prod);
}

/* The handle of a prepared topic, or NULL.  Producing by handle spares
 * librdkafka 2.0.2's lookup by name, once per message: the client's
 * write lock, then the name compared with each known topic's (the lock
 * and the compares were ~3 % of the loop thread in perf during
 * bench/pr_bench.sh). */
static rd_kafka_topic_t *bk_producer_prepared(const bk_producer_t *prod,
                                              const char *topic)
{
    for (size_t i = 0; i < prod->prepared_cnt; i++)
        if (strcmp(rd_kafka_topic_name(prod->prepared[i]), topic) == 0)
            return prod->prepared[i];
    return NULL;
}

int bk_producer_send(bk_producer_t *prod, const bk_message_t *msg,
                     void *msg_opaque, mw_err_t *err)
{
    rd_kafka_vu_t vus[6 + BK_HEADERS_MAX];
    size_t n = 0;
    rd_kafka_error_t *error;
    char what[300];

    if (prod->cli.fatal_code)
        return bk_client_check_fatal(&prod->cli, err);
    if (msg->header_cnt > BK_HEADERS_MAX)
        return mw_err_set(err, MW_ERR_INVALID,
                          "topic %s: %zu headers, at most %d", msg->topic,
                          msg->header_cnt, BK_HEADERS_MAX);
    rd_kafka_topic_t *rkt = bk_producer_prepared(prod, msg->topic);
    if (rkt) {
        vus[n].vtype = RD_KAFKA_VTYPE_RKT;
        vus[n++].u.rkt = rkt;
    } else {
        vus[n].vtype = RD_KAFKA_VTYPE_TOPIC;
        vus[n++].u.cstr = msg->topic;
    }
    vus[n].vtype = RD_KAFKA_VTYPE_PARTITION;
    vus[n++].u.i32 = msg->partition;
    vus[n].vtype = RD_KAFKA_VTYPE_MSGFLAGS;
    vus[n++].u.i = RD_KAFKA_MSG_F_COPY;
    vus[n].vtype = RD_KAFKA_VTYPE_KEY;
    vus[n].u.mem.ptr = (void *)msg->key;
    vus[n++].u.mem.size = msg->key ? msg->key_len : 0;
    vus[n].vtype = RD_KAFKA_VTYPE_VALUE;
    vus[n].u.mem.ptr = (void *)msg->value;
    vus[n++].u.mem.size = msg->value ? msg->value_len : 0;
    vus[n].vtype = RD_KAFKA_VTYPE_OPAQUE;
    vus[n++].u.ptr = msg_opaque;
    for (size_t i = 0; i < msg->header_cnt; i++, n++) {
        vus[n].vtype = RD_KAFKA_VTYPE_HEADER;
        vus[n].u.header.name = msg->headers[i].name;
        vus[n].u.header.val = msg->headers[i].value;
        vus[n].u.header.size =
            msg->headers[i].value ? (ssize_t)msg->headers[i].value_len : -1;
    }
    error = rd_kafka_produceva(prod->cli.rk, vus, n);
    if (!error)
        return 0;
    if (rd_kafka_error_code(error) == RD_KAFKA_RESP_ERR__FATAL) {
        rd_kafka_error_destroy(error);
        return bk_client_check_fatal(&prod->cli, err)
                   ? MW_ERR_FATAL
                   : mw_err_set(err, MW_ERR_FATAL,
                                "topic %s: fatal producer "
                                "error",
                                msg->topic);
    }
    snprintf(what, sizeof(what), "produce to topic %s partition %d", msg->topic,
             (int)msg->partition);
    return bk_err_set_obj(err, error, what);
}

int bk_producer_prepare_topic(bk_producer_t *prod, const char *topic,
                              int timeout_ms, mw_err_t *err)
{
    const struct rd_kafka_metadata *md = NULL;
    rd_kafka_topic_t *rkt;
    rd_kafka_resp_err_t rerr;
    int rc = 0;

    if (prod->prepared_cnt == BK_PREPARED_MAX)
        return mw_err_set(err, MW_ERR_FULL,
                          "topic %s: more than %d prepared "
                          "topics",
                          topic, BK_PREPARED_MAX);
    rkt = rd_kafka_topic_new(prod->cli.rk, topic, NULL);
    if (!rkt)
        return mw_err_set(err, MW_ERR_INVALID, "topic %s: %s", topic,
                          rd_kafka_err2str(rd_kafka_last_error()));
    prod->prepared[prod->prepared_cnt++] = rkt;
    rerr = rd_kafka_metadata(prod->cli.rk, 0, rkt, &md, timeout_ms);
    if (rerr)
        rc = mw_err_set(err, bk_err_code(rerr), "topic %s: metadata: %s", topic,
                        rd_kafka_err2str(rerr));
    else if (md->topic_cnt == 1 && md->topics[0].err)
        rc = mw_err_set(err, bk_err_code(md->topics[0].err), "topic %s: %s",
                        topic, rd_kafka_err2str(md->topics[0].err));
    if (md)
        rd_kafka_metadata_destroy(md);
    return rc;
}

int bk_producer_poll(bk_producer_t *prod, int timeout_ms)
{
    return rd_kafka_poll(prod->cli.rk, timeout_ms);
}

int bk_producer_flush(bk_producer_t *prod, int timeout_ms, mw_err_t *err)
{
    rd_kafka_resp_err_t rerr = rd_kafka_flush(prod->cli.rk, timeout_ms);
    int left;

    if (prod->cli.fatal_code)
        return bk_client_check_fatal(&prod->cli, err);
    if (rerr == RD_KAFKA_RESP_ERR_NO_ERROR)
        return 0;
    left = rd_kafka_outq_len(prod->cli.rk);
    return mw_err_set(err, MW_ERR_TIMEOUT,
                      "flush: %d message(s) still undelivered after %d ms",
                      left, timeout_ms);
}

int bk_producer_outq_len(bk_producer_t *prod)
{
    return rd_kafka_outq_len(prod->cli.rk);
}

int bk_producer_check_fatal(bk_producer_t *prod, mw_err_t *err)
{
    return bk_client_check_fatal(&prod->cli, err);
}

bool bk_producer_is_brokers_down(const bk_producer_t *prod)
{
    return prod->cli.brokers_down;
}

/* Loop thread: serve everything queued; delivery reports come in batches
 * per produce response. */
static void bk_producer_on_wake(void *opaque)
{
    bk_producer_t *prod = opaque;

    rd_kafka_poll(prod->cli.rk, 0);
}

int bk_producer_attach(bk_producer_t *prod, struct event_base *base,
                       mw_err_t *err)
{
    rd_kafka_queue_t *rkqu;

    if (prod->wake)
        return mw_err_set(err, MW_ERR_STATE,
                          "kafka producer already attached to a loop");
    rkqu = rd_kafka_queue_get_main(prod->cli.rk);
    prod->wake = bk_wake_new(base, rkqu, bk_producer_on_wake, prod, err);
    return prod->wake ? 0 : (err ? err->code : MW_ERR_NOMEM);
}
