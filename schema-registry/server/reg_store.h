/*
 * reg_store: the registry's durable log of state changes.
 *
 * The registry's whole state (subjects, versions, ids, configs, modes,
 * deletions) is the result of replaying an ordered log of records in the
 * format of Confluent's `_schemas` topic: a JSON key ({"keytype":"SCHEMA",
 * "subject":...,"version":...,"magic":1}, CONFIG, MODE, DELETE_SUBJECT,
 * NOOP) and a JSON value (or none: a tombstone, i.e. a permanent delete).
 * Both backends store exactly these records, so a journal can be loaded
 * into a `_schemas` topic and an existing topic taken over.
 *
 * Backends (one file each, named only in reg_store.c's table):
 *   journal  append-only, checksummed, fsynced file under data.dir; a torn
 *            last record is detected and cut at open.
 *   kafka    the compacted `_schemas` topic shared by several instances;
 *            every instance applies every record in log order, so all reach
 *            the same state, and a writer's own record counts only once it
 *            has been read back (see reg_store_kafka.c for how concurrent
 *            id allocation is resolved).
 *
 * Thread: the registry's loop thread.  apply and done callbacks run there.
 */
#ifndef REG_STORE_H
#define REG_STORE_H

#include <stddef.h>
#include <stdint.h>

#include "mw_conf.h"
#include "mw_err.h"
#include "mw_metrics.h"

struct event_base;

typedef struct reg_store reg_store_t;

/* One record of the log.  key and value are JSON texts (value NULL for a
 * tombstone), each NUL-terminated after its length; offset is the record's
 * position in the log (journal: its ordinal from 0; kafka: the partition
 * offset).  Offsets grow strictly in apply order but may have gaps (kafka:
 * compaction, the NOOP records the store writes itself are applied too). */
typedef struct reg_store_record {
    const char *key;
    size_t key_len;
    const char *value;
    size_t value_len;
    int64_t offset;
} reg_store_record_t;

/* Applies one record to the registry's state.  Called in log order for
 * every record, at open (replay) and for each later record, including the
 * instance's own appends.  The record is borrowed for the call. */
typedef void(reg_store_apply_cb)(void *opaque, const reg_store_record_t *rec);

/* Completion of reg_store_append: err is NULL on success, when the record is
 * durable and has been applied (so the caller can read its effect from the
 * state); otherwise the record may or may not be in the log and the error
 * says why (MW_ERR_IO, MW_ERR_TRANSPORT, MW_ERR_TIMEOUT). */
typedef void(reg_store_done_cb)(void *opaque, int64_t offset,
                                const mw_err_t *err);

/* The `storage` key: its allowed values are the backends of reg_store.c's
 * registration table, and each backend brings its own keys (kafka:
 * kafka.bootstrap.servers, kafkastore.topic, kafkastore.init.timeout.ms,
 * kafkastore.timeout.ms; the journal reads the program's data.dir).  The
 * program puts it in its mw_conf_program_t.choices. */
extern const mw_conf_choice_t reg_store_choice;

/* Which log a store holds.  The registry keeps two: the schemas
 * (`_schemas` records, reg_store_log_schemas) and the data-product catalog
 * (reg_store_log_catalog, records of reg_catalog.h), each in its own
 * journal file or its own compacted topic, so that Confluent's and
 * Karapace's readers of `_schemas` never meet a record they do not know. */
typedef struct reg_store_log {
    const char *name;         /* "schemas", "catalog": for logs */
    const char *journal_file; /* file under data.dir (storage=journal) */
    const char *topic_key;    /* the key naming the topic (storage=kafka) */
} reg_store_log_t;

extern const reg_store_log_t reg_store_log_schemas;
extern const reg_store_log_t reg_store_log_catalog;

/* Opens the backend chosen by conf's `storage` key (conf declares it and
 * the chosen backend's keys, plus data.dir), replays the whole log through
 * apply before returning, and keeps applying new records as they arrive
 * (kafka).  base, conf and metrics are borrowed and outlive the store.
 * NULL with err set (MW_ERR_CONFIG for bad keys, MW_ERR_IO for an
 * unreadable journal, MW_ERR_TRANSPORT when Kafka is unreachable). */
reg_store_t *reg_store_open(struct event_base *base, const mw_conf_t *conf,
                            mw_metrics_t *metrics, reg_store_apply_cb *apply,
                            void *opaque, mw_err_t *err);

/* reg_store_open for another log than the schemas' (log is static).  Both
 * logs count in the same store metrics. */
reg_store_t *reg_store_open_log(struct event_base *base, const mw_conf_t *conf,
                                mw_metrics_t *metrics,
                                const reg_store_log_t *log,
                                reg_store_apply_cb *apply, void *opaque,
                                mw_err_t *err);

/* Appends one record (key and value copied; value NULL = tombstone).  done
 * is called exactly once, on the loop thread, possibly before this
 * function returns (journal).  Returns 0 when accepted, or an error code
 * (and done is not called). */
int reg_store_append(reg_store_t *store, const char *key, const char *value,
                     reg_store_done_cb *done, void *opaque, mw_err_t *err);

/* True once the store has caught up with the log's end (always for the
 * journal).  The API answers writes with 50002/50003-style errors until
 * then. */
int reg_store_is_ready(const reg_store_t *store);

/* The backend in use: "journal" or "kafka".  Borrowed, static. */
const char *reg_store_backend_name(const reg_store_t *store);

/* Stops intake, waits up to timeout_ms for in-flight appends, closes.
 * NULL-safe. */
void reg_store_close(reg_store_t *store, int timeout_ms);

#endif /* REG_STORE_H */
