/*
 * Unit tests for mat_report's pure parts: catalog.product references
 * (domain/name, domain/name@major, and what is refused, naming the key)
 * and the body of one report (freshness left out before the first
 * committed timestamp, never negative).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

#include "mat_report.h"

static void test_refs(void **state)
{
    static const char *const bad[] = {"",
                                      "shop",
                                      "/orders",
                                      "shop/",
                                      "Shop/x",
                                      "shop/or ders",
                                      "shop/x@",
                                      "shop/x@0",
                                      "shop/x@01",
                                      "shop/x@1x",
                                      "shop/x@-1",
                                      "shop/x/y",
                                      "shop/x@2000000"};
    mat_report_ref_t ref;
    mw_err_t err = {0};
    (void)state;

    assert_int_equal(mat_report_parse_ref("shop/orders", &ref, &err), 0);
    assert_string_equal(ref.domain, "shop");
    assert_string_equal(ref.name, "orders");
    assert_int_equal(ref.version, 0);
    assert_int_equal(mat_report_parse_ref("a-b_1/c_2-d@12", &ref, &err), 0);
    assert_string_equal(ref.domain, "a-b_1");
    assert_string_equal(ref.name, "c_2-d");
    assert_int_equal(ref.version, 12);
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        mw_err_clear(&err);
        assert_int_equal(mat_report_parse_ref(bad[i], &ref, &err),
                         MW_ERR_CONFIG);
        assert_non_null(strstr(err.msg, "'catalog.product'"));
    }
    assert_int_equal(mat_report_parse_ref(NULL, &ref, &err), MW_ERR_CONFIG);
}

static json_t *body_json(const mat_loop_facts_t *facts, int64_t now_ms)
{
    char *text = mat_report_body("g@h/1", facts, now_ms);
    json_t *j;

    assert_non_null(text);
    j = json_loads(text, 0, NULL);
    free(text);
    assert_non_null(j);
    return j;
}

static void test_body(void **state)
{
    mat_loop_facts_t facts = {
        .offset = 1234, .applied = 1000, .newest_ts_ms = 5000, .partitions = 3};
    json_t *j;
    (void)state;

    j = body_json(&facts, 7500);
    assert_string_equal(json_string_value(json_object_get(j, "materializer")),
                        "g@h/1");
    assert_int_equal(json_integer_value(json_object_get(j, "offset")), 1234);
    assert_int_equal(json_integer_value(json_object_get(j, "rows")), 1000);
    assert_int_equal(json_integer_value(json_object_get(j, "freshness_ms")),
                     2500);
    assert_int_equal(json_object_size(j), 4);
    json_decref(j);
    /* A source clock ahead of ours reads as fresh, not negative. */
    j = body_json(&facts, 4000);
    assert_int_equal(json_integer_value(json_object_get(j, "freshness_ms")), 0);
    json_decref(j);
    /* Nothing committed yet: no freshness, counts still there. */
    facts = (mat_loop_facts_t){.newest_ts_ms = -1};
    j = body_json(&facts, 4000);
    assert_null(json_object_get(j, "freshness_ms"));
    assert_int_equal(json_integer_value(json_object_get(j, "offset")), 0);
    assert_int_equal(json_integer_value(json_object_get(j, "rows")), 0);
    json_decref(j);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_refs),
        cmocka_unit_test(test_body),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
