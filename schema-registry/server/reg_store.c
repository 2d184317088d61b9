/*
 * reg_store: the front of the registry's durable log.  It picks the backend
 * named by the `storage` key from its registration table and forwards every
 * call through the backend's ops table (reg_store_int.h); it holds no state
 * of its own beyond that pair.  Backends are named only in the table below.
 *
 * Thread: the registry's loop thread, like the backends' apply and done
 * callbacks.
 */
#include "reg_store.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mw_log.h"
#include "reg_store_int.h"

struct reg_store {
    const reg_store_ops_t *ops;
    const reg_store_log_t *log;
    void *be; /* the backend's state */
};

/* The backends, one file each. */
extern const reg_store_ops_t reg_store_journal_ops;
extern const reg_store_ops_t reg_store_kafka_ops;

/* Registration table: the `storage` values, in the order --help lists
 * them; the first one is the default.  A new backend is one line here
 * (and its extern above). */
static const reg_store_ops_t *const reg_store_backends[] = {
    &reg_store_journal_ops,
    &reg_store_kafka_ops,
};

#define REG_STORE_BACKEND_CNT                                                  \
    (sizeof(reg_store_backends) / sizeof(reg_store_backends[0]))

static const mw_conf_backend_t *reg_store_backend_at(size_t i)
{
    return i < REG_STORE_BACKEND_CNT ? &reg_store_backends[i]->conf : NULL;
}

const mw_conf_choice_t reg_store_choice = {
    .key = {.name = "storage",
            .dflt = "journal",
            .doc = "Where the registry's log lives:"},
    .backend_at = reg_store_backend_at,
};

/* The ops table whose conf member is be. */
static const reg_store_ops_t *reg_store_ops_of(const mw_conf_backend_t *be)
{
    for (size_t i = 0; be && i < REG_STORE_BACKEND_CNT; i++)
        if (&reg_store_backends[i]->conf == be)
            return reg_store_backends[i];
    return NULL;
}

static const reg_store_ops_t *reg_store_find(const mw_conf_t *conf,
                                             mw_err_t *err)
{
    const reg_store_ops_t *ops =
        reg_store_ops_of(mw_conf_chosen(conf, &reg_store_choice));
    char names[128];

    if (ops)
        return ops;
    mw_conf_choice_names(&reg_store_choice, names, sizeof(names));
    mw_err_set(err, MW_ERR_CONFIG,
               "key 'storage': unknown storage '%s' (expected one of: %s)",
               mw_conf_get_str(conf, "storage")
                   ? mw_conf_get_str(conf, "storage")
                   : "",
               names);
    return NULL;
}

/* The metrics both backends keep, under one set of names. */
static void reg_store_stats_register(reg_store_stats_t *st, mw_metrics_t *m,
                                     const char *name)
{
    char l[64];

    if (!m)
        return;
    snprintf(l, sizeof(l), "storage=\"%s\"", name);
    st->appends_total =
        mw_metrics_counter(m, "mesh_registry_store_appends_total",
                           "Records appended to the store.", l);
    st->errors_total = mw_metrics_counter(m, "mesh_registry_store_errors_total",
                                          "Appends that failed.", l);
    st->append_seconds = mw_metrics_histogram(
        m, "mesh_registry_store_append_seconds",
        "From append to its done callback (durable and applied).", l, NULL, 0);
}

const reg_store_log_t reg_store_log_schemas = {
    .name = "schemas",
    .journal_file = "schemas.journal",
    .topic_key = "kafkastore.topic",
};

const reg_store_log_t reg_store_log_catalog = {
    .name = "catalog",
    .journal_file = "catalog.journal",
    .topic_key = "kafkastore.catalog.topic",
};

reg_store_t *reg_store_open(struct event_base *base, const mw_conf_t *conf,
                            mw_metrics_t *metrics, reg_store_apply_cb *apply,
                            void *opaque, mw_err_t *err)
{
    return reg_store_open_log(base, conf, metrics, &reg_store_log_schemas,
                              apply, opaque, err);
}

reg_store_t *reg_store_open_log(struct event_base *base, const mw_conf_t *conf,
                                mw_metrics_t *metrics,
                                const reg_store_log_t *log,
                                reg_store_apply_cb *apply, void *opaque,
                                mw_err_t *err)
{
    reg_store_env_t env = {.base = base,
                           .conf = conf,
                           .metrics = metrics,
                           .log = log,
                           .apply = apply,
                           .opaque = opaque};
    const reg_store_ops_t *ops = reg_store_find(conf, err);
    reg_store_t *store;

    if (!ops)
        return NULL;
    reg_store_stats_register(&env.stats, metrics, ops->conf.name);
    store = calloc(1, sizeof(*store));
    if (!store) {
        mw_err_set(err, MW_ERR_NOMEM, "out of memory for the store");
        return NULL;
    }
    store->ops = ops;
    store->log = log;
    store->be = ops->open(&env, err);
    if (!store->be) {
        free(store);
        return NULL;
    }
    mw_log_info(REG_STORE_COMPONENT, "store opened", "storage=%s log=%s",
                ops->conf.name, log->name);
    return store;
}

int reg_store_append(reg_store_t *store, const char *key, const char *value,
                     reg_store_done_cb *done, void *opaque, mw_err_t *err)
{
    size_t key_len = key ? strlen(key) : 0;

    if (!key_len)
        return mw_err_set(err, MW_ERR_INVALID, "store record without a key");
    if (key_len > REG_STORE_RECORD_MAX_BYTES ||
        (value && strlen(value) > REG_STORE_RECORD_MAX_BYTES))
        return mw_err_set(err, MW_ERR_INVALID,
                          "store record larger than %u bytes",
                          REG_STORE_RECORD_MAX_BYTES);
    return store->ops->append(store->be, key, value, done, opaque, err);
}

int reg_store_is_ready(const reg_store_t *store)
{
    return store && store->ops->is_ready(store->be);
}

const char *reg_store_backend_name(const reg_store_t *store)
{
    return store->ops->conf.name;
}

void reg_store_close(reg_store_t *store, int timeout_ms)
{
    if (!store)
        return;
    store->ops->close(store->be, timeout_ms);
    mw_log_info(REG_STORE_COMPONENT, "store closed", "storage=%s log=%s",
                store->ops->conf.name, store->log->name);
    free(store);
}
