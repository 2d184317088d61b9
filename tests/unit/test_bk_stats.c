/*
 * test_bk_stats: librdkafka statistics documents (the shapes librdkafka
 * 2.0.2 emits every statistics.interval.ms, see its STATISTICS.md) fed
 * through the public bk_stats API, checked in the Prometheus text that
 * mw_metrics_render produces: the exact series and values for a producer
 * and a consumer, counters that never go down across snapshots (including
 * a restarted client's smaller totals), and malformed documents refused
 * without touching what was exported.  No librdkafka handle is needed:
 * bk_stats_update takes the document itself.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bk_stats.h"
#include "mw_buf.h"
#include "mw_err.h"
#include "mw_metrics.h"

/* A producer's document, trimmed to the fields around the ones bk_stats
 * reads; the bootstrap pseudo-broker (nodeid -1) and the internal
 * partition -1 are present as librdkafka reports them. */
static const char producer_doc[] =
    "{\"name\":\"rdkafka#producer-1\",\"client_id\":\"rdkafka\","
    "\"type\":\"producer\",\"ts\":5016483227792,\"time\":1527060869,"
    "\"age\":5000121,\"replyq\":0,\"msg_cnt\":12,\"msg_size\":3400,"
    "\"msg_max\":100000,\"msg_size_max\":1073741824,\"simple_cnt\":0,"
    "\"metadata_cache_cnt\":1,"
    "\"brokers\":{"
    "\"127.0.0.1:40001/bootstrap\":{\"name\":\"127.0.0.1:40001/bootstrap\","
    "\"nodeid\":-1,\"nodename\":\"127.0.0.1:40001\",\"source\":\"configured\","
    "\"state\":\"UP\",\"rtt\":{\"min\":0,\"max\":0,\"avg\":999,\"sum\":0,"
    "\"stddev\":0,\"p50\":0,\"p99\":0,\"cnt\":0}},"
    "\"127.0.0.1:40002/1\":{\"name\":\"127.0.0.1:40002/1\",\"nodeid\":1,"
    "\"nodename\":\"127.0.0.1:40002\",\"source\":\"learned\",\"state\":\"UP\","
    "\"outbuf_cnt\":0,\"waitresp_cnt\":1,\"tx\":40,\"txbytes\":101000,"
    "\"rtt\":{\"min\":800,\"max\":2600,\"avg\":1500,\"sum\":60000,"
    "\"stddev\":300,\"p50\":1400,\"p99\":2600,\"cnt\":40}},"
    "\"127.0.0.1:40003/2\":{\"name\":\"127.0.0.1:40003/2\",\"nodeid\":2,"
    "\"nodename\":\"127.0.0.1:40003\",\"source\":\"learned\",\"state\":\"UP\","
    "\"rtt\":{\"min\":200,\"max\":300,\"avg\":250,\"sum\":5000,"
    "\"stddev\":20,\"p50\":250,\"p99\":300,\"cnt\":20}}},"
    "\"topics\":{\"orders\":{\"topic\":\"orders\",\"age\":4900,"
    "\"metadata_age\":4000,\"partitions\":{"
    "\"0\":{\"partition\":0,\"broker\":1,\"leader\":1,\"msgq_cnt\":12,"
    "\"txmsgs\":1000,\"consumer_lag\":-1,\"consumer_lag_stored\":-1},"
    "\"-1\":{\"partition\":-1,\"broker\":-1,\"leader\":-1,"
    "\"consumer_lag\":-1}}}},"
    "\"tx\":60,\"tx_bytes\":106000,\"rx\":60,\"rx_bytes\":3000,"
    "\"txmsgs\":1000,\"txmsg_bytes\":100000,\"rxmsgs\":0,"
    "\"rxmsg_bytes\":0}";

/* A consumer's document: lag per assigned partition, -1 when unknown. */
static const char consumer_fmt[] =
    "{\"name\":\"rdkafka#consumer-2\",\"type\":\"consumer\","
    "\"ts\":5016483227792,\"time\":1527060869,\"replyq\":0,\"msg_cnt\":0,"
    "\"msg_size\":0,"
    "\"brokers\":{\"127.0.0.1:40002/1\":{\"nodeid\":1,\"state\":\"UP\","
    "\"rtt\":{\"avg\":%d,\"cnt\":3}}},"
    "\"topics\":{\"orders\":{\"topic\":\"orders\",\"partitions\":{"
    "\"0\":{\"partition\":0,\"fetch_state\":\"active\","
    "\"consumer_lag\":%d,\"consumer_lag_stored\":%d},"
    "\"1\":{\"partition\":1,\"fetch_state\":\"active\","
    "\"consumer_lag\":0},"
    "\"2\":{\"partition\":2,\"fetch_state\":\"none\",\"consumer_lag\":-1},"
    "\"-1\":{\"partition\":-1,\"consumer_lag\":7}}}},"
    "\"cgrp\":{\"state\":\"up\",\"join_state\":\"steady\","
    "\"assignment_size\":2},"
    "\"txmsgs\":0,\"txmsg_bytes\":0,\"rxmsgs\":%d,\"rxmsg_bytes\":%d}";

typedef struct fixture {
    mw_metrics_t *reg;
    bk_stats_t *prod;
    bk_stats_t *cons;
} fixture_t;

static int setup(void **state)
{
    fixture_t *f = calloc(1, sizeof(*f));
    mw_err_t err;

    assert_non_null(f);
    f->reg = mw_metrics_new();
    assert_non_null(f->reg);
    /* One registry for both roles, as in a program that has both. */
    f->prod = bk_stats_new(f->reg, "producer", &err);
    assert_non_null(f->prod);
    f->cons = bk_stats_new(f->reg, "consumer", &err);
    assert_non_null(f->cons);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture_t *f = *state;

    bk_stats_destroy(f->prod);
    bk_stats_destroy(f->cons);
    mw_metrics_destroy(f->reg);
    free(f);
    return 0;
}

static char *render(mw_metrics_t *reg)
{
    mw_buf_t *buf = mw_buf_new(0);
    char *text;

    assert_non_null(buf);
    assert_int_equal(mw_metrics_render(reg, buf), 0);
    text = mw_buf_steal(buf, NULL);
    mw_buf_destroy(buf);
    assert_non_null(text);
    return text;
}

/* A whole line of the exposition, so "x 1" does not match "x 10". */
static int has_line(const char *text, const char *line)
{
    size_t len = strlen(line);

    for (const char *p = text; (p = strstr(p, line)) != NULL; p++)
        if ((p == text || p[-1] == '\n') && p[len] == '\n')
            return 1;
    return 0;
}

static void expect_line(const char *text, const char *line)
{
    if (!has_line(text, line))
        fail_msg("missing line: %s\n--- rendered:\n%s", line, text);
}

static void expect_no(const char *text, const char *fragment)
{
    if (strstr(text, fragment))
        fail_msg("unexpected: %s\n--- rendered:\n%s", fragment, text);
}

static void feed(bk_stats_t *stats, const char *json)
{
    mw_err_t err;

    assert_int_equal(bk_stats_update(stats, json, strlen(json), &err), 0);
}

static void feed_consumer(fixture_t *f, int rtt_us, int lag, int rxmsgs,
                          int rxbytes)
{
    char doc[sizeof(consumer_fmt) + 64];

    snprintf(doc, sizeof(doc), consumer_fmt, rtt_us, lag, lag, rxmsgs, rxbytes);
    feed(f->cons, doc);
}

static void test_producer_series(void **state)
{
    fixture_t *f = *state;
    char *text;

    feed(f->prod, producer_doc);
    text = render(f->reg);
    expect_line(text, "# TYPE mesh_kafka_outq_msgs gauge");
    expect_line(text, "mesh_kafka_outq_msgs{client=\"producer\"} 12");
    expect_line(text, "mesh_kafka_outq_bytes{client=\"producer\"} 3400");
    expect_line(text, "# TYPE mesh_kafka_tx_msgs_total counter");
    expect_line(text, "mesh_kafka_tx_msgs_total{client=\"producer\"} 1000");
    expect_line(text, "mesh_kafka_tx_bytes_total{client=\"producer\"} 100000");
    expect_line(text, "mesh_kafka_rx_msgs_total{client=\"producer\"} 0");
    expect_line(text, "mesh_kafka_rx_bytes_total{client=\"producer\"} 0");
    /* rtt.avg is in microseconds. */
    expect_line(text, "# TYPE mesh_kafka_broker_rtt_seconds gauge");
    expect_line(text, "mesh_kafka_broker_rtt_seconds{client=\"producer\","
                      "broker=\"1\"} 0.0015");
    expect_line(text, "mesh_kafka_broker_rtt_seconds{client=\"producer\","
                      "broker=\"2\"} 0.00025");
    /* The bootstrap pseudo-broker has no stable identity, and a producer
     * has no lag (librdkafka reports -1). */
    expect_no(text, "broker=\"-1\"");
    expect_no(text, "mesh_kafka_consumer_lag_messages{");
    /* The consumer's series exist (registered at bk_stats_new) but are
     * untouched. */
    expect_line(text, "mesh_kafka_rx_msgs_total{client=\"consumer\"} 0");
    free(text);
}

static void test_consumer_series(void **state)
{
    fixture_t *f = *state;
    char *text;

    feed_consumer(f, 2000, 42, 5000, 600000);
    text = render(f->reg);
    expect_line(text, "# TYPE mesh_kafka_consumer_lag_messages gauge");
    expect_line(text, "mesh_kafka_consumer_lag_messages{client=\"consumer\","
                      "topic=\"orders\",partition=\"0\"} 42");
    expect_line(text, "mesh_kafka_consumer_lag_messages{client=\"consumer\","
                      "topic=\"orders\",partition=\"1\"} 0");
    /* Unknown lag (-1) and the internal partition -1 are not exported. */
    expect_no(text, "partition=\"2\"");
    expect_no(text, "partition=\"-1\"");
    expect_line(text, "mesh_kafka_rx_msgs_total{client=\"consumer\"} 5000");
    expect_line(text, "mesh_kafka_rx_bytes_total{client=\"consumer\"} 600000");
    expect_line(text, "mesh_kafka_tx_msgs_total{client=\"consumer\"} 0");
    expect_line(text, "mesh_kafka_outq_msgs{client=\"consumer\"} 0");
    expect_line(text, "mesh_kafka_broker_rtt_seconds{client=\"consumer\","
                      "broker=\"1\"} 0.002");
    free(text);
}

/* The consumer's two rx counters in rendered text. */
static void expect_rx_totals(const char *text, long msgs, long bytes)
{
    char line[128];

    snprintf(line, sizeof(line),
             "mesh_kafka_rx_msgs_total{client=\"consumer\"} %ld", msgs);
    expect_line(text, line);
    snprintf(line, sizeof(line),
             "mesh_kafka_rx_bytes_total{client=\"consumer\"} %ld", bytes);
    expect_line(text, line);
}

/* Feeds one consumer statistics report, then checks the rx counters. */
static void feed_expect_rx(fixture_t *f, int rxmsgs, int rxbytes, long msgs,
                           long bytes)
{
    char *text;

    feed_consumer(f, 1000, 10, rxmsgs, rxbytes);
    text = render(f->reg);
    expect_rx_totals(text, msgs, bytes);
    free(text);
}

static void test_counters_monotonic(void **state)
{
    fixture_t *f = *state;
    char *text;

    feed_consumer(f, 2000, 42, 5000, 600000);
    feed_consumer(f, 1000, 10, 8000, 960000);
    text = render(f->reg);
    /* Counters follow the cumulative totals; gauges take the new value. */
    expect_rx_totals(text, 8000, 960000);
    expect_line(text, "mesh_kafka_consumer_lag_messages{client=\"consumer\","
                      "topic=\"orders\",partition=\"0\"} 10");
    expect_line(text, "mesh_kafka_broker_rtt_seconds{client=\"consumer\","
                      "broker=\"1\"} 0.001");
    free(text);

    /* Smaller totals (a restarted client) never take a counter down; they
     * become the base the next delta is counted from. */
    feed_expect_rx(f, 100, 12000, 8000, 960000);
    feed_expect_rx(f, 250, 30000, 8150, 978000);
}

static void test_malformed_ignored(void **state)
{
    fixture_t *f = *state;
    static const char *const bad[] = {
        "{\"txmsgs\": 5", "not json", "", "[1, 2, 3]", "\"txmsgs\"", "null",
    };
    char *before, *after;

    feed(f->prod, producer_doc);
    before = render(f->reg);
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        mw_err_t err;
        mw_err_clear(&err);
        assert_int_equal(bk_stats_update(f->prod, bad[i], strlen(bad[i]), &err),
                         MW_ERR_INVALID);
        assert_int_equal(err.code, MW_ERR_INVALID);
        assert_non_null(strstr(err.msg, "kafka statistics JSON"));
    }
    /* The document is cut at len: a valid prefix parses, a cut one
     * does not. */
    assert_int_equal(
        bk_stats_update(f->prod, producer_doc, strlen(producer_doc) / 2, NULL),
        MW_ERR_INVALID);
    after = render(f->reg);
    assert_string_equal(before, after);
    free(after);

    /* Well-formed JSON with the wrong types: no crash, counters and the
     * outq gauges kept (a missing or non-integer msg_cnt / msg_size says
     * nothing about the queue, so it must not read as an empty one). */
    feed(f->prod, "{\"msg_cnt\":\"12\",\"msg_size\":null,"
                  "\"txmsgs\":\"many\",\"txmsg_bytes\":1.5,"
                  "\"brokers\":[1,2],\"topics\":{\"t\":{\"partitions\":5},"
                  "\"u\":7},\"rxmsgs\":null}");
    feed(f->prod, "{\"brokers\":{\"b\":{\"nodeid\":\"1\",\"rtt\":{}},"
                  "\"c\":{\"nodeid\":3,\"rtt\":{\"avg\":\"x\"}}},"
                  "\"topics\":{\"t\":{\"partitions\":{\"0\":"
                  "{\"consumer_lag\":\"9\"}}}}}");
    after = render(f->reg);
    expect_line(after, "mesh_kafka_tx_msgs_total{client=\"producer\"} 1000");
    expect_line(after, "mesh_kafka_tx_bytes_total{client=\"producer\"} 100000");
    expect_no(after, "broker=\"3\"");
    expect_no(after, "topic=\"t\"");
    expect_line(after, "mesh_kafka_outq_msgs{client=\"producer\"} 12");
    expect_line(after, "mesh_kafka_outq_bytes{client=\"producer\"} 3400");
    free(after);
    free(before);
}

static void test_len_bounds_document(void **state)
{
    fixture_t *f = *state;
    char buf[sizeof(producer_doc) + 16];
    char *text;

    /* Not NUL-terminated after len: trailing bytes are not read. */
    memcpy(buf, producer_doc, sizeof(producer_doc) - 1);
    memcpy(buf + sizeof(producer_doc) - 1, "garbage{{{", 10);
    assert_int_equal(
        bk_stats_update(f->prod, buf, sizeof(producer_doc) - 1, NULL), 0);
    text = render(f->reg);
    expect_line(text, "mesh_kafka_tx_msgs_total{client=\"producer\"} 1000");
    free(text);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_producer_series, setup, teardown),
        cmocka_unit_test_setup_teardown(test_consumer_series, setup, teardown),
        cmocka_unit_test_setup_teardown(test_counters_monotonic, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_malformed_ignored, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_len_bounds_document, setup,
                                        teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
