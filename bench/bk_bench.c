/*
 * bk_bench: the raw limits every later benchmark is compared against, and
 * the broker adapter's cost on top of them.  For 100-byte and 1 KiB values
 * it produces N messages with raw librdkafka (idempotent, acks=all) and
 * with bk_producer, then consumes them back with a raw librdkafka consumer
 * and with bk_consumer, and prints one table:
 *
 *   case  raw msg/s  adapter msg/s  ratio
 *
 * Usage: bk_bench BOOTSTRAP (run by bench/run.sh against a fresh
 * mesh-broker).  This is the one file above broker-adapters/ that includes
 * rdkafka.h: it measures librdkafka itself.  Each case uses its own topics
 * (16 partitions, so even 50k x 1 KiB stays inside the mock's ~5 MiB per
 * partition retention) and consumes right after producing.
 */
#include <librdkafka/rdkafka.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "bk_admin.h"
#include "bk_consumer.h"
#include "bk_producer.h"
#include "mw_conf.h"
#include "mw_log.h"

#define BENCH_PARTITIONS 16

typedef struct bench_case {
    const char *name;
    size_t value_len;
    long msg_cnt;
} bench_case_t;

static const bench_case_t bench_cases[] = {
    {"100B", 100, 200000},
    {"1KiB", 1024, 50000},
};

static const char *bench_bootstrap;
static char bench_value[1024];

static double bench_now(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void bench_die(const char *what, const char *why)
{
    fprintf(stderr, "bk_bench: %s: %s\n", what, why);
    exit(1);
}

/* ------------------------------------------------------------ raw */

static rd_kafka_t *raw_new(rd_kafka_type_t type, const char *group)
{
    const char *kv[] = {
        "bootstrap.servers", bench_bootstrap, "enable.idempotence", "true",
        "acks", "all", "linger.ms", "5", "partitioner", "murmur2_random",
        "fetch.wait.max.ms", "10", "auto.offset.reset", "earliest",
        "enable.auto.commit", "false", "group.id", group, NULL};
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    char errstr[256];
    rd_kafka_t *rk;

    for (int i = 0; kv[i]; i += 2) {
        /* Role-specific keys are skipped for the other role. */
        bool cons_only = !strcmp(kv[i], "group.id") ||
                         !strncmp(kv[i], "fetch", 5) ||
                         !strncmp(kv[i], "auto", 4) ||
                         !strncmp(kv[i], "enable.auto", 11);
        bool prod_only = !strcmp(kv[i], "enable.idempotence") ||
                         !strcmp(kv[i], "acks") ||
                         !strcmp(kv[i], "linger.ms") ||
                         !strcmp(kv[i], "partitioner");
        if ((type == RD_KAFKA_PRODUCER && cons_only) ||
            (type == RD_KAFKA_CONSUMER && prod_only))
            continue;
        if (rd_kafka_conf_set(conf, kv[i], kv[i + 1], errstr,
                              sizeof(errstr)) != RD_KAFKA_CONF_OK)
            bench_die(kv[i], errstr);
    }
    rk = rd_kafka_new(type, conf, errstr, sizeof(errstr));
    if (!rk)
        bench_die("rd_kafka_new", errstr);
    return rk;
}

static double raw_produce(const char *topic, const bench_case_t *bc)
{
    rd_kafka_t *rk = raw_new(RD_KAFKA_PRODUCER, "unused");
    double t0 = bench_now(), dt;

    for (long i = 0; i < bc->msg_cnt; i++) {
        char key[16];
        int key_len = snprintf(key, sizeof(key), "k%ld", i % 1000);
        rd_kafka_resp_err_t err;
        while ((err = rd_kafka_producev(
                    rk, RD_KAFKA_V_TOPIC(topic),
                    RD_KAFKA_V_KEY(key, (size_t)key_len),
                    RD_KAFKA_V_VALUE(bench_value, bc->value_len),
                    RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
                    RD_KAFKA_V_END)) == RD_KAFKA_RESP_ERR__QUEUE_FULL)
            rd_kafka_poll(rk, 1);
        if (err)
            bench_die("raw produce", rd_kafka_err2str(err));
        rd_kafka_poll(rk, 0);
    }
    if (rd_kafka_flush(rk, 60000))
        bench_die("raw flush", "timed out");
    dt = bench_now() - t0;
    rd_kafka_destroy(rk);
    return (double)bc->msg_cnt / dt;
}

static double raw_consume(const char *topic, const bench_case_t *bc)
{
    rd_kafka_t *rk = raw_new(RD_KAFKA_CONSUMER, topic);
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(1);
    double t0 = 0;
    long got = 0;

    rd_kafka_poll_set_consumer(rk);
    rd_kafka_topic_partition_list_add(l, topic, RD_KAFKA_PARTITION_UA);
    rd_kafka_subscribe(rk, l);
    rd_kafka_topic_partition_list_destroy(l);
    while (got < bc->msg_cnt) {
        rd_kafka_message_t *m = rd_kafka_consumer_poll(rk, 30000);
        if (!m)
            bench_die("raw consume", "no message for 30 s");
        if (!m->err && got++ == 0)
            t0 = bench_now();
        rd_kafka_message_destroy(m);
    }
    double dt = bench_now() - t0;
    rd_kafka_consumer_close(rk);
    rd_kafka_destroy(rk);
    return (double)(bc->msg_cnt - 1) / dt;
}

/* ------------------------------------------------------------ adapter */

static void adapter_dr(void *opaque, void *msg_opaque, const bk_delivery_t *dr)
{
    (void)msg_opaque;
    if (dr->code)
        ++*(long *)opaque;
}

static double adapter_produce(const mw_conf_t *conf, const char *topic,
                              const bench_case_t *bc)
{
    long failed = 0;
    mw_err_t err;
    bk_producer_t *prod = bk_producer_new(conf, adapter_dr, &failed, NULL,
                                          &err);
    double t0 = bench_now(), dt;

    if (!prod)
        bench_die("bk_producer_new", err.msg);
    for (long i = 0; i < bc->msg_cnt; i++) {
        char key[16];
        int key_len = snprintf(key, sizeof(key), "k%ld", i % 1000);
        bk_message_t msg = {.topic = topic, .partition = BK_PARTITION_ANY,
                            .key = key, .key_len = (size_t)key_len,
                            .value = bench_value, .value_len = bc->value_len};
        int rc;
        while ((rc = bk_producer_send(prod, &msg, NULL, &err)) == MW_ERR_FULL)
            bk_producer_poll(prod, 1);
        if (rc)
            bench_die("bk_producer_send", err.msg);
        bk_producer_poll(prod, 0);
    }
    if (bk_producer_flush(prod, 60000, &err) || failed)
        bench_die("bk_producer_flush", failed ? "failed deliveries" : err.msg);
    dt = bench_now() - t0;
    bk_producer_destroy(prod);
    return (double)bc->msg_cnt / dt;
}

static double adapter_consume(const mw_conf_t *conf, const char *topic,
                              const bench_case_t *bc)
{
    mw_err_t err;
    bk_consumer_t *cons = bk_consumer_new(conf, topic, NULL, NULL, NULL, &err);
    const char *topics[] = {topic};
    double t0 = 0;
    long got = 0;

    if (!cons || bk_consumer_subscribe(cons, topics, 1, &err))
        bench_die("bk_consumer", err.msg);
    while (got < bc->msg_cnt) {
        bk_record_t *rec;
        if (bk_consumer_poll(cons, 30000, &rec, &err))
            bench_die("bk_consumer_poll", err.msg);
        if (!rec)
            bench_die("adapter consume", "no record for 30 s");
        if (got++ == 0)
            t0 = bench_now();
        bk_record_destroy(rec);
    }
    double dt = bench_now() - t0;
    bk_consumer_close(cons, NULL);
    bk_consumer_destroy(cons);
    return (double)(bc->msg_cnt - 1) / dt;
}

/* ------------------------------------------------------------ main */

static void bench_topic(bk_admin_t *admin, char *buf, size_t size,
                        const char *kind, const bench_case_t *bc)
{
    mw_err_t err;

    snprintf(buf, size, "bench-%s-%s-%d", kind, bc->name, (int)getpid());
    if (bk_admin_create_topic(admin, buf, BENCH_PARTITIONS,
                              BK_REPLICATION_DEFAULT, NULL, 0, &err))
        bench_die("create topic", err.msg);
}

static void bench_row(const char *name, double raw, double adapter)
{
    printf("%-14s %12.0f %14.0f %7.2f\n", name, raw, adapter, adapter / raw);
    fflush(stdout);
}

int main(int argc, char **argv)
{
    static const char *const pass[] = {"kafka.", NULL};
    static const mw_conf_key_t keys[] = {
        {.name = "bench", .type = MW_CONF_BOOL, .dflt = "true", .doc = "-"}};
    static const mw_conf_program_t prog = {.name = "bk_bench",
                                           .summary = "adapter benchmark",
                                           .passthrough = pass};
    mw_err_t err;
    mw_conf_t *conf;
    bk_admin_t *admin;

    if (argc != 2)
        bench_die("usage", "bk_bench BOOTSTRAP");
    bench_bootstrap = argv[1];
    mw_log_set_level(MW_LOG_WARN);
    memset(bench_value, 'v', sizeof(bench_value));
    conf = mw_conf_new(&prog, keys, 1, &err);
    if (!conf ||
        mw_conf_set(conf, "kafka.bootstrap.servers", argv[1], "argv", &err) ||
        mw_conf_set(conf, "kafka.fetch.wait.max.ms", "10", "bench", &err) ||
        mw_conf_finalize(conf, &err) || !(admin = bk_admin_new(conf, &err)))
        bench_die("configuration", err.msg);
    /* Warm-up: the first producer of a fresh mesh-broker pays for its
     * connections and allocations; without this the raw column, measured
     * first, looks slower than it is. */
    {
        static const bench_case_t warm = {"warmup", 100, 50000};
        char warm_t[128];
        bench_topic(admin, warm_t, sizeof(warm_t), "warmup", &warm);
        raw_produce(warm_t, &warm);
    }
    printf("%-14s %12s %14s %7s\n", "case", "raw msg/s", "adapter msg/s",
           "ratio");
    for (size_t i = 0; i < sizeof(bench_cases) / sizeof(bench_cases[0]); i++) {
        const bench_case_t *bc = &bench_cases[i];
        char raw_t[128], ad_t[128], name[64];
        double rp, ap, rc, ac;

        bench_topic(admin, raw_t, sizeof(raw_t), "raw", bc);
        bench_topic(admin, ad_t, sizeof(ad_t), "adapter", bc);
        rp = raw_produce(raw_t, bc);
        rc = raw_consume(raw_t, bc);
        ap = adapter_produce(conf, ad_t, bc);
        ac = adapter_consume(conf, ad_t, bc);
        snprintf(name, sizeof(name), "produce-%s", bc->name);
        bench_row(name, rp, ap);
        snprintf(name, sizeof(name), "consume-%s", bc->name);
        bench_row(name, rc, ac);
    }
    bk_admin_destroy(admin);
    mw_conf_destroy(conf);
    return 0;
}
