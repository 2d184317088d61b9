/*
 * pr_raw_bench: the raw limit the producer benchmark (bench/pr_bench.sh) is
 * measured against, and the input it runs on.
 *
 *   pr_raw_bench schema                 print the benchmark's Avro schema
 *   pr_raw_bench lines N FILE           write N JSON lines (one order each)
 *   pr_raw_bench produce BOOTSTRAP TOPIC SCHEMA_ID FILE
 *   pr_raw_bench produce-headers BOOTSTRAP TOPIC SCHEMA_ID FILE
 *   pr_raw_bench feed BOOTSTRAP TOPIC PARTITIONS SRC DST N
 *   pr_raw_bench post URL TOPIC SCHEMA_ID FILE CONNECTIONS BATCH
 *   pr_raw_bench sized-schema           the schema of the sized lines
 *   pr_raw_bench sized-lines N SIZE FILE  N lines of SIZE bytes each
 *   pr_raw_bench sized-produce BOOTSTRAP TOPIC SCHEMA_ID FILE
 *
 * `produce` encodes every line of FILE with the registry serde into the
 * Confluent framing first (untimed: jansson + av_serde, the producer's slow
 * path), keyed by order_id as mesh-producer keys them with
 * file.key.field=order_id, then times raw librdkafka producing exactly those
 * bytes: from the first send to the end of the flush, with the producer
 * settings mesh-producer uses by default (idempotent, acks=all, linger.ms=5,
 * murmur2_random).  It prints "raw <events/s> <seconds> <value bytes>".
 * `produce-headers` adds the two headers every mesh-producer event carries
 * (mesh.source, mesh.position): how much of the gap they are.
 *
 * `feed` appends SRC to DST, the file a running mesh-producer tails, and
 * prints the seconds until TOPIC's end offsets grew by N.
 *
 * `post` sends the lines of FILE to a running mesh-producer's http source
 * as REST Proxy produce requests of BATCH records each ({"key": order_id,
 * "value": line}, value_schema_id SCHEMA_ID), over CONNECTIONS keep-alive
 * connections at once, each waiting for its answer before the next request
 * (how REST Proxy clients send); the bodies are built beforehand.  It
 * prints "http <events/s> <seconds>", timed from the first request to the
 * last answer: an answer means Kafka acknowledged every record in it.
 *
 * The sized lines are {"order_id":"o-<10 digits>","pad":"xxx..."}, padded
 * so that each line with its newline is exactly SIZE bytes (at least 38):
 * how the cost grows with the event's size, without the Order's fields.
 * sized-produce is produce for them (their own two-field schema).
 *
 * The lines are deterministic (N alone decides them), about 220 bytes of
 * JSON that encode to about 90 bytes of framed Avro: near the size the goal
 * ("about a million 100-byte events a second") is stated for.
 */
#include <arpa/inet.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>
#include <librdkafka/rdkafka.h>

#include "mw_buf.h"
#include "mw_err.h"
#include "av_schema.h"
#include "av_serde.h"
#include "sr_frame.h"
#include "bench_util.h"
#include "mw_vec.h"

static const char bench_schema[] =
    "{\"type\":\"record\",\"name\":\"Order\",\"namespace\":\"bench.shop\","
    "\"fields\":["
    "{\"name\":\"order_id\",\"type\":\"string\"},"
    "{\"name\":\"customer\",\"type\":\"string\"},"
    "{\"name\":\"sku\",\"type\":\"string\"},"
    "{\"name\":\"qty\",\"type\":\"int\"},"
    "{\"name\":\"price\",\"type\":\"double\"},"
    "{\"name\":\"currency\",\"type\":\"string\"},"
    "{\"name\":\"status\",\"type\":{\"type\":\"enum\",\"name\":\"Status\","
    "\"symbols\":[\"PLACED\",\"PAID\",\"SHIPPED\"]}},"
    "{\"name\":\"created_at\",\"type\":{\"type\":\"long\","
    "\"logicalType\":\"timestamp-millis\"}},"
    "{\"name\":\"express\",\"type\":\"boolean\"},"
    "{\"name\":\"note\",\"type\":[\"null\",\"string\"],\"default\":null}"
    "]}";

static const char sized_schema[] =
    "{\"type\":\"record\",\"name\":\"Sized\",\"namespace\":"
    "\"bench.shop\",\"fields\":[{\"name\":\"order_id\",\"type\":"
    "\"string\"},{\"name\":\"pad\",\"type\":\"string\"}]}";

/* The schema encode_file encodes with: bench_schema, or sized_schema for
 * sized-produce. */
static const char *encode_schema = bench_schema;

typedef struct {
    char *key;
    size_t key_len;
    void *value;
    size_t value_len;
    char *pos; /* "<file>:<byte offset>", mesh-producer's header */
} bench_msg_t;

static int cmd_lines(long n, const char *path)
{
    static const char *const status[] = {"PLACED", "PAID", "SHIPPED"};
    FILE *f = fopen(path, "w");

    if (!f)
        bench_die(path, "cannot create");
    for (long i = 0; i < n; i++) {
        /* Every 4th order has no note: both union branches are used. */
        fprintf(f,
                "{\"order_id\":\"o-%010ld\",\"customer\":\"c-%06ld\","
                "\"sku\":\"SKU-%05ld\",\"qty\":%ld,\"price\":%ld.%02ld,"
                "\"currency\":\"EUR\",\"status\":\"%s\","
                "\"created_at\":%" PRId64 ",\"express\":%s,\"note\":",
                i, (i * 7919) % 1000000, (i * 31) % 100000, 1 + i % 9,
                5 + i % 500, i % 100, status[i % 3], (int64_t)1764000000000 + i,
                i % 5 ? "false" : "true");
        if (i % 4 == 3)
            fputs("null}\n", f);
        else
            fprintf(f,
                    "{\"string\":\"gift wrap, ring twice at the "
                    "side door %ld\"}}\n",
                    i % 1000);
    }
    if (fclose(f) != 0)
        bench_die(path, "write failed");
    return 0;
}

/* N lines of exactly size bytes (newline included). */
static int cmd_sized_lines(long n, long size, const char *path)
{
    /* {"order_id":"o-0000000000","pad":""} and the newline: 37 bytes. */
    enum { FRAME = 37 };
    FILE *f = fopen(path, "w");
    char *pad;

    if (!f || size < FRAME + 1 || !(pad = malloc((size_t)size)))
        bench_die(path, "cannot create, or SIZE below 38");
    memset(pad, 'x', (size_t)(size - FRAME));
    pad[size - FRAME] = '\0';
    for (long i = 0; i < n; i++)
        fprintf(f, "{\"order_id\":\"o-%010ld\",\"pad\":\"%s\"}\n", i, pad);
    free(pad);
    if (fclose(f) != 0)
        bench_die(path, "write failed");
    return 0;
}

/* Reads FILE and encodes each line; returns the message count. */
static size_t encode_file(const char *path, uint32_t id, bench_msg_t **out,
                          size_t *bytes)
{
    mw_err_t err = {0};
    av_schema_t *schema =
        av_schema_parse(encode_schema, strlen(encode_schema), NULL, 0, &err);
    av_serde_plan_t *plan;
    mw_buf_t *buf = mw_buf_new(0);
    FILE *f = fopen(path, "r");
    size_t cap = 0, cnt = 0, linecap = 0, off = 0;
    bench_msg_t *msgs = NULL;
    char *line = NULL;
    ssize_t len;

    if (!schema)
        bench_die("schema", err.msg);
    plan = av_serde_plan_new(schema, NULL, &err);
    if (!plan)
        bench_die("plan", err.msg);
    if (!f || !buf || MW_VEC_RESERVE(&msgs, &cap, (size_t)1 << 20))
        bench_die(path, "cannot open or out of memory");
    *bytes = 0;
    while ((len = getline(&line, &linecap, f)) > 0) {
        json_error_t jerr;
        json_t *doc = json_loadb(line, (size_t)len, 0, &jerr);
        const char *key;

        if (!doc)
            bench_die("line", jerr.text);
        if (MW_VEC_RESERVE(&msgs, &cap, cnt + 1))
            bench_die("encode", "out of memory");
        mw_buf_reset(buf);
        if (sr_frame_encode(plan, id, doc, buf, &err) != 0)
            bench_die("encode", err.msg);
        key = json_string_value(json_object_get(doc, "order_id"));
        msgs[cnt].key = strdup(key ? key : "");
        msgs[cnt].key_len = strlen(msgs[cnt].key);
        msgs[cnt].value_len = mw_buf_len(buf);
        msgs[cnt].value = malloc(msgs[cnt].value_len);
        if (asprintf(&msgs[cnt].pos, "%s:%zu", path, off) < 0)
            msgs[cnt].pos = NULL;
        off += (size_t)len;
        if (!msgs[cnt].key || !msgs[cnt].value || !msgs[cnt].pos)
            bench_die("encode", "out of memory");
        memcpy(msgs[cnt].value, mw_buf_data(buf), msgs[cnt].value_len);
        *bytes += msgs[cnt].value_len;
        cnt++;
        json_decref(doc);
    }
    free(line);
    fclose(f);
    mw_buf_destroy(buf);
    av_serde_plan_destroy(plan);
    av_schema_release(schema);
    *out = msgs;
    return cnt;
}

static void conf_set(rd_kafka_conf_t *conf, const char *key, const char *val)
{
    char errstr[256];

    if (rd_kafka_conf_set(conf, key, val, errstr, sizeof(errstr)) !=
        RD_KAFKA_CONF_OK)
        bench_die(key, errstr);
}

static int cmd_produce(const char *bootstrap, const char *topic, uint32_t id,
                       const char *path, bool headers)
{
    bench_msg_t *msgs;
    size_t bytes, cnt = encode_file(path, id, &msgs, &bytes);
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    char errstr[256];
    rd_kafka_t *rk;
    double t0, secs;

    /* mesh-producer's defaults (broker-adapters/kafka/bk_conf.c). */
    conf_set(conf, "bootstrap.servers", bootstrap);
    conf_set(conf, "enable.idempotence", "true");
    conf_set(conf, "acks", "all");
    conf_set(conf, "linger.ms", "5");
    conf_set(conf, "partitioner", "murmur2_random");
    rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof(errstr));
    if (!rk)
        bench_die("rd_kafka_new", errstr);
    t0 = bench_now_s();
    for (size_t i = 0; i < cnt; i++) {
        rd_kafka_resp_err_t rerr;

        /* With headers: the two every mesh-producer event carries. */
        while (
            (rerr =
                 headers
                     ? rd_kafka_producev(
                           rk, RD_KAFKA_V_TOPIC(topic),
                           RD_KAFKA_V_KEY(msgs[i].key, msgs[i].key_len),
                           RD_KAFKA_V_VALUE(msgs[i].value, msgs[i].value_len),
                           RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
                           RD_KAFKA_V_HEADER("mesh.source", "file", 4),
                           RD_KAFKA_V_HEADER("mesh.position", msgs[i].pos, -1),
                           RD_KAFKA_V_END)
                     : rd_kafka_producev(
                           rk, RD_KAFKA_V_TOPIC(topic),
                           RD_KAFKA_V_KEY(msgs[i].key, msgs[i].key_len),
                           RD_KAFKA_V_VALUE(msgs[i].value, msgs[i].value_len),
                           RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
                           RD_KAFKA_V_END)) == RD_KAFKA_RESP_ERR__QUEUE_FULL)
            rd_kafka_poll(rk, 1);
        if (rerr)
            bench_die("produce", rd_kafka_err2str(rerr));
        rd_kafka_poll(rk, 0);
    }
    if (rd_kafka_flush(rk, 120000))
        bench_die("flush", "timed out after 120 s");
    secs = bench_now_s() - t0;
    rd_kafka_destroy(rk);
    printf("raw %.0f %.3f %zu\n", (double)cnt / secs, secs, bytes);
    for (size_t i = 0; i < cnt; i++) {
        free(msgs[i].key);
        free(msgs[i].value);
        free(msgs[i].pos);
    }
    free(msgs);
    return 0;
}

/* Sum of the end offsets of TOPIC's partitions 0..parts-1 (one batched
 * ListOffsets per leader), or -1 on error. */
static int64_t end_offsets(rd_kafka_t *rk, const char *topic, int parts)
{
    rd_kafka_topic_partition_list_t *l =
        rd_kafka_topic_partition_list_new(parts);
    int64_t sum = 0;

    for (int p = 0; p < parts; p++)
        rd_kafka_topic_partition_list_add(l, topic, p)->offset =
            RD_KAFKA_OFFSET_END;
    if (rd_kafka_offsets_for_times(rk, l, 10000) != RD_KAFKA_RESP_ERR_NO_ERROR)
        sum = -1;
    for (int i = 0; sum >= 0 && i < l->cnt; i++)
        sum = l->elems[i].err ? -1 : sum + l->elems[i].offset;
    rd_kafka_topic_partition_list_destroy(l);
    return sum;
}

/* Appends SRC to DST (the file a running mesh-producer tails) and waits
 * until TOPIC holds N more records than before; prints the seconds from
 * the start of the append.  Watching the broker, not the daemon's
 * /metrics, leaves the daemon's CPU to the work being measured. */
static int cmd_feed(const char *bootstrap, const char *topic, int parts,
                    const char *src, const char *dst, int64_t n)
{
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    char errstr[256], buf[1 << 16];
    FILE *in = fopen(src, "r"), *out = fopen(dst, "a");
    int64_t base, now;
    size_t got;
    rd_kafka_t *rk;
    double t0;

    if (!in || !out)
        bench_die("feed", "cannot open the source or the destination");
    conf_set(conf, "bootstrap.servers", bootstrap);
    rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, errstr, sizeof(errstr));
    if (!rk)
        bench_die("rd_kafka_new", errstr);
    if ((base = end_offsets(rk, topic, parts)) < 0)
        bench_die("feed", "cannot read the end offsets");
    t0 = bench_now_s();
    while ((got = fread(buf, 1, sizeof(buf), in)) > 0)
        if (fwrite(buf, 1, got, out) != got)
            bench_die("feed", "write failed");
    if (fclose(out) != 0)
        bench_die("feed", "write failed");
    fclose(in);
    while ((now = end_offsets(rk, topic, parts)) < base + n) {
        if (bench_now_s() - t0 > 300)
            bench_die("feed", "not every record arrived within 300 s");
        struct timespec ts = {0, 10 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    printf("%.3f\n", bench_now_s() - t0);
    rd_kafka_destroy(rk);
    return now == base + n ? 0
                           : (bench_die("feed", "more records than sent"), 1);
}

/* ------------------------------------------------------------------ post */

typedef struct post_conn {
    struct sockaddr_in addr;
    char **reqs; /* whole requests, headers and body */
    size_t *req_lens;
    size_t req_cnt;
    const char *fail; /* NULL, or why this connection gave up */
} post_conn_t;

/* Reads one answer on fd; true when it is a 200.  Bodies are small (the
 * offsets of BATCH records), so one buffer holds the whole answer. */
static bool post_read_answer(int fd, char *buf, size_t cap)
{
    size_t len = 0;
    char *end;
    long body;

    buf[0] = '\0';
    while (!(end = strstr(buf, "\r\n\r\n"))) {
        ssize_t n = len + 1 < cap ? read(fd, buf + len, cap - 1 - len) : 0;
        if (n <= 0)
            return false;
        len += (size_t)n;
        buf[len] = '\0';
    }
    const char *cl = strcasestr(buf, "\r\ncontent-length:");
    body = cl ? strtol(cl + 17, NULL, 10) : 0;
    while ((size_t)(end + 4 - buf) + (size_t)body > len) {
        ssize_t n = len + 1 < cap ? read(fd, buf + len, cap - 1 - len) : 0;
        if (n <= 0)
            return false;
        len += (size_t)n;
        buf[len] = '\0';
    }
    return strncmp(buf, "HTTP/1.1 200", 12) == 0;
}

static void *post_run(void *arg)
{
    post_conn_t *c = arg;
    int fd = socket(AF_INET, SOCK_STREAM, 0), one = 1;
    size_t cap = 1 << 20;
    char *buf = malloc(cap);

    if (fd < 0 || !buf ||
        connect(fd, (struct sockaddr *)&c->addr, sizeof(c->addr)) != 0) {
        c->fail = "cannot connect";
        goto out;
    }
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    for (size_t i = 0; i < c->req_cnt && !c->fail; i++) {
        for (size_t off = 0; off < c->req_lens[i];) {
            ssize_t n = write(fd, c->reqs[i] + off, c->req_lens[i] - off);
            if (n <= 0) {
                c->fail = "write failed";
                break;
            }
            off += (size_t)n;
        }
        if (!c->fail && !post_read_answer(fd, buf, cap))
            c->fail = "an answer other than 200 (or none)";
    }
out:
    if (fd >= 0)
        close(fd);
    free(buf);
    return NULL;
}

/* One request of the lines [from, to) of lines[]. */
static char *post_request(const char *host, const char *topic, uint32_t id,
                          char **lines, size_t from, size_t to, size_t *len)
{
    mw_buf_t *body = mw_buf_new(0), *req = mw_buf_new(0);
    char *out;

    mw_buf_appendf(body, "{\"value_schema_id\":%u,\"records\":[", id);
    for (size_t i = from; i < to; i++) {
        /* The key is the order id: the line's first member's value. */
        const char *k = strchr(lines[i], ':') + 1, *kend = strchr(k + 1, '"');
        mw_buf_appendf(body, "%s{\"key\":%.*s,\"value\":%s}",
                       i > from ? "," : "", (int)(kend + 1 - k), k, lines[i]);
    }
    mw_buf_append(body, "]}", 2);
    mw_buf_appendf(req,
                   "POST /topics/%s HTTP/1.1\r\nHost: %s\r\n"
                   "Content-Type: application/vnd.kafka.avro.v2+json\r\n"
                   "Content-Length: %zu\r\n\r\n",
                   topic, host, mw_buf_len(body));
    mw_buf_append(req, mw_buf_data(body), mw_buf_len(body));
    mw_buf_destroy(body);
    out = mw_buf_steal(req, len);
    mw_buf_destroy(req);
    return out;
}

static int cmd_post(const char *url, const char *topic, uint32_t id,
                    const char *path, int conns, long batch)
{
    char host[64], line[4096];
    unsigned port = 0;
    FILE *f = fopen(path, "r");
    char **lines = NULL;
    size_t cnt = 0, cap = 0, req_cnt;
    post_conn_t *cs;
    pthread_t *th;
    double t0, secs;

    if (sscanf(url, "http://%63[^:]:%u", host, &port) != 2 || !f || conns < 1 ||
        batch < 1)
        bench_die("post", "bad URL, file, connection count or batch size");
    while (fgets(line, sizeof(line), f)) {
        line[strcspn(line, "\n")] = '\0';
        if (MW_VEC_RESERVE(&lines, &cap, cnt + 1) != 0 ||
            !(lines[cnt++] = strdup(line)))
            bench_die("post", "out of memory");
    }
    fclose(f);
    req_cnt = (cnt + (size_t)batch - 1) / (size_t)batch;
    cs = calloc((size_t)conns, sizeof(*cs));
    th = calloc((size_t)conns, sizeof(*th));
    if (!cs || !th)
        bench_die("post", "out of memory");
    for (int c = 0; c < conns; c++) {
        cs[c].addr.sin_family = AF_INET;
        cs[c].addr.sin_port = htons((uint16_t)port);
        if (inet_pton(AF_INET, host, &cs[c].addr.sin_addr) != 1)
            bench_die("post", "the URL's host is not an IPv4 address");
        cs[c].reqs = calloc(req_cnt, sizeof(char *));
        cs[c].req_lens = calloc(req_cnt, sizeof(size_t));
        if (!cs[c].reqs || !cs[c].req_lens)
            bench_die("post", "out of memory");
    }
    /* Request r goes to connection r % conns: every connection sends an
     * equal share. */
    for (size_t r = 0; r < req_cnt; r++) {
        post_conn_t *c = &cs[r % (size_t)conns];
        size_t from = r * (size_t)batch, to = from + (size_t)batch;

        c->reqs[c->req_cnt] =
            post_request(host, topic, id, lines, from, to < cnt ? to : cnt,
                         &c->req_lens[c->req_cnt]);
        c->req_cnt++;
    }
    t0 = bench_now_s();
    for (int c = 0; c < conns; c++)
        if (pthread_create(&th[c], NULL, post_run, &cs[c]) != 0)
            bench_die("post", "cannot start a thread");
    for (int c = 0; c < conns; c++)
        pthread_join(th[c], NULL);
    secs = bench_now_s() - t0;
    for (int c = 0; c < conns; c++) {
        if (cs[c].fail)
            bench_die("post", cs[c].fail);
        for (size_t r = 0; r < cs[c].req_cnt; r++)
            free(cs[c].reqs[r]);
        free(cs[c].reqs);
        free(cs[c].req_lens);
    }
    for (size_t i = 0; i < cnt; i++)
        free(lines[i]);
    free(lines);
    free(cs);
    free(th);
    printf("http %.0f %.3f\n", (double)cnt / secs, secs);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc == 2 && !strcmp(argv[1], "schema")) {
        puts(bench_schema);
        return 0;
    }
    if (argc == 2 && !strcmp(argv[1], "sized-schema")) {
        puts(sized_schema);
        return 0;
    }
    if (argc == 5 && !strcmp(argv[1], "sized-lines"))
        return cmd_sized_lines(strtol(argv[2], NULL, 10),
                               strtol(argv[3], NULL, 10), argv[4]);
    if (argc == 6 && !strcmp(argv[1], "sized-produce")) {
        encode_schema = sized_schema;
        return cmd_produce(argv[2], argv[3],
                           (uint32_t)strtoul(argv[4], NULL, 10), argv[5],
                           false);
    }
    if (argc == 4 && !strcmp(argv[1], "lines"))
        return cmd_lines(strtol(argv[2], NULL, 10), argv[3]);
    if (argc == 6 &&
        (!strcmp(argv[1], "produce") || !strcmp(argv[1], "produce-headers")))
        return cmd_produce(argv[2], argv[3],
                           (uint32_t)strtoul(argv[4], NULL, 10), argv[5],
                           !strcmp(argv[1], "produce-headers"));
    if (argc == 8 && !strcmp(argv[1], "feed"))
        return cmd_feed(argv[2], argv[3], (int)strtol(argv[4], NULL, 10),
                        argv[5], argv[6], strtoll(argv[7], NULL, 10));
    if (argc == 8 && !strcmp(argv[1], "post"))
        return cmd_post(argv[2], argv[3], (uint32_t)strtoul(argv[4], NULL, 10),
                        argv[5], (int)strtol(argv[6], NULL, 10),
                        strtol(argv[7], NULL, 10));
    fprintf(
        stderr,
        "usage: pr_raw_bench schema\n"
        "       pr_raw_bench lines N FILE\n"
        "       pr_raw_bench produce[-headers] BOOTSTRAP TOPIC SCHEMA_ID "
        "FILE\n"
        "       pr_raw_bench feed BOOTSTRAP TOPIC PARTITIONS SRC DST N\n"
        "       pr_raw_bench post URL TOPIC SCHEMA_ID FILE CONNECTIONS "
        "BATCH\n"
        "       pr_raw_bench sized-schema\n"
        "       pr_raw_bench sized-lines N SIZE FILE\n"
        "       pr_raw_bench sized-produce BOOTSTRAP TOPIC SCHEMA_ID FILE\n");
    return 2;
}
