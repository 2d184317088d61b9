/*
 * bk_bench: the raw limits every later benchmark is compared against, and
 * the broker adapter's cost on top of them.  For 100-byte and 1 KiB values
 * it produces N messages with raw librdkafka and with bk_producer, then
 * consumes them back with a raw librdkafka consumer and with bk_consumer,
 * and prints one table:
 *
 *   case  raw msg/s  adapter msg/s  ratio  raw MB/s  adapter MB/s  window s
 *   spread %
 *
 * Every figure is the best of BENCH_ROUNDS rounds, raw and adapter taking
 * turns (raw first, then adapter first, ...), so a burst of load from
 * another process on the 2 shared cores hurts one round, not one column;
 * spread is the larger of the two columns' (best - worst) / best.
 *
 * Usage: bk_bench BOOTSTRAP [SCALE] (run by bench/run.sh against a fresh
 * mesh-broker; SCALE, default 1, multiplies the message counts for a quick
 * smoke run).  This is the one file above broker-adapters/ that includes
 * rdkafka.h: it measures librdkafka itself.
 *
 * How the figures are kept honest (see bench/README.md):
 *  - raw and adapter clients get the same librdkafka properties, from one
 *    table, so the ratio measures only the adapter's code;
 *  - consumers are timed from their first record to their last: the group
 *    join (adapter), the offset lookup and the first fetch stay outside;
 *  - counts are sized so every timed window lasts about a second or more
 *    (a consumer reads the topics of every produce round, both sides'), and
 *    partitions so each stays well under the mock's ~5 MiB per partition
 *    retention; a consumer checks that every partition starts at offset 0
 *    and that exactly the produced count arrives, so a silently truncated
 *    partition fails the run instead of flattering it;
 *  - queued.min.messages is raised: with librdkafka 2.0.2's default
 *    (100000) a backlog larger than that pauses the fetcher until its broker
 *    thread's next 1 s idle wake-up, which decided the old figures.
 */
#include <librdkafka/rdkafka.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bk_admin.h"
#include "bk_consumer.h"
#include "bk_producer.h"
#include "mw_conf.h"
#include "mw_log.h"
#include "bench_util.h"

/* Bytes a partition may hold in the bench: the mock drops the oldest
 * batches beyond 5 MiB, and keys hash unevenly, so keep a wide margin. */
#define BENCH_PART_BUDGET (3L * 1024 * 1024)
/* A record's size in the mock's log beyond its value: key, varint headers
 * and its share of the batch header. */
#define BENCH_REC_OVERHEAD 24
#define BENCH_IDLE_MS 20000 /* a consumer with nothing for this long fails */
#define BENCH_ROUNDS 3

typedef struct bench_case {
    const char *name;
    size_t value_len;
    long msg_cnt;
} bench_case_t;

/* Messages per produce round.  On 2 cores they give windows of >= 1 s
 * producing (~2.2M and ~0.75M msg/s at best) and, a consumer reading every
 * topic of the case (2 x BENCH_ROUNDS), ~4.5 and ~3 s consuming (~3M and
 * ~1.5M msg/s at best).  The mock keeps it all in memory: ~1.8 GB for 100B
 * and ~5 GB for 1KiB. */
static const bench_case_t bench_cases[] = {
    {"100B", 100, 2400000},
    {"1KiB", 1024, 800000},
};

/* Properties given to both the raw clients and the adapter (as kafka.*),
 * per role.  The producer ones restate bk_conf's defaults so the table
 * stays fair if those change. */
typedef struct bench_kv {
    const char *key, *value;
} bench_kv_t;

static const bench_kv_t bench_producer_kv[] = {
    {"enable.idempotence", "true"},
    {"acks", "all"},
    {"linger.ms", "5"},
    {"partitioner", "murmur2_random"},
    {NULL, NULL}};

static const bench_kv_t bench_consumer_kv[] = {
    /* The mock answers an empty fetch only after fetch.wait.max.ms. */
    {"fetch.wait.max.ms", "10"},
    {"queued.min.messages", "10000000"},
    {"queued.max.messages.kbytes", "2097151"},
    {"auto.offset.reset", "earliest"},
    {"enable.auto.commit", "false"},
    {"enable.partition.eof", "false"},
    {NULL, NULL}};

static const char *bench_bootstrap;
static char bench_value[1024];

static int bench_partitions(const bench_case_t *bc)
{
    long bytes = bc->msg_cnt * (long)(bc->value_len + BENCH_REC_OVERHEAD);

    return (int)((bytes + BENCH_PART_BUDGET - 1) / BENCH_PART_BUDGET);
}

/* ------------------------------------------------------------ timing */

/* What one consumer saw: exactly N records, every partition from offset 0,
 * timed from the first record to the last. */
typedef struct bench_window {
    long got;
    double t_first, t_last;
    const char *const *topics; /* topic_cnt names, borrowed */
    int topic_cnt;
    int partitions;        /* per topic */
    int64_t *first_offset; /* [topic][partition]; -1 until a record */
} bench_window_t;

static void bench_window_init(bench_window_t *w, const char *const *topics,
                              int topic_cnt, int partitions)
{
    size_t n = (size_t)topic_cnt * (size_t)partitions;

    memset(w, 0, sizeof(*w));
    w->topics = topics;
    w->topic_cnt = topic_cnt;
    w->partitions = partitions;
    w->first_offset = malloc(sizeof(int64_t) * n);
    if (!w->first_offset)
        bench_die("window", "out of memory");
    for (size_t i = 0; i < n; i++)
        w->first_offset[i] = -1;
}

static void bench_window_record(bench_window_t *w, const char *topic,
                                int32_t partition, int64_t offset)
{
    double now = bench_now_s();
    int t = 0;
    int64_t *first;
    char why[160];

    if (w->got++ == 0)
        w->t_first = now;
    w->t_last = now;
    while (t < w->topic_cnt && strcmp(w->topics[t], topic))
        t++;
    if (t == w->topic_cnt || partition < 0 || partition >= w->partitions)
        bench_die("consume", "record from an unexpected partition");
    first = &w->first_offset[t * w->partitions + partition];
    if (*first >= 0)
        return;
    *first = offset;
    if (offset != 0) {
        snprintf(why, sizeof(why),
                 "%s [%d] starts at offset %lld: the mock's retention "
                 "dropped messages (lower BENCH_PART_BUDGET)",
                 topic, (int)partition, (long long)offset);
        bench_die("consume", why);
    }
}

/* msg/s over the window; the first record opens it, so N-1 intervals. */
static double bench_window_rate(bench_window_t *w, double *secs)
{
    double dt = w->t_last - w->t_first;

    free(w->first_offset);
    w->first_offset = NULL;
    *secs = dt;
    return dt > 0 ? (double)(w->got - 1) / dt : 0;
}

/* ------------------------------------------------------------ raw */

static void raw_conf_set(rd_kafka_conf_t *conf, const bench_kv_t *kv)
{
    char errstr[256];

    for (; kv->key; kv++)
        if (rd_kafka_conf_set(conf, kv->key, kv->value, errstr,
                              sizeof(errstr)) != RD_KAFKA_CONF_OK)
            bench_die(kv->key, errstr);
}

static rd_kafka_t *raw_new(rd_kafka_type_t type)
{
    const bench_kv_t common[] = {{"bootstrap.servers", bench_bootstrap},
                                 {NULL, NULL}};
    const bench_kv_t group[] = {{"group.id", "bk-bench-raw"}, {NULL, NULL}};
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    char errstr[256];
    rd_kafka_t *rk;

    raw_conf_set(conf, common);
    raw_conf_set(conf, type == RD_KAFKA_PRODUCER ? bench_producer_kv
                                                 : bench_consumer_kv);
    if (type == RD_KAFKA_CONSUMER)
        raw_conf_set(conf, group); /* unused by assign(), but expected */
    rk = rd_kafka_new(type, conf, errstr, sizeof(errstr));
    if (!rk)
        bench_die("rd_kafka_new", errstr);
    return rk;
}

static double raw_produce(const char *topic, const bench_case_t *bc,
                          double *secs)
{
    rd_kafka_t *rk = raw_new(RD_KAFKA_PRODUCER);
    double t0 = bench_now_s();

    for (long i = 0; i < bc->msg_cnt; i++) {
        char key[24];
        int key_len = snprintf(key, sizeof(key), "k%ld", i);
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
    if (rd_kafka_flush(rk, 120000))
        bench_die("raw flush", "timed out");
    *secs = bench_now_s() - t0;
    rd_kafka_destroy(rk);
    return (double)bc->msg_cnt / *secs;
}

/* Direct assignment from offset 0: no group join at all. */
static void raw_assign(rd_kafka_t *rk, const char *const *topics, int topic_cnt,
                       int partitions)
{
    rd_kafka_topic_partition_list_t *l =
        rd_kafka_topic_partition_list_new(topic_cnt * partitions);
    rd_kafka_resp_err_t err;

    for (int t = 0; t < topic_cnt; t++)
        for (int p = 0; p < partitions; p++)
            rd_kafka_topic_partition_list_add(l, topics[t], p)->offset =
                RD_KAFKA_OFFSET_BEGINNING;
    err = rd_kafka_assign(rk, l);
    rd_kafka_topic_partition_list_destroy(l);
    if (err)
        bench_die("rd_kafka_assign", rd_kafka_err2str(err));
}

static double raw_consume(const char *const *topics, int topic_cnt,
                          const bench_case_t *bc, double *secs)
{
    rd_kafka_t *rk = raw_new(RD_KAFKA_CONSUMER);
    bench_window_t w;

    bench_window_init(&w, topics, topic_cnt, bench_partitions(bc));
    rd_kafka_poll_set_consumer(rk);
    raw_assign(rk, topics, topic_cnt, w.partitions);
    while (w.got < bc->msg_cnt * topic_cnt) {
        rd_kafka_message_t *m = rd_kafka_consumer_poll(rk, BENCH_IDLE_MS);
        if (!m)
            bench_die("raw consume", "no record for 20 s (messages lost?)");
        if (m->err)
            bench_die("raw consume", rd_kafka_message_errstr(m));
        bench_window_record(&w, rd_kafka_topic_name(m->rkt), m->partition,
                            m->offset);
        rd_kafka_message_destroy(m);
    }
    rd_kafka_consumer_close(rk);
    rd_kafka_destroy(rk);
    return bench_window_rate(&w, secs);
}

/* ------------------------------------------------------------ adapter */

static void adapter_dr(void *opaque, void *msg_opaque, const bk_delivery_t *dr)
{
    (void)msg_opaque;
    if (dr->code)
        ++*(long *)opaque;
}

static double adapter_produce(const mw_conf_t *conf, const char *topic,
                              const bench_case_t *bc, double *secs)
{
    long failed = 0;
    mw_err_t err;
    bk_producer_t *prod =
        bk_producer_new(conf, adapter_dr, &failed, NULL, &err);
    double t0 = bench_now_s();

    if (!prod)
        bench_die("bk_producer_new", err.msg);
    for (long i = 0; i < bc->msg_cnt; i++) {
        char key[24];
        int key_len = snprintf(key, sizeof(key), "k%ld", i);
        bk_message_t msg = {.topic = topic,
                            .partition = BK_PARTITION_ANY,
                            .key = key,
                            .key_len = (size_t)key_len,
                            .value = bench_value,
                            .value_len = bc->value_len};
        int rc;
        while ((rc = bk_producer_send(prod, &msg, NULL, &err)) == MW_ERR_FULL)
            bk_producer_poll(prod, 1);
        if (rc)
            bench_die("bk_producer_send", err.msg);
        bk_producer_poll(prod, 0);
    }
    if (bk_producer_flush(prod, 120000, &err) || failed)
        bench_die("bk_producer_flush", failed ? "failed deliveries" : err.msg);
    *secs = bench_now_s() - t0;
    bk_producer_destroy(prod);
    return (double)bc->msg_cnt / *secs;
}

/* bk_consumer has no direct assignment: it subscribes, and the join stays
 * outside the window because the window opens at the first record. */
static double adapter_consume(const mw_conf_t *conf, const char *const *topics,
                              int topic_cnt, const bench_case_t *bc,
                              double *secs)
{
    static int group_seq;
    char group[160];
    mw_err_t err;
    bk_consumer_t *cons;
    bench_window_t w;

    /* A new group each round, so it starts from offset 0 (earliest). */
    snprintf(group, sizeof(group), "%s-g%d", topics[0], ++group_seq);
    cons = bk_consumer_new(conf, group, NULL, NULL, NULL, &err);
    if (!cons || bk_consumer_subscribe(cons, topics, (size_t)topic_cnt, &err))
        bench_die("bk_consumer", err.msg);
    bench_window_init(&w, topics, topic_cnt, bench_partitions(bc));
    while (w.got < bc->msg_cnt * topic_cnt) {
        bk_record_t *rec;
        if (bk_consumer_poll(cons, BENCH_IDLE_MS, &rec, &err))
            bench_die("bk_consumer_poll", err.msg);
        if (!rec)
            bench_die("adapter consume", "no record for 20 s (messages lost?)");
        bench_window_record(&w, rec->topic, rec->partition, rec->offset);
        bk_record_destroy(rec);
    }
    bk_consumer_close(cons, NULL);
    bk_consumer_destroy(cons);
    return bench_window_rate(&w, secs);
}

/* ------------------------------------------------------------ main */

static mw_conf_t *bench_conf(void)
{
    static const char *const pass[] = {"kafka.", NULL};
    static const mw_conf_key_t keys[] = {
        {.name = "bench", .type = MW_CONF_BOOL, .dflt = "true", .doc = "-"}};
    static const mw_conf_program_t prog = {.name = "bk_bench",
                                           .summary = "adapter benchmark",
                                           .passthrough = pass};
    const bench_kv_t *tables[] = {bench_producer_kv, bench_consumer_kv};
    mw_err_t err;
    mw_conf_t *conf = mw_conf_new(&prog, keys, 1, &err);
    char key[128];

    if (!conf || mw_conf_set(conf, "kafka.bootstrap.servers", bench_bootstrap,
                             "argv", &err))
        bench_die("configuration", err.msg);
    for (size_t t = 0; t < 2; t++)
        for (const bench_kv_t *kv = tables[t]; kv->key; kv++) {
            snprintf(key, sizeof(key), "kafka.%s", kv->key);
            if (mw_conf_set(conf, key, kv->value, "bench", &err))
                bench_die("configuration", err.msg);
        }
    if (mw_conf_finalize(conf, &err))
        bench_die("configuration", err.msg);
    return conf;
}

static void bench_topic(bk_admin_t *admin, char *buf, size_t size,
                        const char *kind, const bench_case_t *bc, int round)
{
    mw_err_t err;

    snprintf(buf, size, "bench-%s-%s-%d-r%d", kind, bc->name, (int)getpid(),
             round);
    if (bk_admin_create_topic(
            admin,
            &(bk_topic_spec_t){.name = buf,
                               .partitions = bench_partitions(bc),
                               .replication = BK_REPLICATION_DEFAULT},
            &err))
        bench_die("create topic", err.msg);
}

/* Best and worst of one column's rounds. */
typedef struct bench_stat {
    double best, worst, best_secs;
} bench_stat_t;

static void bench_stat_add(bench_stat_t *st, double rate, double secs)
{
    if (rate > st->best) {
        st->best = rate;
        st->best_secs = secs;
    }
    if (st->worst == 0 || rate < st->worst)
        st->worst = rate;
}

static double bench_spread(const bench_stat_t *st)
{
    return st->best > 0 ? 100.0 * (st->best - st->worst) / st->best : 0;
}

static void bench_row(const char *op, const bench_case_t *bc,
                      const bench_stat_t *raw, const bench_stat_t *ad)
{
    char name[64];
    double mb = (double)bc->value_len / 1e6; /* payload MB per message */
    double sr = bench_spread(raw), sa = bench_spread(ad);

    snprintf(name, sizeof(name), "%s-%s", op, bc->name);
    printf("%-14s %11.0f %13.0f %6.2f %9.1f %12.1f %8.2f %8.0f\n", name,
           raw->best, ad->best, ad->best / raw->best, raw->best * mb,
           ad->best * mb,
           raw->best_secs < ad->best_secs ? raw->best_secs : ad->best_secs,
           sr > sa ? sr : sa);
    fflush(stdout);
}

typedef struct bench_topics {
    char names[2][BENCH_ROUNDS][128]; /* [0] raw, [1] adapter */
    const char *all[2 * BENCH_ROUNDS];
} bench_topics_t;

static void bench_produce_rounds(bk_admin_t *admin, const mw_conf_t *conf,
                                 const bench_case_t *bc, bench_topics_t *tp)
{
    bench_stat_t st[2] = {{0}};

    for (int r = 0; r < BENCH_ROUNDS; r++) {
        for (int k = 0; k < 2; k++) {
            int side = (r + k) % 2; /* raw first in even rounds */
            char *t = tp->names[side][r];
            double rate, secs;

            bench_topic(admin, t, sizeof(tp->names[side][r]),
                        side ? "adapter" : "raw", bc, r);
            tp->all[side * BENCH_ROUNDS + r] = t;
            rate = side ? adapter_produce(conf, t, bc, &secs)
                        : raw_produce(t, bc, &secs);
            bench_stat_add(&st[side], rate, secs);
        }
    }
    bench_row("produce", bc, &st[0], &st[1]);
}

/* Consuming does not change a topic, so every consume round re-reads the
 * topics of all produce rounds, both sides': raw and adapter consumers read
 * the very same records, and the window is twice as long for the same
 * memory in the mock. */
static void bench_consume_rounds(const mw_conf_t *conf, const bench_case_t *bc,
                                 const bench_topics_t *tp)
{
    bench_stat_t st[2] = {{0}};

    for (int r = 0; r < BENCH_ROUNDS; r++) {
        for (int k = 0; k < 2; k++) {
            int side = (r + k) % 2;
            double rate, secs;

            rate = side ? adapter_consume(conf, tp->all, 2 * BENCH_ROUNDS, bc,
                                          &secs)
                        : raw_consume(tp->all, 2 * BENCH_ROUNDS, bc, &secs);
            bench_stat_add(&st[side], rate, secs);
        }
    }
    bench_row("consume", bc, &st[0], &st[1]);
}

int main(int argc, char **argv)
{
    double scale = 1.0;
    mw_conf_t *conf;
    bk_admin_t *admin;
    mw_err_t err;

    if (argc < 2 || argc > 3 || (argc == 3 && (scale = atof(argv[2])) <= 0))
        bench_die("usage", "bk_bench BOOTSTRAP [SCALE]");
    bench_bootstrap = argv[1];
    mw_log_set_level(MW_LOG_WARN);
    memset(bench_value, 'v', sizeof(bench_value));
    conf = bench_conf();
    if (!(admin = bk_admin_new(conf, &err)))
        bench_die("bk_admin_new", err.msg);
    /* Warm-up: the first producer of a fresh mesh-broker pays for its
     * connections and allocations; without this the raw column, measured
     * first, looks slower than it is. */
    {
        static const bench_case_t warm = {"warmup", 100, 50000};
        char warm_t[128];
        double secs;
        bench_topic(admin, warm_t, sizeof(warm_t), "warmup", &warm, 0);
        raw_produce(warm_t, &warm, &secs);
    }
    printf("# limit: raw librdkafka %s into mesh-broker at %s "
           "(3 mock brokers, loopback); producer idempotent, acks=all, "
           "linger.ms=5; consumers timed first to last record; best of %d "
           "rounds\n",
           rd_kafka_version_str(), bench_bootstrap, BENCH_ROUNDS);
    printf("%-14s %11s %13s %6s %9s %12s %8s %8s\n", "case", "raw msg/s",
           "adapter msg/s", "ratio", "raw MB/s", "adapter MB/s", "window s",
           "spread %");
    for (size_t i = 0; i < sizeof(bench_cases) / sizeof(bench_cases[0]); i++) {
        bench_case_t bc = bench_cases[i];
        bc.msg_cnt = (long)((double)bc.msg_cnt * scale);
        if (bc.msg_cnt < 2)
            bc.msg_cnt = 2;
        bench_topics_t tp;
        bench_produce_rounds(admin, conf, &bc, &tp);
        bench_consume_rounds(conf, &bc, &tp);
    }
    bk_admin_destroy(admin);
    mw_conf_destroy(conf);
    return 0;
}
