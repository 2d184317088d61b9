/*
 * bk_admin: the admin front.  It owns one backend at a time, starting with
 * the first of its registration table; a backend answering
 * MW_ERR_UNSUPPORTED (the cluster does not speak its protocol) is replaced
 * by the next one for the rest of the admin's life and the call is retried.
 * Nothing here knows what a backend talks to.
 *
 * Invariant: admin->be is always an open backend of bk_admin_backends
 * [admin->idx].  One thread; calls block for at most BK_ADMIN_TIMEOUT_MS
 * per backend tried.
 */
#include "bk_admin.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "bk_admin_int.h"
#include "mw_log.h"
#include "mw_vec.h"

/* Registration table: tried in order. */
static const bk_admin_ops_t *const bk_admin_backends[] = {
    &bk_admin_kafka_ops,
    &bk_admin_embedded_ops,
};
#define BK_ADMIN_BACKEND_CNT                                                   \
    (sizeof(bk_admin_backends) / sizeof(bk_admin_backends[0]))

struct bk_admin {
    const mw_conf_t *conf;
    size_t idx;
    bk_admin_be_t *be;
};

bk_admin_t *bk_admin_new(const mw_conf_t *conf, mw_err_t *err)
{
    bk_admin_t *admin = calloc(1, sizeof(*admin));

    if (!admin) {
        mw_err_set(err, MW_ERR_NOMEM, "out of memory for kafka admin");
        return NULL;
    }
    admin->conf = conf;
    admin->be = bk_admin_backends[0]->open(conf, err);
    if (!admin->be) {
        free(admin);
        return NULL;
    }
    return admin;
}

void bk_admin_destroy(bk_admin_t *admin)
{
    if (!admin)
        return;
    bk_admin_backends[admin->idx]->close(admin->be);
    free(admin);
}

const char *bk_admin_backend_name(const bk_admin_t *admin)
{
    return bk_admin_backends[admin->idx]->name;
}

/* After a call returned rc: true when rc asks for the next backend and it
 * is now open (retry the call); false otherwise (return rc). */
static bool bk_admin_fallback(bk_admin_t *admin, int rc, mw_err_t *err)
{
    bk_admin_be_t *be;
    mw_err_t open_err;

    if (rc != MW_ERR_UNSUPPORTED || admin->idx + 1 >= BK_ADMIN_BACKEND_CNT)
        return false;
    be = bk_admin_backends[admin->idx + 1]->open(admin->conf, &open_err);
    if (!be) {
        mw_err_prefix(err, "%s (fallback to %s failed: %s)",
                      bk_admin_backends[admin->idx]->name,
                      bk_admin_backends[admin->idx + 1]->name, open_err.msg);
        return false;
    }
    mw_log_info("kafka", "admin backend switched", "from=%s to=%s reason=%s",
                bk_admin_backends[admin->idx]->name,
                bk_admin_backends[admin->idx + 1]->name,
                mw_log_q(err ? err->msg : "unsupported"));
    bk_admin_backends[admin->idx]->close(admin->be);
    admin->idx++;
    admin->be = be;
    mw_err_clear(err);
    return true;
}

int bk_admin_create_topic(bk_admin_t *admin, const bk_topic_spec_t *spec,
                          mw_err_t *err)
{
    int rc;

    do {
        rc = bk_admin_backends[admin->idx]->create_topic(admin->be, spec, err);
    } while (bk_admin_fallback(admin, rc, err));
    return rc;
}

int bk_admin_list_topics(bk_admin_t *admin, bk_topic_info_t **topics,
                         size_t *cnt, mw_err_t *err)
{
    int rc;

    *topics = NULL;
    *cnt = 0;
    do {
        rc = bk_admin_backends[admin->idx]->list_topics(admin->be, topics, cnt,
                                                        err);
    } while (bk_admin_fallback(admin, rc, err));
    if (rc == 0)
        bk_topic_list_sort(*topics, *cnt);
    return rc;
}

int bk_admin_describe_topic(bk_admin_t *admin, const char *name,
                            bk_topic_info_t **info, mw_err_t *err)
{
    int rc;

    *info = NULL;
    do {
        rc = bk_admin_backends[admin->idx]->describe_topic(admin->be, name,
                                                           info, err);
    } while (bk_admin_fallback(admin, rc, err));
    return rc;
}

/* ------------------------------------------------------------ results */

static void bk_topic_info_clear(bk_topic_info_t *info)
{
    for (size_t i = 0; i < info->config_cnt; i++) {
        free(info->configs[i].key);
        free(info->configs[i].value);
    }
    free(info->configs);
    free(info->name);
}

void bk_topic_info_destroy(bk_topic_info_t *info)
{
    if (!info)
        return;
    bk_topic_info_clear(info);
    free(info);
}

void bk_topic_list_destroy(bk_topic_info_t *topics, size_t cnt)
{
    for (size_t i = 0; topics && i < cnt; i++)
        bk_topic_info_clear(&topics[i]);
    free(topics);
}

int bk_topic_info_set_name(bk_topic_info_t *info, const char *name,
                           mw_err_t *err)
{
    free(info->name);
    info->name = strdup(name);
    return info->name ? 0 : mw_err_set(err, MW_ERR_NOMEM, "out of memory");
}

int bk_topic_info_add_config(bk_topic_info_t *info, const char *key,
                             const char *value, mw_err_t *err)
{
    bk_kv_t *kv;

    if (MW_VEC_RESERVE(&info->configs, &info->config_cap,
                       info->config_cnt + 1) != 0)
        return mw_err_set(err, MW_ERR_NOMEM, "out of memory");
    kv = &info->configs[info->config_cnt];
    kv->key = strdup(key);
    kv->value = strdup(value ? value : "");
    if (!kv->key || !kv->value) {
        free(kv->key);
        free(kv->value);
        return mw_err_set(err, MW_ERR_NOMEM, "out of memory");
    }
    info->config_cnt++;
    return 0;
}

static int bk_topic_cmp(const void *a, const void *b)
{
    const bk_topic_info_t *ta = a, *tb = b;

    return strcmp(ta->name, tb->name);
}

static int bk_kv_cmp(const void *a, const void *b)
{
    const bk_kv_t *ka = a, *kb = b;

    return strcmp(ka->key, kb->key);
}

void bk_topic_list_sort(bk_topic_info_t *topics, size_t cnt)
{
    if (cnt > 1)
        qsort(topics, cnt, sizeof(*topics), bk_topic_cmp);
    for (size_t i = 0; i < cnt; i++)
        if (topics[i].config_cnt > 1)
            qsort(topics[i].configs, topics[i].config_cnt, sizeof(bk_kv_t),
                  bk_kv_cmp);
}
