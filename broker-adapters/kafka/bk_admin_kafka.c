/*
 * bk_admin_kafka: the admin backend speaking the Kafka protocol through
 * librdkafka: CreateTopics, DescribeConfigs and Metadata.
 *
 * Each call posts one admin request on a private result queue and waits on
 * it for at most BK_ADMIN_TIMEOUT_MS (plus a margin for librdkafka's own
 * timer), so a cluster that cannot be reached gives a clear error naming
 * the bootstrap servers instead of a hang.  A cluster that cannot serve
 * admin requests gives MW_ERR_UNSUPPORTED so the front falls back: either
 * librdkafka reports the API unsupported (ApiVersions), or, checked first,
 * the cluster names no controller among its brokers.  librdkafka 2.0.2's
 * mock cluster (mesh-broker) is the second case: its Metadata answers
 * ControllerId 0 while its brokers are 1..N, and librdkafka would wait
 * for that controller until the request times out.
 *
 * Topics are looked up with an all-topics Metadata request, never a
 * per-topic one, because a per-topic request from a producer handle may
 * auto-create the topic on brokers with auto.create.topics.enable.
 *
 * One thread (the caller's); the handle has no callbacks of ours beyond
 * logging and errors, which are served by the result polls.
 */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bk_admin_int.h"
#include "bk_int.h"
#include "mw_log.h"

#define BK_ADMIN_WAIT_MARGIN_MS 2000

struct bk_admin_be {
    bk_client_t cli;
    bool has_controller; /* checked once: admin requests can be served */
    rd_kafka_queue_t *q;
    char servers[512]; /* bootstrap.servers, for messages */
};

static bk_admin_be_t *bk_ak_open(const mw_conf_t *conf, mw_err_t *err)
{
    static const char *const extra[] = {"allow.auto.create.topics", "false",
                                        NULL};
    bk_admin_be_t *be = calloc(1, sizeof(*be));
    rd_kafka_conf_t *rconf;
    size_t len;

    if (!be) {
        mw_err_set(err, MW_ERR_NOMEM, "out of memory for kafka admin");
        return NULL;
    }
    rconf = bk_conf_build(conf, BK_ROLE_ADMIN, extra, &be->cli, err);
    if (!rconf || !bk_client_open(&be->cli, rconf, err)) {
        free(be);
        return NULL;
    }
    len = sizeof(be->servers);
    bk_conf_effective(conf, BK_ROLE_ADMIN, "bootstrap.servers", be->servers,
                      len, NULL);
    be->q = rd_kafka_queue_new(be->cli.rk);
    return be;
}

static void bk_ak_close(bk_admin_be_t *be)
{
    if (!be)
        return;
    rd_kafka_queue_destroy(be->q);
    rd_kafka_destroy(be->cli.rk);
    free(be);
}

/* Maps a request-level error: reachability problems name the servers. */
static int bk_ak_fail(bk_admin_be_t *be, rd_kafka_resp_err_t rerr,
                      const char *reason, const char *what, mw_err_t *err)
{
    int code = bk_err_code(rerr);

    if (code == MW_ERR_TIMEOUT || code == MW_ERR_TRANSPORT)
        return mw_err_set(err, code,
                          "%s: cannot reach kafka bootstrap servers '%s' "
                          "within %d ms (%s)",
                          what, be->servers, BK_ADMIN_TIMEOUT_MS, reason);
    return mw_err_set(err, code, "%s: %s", what, reason);
}

static rd_kafka_AdminOptions_t *bk_ak_options(bk_admin_be_t *be,
                                              rd_kafka_admin_op_t op)
{
    rd_kafka_AdminOptions_t *opts = rd_kafka_AdminOptions_new(be->cli.rk, op);
    char errstr[256];

    rd_kafka_AdminOptions_set_request_timeout(opts, BK_ADMIN_TIMEOUT_MS, errstr,
                                              sizeof(errstr));
    rd_kafka_AdminOptions_set_operation_timeout(opts, BK_ADMIN_TIMEOUT_MS,
                                                errstr, sizeof(errstr));
    return opts;
}

/* Waits for the result event of the request just posted; NULL on
 * timeout (err set). */
static rd_kafka_event_t *bk_ak_wait(bk_admin_be_t *be, const char *what,
                                    mw_err_t *err)
{
    rd_kafka_event_t *ev = rd_kafka_queue_poll(
        be->q, BK_ADMIN_TIMEOUT_MS + BK_ADMIN_WAIT_MARGIN_MS);

    if (!ev)
        bk_ak_fail(be, RD_KAFKA_RESP_ERR__TIMED_OUT, "no answer", what, err);
    else if (rd_kafka_event_error(ev)) {
        bk_ak_fail(be, rd_kafka_event_error(ev),
                   rd_kafka_event_error_string(ev), what, err);
        rd_kafka_event_destroy(ev);
        ev = NULL;
    }
    return ev;
}

/* Admin requests go to the controller: make sure the cluster has one we
 * can reach (see the module comment).  Also the early reachability check:
 * a dead bootstrap fails here with the servers named. */
static int bk_ak_need_controller(bk_admin_be_t *be, const char *what,
                                 mw_err_t *err)
{
    const rd_kafka_metadata_t *md = NULL;
    rd_kafka_resp_err_t rerr;
    int32_t cid;
    bool found = false;

    if (be->has_controller)
        return 0;
    rerr = rd_kafka_metadata(be->cli.rk, 0, NULL, &md, BK_ADMIN_TIMEOUT_MS);
    if (rerr)
        return bk_ak_fail(be, rerr, rd_kafka_err2str(rerr), what, err);
    cid = rd_kafka_controllerid(be->cli.rk, 0);
    for (int i = 0; i < md->broker_cnt && !found; i++)
        found = md->brokers[i].id == cid;
    rd_kafka_metadata_destroy(md);
    if (!found)
        return mw_err_set(err, MW_ERR_UNSUPPORTED,
                          "%s: the cluster at '%s' names no controller among "
                          "its brokers (controller id %d): it cannot serve "
                          "Kafka admin requests",
                          what, be->servers, (int)cid);
    be->has_controller = true;
    return 0;
}

static int bk_ak_await_visible(bk_admin_be_t *be, const char *name,
                               int partitions);

static int bk_ak_create(bk_admin_be_t *be, const bk_topic_spec_t *spec,
                        mw_err_t *err)
{
    char errstr[256], what[300];
    rd_kafka_NewTopic_t *nt;
    rd_kafka_AdminOptions_t *opts;
    rd_kafka_event_t *ev;
    const rd_kafka_topic_result_t **res;
    size_t res_cnt = 0;
    int rc = 0;

    snprintf(what, sizeof(what), "create topic %s", spec->name);
    if ((rc = bk_ak_need_controller(be, what, err)))
        return rc;
    nt = rd_kafka_NewTopic_new(spec->name, spec->partitions, spec->replication,
                               errstr, sizeof(errstr));
    if (!nt)
        return mw_err_set(err, MW_ERR_INVALID, "%s: %s", what, errstr);
    for (size_t i = 0; i < spec->config_cnt; i++)
        if (rd_kafka_NewTopic_set_config(nt, spec->configs[i].key,
                                         spec->configs[i].value)) {
            rd_kafka_NewTopic_destroy(nt);
            return mw_err_set(err, MW_ERR_INVALID, "%s: bad config '%s'", what,
                              spec->configs[i].key);
        }
    opts = bk_ak_options(be, RD_KAFKA_ADMIN_OP_CREATETOPICS);
    rd_kafka_CreateTopics(be->cli.rk, &nt, 1, opts, be->q);
    rd_kafka_AdminOptions_destroy(opts);
    rd_kafka_NewTopic_destroy(nt);
    if (!(ev = bk_ak_wait(be, what, err)))
        return err ? err->code : MW_ERR_TIMEOUT;
    res = rd_kafka_CreateTopics_result_topics(
        rd_kafka_event_CreateTopics_result(ev), &res_cnt);
    if (res_cnt > 0 && rd_kafka_topic_result_error(res[0])) {
        rd_kafka_resp_err_t rerr = rd_kafka_topic_result_error(res[0]);
        const char *msg = rd_kafka_topic_result_error_string(res[0]);
        rc = rerr == RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS
                 ? mw_err_set(err, MW_ERR_EXISTS, "%s: topic already exists",
                              what)
                 : bk_ak_fail(be, rerr, msg ? msg : rd_kafka_err2str(rerr),
                              what, err);
    }
    rd_kafka_event_destroy(ev);
    if (rc == 0 && bk_ak_await_visible(be, spec->name, spec->partitions))
        mw_log_warn("kafka", "created topic not yet in metadata", "topic=%s",
                    spec->name);
    return rc;
}

/* Copies one metadata topic into info. */
static int bk_ak_topic_from_md(const rd_kafka_metadata_topic_t *t,
                               bk_topic_info_t *info, mw_err_t *err)
{
    info->partitions = t->partition_cnt;
    info->replication = t->partition_cnt > 0 ? t->partitions[0].replica_cnt : 0;
    return bk_topic_info_set_name(info, t->topic, err);
}

static int bk_ak_metadata(bk_admin_be_t *be, const char *what,
                          const rd_kafka_metadata_t **md, mw_err_t *err)
{
    rd_kafka_resp_err_t rerr =
        rd_kafka_metadata(be->cli.rk, 1, NULL, md, BK_ADMIN_TIMEOUT_MS);

    if (rerr)
        return bk_ak_fail(be, rerr, rd_kafka_err2str(rerr), what, err);
    return 0;
}

/* CreateTopics answers once the controller committed the topic; brokers'
 * metadata caches follow a moment later (KRaft propagation).  Waiting here
 * until a Metadata request shows the topic with all its partitions makes
 * "create, then describe or produce" work for every caller.  Returns 0 once
 * visible, MW_ERR_TIMEOUT after BK_ADMIN_TIMEOUT_MS (the topic exists
 * anyway: the caller only logs it). */
static int bk_ak_await_visible(bk_admin_be_t *be, const char *name,
                               int partitions)
{
    struct timespec pause = {.tv_sec = 0, .tv_nsec = 50 * 1000 * 1000};

    for (int waited_ms = 0; waited_ms < BK_ADMIN_TIMEOUT_MS; waited_ms += 50) {
        const rd_kafka_metadata_t *md = NULL;
        bool visible = false;

        if (bk_ak_metadata(be, "await topic", &md, NULL) == 0) {
            for (int i = 0; i < md->topic_cnt && !visible; i++)
                visible = !md->topics[i].err &&
                          !strcmp(md->topics[i].topic, name) &&
                          (partitions <= 0 ||
                           md->topics[i].partition_cnt == partitions);
            rd_kafka_metadata_destroy(md);
        }
        if (visible)
            return 0;
        nanosleep(&pause, NULL);
    }
    return MW_ERR_TIMEOUT;
}

static int bk_ak_list(bk_admin_be_t *be, bk_topic_info_t **topics, size_t *cnt,
                      mw_err_t *err)
{
    const rd_kafka_metadata_t *md = NULL;
    int rc = bk_ak_metadata(be, "list topics", &md, err);

    if (rc)
        return rc;
    *topics = calloc((size_t)md->topic_cnt + 1, sizeof(**topics));
    if (!*topics)
        rc = mw_err_set(err, MW_ERR_NOMEM, "out of memory");
    for (int i = 0; rc == 0 && i < md->topic_cnt; i++) {
        if (md->topics[i].err)
            continue; /* being created or deleted */
        rc = bk_ak_topic_from_md(&md->topics[i], &(*topics)[*cnt], err);
        if (rc == 0)
            (*cnt)++;
    }
    rd_kafka_metadata_destroy(md);
    return rc;
}

/* Configs set on the topic (not broker or static defaults). */
static int bk_ak_configs(bk_admin_be_t *be, bk_topic_info_t *info,
                         mw_err_t *err)
{
    char what[300];
    rd_kafka_ConfigResource_t *cr =
        rd_kafka_ConfigResource_new(RD_KAFKA_RESOURCE_TOPIC, info->name);
    rd_kafka_AdminOptions_t *opts =
        bk_ak_options(be, RD_KAFKA_ADMIN_OP_DESCRIBECONFIGS);
    const rd_kafka_ConfigResource_t **res;
    const rd_kafka_ConfigEntry_t **entries;
    size_t res_cnt = 0, entry_cnt = 0;
    rd_kafka_event_t *ev;
    int rc = 0;

    snprintf(what, sizeof(what), "describe configs of topic %s", info->name);
    if ((rc = bk_ak_need_controller(be, what, err))) {
        rd_kafka_AdminOptions_destroy(opts);
        rd_kafka_ConfigResource_destroy(cr);
        return rc;
    }
    rd_kafka_DescribeConfigs(be->cli.rk, &cr, 1, opts, be->q);
    rd_kafka_AdminOptions_destroy(opts);
    rd_kafka_ConfigResource_destroy(cr);
    if (!(ev = bk_ak_wait(be, what, err)))
        return err ? err->code : MW_ERR_TIMEOUT;
    res = rd_kafka_DescribeConfigs_result_resources(
        rd_kafka_event_DescribeConfigs_result(ev), &res_cnt);
    if (res_cnt < 1 || rd_kafka_ConfigResource_error(res[0])) {
        rd_kafka_resp_err_t rerr = res_cnt < 1
                                       ? RD_KAFKA_RESP_ERR__BAD_MSG
                                       : rd_kafka_ConfigResource_error(res[0]);
        rc = bk_ak_fail(be, rerr, rd_kafka_err2str(rerr), what, err);
        res_cnt = 0;
    }
    entries =
        res_cnt ? rd_kafka_ConfigResource_configs(res[0], &entry_cnt) : NULL;
    for (size_t i = 0; rc == 0 && i < entry_cnt; i++) {
        if (rd_kafka_ConfigEntry_is_default(entries[i]) ||
            rd_kafka_ConfigEntry_source(entries[i]) !=
                RD_KAFKA_CONFIG_SOURCE_DYNAMIC_TOPIC_CONFIG)
            continue;
        rc = bk_topic_info_add_config(
            info, rd_kafka_ConfigEntry_name(entries[i]),
            rd_kafka_ConfigEntry_value(entries[i]), err);
    }
    rd_kafka_event_destroy(ev);
    return rc;
}

static int bk_ak_describe(bk_admin_be_t *be, const char *name,
                          bk_topic_info_t **info, mw_err_t *err)
{
    const rd_kafka_metadata_t *md = NULL;
    const rd_kafka_metadata_topic_t *found = NULL;
    int rc = bk_ak_metadata(be, "describe topic", &md, err);

    if (rc)
        return rc;
    for (int i = 0; i < md->topic_cnt && !found; i++)
        if (!md->topics[i].err && !strcmp(md->topics[i].topic, name))
            found = &md->topics[i];
    if (!found)
        rc = mw_err_set(err, MW_ERR_NOT_FOUND, "topic %s does not exist", name);
    else if (!(*info = calloc(1, sizeof(**info))))
        rc = mw_err_set(err, MW_ERR_NOMEM, "out of memory");
    else
        rc = bk_ak_topic_from_md(found, *info, err);
    rd_kafka_metadata_destroy(md);
    if (rc == 0)
        rc = bk_ak_configs(be, *info, err);
    if (rc) {
        bk_topic_info_destroy(*info);
        *info = NULL;
    }
    return rc;
}

const bk_admin_ops_t bk_admin_kafka_ops = {
    .name = "kafka",
    .open = bk_ak_open,
    .close = bk_ak_close,
    .create_topic = bk_ak_create,
    .list_topics = bk_ak_list,
    .describe_topic = bk_ak_describe,
};
