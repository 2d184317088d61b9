/*
 * sr_store: the front of the registry's durable log.  It picks the backend
 * named by the `storage` key from its registration table and forwards every
 * call through the backend's ops table (sr_store_int.h); it holds no state
 * of its own beyond that pair.  Backends are named only in the table below.
 *
 * Thread: the registry's loop thread, like the backends' apply and done
 * callbacks.
 */
#include "sr_store.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "mw_log.h"
#include "sr_store_int.h"

struct sr_store {
    const sr_store_ops_t *ops;
    void *be; /* the backend's state */
};

/* Registration table: the `storage` values, in the order --help lists
 * them; the first one is the default. */
static const sr_store_ops_t *const sr_store_backends[] = {
    &sr_store_journal_ops,
    &sr_store_kafka_ops,
};

#define SR_STORE_BACKEND_CNT \
    (sizeof(sr_store_backends) / sizeof(sr_store_backends[0]))

const char *sr_store_conf_str(const mw_conf_t *conf, const char *key,
                              const char *dflt)
{
    const char *v;

    /* mw_conf_get_str asserts the key is declared; an undeclared key has no
     * origin (it cannot be a kafka.* passthrough key either). */
    if (!conf || !mw_conf_origin(conf, key))
        return dflt;
    v = mw_conf_get_str(conf, key);
    return v && v[0] ? v : dflt;
}

static const sr_store_ops_t *sr_store_find(const char *name, mw_err_t *err)
{
    char names[128] = "";

    for (size_t i = 0; i < SR_STORE_BACKEND_CNT; i++) {
        if (!strcasecmp(sr_store_backends[i]->name, name))
            return sr_store_backends[i];
        strncat(names, i ? ", " : "", sizeof(names) - strlen(names) - 1);
        strncat(names, sr_store_backends[i]->name,
                sizeof(names) - strlen(names) - 1);
    }
    mw_err_set(err, MW_ERR_CONFIG,
               "key 'storage': unknown storage '%s' (expected one of: %s)",
               name, names);
    return NULL;
}

sr_store_t *sr_store_open(struct event_base *base, const mw_conf_t *conf,
                          mw_metrics_t *metrics, sr_store_apply_cb *apply,
                          void *opaque, mw_err_t *err)
{
    const sr_store_env_t env = {.base = base, .conf = conf,
                                .metrics = metrics, .apply = apply,
                                .opaque = opaque};
    const char *name = sr_store_conf_str(conf, "storage",
                                         sr_store_backends[0]->name);
    const sr_store_ops_t *ops = sr_store_find(name, err);
    sr_store_t *store;

    if (!ops)
        return NULL;
    store = calloc(1, sizeof(*store));
    if (!store) {
        mw_err_set(err, MW_ERR_NOMEM, "out of memory for the store");
        return NULL;
    }
    store->ops = ops;
    store->be = ops->open(&env, err);
    if (!store->be) {
        free(store);
        return NULL;
    }
    mw_log_info(SR_STORE_COMPONENT, "store opened", "storage=%s", ops->name);
    return store;
}

int sr_store_append(sr_store_t *store, const char *key, const char *value,
                    sr_store_done_cb *done, void *opaque, mw_err_t *err)
{
    size_t key_len = key ? strlen(key) : 0;

    if (!key_len)
        return mw_err_set(err, MW_ERR_INVALID, "store record without a key");
    if (key_len > SR_STORE_RECORD_MAX_BYTES ||
        (value && strlen(value) > SR_STORE_RECORD_MAX_BYTES))
        return mw_err_set(err, MW_ERR_INVALID,
                          "store record larger than %u bytes",
                          SR_STORE_RECORD_MAX_BYTES);
    return store->ops->append(store->be, key, value, done, opaque, err);
}

int sr_store_is_ready(const sr_store_t *store)
{
    return store && store->ops->is_ready(store->be);
}

const char *sr_store_backend_name(const sr_store_t *store)
{
    return store->ops->name;
}

void sr_store_close(sr_store_t *store, int timeout_ms)
{
    if (!store)
        return;
    store->ops->close(store->be, timeout_ms);
    mw_log_info(SR_STORE_COMPONENT, "store closed", "storage=%s",
                store->ops->name);
    free(store);
}
