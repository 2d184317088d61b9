/*
 * bk_consumer: consumer-group member with manual offset management.
 *
 * Auto-commit and auto offset store are off (see bk_conf.h): the caller
 * decides what is consumed.  Two ways to keep offsets:
 *   - in Kafka: bk_consumer_store() after processing a record, then
 *     bk_consumer_commit_stored() (periodically, and synchronously in the
 *     revoked callback, which the adapter calls BEFORE the partitions go);
 *   - elsewhere (a sink's transaction): the assigned callback sets each
 *     partition's start offset from the caller's store.
 * Eager and cooperative rebalancing are both handled (the assignor decides;
 * see rd_kafka_rebalance_protocol).
 *
 * Records: bk_consumer_poll returns a record owned by the caller, freed with
 * bk_record_destroy (so a caller may batch several before committing).  The
 * record is a small fixed-size view over librdkafka's message: no copy of
 * key or value, headers parsed only on demand.
 *
 * Threads: one thread owns the consumer.  Rebalance callbacks, errors and
 * statistics run inside bk_consumer_poll (or on the loop thread once
 * attached); never on librdkafka's threads.
 */
#ifndef BK_CONSUMER_H
#define BK_CONSUMER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "bk_producer.h" /* bk_header_t */
#include "mw_conf.h"
#include "mw_err.h"
#include "mw_metrics.h"

struct event_base;

typedef struct bk_consumer bk_consumer_t;

/* Special offsets (the same meaning as Kafka's). */
#define BK_OFFSET_BEGINNING (-2LL)
#define BK_OFFSET_END (-1LL)
#define BK_OFFSET_STORED                                                       \
    (-1000LL) /* committed offset, else auto.offset.reset */

/* One consumed record.  Every pointer lives as long as the record.
 * Headers are not fields: librdkafka parses them only when asked
 * (bk_record_header_cnt / _at / bk_record_header), which costs about as much
 * as the whole poll, so records whose headers nobody reads never pay it. */
typedef struct bk_record {
    const char *topic;
    int32_t partition;
    int64_t offset;
    const void *key; /* NULL for a null key */
    size_t key_len;
    const void *value; /* NULL for a tombstone */
    size_t value_len;
    int64_t timestamp_ms; /* -1 when not available */
} bk_record_t;

/* A topic partition with an offset (next offset to read / to commit). */
typedef struct bk_partition {
    const char *topic;
    int32_t partition;
    int64_t offset;
} bk_partition_t;

typedef struct bk_partition_list {
    bk_partition_t *elems; /* cnt elements */
    size_t cnt;
    bool lost; /* revoked without a clean hand-over: committing
                * would fail, another member owns them already */
} bk_partition_list_t;

/* Rebalance hooks, called on the polling thread inside bk_consumer_poll.
 *  assigned: elems[i].offset is BK_OFFSET_STORED; the caller may set the
 *            start offset it keeps elsewhere.  Topic strings are borrowed
 *            for the call.
 *  revoked:  the partitions are still assigned: flush, then commit (e.g.
 *            bk_consumer_commit_stored(cons, true, ...)) unless lost.
 * Either may be NULL. */
typedef struct bk_rebalance_ops {
    void (*assigned)(void *opaque, bk_partition_list_t *parts);
    void (*revoked)(void *opaque, const bk_partition_list_t *parts);
} bk_rebalance_ops_t;

/* New group member from conf's kafka.* keys.  group_id (copied) overrides
 * kafka.group.id; one of them is required.  ops is copied; opaque is passed
 * to it.  metrics may be NULL.  NULL with err set (MW_ERR_CONFIG naming the
 * key). */
bk_consumer_t *bk_consumer_new(const mw_conf_t *conf, const char *group_id,
                               const bk_rebalance_ops_t *ops, void *opaque,
                               mw_metrics_t *metrics, mw_err_t *err);

/* Like bk_consumer_new, with extra librdkafka properties: props is a
 * NULL-terminated key, value, key, value... array (borrowed, read during
 * the call) applied over Meshwork's defaults and under the user's kafka.*
 * keys, so a caller can tune its own defaults (group.id may be one of
 * them) while the user keeps the last word. */
bk_consumer_t *bk_consumer_new_props(const mw_conf_t *conf,
                                     const char *const *props,
                                     const bk_rebalance_ops_t *ops,
                                     void *opaque, mw_metrics_t *metrics,
                                     mw_err_t *err);

/* Destroys; call bk_consumer_close first to leave the group cleanly, and
 * destroy every record first.  Accepts NULL. */
void bk_consumer_destroy(bk_consumer_t *cons);

/* Subscribes to topics (topic_cnt names, copied).  0 or MW_ERR_INVALID. */
int bk_consumer_subscribe(bk_consumer_t *cons, const char *const *topics,
                          size_t topic_cnt, mw_err_t *err);

/* Waits up to timeout_ms for a record.  0 with *rec set to a new record
 * (free with bk_record_destroy) or NULL when none arrived; MW_ERR_FATAL
 * after a fatal consumer error.  Transient consumer errors (broker down,
 * topic not yet known) are logged and do not end the call early. */
int bk_consumer_poll(bk_consumer_t *cons, int timeout_ms, bk_record_t **rec,
                     mw_err_t *err);

/* Frees rec and the librdkafka message behind it; any thread, but before
 * bk_consumer_destroy of the consumer it came from (librdkafka requires its
 * messages gone before the handle).  Accepts NULL. */
void bk_record_destroy(bk_record_t *rec);

/* Headers of rec, in the order they were produced, parsed on first use.
 * A record's header calls must not run on two threads at once (the first
 * one parses).  Names and values live as long as the record. */
size_t bk_record_header_cnt(const bk_record_t *rec);

/* The idx-th header into *hdr.  0 or MW_ERR_NOT_FOUND (idx too large). */
int bk_record_header_at(const bk_record_t *rec, size_t idx, bk_header_t *hdr);

/* The value of the LAST header called name (Kafka allows repeats; the last
 * one wins, as in the Java client's lastHeader); *value is NULL for a null
 * value.  0 or MW_ERR_NOT_FOUND. */
int bk_record_header(const bk_record_t *rec, const char *name,
                     const void **value, size_t *value_len);

/* Marks rec as processed: its offset + 1 is stored for the next
 * bk_consumer_commit_stored.  0 or MW_ERR_STATE when the partition is no
 * longer assigned. */
int bk_consumer_store(bk_consumer_t *cons, const bk_record_t *rec,
                      mw_err_t *err);

/* Commits the stored offsets of the current assignment; sync waits for the
 * broker's answer.  Nothing stored is not an error. */
int bk_consumer_commit_stored(bk_consumer_t *cons, bool sync, mw_err_t *err);

/* Commits explicit next offsets (cnt elements). */
int bk_consumer_commit(bk_consumer_t *cons, const bk_partition_t *parts,
                       size_t cnt, bool sync, mw_err_t *err);

/* Moves an assigned partition's position to offset, waiting up to
 * timeout_ms (0: asynchronous). */
int bk_consumer_seek(bk_consumer_t *cons, const char *topic, int32_t partition,
                     int64_t offset, int timeout_ms, mw_err_t *err);

/* Reads one partition without the group's rebalancing: replaces the
 * consumer's assignment with topic/partition starting at offset (an
 * offset, BK_OFFSET_BEGINNING or BK_OFFSET_END).  For readers of a whole
 * log, such as the registry's `_schemas` topic; do not mix with
 * bk_consumer_subscribe.  Nothing is committed unless the caller commits.
 * 0 or the mapped librdkafka error naming topic and partition.  Owning
 * thread. */
int bk_consumer_assign_partition(bk_consumer_t *cons, const char *topic,
                                 int32_t partition, int64_t offset,
                                 mw_err_t *err);

/* A partition's low and high watermarks; the high one is the offset the
 * next record will get. */
typedef struct bk_watermarks {
    int64_t low, high;
} bk_watermarks_t;

/* Asks the partition's leader for its watermarks into *wm, waiting up to
 * timeout_ms.  Blocking: start-up and tools, not loop callbacks.  0 or the
 * mapped error (MW_ERR_TIMEOUT / MW_ERR_TRANSPORT when unreachable). */
int bk_consumer_watermarks(bk_consumer_t *cons, const char *topic,
                           int32_t partition, bk_watermarks_t *wm,
                           int timeout_ms, mw_err_t *err);

/* Leaves the group: revokes the assignment (calling revoked, so the caller
 * commits) and waits for the broker.  Blocking; call once at shutdown. */
int bk_consumer_close(bk_consumer_t *cons, mw_err_t *err);

/* Called on the loop thread when records or events may be waiting.  The
 * callback polls with timeout 0 until bk_consumer_poll gives no record;
 * a callback that stops earlier calls bk_consumer_kick. */
typedef void(bk_consumer_ready_cb)(void *opaque);

/* Hooks the consumer to base (borrowed, must outlive the consumer).  Call
 * once, from the loop thread, after bk_consumer_subscribe. */
int bk_consumer_attach(bk_consumer_t *cons, struct event_base *base,
                       bk_consumer_ready_cb *cb, void *opaque, mw_err_t *err);

/* Asks for one more ready callback at the next loop iteration. */
void bk_consumer_kick(bk_consumer_t *cons);

#endif /* BK_CONSUMER_H */
