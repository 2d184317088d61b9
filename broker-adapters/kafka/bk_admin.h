/*
 * bk_admin: topic administration, the same for a real Kafka cluster and for
 * mesh-broker.
 *
 * The front starts with the Kafka protocol (CreateTopics, DescribeConfigs,
 * Metadata).  librdkafka's mock cluster, which mesh-broker hosts, does not
 * speak CreateTopics or DescribeConfigs (librdkafka learns that through
 * ApiVersions and reports "unsupported feature"); the front then switches,
 * for the rest of the admin's life, to mesh-broker's control endpoint,
 * reached over HTTP through the same bootstrap address.  Callers never know
 * which kind of cluster answered.
 *
 * Calls are blocking (bounded by BK_ADMIN_TIMEOUT_MS each) and meant for
 * command-line tools and start-up, not for a loop callback.  One thread.
 */
#ifndef BK_ADMIN_H
#define BK_ADMIN_H

#include <stddef.h>

#include "mw_conf.h"
#include "mw_err.h"

#define BK_ADMIN_TIMEOUT_MS 10000
#define BK_REPLICATION_DEFAULT (-1) /* the broker's default */

typedef struct bk_admin bk_admin_t;

/* A topic config entry.  As input the strings are borrowed; in results
 * they belong to the result. */
typedef struct bk_kv {
    char *key;
    char *value;
} bk_kv_t;

/* One topic as described by the cluster; free with bk_topic_info_destroy
 * (a single one) or bk_topic_list_destroy (an array). */
typedef struct bk_topic_info {
    char *name;
    int partitions;
    int replication;  /* replicas of partition 0 */
    bk_kv_t *configs; /* configs explicitly set on the topic (not broker
                       * defaults); only filled by describe */
    size_t config_cnt;
    size_t config_cap; /* room in configs (bk_topic_info_add_config) */
} bk_topic_info_t;

/* New admin from conf's kafka.* keys.  conf is borrowed and must outlive
 * the admin (the fallback backend is opened from it when needed).  NULL
 * with MW_ERR_CONFIG naming a refused key. */
bk_admin_t *bk_admin_new(const mw_conf_t *conf, mw_err_t *err);
void bk_admin_destroy(bk_admin_t *admin);

/* Name of the backend currently answering (for log lines and messages),
 * as the front's registration table has it. */
const char *bk_admin_backend_name(const bk_admin_t *admin);

/* A topic to create; every field is borrowed for the call. */
typedef struct bk_topic_spec {
    const char *name;
    int partitions;
    int replication;        /* BK_REPLICATION_DEFAULT: the broker's */
    const bk_kv_t *configs; /* config_cnt entries, or NULL */
    size_t config_cnt;
} bk_topic_spec_t;

/* Creates the topic spec describes.  0; MW_ERR_EXISTS when it exists;
 * MW_ERR_INVALID for a refused name, count or config; MW_ERR_TRANSPORT /
 * MW_ERR_TIMEOUT naming the bootstrap servers when the cluster cannot be
 * reached. */
int bk_admin_create_topic(bk_admin_t *admin, const bk_topic_spec_t *spec,
                          mw_err_t *err);

/* Lists every topic (configs not filled), sorted by name.  *topics is the
 * caller's (bk_topic_list_destroy), *cnt its length. */
int bk_admin_list_topics(bk_admin_t *admin, bk_topic_info_t **topics,
                         size_t *cnt, mw_err_t *err);

/* Describes one topic with its configs into *info (the caller's,
 * bk_topic_info_destroy).  MW_ERR_NOT_FOUND when it does not exist. */
int bk_admin_describe_topic(bk_admin_t *admin, const char *name,
                            bk_topic_info_t **info, mw_err_t *err);

void bk_topic_info_destroy(bk_topic_info_t *info);
void bk_topic_list_destroy(bk_topic_info_t *topics, size_t cnt);

#endif /* BK_ADMIN_H */
