/*
 * bk_int.h: declarations shared by the files of broker-adapters/kafka and
 * nowhere else.  This is the only header above librdkafka that includes
 * rdkafka.h; the public bk_*.h headers expose our own types only.
 *
 * Every librdkafka handle the adapter creates carries a bk_client_t as its
 * opaque (rd_kafka_conf_set_opaque), so the shared callbacks (log, error,
 * statistics) find the client state without knowing whether it belongs to a
 * producer, a consumer or an admin.
 */
#ifndef BK_INT_H
#define BK_INT_H

#include <librdkafka/rdkafka.h>
#include <stdbool.h>
#include <stdint.h>

#include "bk_conf.h"
#include "bk_stats.h"
#include "mw_conf.h"
#include "mw_err.h"
#include "mw_metrics.h"

#define BK_COMPONENT "kafka"

/* State every librdkafka handle shares.  Fields are written by the error
 * and statistics callbacks, which librdkafka serves from rd_kafka_poll() /
 * rd_kafka_consumer_poll(), i.e. on the thread that polls (the loop thread):
 * no lock is needed as long as one thread polls. */
typedef struct bk_client {
    rd_kafka_t *rk;
    bk_role_t role;
    int fatal_code;                 /* 0 or MW_ERR_FATAL once raised */
    char fatal_msg[MW_ERR_MSG_MAX]; /* librdkafka's reason */
    /* librdkafka reported all brokers down; cleared by a successful
     * delivery (bk_producer) or a statistics report with a broker UP. */
    bool brokers_down;
    uint64_t error_cnt; /* error_cb calls, for rate limiting */
    bk_stats_t *stats;  /* NULL without metrics */
} bk_client_t;

/* Builds a librdkafka configuration for role: bootstrap default, the role's
 * defaults, then every kafka.* key of conf (so the user's keys win), the
 * statistics interval when metrics is non-NULL, and the shared callbacks
 * with cli as opaque.  Extra librdkafka properties (group.id) come as a
 * NULL-terminated key/value array `extra` applied after the defaults and
 * before the user's keys.  NULL with MW_ERR_CONFIG naming the key on
 * refusal.  The result is the caller's (rd_kafka_new or
 * rd_kafka_conf_destroy). */
rd_kafka_conf_t *bk_conf_build(const mw_conf_t *conf, bk_role_t role,
                               const char *const *extra, bk_client_t *cli,
                               mw_err_t *err);

/* rd_kafka_new() for a built conf: consumes rconf on every path (librdkafka
 * takes it only on success).  Sets cli->rk.  NULL with MW_ERR_CONFIG and
 * librdkafka's reason on failure. */
rd_kafka_t *bk_client_open(bk_client_t *cli, rd_kafka_conf_t *rconf,
                           mw_err_t *err);

/* Maps a librdkafka error code to a MW_ERR_* code (the one translation
 * table of the adapter). */
int bk_err_code(rd_kafka_resp_err_t rerr);

/* Sets err from a librdkafka code: mapped code, "what: <err2str>". */
int bk_err_set(mw_err_t *err, rd_kafka_resp_err_t rerr, const char *what);

/* Sets err from a librdkafka error object and destroys it. */
int bk_err_set_obj(mw_err_t *err, rd_kafka_error_t *error, const char *what);

/* MW_ERR_FATAL with librdkafka's fatal reason when the client raised a
 * fatal error, 0 otherwise. */
int bk_client_check_fatal(bk_client_t *cli, mw_err_t *err);

/* Event-loop wake-up shared by producer and consumer: a non-blocking pipe
 * whose write end librdkafka writes to (rd_kafka_queue_io_event_enable)
 * when the queue becomes non-empty; an event on the read end calls cb on
 * the loop thread after draining the pipe.  rkqu is consumed on every path
 * (bk_wake_destroy releases it with rd_kafka_queue_destroy). */
struct event_base;
typedef struct bk_wake bk_wake_t;
typedef void(bk_wake_cb)(void *opaque);
bk_wake_t *bk_wake_new(struct event_base *base, rd_kafka_queue_t *rkqu,
                       bk_wake_cb *cb, void *opaque, mw_err_t *err);
/* Detaches librdkafka from the pipe, then frees the event and the pipe.
 * Accepts NULL. */
void bk_wake_destroy(bk_wake_t *wake);
/* Makes the event fire once more at the next loop iteration, for callers
 * that stopped polling before the queue was empty. */
void bk_wake_kick(bk_wake_t *wake);

/* Statistics: feeds one librdkafka stats JSON document (bk_stats.c). */
int bk_stats_cb(rd_kafka_t *rk, char *json, size_t json_len, void *opaque);

#endif /* BK_INT_H */
