/*
 * Unit tests for mesh-registry's catalog state through reg_catalog.h: PRODUCT
 * records make entries (several major versions, highest by default), a
 * tombstone removes one, a PORT_STATUS that arrives before its product is
 * kept and shown once the product is there, malformed and foreign records
 * are skipped, the filters of GET /catalog/products, the freshness verdict,
 * the lineage, and the checks of PUT bodies.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <string.h>

#include "mw_log.h"
#include "reg_catalog.h"

static int64_t offset;

static void apply(reg_catalog_t *cat, const char *key, const char *value)
{
    reg_store_record_t rec = {.key = key,
                              .key_len = strlen(key),
                              .value = value,
                              .value_len = value ? strlen(value) : 0,
                              .offset = offset++};

    reg_catalog_apply(cat, &rec);
}

#define KEY(d, n, v)                                                           \
    "{\"keytype\":\"PRODUCT\",\"domain\":\"" d "\",\"name\":\"" n              \
    "\",\"version\":" #v ",\"magic\":0}"

static const char orders_v1[] =
    "{\"domain\":\"orders\",\"name\":\"events\",\"version\":1,"
    "\"owner\":{\"team\":\"orders-team\",\"contact\":\"o@x\"},"
    "\"tags\":[\"core\"],\"sla\":{\"freshness_ms\":1000},"
    "\"input_ports\":[{\"name\":\"db\",\"source\":\"postgres\","
    "\"location\":\"public.orders\"}],"
    "\"output_ports\":[{\"name\":\"events\",\"fields\":[{\"name\":\"email\"}]},"
    "{\"name\":\"table\"}]}";
static const char orders_v2[] =
    "{\"domain\":\"orders\",\"name\":\"events\",\"version\":2,"
    "\"owner\":{\"team\":\"orders-team\"},\"output_ports\":[]}";
static const char billing[] =
    "{\"domain\":\"billing\",\"name\":\"invoices\",\"version\":1,"
    "\"owner\":{\"team\":\"billing\"},\"tags\":[\"finance\"],"
    "\"input_ports\":[{\"name\":\"o\",\"product\":\"orders/events@1\"}],"
    "\"output_ports\":[{\"name\":\"invoices\"}]}";

static int setup(void **state)
{
    reg_catalog_t *cat = reg_catalog_new();

    assert_non_null(cat);
    mw_log_set_level(MW_LOG_ERROR); /* the skipped records warn */
    /* A status before its product: kept, shown later. */
    apply(cat,
          "{\"keytype\":\"PORT_STATUS\",\"domain\":\"orders\",\"name\":"
          "\"events\",\"version\":1,\"port\":\"table\",\"magic\":0}",
          "{\"materializer\":\"mat-1\",\"rows\":5,\"freshness_ms\":400}");
    apply(cat, KEY("orders", "events", 1), orders_v1);
    apply(cat, KEY("orders", "events", 2), orders_v2);
    apply(cat, KEY("billing", "invoices", 1), billing);
    /* Skipped: NOOP, a foreign keytype, no version, a value that is not an
     * object, a key that is not JSON. */
    apply(cat, "{\"keytype\":\"NOOP\",\"magic\":0}", NULL);
    apply(cat, "{\"keytype\":\"SCHEMA\",\"subject\":\"s\",\"version\":1}",
          "{}");
    apply(cat, "{\"keytype\":\"PRODUCT\",\"domain\":\"x\",\"name\":\"y\"}",
          "{}");
    apply(cat, KEY("x", "y", 1), "[1]");
    apply(cat, "not json", "{}");
    *state = cat;
    return 0;
}

static int teardown(void **state)
{
    reg_catalog_destroy(*state);
    return 0;
}

static void test_entries_and_versions(void **state)
{
    reg_catalog_t *cat = *state;
    json_t *e = reg_catalog_entry_json(cat, "orders", "events", 0);
    json_t *v1 = reg_catalog_entry_json(cat, "orders", "events", 1);
    json_t *port;

    assert_int_equal(reg_catalog_product_cnt(cat), 3);
    assert_non_null(e);
    assert_int_equal(json_integer_value(json_object_get(e, "version")), 2);
    assert_int_equal(json_array_size(json_object_get(e, "versions")), 2);
    assert_non_null(v1);
    port = json_array_get(json_object_get(v1, "output_ports"), 1);
    assert_int_equal(json_integer_value(json_object_get(
                         json_object_get(port, "status"), "rows")),
                     5);
    assert_true(json_is_true(
        json_object_get(json_object_get(port, "status"), "freshness_kept")));
    assert_true(json_is_null(json_object_get(
        json_array_get(json_object_get(v1, "output_ports"), 0), "status")));
    assert_string_equal(
        json_string_value(json_object_get(
            json_array_get(json_object_get(v1, "materializers"), 0),
            "materializer")),
        "mat-1");
    assert_null(reg_catalog_entry_json(cat, "x", "y", 0));
    json_decref(e);
    json_decref(v1);

    /* A tombstone removes one major version. */
    apply(cat, KEY("orders", "events", 2), NULL);
    assert_int_equal(
        json_integer_value(json_object_get(
            reg_catalog_get(cat, "orders", "events", 0), "version")),
        1);
    apply(cat, KEY("orders", "events", 2), orders_v2);
}

static size_t list_cnt(reg_catalog_t *cat, reg_catalog_filter_t f)
{
    json_t *arr = reg_catalog_list_json(cat, &f);
    size_t n = json_array_size(arr);

    json_decref(arr);
    return n;
}

static void test_filters(void **state)
{
    reg_catalog_t *cat = *state;

    assert_int_equal(list_cnt(cat, (reg_catalog_filter_t){0}), 3);
    assert_int_equal(list_cnt(cat, (reg_catalog_filter_t){.domain = "orders"}),
                     2);
    assert_int_equal(list_cnt(cat, (reg_catalog_filter_t){.tag = "finance"}),
                     1);
    assert_int_equal(list_cnt(cat, (reg_catalog_filter_t){.owner = "o@x"}), 1);
    assert_int_equal(
        list_cnt(cat, (reg_catalog_filter_t){.owner = "orders-team"}), 2);
    assert_int_equal(list_cnt(cat, (reg_catalog_filter_t){.field = "email"}),
                     1);
    assert_int_equal(list_cnt(cat, (reg_catalog_filter_t){.field = "nope"}), 0);
}

static void test_lineage(void **state)
{
    json_t *g = reg_catalog_lineage_json(*state);
    json_t *edges = json_object_get(g, "edges");
    size_t i;
    json_t *e;
    int product_edge = 0, source_edge = 0;

    json_array_foreach(edges, i, e)
    {
        const char *from = json_string_value(json_object_get(e, "from"));
        const char *to = json_string_value(json_object_get(e, "to"));
        product_edge += !strcmp(from, "orders/events@1") &&
                        !strcmp(to, "billing/invoices@1");
        source_edge += !strcmp(from, "source:postgres:public.orders") &&
                       !strcmp(to, "orders/events@1");
    }
    assert_int_equal(product_edge, 1);
    assert_int_equal(source_edge, 1);
    assert_int_equal(json_array_size(json_object_get(g, "nodes")), 4);
    json_decref(g);
}

static void test_body_checks(void **state)
{
    json_t *ok = json_loads(billing, 0, NULL);
    json_t *bad = json_pack("{s:s,s:s,s:i,s:[{}]}", "domain", "billing", "name",
                            "invoices", "version", 1, "output_ports");
    json_t *status = json_pack("{s:i}", "rows", -1);
    mw_err_t err;

    (void)state;
    assert_int_equal(reg_catalog_entry_check(ok, "billing", "invoices", &err),
                     0);
    assert_int_equal(reg_catalog_entry_check(ok, "billing", "other", &err),
                     MW_ERR_INVALID);
    assert_string_equal(err.msg, "$.name: expected \"other\" (the path's)");
    assert_int_equal(reg_catalog_entry_check(bad, "billing", "invoices", &err),
                     MW_ERR_INVALID);
    assert_string_equal(err.msg, "$.output_ports[0].name: expected a string");
    assert_int_equal(reg_catalog_status_check(status, &err), MW_ERR_INVALID);
    assert_string_equal(err.msg, "$.rows: expected an integer >= 0");
    json_decref(status);
    status = json_pack("{s:s}", "materializer", "m");
    assert_int_equal(reg_catalog_status_check(status, &err), MW_ERR_INVALID);
    json_decref(status);
    json_decref(bad);
    json_decref(ok);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_entries_and_versions, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_filters, setup, teardown),
        cmocka_unit_test_setup_teardown(test_lineage, setup, teardown),
        cmocka_unit_test(test_body_checks),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
