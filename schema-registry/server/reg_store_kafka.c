/*
 * reg_store_kafka: the registry's log as a compacted Kafka topic
 * (`kafkastore.topic`, default `_schemas`, one partition), in the record
 * format of Confluent Schema Registry and Karapace, so several
 * mesh-registry instances share one state and an existing `_schemas`
 * topic can be taken over.
 *
 * Data path: every instance reads partition 0 from the beginning through a
 * manually assigned consumer (no group rebalancing) and applies every
 * record in log order.  Open is blocking: it produces a NOOP record and
 * reads until that record's offset comes back (as Confluent does to find
 * the end: a high watermark read alone can miss records still being
 * written), then attaches producer and consumer to the loop.
 *
 * Appends are optimistic: the record is produced (idempotent, acks=all);
 * the delivery report gives its offset; done is called only once the
 * consumer has read back and applied that offset, so by then every record
 * that precedes it in the log (other instances' included) has been
 * applied too.  Two instances racing for one id or one (subject, version)
 * both get their record into the log; reg_state applies the first and
 * ignores the later one as a lost race (the same decision on every
 * instance, since all apply the same order), and the loser's writer sees
 * the outcome in the state when done arrives and retries (REGISTRY.md,
 * "Concurrency rule").  No id can thus be bound to two schemas, and no
 * acknowledged registration is lost.
 *
 * Thread: the loop thread for everything (librdkafka's callbacks are served
 * by polls on this thread).  Invariants: `applied` only grows; an append
 * is on the in-flight list from send until it is answered AND its delivery
 * report arrived (the report carries the entry as msg_opaque, so it is
 * never freed before); answered entries get no second done.
 */
#include "reg_store_int.h"

#include <event2/event.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bk_admin.h"
#include "bk_consumer.h"
#include "bk_producer.h"
#include "mw_log.h"
#include "mw_time.h"

#define KS_DEFAULT_TOPIC "_schemas"
#define KS_CATALOG_TOPIC "_mesh_catalog"
#define KS_BATCH_MAX 1000 /* records per ready callback */
#define KS_NOOP_KEY "{\"keytype\":\"NOOP\",\"magic\":0}"

typedef struct ks_append {
    struct ks_append *next, *prev; /* send order */
    reg_store_done_cb *done;
    void *opaque;
    int64_t offset; /* from the delivery report; -1 before */
    double start_s; /* monotonic, for the deadline and the metric */
    bool delivered; /* delivery report arrived */
    bool answered;  /* done was called */
} ks_append_t;

typedef struct reg_kafka {
    reg_store_env_t env;
    const char *topic; /* borrowed from conf */
    bk_producer_t *prod;
    bk_consumer_t *cons;
    struct event *chore;      /* 1 s timer, see ks_on_chore */
    ks_append_t *head, *tail; /* in-flight appends */
    size_t inflight;          /* entries not yet answered */
    int64_t applied;          /* offset of the last record read, -1 */
    int64_t noop_offset;      /* catch-up target, -1 until reported */
    int noop_code;            /* the NOOP's delivery error */
    char noop_msg[MW_ERR_MSG_MAX];
    int broken; /* MW_ERR_FATAL once the consumer died */
    bool ready;
    bool closing;
    int append_timeout_ms;

    mw_counter_t *appends_total;
    mw_counter_t *errors_total;
    mw_counter_t *applied_total;
    mw_histogram_t *append_seconds;
} reg_kafka_t;

/* msg_opaque of the NOOP records the store sends itself. */
static char ks_noop_marker;

/* ------------------------------------------------------------ appends */

static void ks_unlink(reg_kafka_t *ks, ks_append_t *a)
{
    if (a->prev)
        a->prev->next = a->next;
    else
        ks->head = a->next;
    if (a->next)
        a->next->prev = a->prev;
    else
        ks->tail = a->prev;
    free(a);
}

/* Calls done once; frees the entry when its delivery report is in. */
static void ks_answer(reg_kafka_t *ks, ks_append_t *a, const mw_err_t *err)
{
    if (!a->answered) {
        a->answered = true;
        ks->inflight--;
        mw_histogram_observe(ks->append_seconds, mw_time_mono_s() - a->start_s);
        if (err)
            mw_counter_inc(ks->errors_total);
        a->done(a->opaque, err ? -1 : a->offset, err);
    }
    if (a->delivered)
        ks_unlink(ks, a);
}

/* Answers every delivered entry whose offset has been applied.  Entries
 * whose record was never seen (compacted away before we read it, or an
 * offset skipped by a transaction marker) are answered as well: what
 * follows them in the log has been applied, which is all done promises. */
static void ks_complete(reg_kafka_t *ks)
{
    ks_append_t *a = ks->head, *next;

    for (; a; a = next) {
        next = a->next;
        if (a->delivered && a->offset > ks->applied)
            break;
        if (a->delivered)
            ks_answer(ks, a, NULL);
    }
}

static void ks_on_delivery(void *opaque, void *msg_opaque,
                           const bk_delivery_t *dr)
{
    reg_kafka_t *ks = opaque;
    ks_append_t *a = msg_opaque;
    mw_err_t err;

    if (msg_opaque == &ks_noop_marker) {
        if (dr->code) {
            ks->noop_code = dr->code;
            snprintf(ks->noop_msg, sizeof(ks->noop_msg), "%s", dr->message);
        } else if (!ks->ready) {
            ks->noop_offset = dr->offset;
        }
        return;
    }
    a->delivered = true;
    a->offset = dr->offset;
    if (dr->code) {
        mw_err_set(&err,
                   dr->code == MW_ERR_TIMEOUT ? MW_ERR_TIMEOUT
                                              : MW_ERR_TRANSPORT,
                   "cannot write to topic '%s': %s", ks->topic, dr->message);
        ks_answer(ks, a, &err);
    } else if (a->answered || a->offset <= ks->applied) {
        ks_answer(ks, a, NULL);
    }
}

static int ks_send(reg_kafka_t *ks, const char *key, const char *value,
                   void *msg_opaque, mw_err_t *err)
{
    bk_message_t msg = {.topic = ks->topic,
                        .partition = 0,
                        .key = key,
                        .key_len = strlen(key),
                        .value = value,
                        .value_len = value ? strlen(value) : 0};

    return bk_producer_send(ks->prod, &msg, msg_opaque, err);
}

static int ks_append(void *be, const char *key, const char *value,
                     reg_store_done_cb *done, void *opaque, mw_err_t *err)
{
    reg_kafka_t *ks = be;
    ks_append_t *a;
    int rc;

    if (ks->closing || !ks->ready || ks->broken)
        return mw_err_set(err, ks->broken ? ks->broken : MW_ERR_STATE,
                          "store on topic '%s' is %s", ks->topic,
                          ks->broken    ? "broken"
                          : ks->closing ? "closing"
                                        : "not ready");
    if (ks->inflight >= REG_STORE_INFLIGHT_MAX)
        return mw_err_set(err, MW_ERR_FULL, "%u kafka appends in flight",
                          (unsigned)REG_STORE_INFLIGHT_MAX);
    if (!(a = calloc(1, sizeof(*a))))
        return mw_err_set(err, MW_ERR_NOMEM, "out of memory for an append");
    a->done = done;
    a->opaque = opaque;
    a->offset = -1;
    a->start_s = mw_time_mono_s();
    if ((rc = ks_send(ks, key, value, a, err)) != 0) {
        free(a);
        return rc;
    }
    a->prev = ks->tail;
    if (ks->tail)
        ks->tail->next = a;
    else
        ks->head = a;
    ks->tail = a;
    ks->inflight++;
    mw_counter_inc(ks->appends_total);
    return 0;
}

/* ------------------------------------------------------------ consume */

/* Applies one consumed record with NUL-terminated copies of key and value
 * (the consumer's buffers are not terminated). */
static int ks_apply(reg_kafka_t *ks, const bk_record_t *rec)
{
    char *buf;
    reg_store_record_t out = {.key_len = rec->key_len,
                              .value_len = rec->value_len,
                              .offset = rec->offset};

    if (rec->offset <= ks->applied)
        return 0; /* a re-fetch after a broker hand-over */
    ks->applied = rec->offset;
    if (!rec->key || !rec->key_len) {
        mw_log_debug(REG_STORE_COMPONENT, "record without key skipped",
                     "topic=%s offset=%lld", mw_log_q(ks->topic),
                     (long long)rec->offset);
        return 0;
    }
    if (!(buf = malloc(rec->key_len + rec->value_len + 2)))
        return mw_err_set(NULL, MW_ERR_NOMEM, "out of memory");
    memcpy(buf, rec->key, rec->key_len);
    buf[rec->key_len] = '\0';
    out.key = buf;
    if (rec->value) {
        char *v = buf + rec->key_len + 1;
        memcpy(v, rec->value, rec->value_len);
        v[rec->value_len] = '\0';
        out.value = v;
    }
    ks->env.apply(ks->env.opaque, &out);
    mw_counter_inc(ks->applied_total);
    free(buf);
    return 0;
}

/* Polls up to max records (the first poll waits up to timeout_ms), applies
 * them and answers the appends they complete.  Returns the number of
 * records read, or MW_ERR_FATAL / MW_ERR_NOMEM. */
static int ks_consume(reg_kafka_t *ks, int timeout_ms, int max, mw_err_t *err)
{
    int n = 0, rc = 0;

    while (n < max) {
        bk_record_t *rec = NULL;

        rc = bk_consumer_poll(ks->cons, n ? 0 : timeout_ms, &rec, err);
        if (rc || !rec)
            break;
        if (rec->partition == 0)
            rc = ks_apply(ks, rec);
        bk_record_destroy(rec);
        if (rc)
            break;
        n++;
    }
    if (n)
        ks_complete(ks);
    return rc ? rc : n;
}

/* Loop thread: the consumer queue has work. */
static void ks_on_ready(void *opaque)
{
    reg_kafka_t *ks = opaque;
    mw_err_t err;
    int n = ks_consume(ks, 0, KS_BATCH_MAX, &err);

    if (n == KS_BATCH_MAX) {
        bk_consumer_kick(ks->cons); /* let the loop serve others first */
    } else if (n < 0 && !ks->broken) {
        ks->broken = n;
        mw_log_error(REG_STORE_COMPONENT, "store topic unreadable",
                     "log=%s topic=%s reason=%s", ks->env.log->name,
                     mw_log_q(ks->topic), mw_log_q(err.msg));
    }
}

/* Periodic chore, once a second on the loop thread.  Duties:
 *  1. answer appends older than the append timeout with MW_ERR_TIMEOUT
 *     (broker down, or the record never came back); the entry stays
 *     until its delivery report arrives. */
static void ks_on_chore(evutil_socket_t fd, short what, void *opaque)
{
    reg_kafka_t *ks = opaque;
    double limit = mw_time_mono_s() - ks->append_timeout_ms / 1000.0;
    ks_append_t *a, *next;
    mw_err_t err;

    (void)fd;
    (void)what;
    for (a = ks->head; a; a = next) {
        next = a->next;
        if (a->answered || a->start_s > limit)
            continue;
        mw_err_set(&err, MW_ERR_TIMEOUT,
                   "record not read back from topic "
                   "'%s' within %d ms",
                   ks->topic, ks->append_timeout_ms);
        ks_answer(ks, a, &err);
    }
}

/* ------------------------------------------------------------ open */

/* Creates the topic (one partition, compacted, broker's replication) or
 * checks the existing one has a single partition.  Blocking. */
static int ks_ensure_topic(reg_kafka_t *ks, mw_err_t *err)
{
    const bk_kv_t cfg[] = {{.key = "cleanup.policy", .value = "compact"}};
    bk_admin_t *admin = bk_admin_new(ks->env.conf, err);
    bk_topic_info_t *info = NULL;
    int rc;

    if (!admin)
        return err ? err->code : MW_ERR_CONFIG;
    rc = bk_admin_create_topic(
        admin,
        &(bk_topic_spec_t){.name = ks->topic,
                           .partitions = 1,
                           .replication = BK_REPLICATION_DEFAULT,
                           .configs = cfg,
                           .config_cnt = 1},
        err);
    if (rc == 0)
        mw_log_info(REG_STORE_COMPONENT, "store topic created",
                    "log=%s topic=%s", ks->env.log->name, mw_log_q(ks->topic));
    else if (rc == MW_ERR_EXISTS)
        rc = bk_admin_describe_topic(admin, ks->topic, &info, err);
    if (rc == 0 && info && info->partitions != 1)
        rc = mw_err_set(err, MW_ERR_CONFIG,
                        "key '%s': topic "
                        "'%s' has %d partitions, the registry needs exactly 1",
                        ks->env.log->topic_key, ks->topic, info->partitions);
    for (size_t i = 0; rc == 0 && info && i < info->config_cnt; i++)
        if (!strcmp(info->configs[i].key, "cleanup.policy") &&
            strcmp(info->configs[i].value, "compact"))
            mw_log_warn(REG_STORE_COMPONENT, "store topic not compacted",
                        "log=%s topic=%s cleanup.policy=%s", ks->env.log->name,
                        mw_log_q(ks->topic), mw_log_q(info->configs[i].value));
    bk_topic_info_destroy(info);
    bk_admin_destroy(admin);
    return rc;
}

static int ks_clients(reg_kafka_t *ks, mw_err_t *err)
{
    char group[128];
    /* 1. The group id is never used to commit or rebalance (manual
     *    assignment); it only has to be unique per instance.
     * 2. An append is acknowledged when its record is read back, so the
     *    fetch wait bounds write latency wherever the broker does not
     *    answer a waiting fetch as soon as data arrives (librdkafka's mock
     *    cluster inside mesh-broker waits the full time; Kafka answers at
     *    once).  50 ms costs an idle instance 20 empty fetches a second.
     * Both stay overridable by the user's kafka.* keys. */
    const char *props[] = {"group.id", group, "fetch.wait.max.ms", "50", NULL};

    ks->prod =
        bk_producer_new(ks->env.conf, ks_on_delivery, ks, ks->env.metrics, err);
    if (!ks->prod)
        return err ? err->code : MW_ERR_CONFIG;
    snprintf(group, sizeof(group), "mesh-registry-store-%ld-%lld",
             (long)getpid(), (long long)time(NULL));
    ks->cons = bk_consumer_new_props(ks->env.conf, props, NULL, NULL,
                                     ks->env.metrics, err);
    if (!ks->cons)
        return err ? err->code : MW_ERR_CONFIG;
    return bk_consumer_assign_partition(ks->cons, ks->topic, 0,
                                        BK_OFFSET_BEGINNING, err);
}

/* Writes a NOOP and reads until it comes back.  Blocking, bounded by
 * kafkastore.init.timeout.ms. */
static int ks_catch_up(reg_kafka_t *ks, mw_err_t *err)
{
    long long timeout_ms =
        mw_conf_get_int(ks->env.conf, "kafkastore.init.timeout.ms");
    double deadline = mw_time_mono_s() + (double)timeout_ms / 1000.0;
    int rc = ks_send(ks, KS_NOOP_KEY, NULL, &ks_noop_marker, err);

    while (rc >= 0 && !ks->ready) {
        bk_producer_poll(ks->prod, 0);
        if (ks->noop_code)
            return mw_err_set(err, MW_ERR_TRANSPORT,
                              "cannot write to topic "
                              "'%s': %s",
                              ks->topic, ks->noop_msg);
        if (ks->noop_offset >= 0 && ks->applied >= ks->noop_offset) {
            ks->ready = true;
            break;
        }
        if (mw_time_mono_s() > deadline)
            return mw_err_set(err, MW_ERR_TIMEOUT,
                              "topic '%s' not read to "
                              "its end within %lld ms (kafkastore.init."
                              "timeout.ms)",
                              ks->topic, timeout_ms);
        rc = ks_consume(ks, 100, KS_BATCH_MAX, err);
    }
    if (rc < 0)
        return rc;
    mw_log_info(REG_STORE_COMPONENT, "store topic replayed",
                "log=%s topic=%s end_offset=%lld", ks->env.log->name,
                mw_log_q(ks->topic), (long long)ks->applied);
    return 0;
}

static int ks_attach(reg_kafka_t *ks, mw_err_t *err)
{
    struct timeval one_s = {.tv_sec = 1};
    int rc;

    if ((rc = bk_producer_attach(ks->prod, ks->env.base, err)) ||
        (rc = bk_consumer_attach(ks->cons, ks->env.base, ks_on_ready, ks, err)))
        return rc;
    ks->chore = event_new(ks->env.base, -1, EV_PERSIST, ks_on_chore, ks);
    if (!ks->chore || event_add(ks->chore, &one_s) != 0)
        return mw_err_set(err, MW_ERR_NOMEM, "cannot add the store's timer");
    /* Records fetched during catch-up may already wait in the queue. */
    bk_consumer_kick(ks->cons);
    return 0;
}

static void ks_metrics(reg_kafka_t *ks, const reg_store_env_t *env)
{
    mw_metrics_t *m = env->metrics;

    ks->appends_total = env->stats.appends_total;
    ks->errors_total = env->stats.errors_total;
    ks->append_seconds = env->stats.append_seconds;
    if (!m)
        return;
    ks->applied_total = mw_metrics_counter(
        m, "mesh_registry_store_applied_total",
        "Records read from the log and applied (all instances' records).",
        "storage=\"kafka\"");
}

static void ks_destroy(reg_kafka_t *ks)
{
    mw_err_t err;

    if (ks->chore)
        event_free(ks->chore);
    if (ks->cons && bk_consumer_close(ks->cons, &err) != 0)
        mw_log_warn(REG_STORE_COMPONENT, "consumer close failed", "reason=%s",
                    mw_log_q(err.msg));
    bk_consumer_destroy(ks->cons);
    /* Reports still queued messages as failed, through ks_on_delivery. */
    bk_producer_destroy(ks->prod);
    while (ks->head) {
        ks->head->delivered = true;
        mw_err_set(&err, MW_ERR_TIMEOUT, "store closed");
        ks_answer(ks, ks->head, &err);
    }
    free(ks);
}

static void *ks_open(const reg_store_env_t *env, mw_err_t *err)
{
    reg_kafka_t *ks = calloc(1, sizeof(*ks));

    if (!ks) {
        mw_err_set(err, MW_ERR_NOMEM, "out of memory for the kafka store");
        return NULL;
    }
    ks->env = *env;
    ks->topic = mw_conf_get_str(env->conf, env->log->topic_key);
    if (!ks->topic || !ks->topic[0])
        ks->topic = env->log == &reg_store_log_catalog ? KS_CATALOG_TOPIC
                                                       : KS_DEFAULT_TOPIC;
    ks->applied = ks->noop_offset = -1;
    ks->append_timeout_ms =
        (int)mw_conf_get_int(env->conf, "kafkastore.timeout.ms");
    ks_metrics(ks, env);
    if (ks_ensure_topic(ks, err) || ks_clients(ks, err) ||
        ks_catch_up(ks, err) || ks_attach(ks, err)) {
        mw_err_prefix(err, "kafka store");
        ks_destroy(ks);
        return NULL;
    }
    return ks;
}

/* ------------------------------------------------------------ close */

static void ks_close(void *be, int timeout_ms)
{
    reg_kafka_t *ks = be;
    double deadline =
        mw_time_mono_s() + (timeout_ms > 0 ? timeout_ms : 0) / 1000.0;
    mw_err_t err;

    ks->closing = true;
    if (bk_producer_flush(ks->prod, timeout_ms > 0 ? timeout_ms : 0, &err))
        mw_log_warn(REG_STORE_COMPONENT, "store flush incomplete", "reason=%s",
                    mw_log_q(err.msg));
    /* Read back what was delivered so its writers get their answer. */
    while (ks->inflight && !ks->broken && mw_time_mono_s() < deadline)
        if (ks_consume(ks, 50, KS_BATCH_MAX, &err) < 0)
            break;
    for (ks_append_t *a = ks->head, *next; a; a = next) {
        next = a->next;
        mw_err_set(&err, MW_ERR_TIMEOUT,
                   "store closed before the record "
                   "was read back");
        if (!a->answered)
            ks_answer(ks, a, &err);
    }
    ks_destroy(ks);
}

static int ks_is_ready(const void *be)
{
    const reg_kafka_t *ks = be;

    return ks->ready && !ks->broken;
}

/* storage=kafka's keys (kafka.* passthrough keys go to librdkafka). */
static const mw_conf_key_t ks_keys[] = {
    {.name = "kafka.bootstrap.servers",
     .type = MW_CONF_STR,
     .dflt = "127.0.0.1:9092",
     .doc = "Kafka cluster of storage=kafka."},
    {.name = "kafkastore.topic",
     .type = MW_CONF_STR,
     .dflt = KS_DEFAULT_TOPIC,
     .doc = "Topic of storage=kafka (created compacted with one partition "
            "when missing)."},
    {.name = "kafkastore.catalog.topic",
     .type = MW_CONF_STR,
     .dflt = KS_CATALOG_TOPIC,
     .doc = "Topic of storage=kafka for the data-product catalog (its own "
            "compacted topic, so readers of kafkastore.topic never see its "
            "records)."},
    {.name = "kafkastore.init.timeout.ms",
     .type = MW_CONF_INT,
     .dflt = "60000",
     .min = 1,
     .max = 3600000,
     .doc = "storage=kafka: how long start-up may take to read the topic to "
            "its end."},
    {.name = "kafkastore.timeout.ms",
     .type = MW_CONF_INT,
     .dflt = "30000",
     .min = 1,
     .max = 3600000,
     .doc = "storage=kafka: how long a write may take to be read back "
            "before the request fails with 50002."},
};

const reg_store_ops_t reg_store_kafka_ops = {
    .conf = {.name = "kafka",
             .doc = "the compacted kafkastore.topic, shared by several "
                    "instances",
             .keys = ks_keys,
             .key_cnt = sizeof(ks_keys) / sizeof(ks_keys[0])},
    .open = ks_open,
    .append = ks_append,
    .is_ready = ks_is_ready,
    .close = ks_close,
};
