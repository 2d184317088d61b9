/*
 * bk_producer: the one way Meshwork produces to Kafka.
 *
 * Idempotent, acks=all, Java-compatible murmur2 partitioning and linger 5 ms
 * by default (see bk_conf.h); every message carries a caller context
 * (msg_opaque) that comes back in the delivery callback, where the caller
 * acknowledges its source position.  Sends are asynchronous and bounded by
 * librdkafka's queue: MW_ERR_FULL asks the caller to back off (serve
 * delivery reports) and retry.
 *
 * Threads: one thread owns the producer.  Delivery callbacks, errors and
 * statistics run inside bk_producer_poll / bk_producer_flush, or on the
 * loop thread once bk_producer_attach() hooked the producer to an
 * event_base; never on librdkafka's threads.
 */
#ifndef BK_PRODUCER_H
#define BK_PRODUCER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "mw_conf.h"
#include "mw_err.h"
#include "mw_metrics.h"

struct event_base;

typedef struct bk_producer bk_producer_t;

#define BK_PARTITION_ANY (-1) /* let the partitioner choose */
#define BK_HEADERS_MAX 32     /* headers per message */

typedef struct bk_header {
    const char *name;  /* NUL-terminated */
    const void *value; /* may be NULL (null header value) */
    size_t value_len;
} bk_header_t;

/* One message to send; every pointer is borrowed for the duration of
 * bk_producer_send only (librdkafka copies key, value and headers). */
typedef struct bk_message {
    const char *topic;
    int32_t partition; /* BK_PARTITION_ANY or an explicit partition */
    const void *key;   /* NULL = null key */
    size_t key_len;
    const void *value; /* NULL = tombstone */
    size_t value_len;
    const bk_header_t *headers;
    size_t header_cnt; /* at most BK_HEADERS_MAX */
} bk_message_t;

/* Outcome of one message, borrowed for the duration of the callback. */
typedef struct bk_delivery {
    const char *topic;
    int32_t partition; /* -1 when never assigned */
    int64_t offset;    /* -1 when unknown or failed */
    int code;          /* 0 or MW_ERR_* (MW_ERR_TIMEOUT: message.timeout.ms) */
    const char *message; /* "" on success, librdkafka's reason otherwise */
} bk_delivery_t;

/* Called once per sent message on the polling thread.  opaque is the
 * producer's, msg_opaque the message's.  The callback must not destroy the
 * producer. */
typedef void(bk_delivery_cb)(void *opaque, void *msg_opaque,
                             const bk_delivery_t *dr);

/* New producer from conf's kafka.* keys (conf borrowed, read during the
 * call only).  metrics may be NULL; otherwise statistics are exported
 * every statistics.interval.ms (default 5000).  NULL with MW_ERR_CONFIG
 * naming the key on a refused property. */
bk_producer_t *bk_producer_new(const mw_conf_t *conf, bk_delivery_cb *cb,
                               void *opaque, mw_metrics_t *metrics,
                               mw_err_t *err);

/* Destroys without flushing: messages still queued are reported as failed
 * through the callback (call bk_producer_flush first for a clean stop).
 * Accepts NULL. */
void bk_producer_destroy(bk_producer_t *prod);

/* Enqueues one message.  0; MW_ERR_FULL when the local queue is full
 * (serve callbacks, then retry); MW_ERR_INVALID for an unknown topic or
 * partition, a message too large or too many headers; MW_ERR_FATAL after a
 * fatal producer error (idempotence broken: recreate the producer).  On
 * error the message was not taken and no callback will come. */
int bk_producer_send(bk_producer_t *prod, const bk_message_t *msg,
                     void *msg_opaque, mw_err_t *err);

/* Fetches topic's metadata now (blocking, at most timeout_ms) and keeps a
 * handle on the topic for the producer's life, so that the first event to
 * it leaves at once: librdkafka 2.0.2 looks up a topic first produced to
 * after start-up only at its next one-second topic scan, which made every
 * daemon's first event wait up to a second.  A failure (brokers down,
 * unknown topic) is reported but harmless: sends work without it.  Blocks
 * the calling thread (about a round trip while brokers answer): call it
 * once per topic, where that wait is acceptable.  At most 8 topics; past
 * that MW_ERR_FULL at once. */
int bk_producer_prepare_topic(bk_producer_t *prod, const char *topic,
                              int timeout_ms, mw_err_t *err);

/* Serves delivery reports and events, waiting up to timeout_ms.  Returns
 * the number of events served. */
int bk_producer_poll(bk_producer_t *prod, int timeout_ms);

/* Waits until every queued message is delivered or failed, serving the
 * callbacks, for at most timeout_ms.  0, MW_ERR_TIMEOUT naming how many
 * messages remain, MW_ERR_FATAL after a fatal error. */
int bk_producer_flush(bk_producer_t *prod, int timeout_ms, mw_err_t *err);

/* Messages queued or in flight (not yet reported). */
int bk_producer_outq_len(bk_producer_t *prod);

/* MW_ERR_FATAL with librdkafka's reason once a fatal error was raised. */
int bk_producer_check_fatal(bk_producer_t *prod, mw_err_t *err);

/* True while librdkafka reports every broker down (its ALL_BROKERS_DOWN
 * error); false again after a successful delivery or once a statistics
 * report (every 5 s, when created with metrics) shows a broker up. */
bool bk_producer_is_brokers_down(const bk_producer_t *prod);

/* Hooks the producer to base (borrowed, must outlive the producer): the
 * loop wakes when librdkafka has events and serves them with a 0 timeout.
 * Call once, from the loop thread. */
int bk_producer_attach(bk_producer_t *prod, struct event_base *base,
                       mw_err_t *err);

#endif /* BK_PRODUCER_H */
