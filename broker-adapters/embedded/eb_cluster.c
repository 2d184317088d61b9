/*
 * eb_cluster: hosts librdkafka's mock cluster for mesh-broker.
 *
 * Two librdkafka handles live here:
 *  - rk_mock, a producer with no brokers, exists only because
 *    rd_kafka_mock_cluster_new() needs a handle for its book keeping;
 *  - rk_meta, an ordinary client bootstrapped to the mock brokers, asks them
 *    for Metadata so the topic list includes topics that clients
 *    auto-created (the mock has no public call to enumerate its topics).
 *
 * Invariants: brokers[i].id == i + 1 (the mock numbers its brokers 1..N and
 * we check the addresses against its Metadata at start); brokers[].up and
 * .rtt_ms mirror the last successful rd_kafka_mock_broker_set_* call;
 * topic_confs maps a topic name to {"configs": {...}, "replication": n} as
 * given at creation and only holds topics created through
 * eb_cluster_topic_create().
 *
 * Thread: everything runs on mesh-broker's loop thread, except log_cb, which
 * librdkafka calls from its own threads (mw_log is thread-safe).
 */
#include "eb_cluster.h"

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>

#include "mw_log.h"

#define EB_COMPONENT "cluster"
/* Metadata requests are answered by the in-process mock in microseconds;
 * the deadline only matters when every broker is down. */
#define EB_METADATA_TIMEOUT_MS 3000
#define EB_MAX_RTT_MS 60000
#define EB_API_LIST_OFFSETS 2
#define EB_API_METADATA 3

typedef struct eb_broker {
    int id;
    char address[64];
    bool up;
    int rtt_ms;
} eb_broker_t;

struct eb_cluster {
    rd_kafka_t *rk_mock;
    rd_kafka_mock_cluster_t *mcluster;
    rd_kafka_t *rk_meta;
    int broker_cnt;
    eb_broker_t brokers[EB_CLUSTER_MAX_BROKERS];
    json_t *topic_confs; /* name -> {"configs", "replication"} */
    /* ApiKeys with pushed errors not cleared yet, of the two the offset
     * scan sends (Metadata, ListOffsets): the mock hands a pushed error to
     * whichever request comes next, so the scan keeps off them rather than
     * eat errors a test meant for its client. */
    bool scan_api_errors[2];
};

/* ApiKey names from the Kafka protocol guide, for the control endpoint. */
static const struct {
    const char *name;
    int api;
} eb_apis[] = {
    {"Produce", 0},
    {"Fetch", 1},
    {"ListOffsets", 2},
    {"Metadata", 3},
    {"OffsetCommit", 8},
    {"OffsetFetch", 9},
    {"FindCoordinator", 10},
    {"JoinGroup", 11},
    {"Heartbeat", 12},
    {"LeaveGroup", 13},
    {"SyncGroup", 14},
    {"DescribeGroups", 15},
    {"ListGroups", 16},
    {"SaslHandshake", 17},
    {"ApiVersions", 18},
    {"CreateTopics", 19},
    {"DeleteTopics", 20},
    {"DeleteRecords", 21},
    {"InitProducerId", 22},
    {"OffsetForLeaderEpoch", 23},
    {"AddPartitionsToTxn", 24},
    {"AddOffsetsToTxn", 25},
    {"EndTxn", 26},
    {"TxnOffsetCommit", 28},
    {"DescribeConfigs", 32},
    {"AlterConfigs", 33},
    {"SaslAuthenticate", 36},
    {"CreatePartitions", 37},
    {"DeleteGroups", 42},
    {"OffsetDelete", 47},
};

/* librdkafka log lines, from any librdkafka thread.  Syslog levels 0..4
 * become warn rather than error: inside mesh-broker they are nearly always
 * the consequence of an injected fault (a broker taken down), which is
 * degraded-but-expected, not something a human must fix.  Notices and
 * below (including rk_mock's "no bootstrap.servers" warning, which is by
 * design) are debug. */
static void eb_log_cb(const rd_kafka_t *rk, int level, const char *fac,
                      const char *buf)
{
    mw_log_level_t lvl = level <= 4 ? MW_LOG_WARN : MW_LOG_DEBUG;

    if (!mw_log_is_enabled(lvl))
        return;
    mw_log(lvl, "librdkafka", "librdkafka log", "client=%s fac=%s text=%s",
           rd_kafka_name(rk), fac, mw_log_q(buf));
}

/* New client handle; bootstrap may be NULL.  The conf is ours on every
 * path (rd_kafka_new only takes it on success). */
static rd_kafka_t *eb_client_new(const char *bootstrap, mw_err_t *err)
{
    char errstr[512];
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    rd_kafka_t *rk;

    rd_kafka_conf_set_log_cb(conf, eb_log_cb);
    if (rd_kafka_conf_set(conf, "log.connection.close", "false", errstr,
                          sizeof(errstr)) != RD_KAFKA_CONF_OK ||
        (bootstrap &&
         rd_kafka_conf_set(conf, "bootstrap.servers", bootstrap, errstr,
                           sizeof(errstr)) != RD_KAFKA_CONF_OK)) {
        rd_kafka_conf_destroy(conf);
        mw_err_set(err, MW_ERR_INVALID, "librdkafka refused a setting: %s",
                   errstr);
        return NULL;
    }
    rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof(errstr));
    if (!rk) {
        rd_kafka_conf_destroy(conf);
        mw_err_set(err, MW_ERR_NOMEM, "cannot create librdkafka handle: %s",
                   errstr);
    }
    return rk;
}

/* Fills brokers[] from the mock's bootstrap list ("h:p,h:p,...", ids in
 * order), then checks each against the brokers the mock advertises in
 * Metadata, which is what clients will connect to. */
static int eb_map_brokers(eb_cluster_t *cl, mw_err_t *err)
{
    const char *list = rd_kafka_mock_cluster_bootstraps(cl->mcluster);
    const struct rd_kafka_metadata *md = NULL;
    rd_kafka_resp_err_t kerr;
    const char *p = list;
    int i = 0;

    while (p && *p && i < cl->broker_cnt) {
        size_t len = strcspn(p, ",");
        if (len >= sizeof(cl->brokers[i].address))
            break;
        cl->brokers[i] = (eb_broker_t){.id = i + 1, .up = true};
        memcpy(cl->brokers[i].address, p, len);
        i++;
        p += len + (p[len] == ',');
    }
    if (i != cl->broker_cnt)
        return mw_err_set(err, MW_ERR_STATE,
                          "mock bootstrap list \"%s\" does not name %d brokers",
                          list ? list : "", cl->broker_cnt);
    kerr = rd_kafka_metadata(cl->rk_meta, 0, NULL, &md, EB_METADATA_TIMEOUT_MS);
    if (kerr)
        return mw_err_set(err, MW_ERR_TRANSPORT,
                          "mock brokers do not answer Metadata: %s",
                          rd_kafka_err2str(kerr));
    for (i = 0; i < md->broker_cnt; i++) {
        const struct rd_kafka_metadata_broker *b = &md->brokers[i];
        char addr[sizeof(cl->brokers[0].address)];
        snprintf(addr, sizeof(addr), "%s:%d", b->host, b->port);
        if (b->id < 1 || b->id > cl->broker_cnt ||
            strcmp(addr, cl->brokers[b->id - 1].address) != 0) {
            rd_kafka_metadata_destroy(md);
            return mw_err_set(err, MW_ERR_STATE,
                              "mock broker %d advertises %s, not in the "
                              "bootstrap list %s",
                              (int)b->id, addr, list);
        }
    }
    rd_kafka_metadata_destroy(md);
    return 0;
}

eb_cluster_t *eb_cluster_new(int broker_cnt, mw_err_t *err)
{
    eb_cluster_t *cl;

    if (broker_cnt < 1 || broker_cnt > EB_CLUSTER_MAX_BROKERS) {
        mw_err_set(err, MW_ERR_INVALID, "broker count %d is not in 1..%d",
                   broker_cnt, EB_CLUSTER_MAX_BROKERS);
        return NULL;
    }
    cl = calloc(1, sizeof(*cl));
    if (!cl || !(cl->topic_confs = json_object())) {
        free(cl);
        mw_err_set(err, MW_ERR_NOMEM, "out of memory creating the cluster");
        return NULL;
    }
    cl->broker_cnt = broker_cnt;
    if (!(cl->rk_mock = eb_client_new(NULL, err)))
        goto fail;
    cl->mcluster = rd_kafka_mock_cluster_new(cl->rk_mock, broker_cnt);
    if (!cl->mcluster) {
        mw_err_set(err, MW_ERR_IO,
                   "librdkafka cannot start %d mock brokers "
                   "(see the librdkafka log lines)",
                   broker_cnt);
        goto fail;
    }
    cl->rk_meta =
        eb_client_new(rd_kafka_mock_cluster_bootstraps(cl->mcluster), err);
    if (!cl->rk_meta || eb_map_brokers(cl, err) != 0)
        goto fail;
    mw_log_info(EB_COMPONENT, "mock cluster started", "brokers=%d list=%s",
                broker_cnt, rd_kafka_mock_cluster_bootstraps(cl->mcluster));
    return cl;
fail:
    eb_cluster_destroy(cl);
    return NULL;
}

void eb_cluster_destroy(eb_cluster_t *cl)
{
    if (!cl)
        return;
    /* The metadata client first: it holds connections to the mock. */
    if (cl->rk_meta)
        rd_kafka_destroy(cl->rk_meta);
    if (cl->mcluster)
        rd_kafka_mock_cluster_destroy(cl->mcluster);
    if (cl->rk_mock)
        rd_kafka_destroy(cl->rk_mock);
    json_decref(cl->topic_confs);
    free(cl);
}

int eb_cluster_broker_cnt(const eb_cluster_t *cl)
{
    return cl->broker_cnt;
}

const char *eb_cluster_bootstraps(const eb_cluster_t *cl)
{
    return rd_kafka_mock_cluster_bootstraps(cl->mcluster);
}

const char *eb_cluster_broker_address(const eb_cluster_t *cl, int id)
{
    if (id < 1 || id > cl->broker_cnt)
        return NULL;
    return cl->brokers[id - 1].address;
}

int eb_cluster_pick_broker(const eb_cluster_t *cl)
{
    for (int i = 0; i < cl->broker_cnt; i++)
        if (cl->brokers[i].up)
            return cl->brokers[i].id;
    return -1;
}

int eb_cluster_brokers_up(const eb_cluster_t *cl)
{
    int n = 0;

    for (int i = 0; i < cl->broker_cnt; i++)
        n += cl->brokers[i].up;
    return n;
}

/* Index of broker id in brokers[], or a negative MW_ERR_NOT_FOUND. */
static int eb_broker_index(const eb_cluster_t *cl, int id, mw_err_t *err)
{
    if (id < 1 || id > cl->broker_cnt)
        return mw_err_set(err, MW_ERR_NOT_FOUND,
                          "broker %d does not exist "
                          "(brokers are 1..%d)",
                          id, cl->broker_cnt);
    return id - 1;
}

json_t *eb_cluster_broker_json(const eb_cluster_t *cl, int id, mw_err_t *err)
{
    int idx = eb_broker_index(cl, id, err);
    const eb_broker_t *b;

    if (idx < 0)
        return NULL;
    b = &cl->brokers[idx];
    return json_pack("{s:i, s:s, s:b, s:i}", "id", b->id, "address", b->address,
                     "up", b->up, "rtt_ms", b->rtt_ms);
}

/* First up replica of partition p other than broker id, or -1. */
static int eb_new_leader(const eb_cluster_t *cl,
                         const rd_kafka_metadata_partition_t *p, int id)
{
    for (int r = 0; r < p->replica_cnt; r++) {
        int cand = (int)p->replicas[r];
        if (cand != id && cand >= 1 && cand <= cl->broker_cnt &&
            cl->brokers[cand - 1].up)
            return cand;
    }
    return -1;
}

/* Moves the leadership of every partition led by broker id to another up
 * replica; returns the number moved or -1 when
 * Metadata could not be read.  Blocking Metadata on the loop thread, for
 * the reason given in eb_cluster_topics(). */
static int eb_move_leaders(eb_cluster_t *cl, int id)
{
    const struct rd_kafka_metadata *md = NULL;
    int moved = 0;

    if (rd_kafka_metadata(cl->rk_meta, 1, NULL, &md, EB_METADATA_TIMEOUT_MS))
        return -1;
    for (int t = 0; t < md->topic_cnt; t++) {
        const rd_kafka_metadata_topic_t *topic = &md->topics[t];
        for (int i = 0; i < topic->partition_cnt; i++) {
            const rd_kafka_metadata_partition_t *p = &topic->partitions[i];
            int leader = p->leader == id ? eb_new_leader(cl, p, id) : -1;
            if (leader > 0 &&
                rd_kafka_mock_partition_set_leader(cl->mcluster, topic->topic,
                                                   p->id, leader) == 0)
                moved++;
        }
    }
    rd_kafka_metadata_destroy(md);
    return moved;
}

/* Replaces rk_meta by a client bootstrapped to the brokers that are up
 * (all of them when none is).  librdkafka keeps sparse connections and
 * routes a Metadata request to a broker it believes usable; right after a
 * broker goes down that can be the dead one, and the request then waits out
 * its whole timeout.  A fresh handle only knows live brokers.  On failure
 * the old handle is kept. */
static void eb_meta_reset(eb_cluster_t *cl)
{
    char list[EB_CLUSTER_MAX_BROKERS * 64 + 1] = "";
    rd_kafka_t *rk;
    size_t len = 0;

    for (int i = 0; i < cl->broker_cnt; i++)
        if (cl->brokers[i].up)
            len += (size_t)snprintf(list + len, sizeof(list) - len, "%s%s",
                                    len ? "," : "", cl->brokers[i].address);
    rk = eb_client_new(len ? list : eb_cluster_bootstraps(cl), NULL);
    if (!rk)
        return;
    rd_kafka_destroy(cl->rk_meta);
    cl->rk_meta = rk;
}

int eb_cluster_broker_set_up(eb_cluster_t *cl, int id, bool up,
                             bool move_leaders, int *moved_cnt, mw_err_t *err)
{
    int idx = eb_broker_index(cl, id, err), moved = 0;
    rd_kafka_resp_err_t kerr;
    eb_broker_t *b;

    if (idx < 0)
        return idx;
    b = &cl->brokers[idx];
    /* Leadership moves first, while the broker still answers, as in
     * Kafka's controlled shutdown: clients get NOT_LEADER and re-route. */
    if (!up && b->up && move_leaders && (moved = eb_move_leaders(cl, id)) < 0)
        mw_log_warn(EB_COMPONENT, "leaders not moved, no Metadata", "broker=%d",
                    id);
    kerr = up ? rd_kafka_mock_broker_set_up(cl->mcluster, id)
              : rd_kafka_mock_broker_set_down(cl->mcluster, id);
    if (kerr)
        return mw_err_set(err, MW_ERR_STATE,
                          "mock refused to set broker %d "
                          "%s: %s",
                          id, up ? "up" : "down", rd_kafka_err2str(kerr));
    if (b->up != up) {
        b->up = up;
        eb_meta_reset(cl);
    }
    if (moved_cnt)
        *moved_cnt = moved < 0 ? 0 : moved;
    mw_log_info(EB_COMPONENT, up ? "broker up" : "broker down",
                "broker=%d address=%s leaders_moved=%d", id, b->address,
                moved < 0 ? 0 : moved);
    return 0;
}

int eb_cluster_broker_set_rtt(eb_cluster_t *cl, int id, int rtt_ms,
                              mw_err_t *err)
{
    int idx = eb_broker_index(cl, id, err);
    eb_broker_t *b;
    rd_kafka_resp_err_t kerr;

    if (idx < 0)
        return idx;
    b = &cl->brokers[idx];
    if (rtt_ms < 0 || rtt_ms > EB_MAX_RTT_MS)
        return mw_err_set(err, MW_ERR_INVALID, "rtt_ms %d is not in 0..%d",
                          rtt_ms, EB_MAX_RTT_MS);
    kerr = rd_kafka_mock_broker_set_rtt(cl->mcluster, id, rtt_ms);
    if (kerr)
        return mw_err_set(err, MW_ERR_STATE,
                          "mock refused rtt for broker "
                          "%d: %s",
                          id, rd_kafka_err2str(kerr));
    b->rtt_ms = rtt_ms;
    mw_log_info(EB_COMPONENT, "broker rtt set", "broker=%d rtt_ms=%d", id,
                rtt_ms);
    return 0;
}

int eb_cluster_topic_create(eb_cluster_t *cl, const char *name, int partitions,
                            int replication, const json_t *configs,
                            mw_err_t *err)
{
    rd_kafka_resp_err_t kerr;
    json_t *copy;

    if (partitions < 1 || partitions > EB_CLUSTER_MAX_PARTITIONS)
        return mw_err_set(err, MW_ERR_INVALID, "partitions %d is not in 1..%d",
                          partitions, EB_CLUSTER_MAX_PARTITIONS);
    /* The mock silently caps the factor at the broker count; refuse it
     * instead, as Kafka does, so a test cannot believe it got 5 replicas. */
    if (replication < 1 || replication > cl->broker_cnt)
        return mw_err_set(err, MW_ERR_INVALID,
                          "replication_factor %d is not "
                          "in 1..%d (the broker count)",
                          replication, cl->broker_cnt);
    copy = json_pack("{s:o, s:i}", "configs",
                     configs ? json_deep_copy(configs) : json_object(),
                     "replication", replication);
    if (!copy)
        return mw_err_set(err, MW_ERR_NOMEM, "out of memory");
    kerr =
        rd_kafka_mock_topic_create(cl->mcluster, name, partitions, replication);
    if (kerr == RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS) {
        json_decref(copy);
        return mw_err_set(err, MW_ERR_EXISTS, "topic %s already exists", name);
    }
    if (kerr) {
        json_decref(copy);
        return mw_err_set(err, MW_ERR_STATE, "mock refused topic %s: %s", name,
                          rd_kafka_err2str(kerr));
    }
    if (json_object_set_new(cl->topic_confs, name, copy) != 0)
        return mw_err_set(err, MW_ERR_NOMEM, "out of memory");
    mw_log_info(EB_COMPONENT, "topic created",
                "topic=%s partitions=%d replication_factor=%d", name,
                partitions, replication);
    return 0;
}

/* One topic object from a Metadata entry plus what we keep for topics
 * created here.  The 2.0.2 mock gives every partition min(3, brokers)
 * replicas whatever factor rd_kafka_mock_topic_create() was given, so for
 * those topics the requested factor is reported (replication is not real in
 * the mock anyway); auto-created topics report the mock's replica count. */
static json_t *eb_topic_json(const eb_cluster_t *cl,
                             const rd_kafka_metadata_topic_t *t)
{
    const json_t *kept = json_object_get(cl->topic_confs, t->topic);
    const json_t *configs = json_object_get(kept, "configs");
    int replication = t->partition_cnt > 0 ? t->partitions[0].replica_cnt : 0;

    if (kept)
        replication =
            (int)json_integer_value(json_object_get(kept, "replication"));
    return json_pack("{s:s, s:i, s:i, s:o}", "name", t->topic, "partitions",
                     t->partition_cnt, "replication_factor", replication,
                     "configs",
                     configs ? json_deep_copy(configs) : json_object());
}

static int eb_topic_cmp(const void *a, const void *b)
{
    const json_t *ta = *(json_t *const *)a, *tb = *(json_t *const *)b;

    return strcmp(json_string_value(json_object_get(ta, "name")),
                  json_string_value(json_object_get(tb, "name")));
}

/* Sorted array of the Metadata topics (those in error are skipped). */
static json_t *eb_topics_array(const eb_cluster_t *cl,
                               const struct rd_kafka_metadata *md)
{
    json_t **items = calloc((size_t)md->topic_cnt + 1, sizeof(*items));
    json_t *arr = json_array();
    size_t n = 0;

    if (!items || !arr) {
        free(items);
        json_decref(arr);
        return NULL;
    }
    for (int i = 0; i < md->topic_cnt; i++)
        if (md->topics[i].err == RD_KAFKA_RESP_ERR_NO_ERROR &&
            (items[n] = eb_topic_json(cl, &md->topics[i])))
            n++;
    qsort(items, n, sizeof(*items), eb_topic_cmp);
    for (size_t i = 0; i < n; i++)
        json_array_append_new(arr, items[i]);
    free(items);
    return arr;
}

json_t *eb_cluster_topics(eb_cluster_t *cl, const char *only_name,
                          mw_err_t *err)
{
    const struct rd_kafka_metadata *md = NULL;
    rd_kafka_resp_err_t kerr;
    json_t *res = NULL;

    /* A synchronous Metadata round trip on the loop thread: the mock runs
     * in this process on its own thread and answers in well under a
     * millisecond, and this is a development tool whose control calls are
     * rare, so blocking the loop (and the proxy) briefly is simpler than an
     * asynchronous request.  Only with every broker down does it wait the
     * full EB_METADATA_TIMEOUT_MS. */
    kerr = rd_kafka_metadata(cl->rk_meta, 1, NULL, &md, EB_METADATA_TIMEOUT_MS);
    if (kerr) {
        mw_err_set(err, MW_ERR_TRANSPORT,
                   "no mock broker answered Metadata: "
                   "%s",
                   rd_kafka_err2str(kerr));
        return NULL;
    }
    if (!only_name) {
        res = eb_topics_array(cl, md);
        if (!res)
            mw_err_set(err, MW_ERR_NOMEM, "out of memory");
    } else {
        for (int i = 0; i < md->topic_cnt && !res; i++)
            if (strcmp(md->topics[i].topic, only_name) == 0 &&
                md->topics[i].err == RD_KAFKA_RESP_ERR_NO_ERROR)
                res = eb_topic_json(cl, &md->topics[i]);
        if (!res)
            mw_err_set(err, MW_ERR_NOT_FOUND, "topic %s does not exist",
                       only_name);
    }
    rd_kafka_metadata_destroy(md);
    return res;
}

/* True when a request to broker id is answered at once: it is up and has
 * no injected delay. */
static bool eb_broker_is_prompt(const eb_cluster_t *cl, int id)
{
    return id >= 1 && id <= cl->broker_cnt && cl->brokers[id - 1].up &&
           cl->brokers[id - 1].rtt_ms == 0;
}

int eb_cluster_scan_offsets(eb_cluster_t *cl, eb_cluster_scan_fn_t fn,
                            void *opaque, mw_err_t *err)
{
    const struct rd_kafka_metadata *md = NULL;
    rd_kafka_resp_err_t kerr;
    int skipped = 0;

    /* Blocking on the loop thread, for the reason given in
     * eb_cluster_topics(); a Metadata request may itself reach a delayed
     * broker, so with any delay injected the whole scan waits for the
     * fault to be lifted. */
    for (int i = 0; i < cl->broker_cnt; i++)
        if (cl->brokers[i].rtt_ms > 0)
            return cl->broker_cnt;
    if (eb_cluster_brokers_up(cl) == 0 || cl->scan_api_errors[0] ||
        cl->scan_api_errors[1])
        return cl->broker_cnt;
    kerr = rd_kafka_metadata(cl->rk_meta, 1, NULL, &md, EB_METADATA_TIMEOUT_MS);
    if (kerr)
        return mw_err_set(err, MW_ERR_TRANSPORT,
                          "no mock broker answered Metadata: %s",
                          rd_kafka_err2str(kerr));
    for (int t = 0; t < md->topic_cnt; t++) {
        const rd_kafka_metadata_topic_t *topic = &md->topics[t];
        for (int i = 0; i < topic->partition_cnt; i++) {
            const rd_kafka_metadata_partition_t *p = &topic->partitions[i];
            eb_cluster_offsets_t offs = {.topic = topic->topic,
                                         .partition = p->id};
            if (!eb_broker_is_prompt(cl, p->leader) ||
                rd_kafka_query_watermark_offsets(
                    cl->rk_meta, topic->topic, p->id, &offs.low, &offs.high,
                    EB_METADATA_TIMEOUT_MS) != RD_KAFKA_RESP_ERR_NO_ERROR) {
                skipped++;
                continue;
            }
            fn(&offs, opaque);
        }
    }
    rd_kafka_metadata_destroy(md);
    return skipped;
}

int eb_cluster_push_errors(eb_cluster_t *cl, int api, size_t cnt,
                           const int *errs, mw_err_t *err)
{
    rd_kafka_resp_err_t *codes;

    if (api < 0 || api > EB_CLUSTER_MAX_API)
        return mw_err_set(err, MW_ERR_INVALID, "ApiKey %d is not in 0..%d", api,
                          EB_CLUSTER_MAX_API);
    codes = calloc(cnt ? cnt : 1, sizeof(*codes));
    if (!codes)
        return mw_err_set(err, MW_ERR_NOMEM, "out of memory");
    for (size_t i = 0; i < cnt; i++)
        codes[i] = (rd_kafka_resp_err_t)errs[i];
    rd_kafka_mock_push_request_errors_array(cl->mcluster, (int16_t)api, cnt,
                                            codes);
    free(codes);
    if (api == EB_API_LIST_OFFSETS || api == EB_API_METADATA)
        cl->scan_api_errors[api - EB_API_LIST_OFFSETS] = true;
    mw_log_info(EB_COMPONENT, "request errors pushed", "api=%d count=%zu", api,
                cnt);
    return 0;
}

int eb_cluster_clear_errors(eb_cluster_t *cl, int api, mw_err_t *err)
{
    if (api < 0 || api > EB_CLUSTER_MAX_API)
        return mw_err_set(err, MW_ERR_INVALID, "ApiKey %d is not in 0..%d", api,
                          EB_CLUSTER_MAX_API);
    rd_kafka_mock_clear_request_errors(cl->mcluster, (int16_t)api);
    if (api == EB_API_LIST_OFFSETS || api == EB_API_METADATA)
        cl->scan_api_errors[api - EB_API_LIST_OFFSETS] = false;
    mw_log_info(EB_COMPONENT, "request errors cleared", "api=%d", api);
    return 0;
}

/* Whole-string decimal integer (optional sign) into *out. */
static bool eb_parse_int(const char *text, long lo, long hi, int *out)
{
    char *end;
    long v;

    if (!*text || isspace((unsigned char)*text))
        return false;
    errno = 0;
    v = strtol(text, &end, 10);
    if (errno || *end || v < lo || v > hi)
        return false;
    *out = (int)v;
    return true;
}

int eb_cluster_api_parse(const char *text, int *api, mw_err_t *err)
{
    if (eb_parse_int(text, 0, EB_CLUSTER_MAX_API, api))
        return 0;
    for (size_t i = 0; i < sizeof(eb_apis) / sizeof(eb_apis[0]); i++)
        if (strcasecmp(text, eb_apis[i].name) == 0) {
            *api = eb_apis[i].api;
            return 0;
        }
    return mw_err_set(err, MW_ERR_INVALID,
                      "unknown api \"%s\": expected a "
                      "Kafka request name such as Produce, Fetch or Metadata, "
                      "or an ApiKey number 0..%d",
                      text, EB_CLUSTER_MAX_API);
}

const char *eb_cluster_api_name(int api)
{
    for (size_t i = 0; i < sizeof(eb_apis) / sizeof(eb_apis[0]); i++)
        if (eb_apis[i].api == api)
            return eb_apis[i].name;
    return NULL;
}

int eb_cluster_err_parse(const char *text, int *code, mw_err_t *err)
{
    static const char prefix[] = "RD_KAFKA_RESP_ERR_";
    const struct rd_kafka_err_desc *descs;
    const char *name = text;
    size_t cnt;
    int num;
    bool numeric = eb_parse_int(text, INT_MIN, INT_MAX, &num);

    if (strncasecmp(name, prefix, sizeof(prefix) - 1) == 0)
        name += sizeof(prefix) - 1;
    /* The table has gaps (NULL names) between librdkafka's internal codes
     * and the broker codes; only named entries are real errors. */
    rd_kafka_get_err_descs(&descs, &cnt);
    for (size_t i = 0; i < cnt; i++) {
        if (!descs[i].name)
            continue;
        if ((numeric && (int)descs[i].code == num) ||
            (!numeric && strcasecmp(descs[i].name, name) == 0)) {
            *code = (int)descs[i].code;
            return 0;
        }
    }
    return mw_err_set(err, MW_ERR_INVALID,
                      "unknown error \"%s\": expected a "
                      "name as printed by rd_kafka_err2name, such as "
                      "NOT_LEADER_FOR_PARTITION or _TRANSPORT, or its code",
                      text);
}
