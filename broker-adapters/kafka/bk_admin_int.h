/*
 * bk_admin_int.h: the admin ops table shared by the front (bk_admin.c) and
 * its backends (bk_admin_kafka.c, bk_admin_embedded.c), after curl's vtls
 * and libevent's eventop: one struct of function pointers per backend, the
 * front names them only in its registration table.
 */
#ifndef BK_ADMIN_INT_H
#define BK_ADMIN_INT_H

#include "bk_admin.h"

/* A backend's private state. */
typedef struct bk_admin_be bk_admin_be_t;

typedef struct bk_admin_ops {
    const char *name;
    /* Opens the backend for conf (borrowed); NULL with err set. */
    bk_admin_be_t *(*open)(const mw_conf_t *conf, mw_err_t *err);
    void (*close)(bk_admin_be_t *be);
    /* Same contracts as the bk_admin_* front functions; MW_ERR_UNSUPPORTED
     * means "this cluster does not speak this backend's protocol": the
     * front moves to the next backend and retries. */
    int (*create_topic)(bk_admin_be_t *be, const bk_topic_spec_t *spec,
                        mw_err_t *err);
    int (*list_topics)(bk_admin_be_t *be, bk_topic_info_t **topics, size_t *cnt,
                       mw_err_t *err);
    int (*describe_topic)(bk_admin_be_t *be, const char *name,
                          bk_topic_info_t **info, mw_err_t *err);
} bk_admin_ops_t;

extern const bk_admin_ops_t bk_admin_kafka_ops;
extern const bk_admin_ops_t bk_admin_embedded_ops;

/* Helpers shared by the backends (bk_admin.c). */
int bk_topic_info_set_name(bk_topic_info_t *info, const char *name,
                           mw_err_t *err);
int bk_topic_info_add_config(bk_topic_info_t *info, const char *key,
                             const char *value, mw_err_t *err);
void bk_topic_list_sort(bk_topic_info_t *topics, size_t cnt);

#endif /* BK_ADMIN_INT_H */
