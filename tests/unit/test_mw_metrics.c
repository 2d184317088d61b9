/*
 * Unit tests for mw_metrics: exact Prometheus text for every metric type,
 * registration rules (same series twice, type clash, bad names and labels),
 * NULL-safe updates, and lock-free updates from several threads.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mw_buf.h"
#include "mw_log.h"
#include "mw_metrics.h"

static char *render(mw_metrics_t *reg)
{
    mw_buf_t *buf = mw_buf_new(0);
    assert_non_null(buf);
    assert_int_equal(mw_metrics_render(reg, buf), 0);
    char *text = mw_buf_steal(buf, NULL);
    mw_buf_destroy(buf);
    return text;
}

static const char expected_text[] =
    "# HELP mesh_test_queue_depth Records waiting.\n"
    "# TYPE mesh_test_queue_depth gauge\n"
    "mesh_test_queue_depth{topic=\"orders\"} 2.5\n"
    "mesh_test_queue_depth{topic=\"refunds\"} -3\n"
    "# HELP mesh_test_records_total Records seen, with a \\\\ and\\na "
    "newline.\n"
    "# TYPE mesh_test_records_total counter\n"
    "mesh_test_records_total{topic=\"orders\",partition=\"0\"} 42\n"
    "mesh_test_records_total 7\n"
    "# HELP mesh_test_send_seconds Send latency.\n"
    "# TYPE mesh_test_send_seconds histogram\n"
    "mesh_test_send_seconds_bucket{topic=\"orders\",le=\"0.005\"} 1\n"
    "mesh_test_send_seconds_bucket{topic=\"orders\",le=\"0.1\"} 2\n"
    "mesh_test_send_seconds_bucket{topic=\"orders\",le=\"1\"} 3\n"
    "mesh_test_send_seconds_bucket{topic=\"orders\",le=\"+Inf\"} 4\n"
    "mesh_test_send_seconds_sum{topic=\"orders\"} 5.555\n"
    "mesh_test_send_seconds_count{topic=\"orders\"} 4\n";

static void test_render_exact(void **state)
{
    (void)state;
    mw_metrics_t *reg = mw_metrics_new();
    static const double bounds[] = {0.005, 0.1, 1};
    /* Registered out of name order: rendering sorts families. */
    mw_histogram_t *h =
        mw_metrics_histogram(reg, "mesh_test_send_seconds", "Send latency.",
                             "topic=\"orders\"", bounds, 3);
    mw_counter_t *c1 =
        mw_metrics_counter(reg, "mesh_test_records_total",
                           "Records seen, with a \\ and\na newline.",
                           "topic=\"orders\",partition=\"0\"");
    mw_counter_t *c2 =
        mw_metrics_counter(reg, "mesh_test_records_total", "ignored", NULL);
    mw_gauge_t *g1 = mw_metrics_gauge(reg, "mesh_test_queue_depth",
                                      "Records waiting.", "topic=\"orders\"");
    mw_gauge_t *g2 = mw_metrics_gauge(reg, "mesh_test_queue_depth",
                                      "Records waiting.", "topic=\"refunds\"");
    assert_non_null(h);
    assert_non_null(c1);
    assert_non_null(c2);
    assert_non_null(g1);
    assert_non_null(g2);

    mw_counter_add(c1, 40);
    mw_counter_inc(c1);
    mw_counter_inc(c1);
    mw_counter_add(c2, 7);
    mw_gauge_set(g1, 1.25);
    mw_gauge_add(g1, 1.25);
    mw_gauge_set(g2, -3);
    mw_histogram_observe(h, 0.005); /* on a bound: counts in that bucket */
    mw_histogram_observe(h, 0.05);
    mw_histogram_observe(h, 0.5);
    mw_histogram_observe(h, 5);

    char *text = render(reg);
    assert_string_equal(text, expected_text);
    free(text);
    assert_int_equal(mw_counter_get(c1), 42);
    assert_int_equal(mw_histogram_count(h), 4);
    assert_true(mw_gauge_get(g1) == 2.5);
    mw_metrics_destroy(reg);
}

static void test_default_buckets(void **state)
{
    (void)state;
    mw_metrics_t *reg = mw_metrics_new();
    mw_histogram_t *h =
        mw_metrics_histogram(reg, "mesh_test_seconds", "Latency.", "", NULL, 0);
    assert_non_null(h);
    mw_histogram_observe(h, 0.0003);
    mw_histogram_observe(h, 20);
    char *text = render(reg);
    assert_non_null(strstr(text, "mesh_test_seconds_bucket{le=\"0.0005\"} 1\n"
                                 "mesh_test_seconds_bucket{le=\"0.001\"} 1\n"));
    assert_non_null(strstr(text, "mesh_test_seconds_bucket{le=\"10\"} 1\n"
                                 "mesh_test_seconds_bucket{le=\"+Inf\"} 2\n"
                                 "mesh_test_seconds_sum 20.0003\n"
                                 "mesh_test_seconds_count 2\n"));
    free(text);
    mw_metrics_destroy(reg);
}

static void test_same_series_twice(void **state)
{
    (void)state;
    mw_metrics_t *reg = mw_metrics_new();
    mw_counter_t *a = mw_metrics_counter(reg, "mesh_x_total", "X.", "a=\"1\"");
    mw_counter_t *b = mw_metrics_counter(reg, "mesh_x_total", "X.", "a=\"1\"");
    mw_counter_t *c = mw_metrics_counter(reg, "mesh_x_total", "X.", "a=\"2\"");
    assert_ptr_equal(a, b);
    assert_ptr_not_equal(a, c);
    mw_metrics_destroy(reg);
}

static void test_rejections(void **state)
{
    (void)state;
    FILE *sink = tmpfile();
    mw_log_set_stream(sink);
    mw_metrics_t *reg = mw_metrics_new();
    static const double bad_bounds[] = {1, 0.5};
    assert_non_null(mw_metrics_counter(reg, "mesh_y_total", "Y.", NULL));
    assert_null(mw_metrics_gauge(reg, "mesh_y_total", "Y.", NULL));
    assert_null(mw_metrics_counter(reg, "9starts_with_digit", "Z.", NULL));
    assert_null(mw_metrics_counter(reg, "has-dash", "Z.", NULL));
    assert_null(mw_metrics_counter(reg, "", "Z.", NULL));
    assert_null(mw_metrics_counter(reg, NULL, "Z.", NULL));
    assert_null(mw_metrics_counter(reg, "mesh_z_total", "Z.", "a=1"));
    assert_null(mw_metrics_counter(reg, "mesh_z_total", "Z.", "a=\"1\","));
    assert_null(mw_metrics_counter(reg, "mesh_z_total", "Z.", "a:b=\"1\""));
    assert_null(mw_metrics_histogram(reg, "mesh_h", "H.", "le=\"1\"", NULL, 0));
    assert_null(mw_metrics_histogram(reg, "mesh_h", "H.", "", bad_bounds, 2));
    assert_non_null(mw_metrics_counter(reg, "ns:mesh_ok_total", "Ok.",
                                       "a=\"q\\\"uote\",b=\"\""));
    fflush(sink);
    assert_true(ftell(sink) > 0); /* each refusal was logged */
    mw_log_set_stream(NULL);
    fclose(sink);
    mw_metrics_destroy(reg);
}

static void test_null_safe(void **state)
{
    (void)state;
    mw_counter_add(NULL, 1);
    mw_counter_inc(NULL);
    mw_gauge_set(NULL, 1);
    mw_gauge_add(NULL, 1);
    mw_histogram_observe(NULL, 1);
    assert_int_equal(mw_counter_get(NULL), 0);
    assert_true(mw_gauge_get(NULL) == 0.0);
    assert_int_equal(mw_histogram_count(NULL), 0);
    assert_null(mw_metrics_counter(NULL, "mesh_a_total", "A.", NULL));
    mw_metrics_destroy(NULL);
}

static void test_double_format(void **state)
{
    (void)state;
    mw_metrics_t *reg = mw_metrics_new();
    mw_gauge_t *g = mw_metrics_gauge(reg, "mesh_g", "G.", NULL);
    static const struct {
        double v;
        const char *text;
    } cases[] = {{0.1, "mesh_g 0.1\n"},
                 {1e21, "mesh_g 1e+21\n"},
                 {123456789, "mesh_g 123456789\n"},
                 {0.1 + 0.2, "mesh_g 0.30000000000000004\n"},
                 {1.0 / 0.0, "mesh_g +Inf\n"}};
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        mw_gauge_set(g, cases[i].v);
        char *text = render(reg);
        assert_non_null(strstr(text, cases[i].text));
        free(text);
    }
    mw_metrics_destroy(reg);
}

#define THREAD_CNT 4
#define PER_THREAD 100000

typedef struct hammer {
    mw_counter_t *c;
    mw_gauge_t *g;
    mw_histogram_t *h;
} hammer_t;

static void *hammer_thread(void *arg)
{
    hammer_t *hm = arg;
    for (int i = 0; i < PER_THREAD; i++) {
        mw_counter_inc(hm->c);
        mw_gauge_add(hm->g, 1.0);
        mw_histogram_observe(hm->h, 0.01);
    }
    return NULL;
}

static void test_concurrent_updates(void **state)
{
    (void)state;
    mw_metrics_t *reg = mw_metrics_new();
    hammer_t hm = {
        .c = mw_metrics_counter(reg, "mesh_c_total", "C.", NULL),
        .g = mw_metrics_gauge(reg, "mesh_g", "G.", NULL),
        .h = mw_metrics_histogram(reg, "mesh_h_seconds", "H.", NULL, NULL, 0),
    };
    pthread_t th[THREAD_CNT];
    for (int i = 0; i < THREAD_CNT; i++)
        assert_int_equal(pthread_create(&th[i], NULL, hammer_thread, &hm), 0);
    for (int i = 0; i < THREAD_CNT; i++)
        pthread_join(th[i], NULL);
    assert_int_equal(mw_counter_get(hm.c), THREAD_CNT * PER_THREAD);
    assert_true(mw_gauge_get(hm.g) == (double)THREAD_CNT * PER_THREAD);
    assert_int_equal(mw_histogram_count(hm.h), THREAD_CNT * PER_THREAD);
    char *text = render(reg);
    assert_non_null(
        strstr(text, "mesh_h_seconds_bucket{le=\"0.01\"} 400000\n"));
    assert_non_null(strstr(text, "mesh_h_seconds_count 400000\n"));
    free(text);
    mw_metrics_destroy(reg);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_render_exact),
        cmocka_unit_test(test_default_buckets),
        cmocka_unit_test(test_same_series_twice),
        cmocka_unit_test(test_rejections),
        cmocka_unit_test(test_null_safe),
        cmocka_unit_test(test_double_format),
        cmocka_unit_test(test_concurrent_updates),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
