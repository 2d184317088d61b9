/*
 * reg_store_int.h: the storage backends' ops table, shared by reg_store.c (the
 * front) and one file per backend (reg_store_journal.c, reg_store_kafka.c).
 * Nothing outside reg_store*.c includes it.
 *
 * A backend keeps the same promises as the public API (reg_store.h): apply
 * is called in log order for every record, on the loop thread; done is
 * called exactly once per accepted append, on the loop thread, after the
 * record is durable and applied (or with an error).
 */
#ifndef REG_STORE_INT_H
#define REG_STORE_INT_H

#include "reg_store.h"

#define REG_STORE_COMPONENT "store"

/* Largest key or value a backend accepts (a schema is bounded far below
 * this by schema.max.bytes; the journal also uses it to tell a corrupt
 * length from a real one). */
#define REG_STORE_RECORD_MAX_BYTES (64u * 1024 * 1024)

/* Appends waiting for their done callback, per store; past it append
 * answers MW_ERR_FULL. */
#define REG_STORE_INFLIGHT_MAX 4096

/* The metrics every backend keeps, labelled storage="<name>", registered
 * once by the front; all NULL when the program has no metrics registry. */
typedef struct reg_store_stats {
    mw_counter_t *appends_total;    /* appends accepted */
    mw_counter_t *errors_total;     /* appends that failed */
    mw_histogram_t *append_seconds; /* append to its done callback */
} reg_store_stats_t;

/* What a backend gets at open: the public open's arguments, and the
 * shared metrics. */
typedef struct reg_store_env {
    struct event_base *base;
    const mw_conf_t *conf;
    mw_metrics_t *metrics; /* may be NULL */
    reg_store_stats_t stats;
    const reg_store_log_t *log; /* which log: its file or topic key */
    reg_store_apply_cb *apply;
    void *opaque;
} reg_store_env_t;

typedef struct reg_store_ops {
    /* The backend as the configuration sees it: its `storage` value, doc,
     * own keys and cross-key checks (reg_store_choice lists them). */
    mw_conf_backend_t conf;
    /* Opens, replays, returns the backend's state or NULL with err. */
    void *(*open)(const reg_store_env_t *env, mw_err_t *err);
    int (*append)(void *be, const char *key, const char *value,
                  reg_store_done_cb *done, void *opaque, mw_err_t *err);
    int (*is_ready)(const void *be);
    void (*close)(void *be, int timeout_ms);
} reg_store_ops_t;

/* Each backend defines one `const reg_store_ops_t reg_store_<name>_ops`;
 * only reg_store.c's registration table names it. */

#endif /* REG_STORE_INT_H */
