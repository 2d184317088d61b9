/*
 * eb_cluster: mesh-broker's mock Kafka cluster (librdkafka's rdkafka_mock)
 * plus the little state the mock does not keep for us: each broker's address,
 * up/down state and added round-trip time, and the configs given when a
 * topic was created through the control endpoint.
 *
 * Every function runs on mesh-broker's loop thread.  The mock brokers run on
 * librdkafka's own mock thread; the rd_kafka_mock_* calls used here are
 * synchronous requests to that thread, so the state below is consistent with
 * the mock once a call returns.
 */
#ifndef EB_CLUSTER_H
#define EB_CLUSTER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "mw_err.h"

#define EB_CLUSTER_MAX_BROKERS 16
#define EB_CLUSTER_MAX_PARTITIONS 1000

/* Partitions and replication factor the 2.0.2 mock gives a topic it
 * auto-creates (Metadata request with auto-creation allowed): 4 and
 * min(3, brokers).  Neither can be changed through the public mock API. */
#define EB_CLUSTER_AUTO_PARTITIONS 4

typedef struct eb_cluster eb_cluster_t;

/* Starts broker_cnt (1..EB_CLUSTER_MAX_BROKERS) mock brokers on 127.0.0.1
 * with random ports and learns their ids and addresses.  NULL with err set
 * (MW_ERR_INVALID for a bad count, MW_ERR_TRANSPORT when the brokers cannot
 * be reached, MW_ERR_NOMEM). */
eb_cluster_t *eb_cluster_new(int broker_cnt, mw_err_t *err);

/* Stops the mock brokers (their clients see the connections close).
 * Accepts NULL. */
void eb_cluster_destroy(eb_cluster_t *cl);

int eb_cluster_broker_cnt(const eb_cluster_t *cl);

/* Comma-separated "host:port" list of every mock broker; borrowed, valid
 * until eb_cluster_destroy(). */
const char *eb_cluster_bootstraps(const eb_cluster_t *cl);

/* "host:port" of broker id (1..broker_cnt), NULL for an unknown id;
 * borrowed, valid until eb_cluster_destroy(). */
const char *eb_cluster_broker_address(const eb_cluster_t *cl, int id);

/* Id of a broker that is up: broker 1 when up, else the lowest id up;
 * -1 when every broker is down. */
int eb_cluster_pick_broker(const eb_cluster_t *cl);

/* Number of brokers currently up. */
int eb_cluster_brokers_up(const eb_cluster_t *cl);

/* Broker as a JSON object {"id","address","up","rtt_ms"}: a new reference
 * (json_decref), NULL with MW_ERR_NOT_FOUND for an unknown id. */
json_t *eb_cluster_broker_json(const eb_cluster_t *cl, int id, mw_err_t *err);

/* Takes broker id down (its connections are closed and new ones refused) or
 * brings it back up.  The mock never elects a new leader; with
 * move_leaders, taking a broker down also moves the leadership of each
 * partition it leads to the first up replica, as Kafka's controller would
 * (leadership does not move back when the broker comes up).  *moved_cnt
 * (may be NULL) gets the number of partitions moved.  MW_ERR_NOT_FOUND for
 * an unknown id; a failure to move leaders is logged, not returned (the
 * broker is down either way). */
int eb_cluster_broker_set_up(eb_cluster_t *cl, int id, bool up,
                             bool move_leaders, int *moved_cnt, mw_err_t *err);

/* Adds rtt_ms (0..60000) of delay to every response of broker id. */
int eb_cluster_broker_set_rtt(eb_cluster_t *cl, int id, int rtt_ms,
                              mw_err_t *err);

/* Creates a topic.  partitions 1..EB_CLUSTER_MAX_PARTITIONS, replication
 * 1..broker_cnt; configs is a JSON object of string values or NULL
 * (borrowed, copied).  MW_ERR_EXISTS when the topic exists (created here or
 * auto-created by a client), MW_ERR_INVALID for bad arguments. */
int eb_cluster_topic_create(eb_cluster_t *cl, const char *name, int partitions,
                            int replication, const json_t *configs,
                            mw_err_t *err);

/* Topics as JSON objects {"name","partitions","replication_factor",
 * "configs"}, from a Metadata request to the mock (so auto-created topics
 * appear) merged with the configs kept here.  only_name NULL: a new array of
 * all topics sorted by name; otherwise the new object of that topic or NULL
 * with MW_ERR_NOT_FOUND.  MW_ERR_TRANSPORT when no broker answers. */
json_t *eb_cluster_topics(eb_cluster_t *cl, const char *only_name,
                          mw_err_t *err);

/* Retention of the 2.0.2 mock's partition logs (rdkafka_mock.c gives every
 * partition max_size 5 MiB and max_cnt 100,000 message sets, and drops the
 * oldest set past either, with no way to change them through the public
 * API).  Documented here so the start-up line and the docs agree. */
#define EB_CLUSTER_RETENTION_MAX_BYTES (5 * 1024 * 1024)
#define EB_CLUSTER_RETENTION_MAX_BATCHES 100000

/* One partition's offsets, handed to an eb_cluster_scan_fn_t. */
typedef struct eb_cluster_offsets {
    const char *topic; /* borrowed for the callback's duration */
    int partition;
    int64_t low;  /* log start offset: records below it are gone */
    int64_t high; /* offset the next record will get */
} eb_cluster_offsets_t;

typedef void (*eb_cluster_scan_fn_t)(const eb_cluster_offsets_t *offs,
                                     void *opaque);

/* Calls fn for every partition of every topic whose leader is up and has
 * no added round-trip time, with its low and high watermarks (a Metadata
 * request, then a ListOffsets pair per partition, all to the in-process
 * mock).  Partitions behind a fault are skipped rather than waited for, so
 * a scan never holds the loop for a request timeout; while any broker has
 * a delay, every broker is down, or errors pushed for Metadata or
 * ListOffsets are not cleared, nothing is scanned (the scan would wait, or
 * eat errors meant for a client).  Returns the number of partitions or
 * brokers skipped (>= 0; 0 means a full scan), or MW_ERR_TRANSPORT when
 * Metadata fails. */
int eb_cluster_scan_offsets(eb_cluster_t *cl, eb_cluster_scan_fn_t fn,
                            void *opaque, mw_err_t *err);

/* Pushes cnt errors for the next cnt requests of ApiKey api (cluster-wide;
 * RD_KAFKA_RESP_ERR__TRANSPORT makes the broker drop the connection). */
int eb_cluster_push_errors(eb_cluster_t *cl, int api, size_t cnt,
                           const int *errs, mw_err_t *err);

/* Forgets the pushed errors of ApiKey api that are not consumed yet. */
int eb_cluster_clear_errors(eb_cluster_t *cl, int api, mw_err_t *err);

/* Parses an ApiKey given as a name ("Produce", case-insensitive) or a
 * number (0..EB_CLUSTER_MAX_API).  0 or MW_ERR_INVALID naming the input. */
#define EB_CLUSTER_MAX_API 100
int eb_cluster_api_parse(const char *text, int *api, mw_err_t *err);

/* Name of an ApiKey ("Produce"), NULL when not in our table. */
const char *eb_cluster_api_name(int api);

/* Parses a Kafka or librdkafka error given as a name as printed by
 * rd_kafka_err2name ("NOT_LEADER_FOR_PARTITION", "_TRANSPORT",
 * case-insensitive, optional "RD_KAFKA_RESP_ERR_" prefix) or a number.
 * 0 or MW_ERR_INVALID naming the input. */
int eb_cluster_err_parse(const char *text, int *code, mw_err_t *err);

#endif /* EB_CLUSTER_H */
