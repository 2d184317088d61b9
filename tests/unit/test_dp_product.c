/*
 * Unit tests for data-product descriptors (schema-registry/product),
 * through dp_product.h, dp_validate.h and dp_lineage.h: a full descriptor
 * loads with its defaults; each kind of bad descriptor (YAML syntax,
 * unknown key, wrong type, missing key, missing schema file, invalid Avro,
 * a field the schema lacks, a dangling `from`, a dangling input port) gives
 * one error naming FILE:LINE:COL exactly; the validation hook runs after
 * the built-in checks; the lineage of three products renders as JSON, DOT
 * and Mermaid.
 *
 * Descriptors and schemas are written to a fresh temporary folder.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "dp_lineage.h"
#include "dp_product.h"
#include "dp_validate.h"

static char dir[256];

static const char order_avsc[] =
    "{\"type\":\"record\",\"name\":\"Order\",\"fields\":["
    "{\"name\":\"id\",\"type\":\"long\"},"
    "{\"name\":\"email\",\"type\":\"string\"},"
    "{\"name\":\"amount\",\"type\":\"double\"}]}";

static void put(const char *name, const char *text)
{
    char path[512];
    FILE *f;

    snprintf(path, sizeof(path), "%s/%s", dir, name);
    f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

static dp_product_t *load(const char *name, const char *text, mw_err_t *err)
{
    char path[512];

    put(name, text);
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    return dp_product_load(path, err);
}

/* Loading text fails with exactly "DIR/NAME:" + want. */
static void load_fails(const char *text, const char *want)
{
    char expect[1024];
    mw_err_t err;
    dp_product_t *prod = load("bad.yaml", text, &err);

    snprintf(expect, sizeof(expect), "%s/bad.yaml:%s", dir, want);
    if (prod)
        fail_msg("loaded, expected: %s", expect);
    assert_string_equal(err.msg, expect);
}

static int setup(void **state)
{
    (void)state;
    snprintf(dir, sizeof(dir), "/tmp/test_dp_product.XXXXXX");
    assert_non_null(mkdtemp(dir));
    put("order.avsc", order_avsc);
    put("bad.avsc", "{\"type\":\"record\",\"name\":\"X\",\"fields\":"
                    "[{\"name\":\"a\",\"type\":\"nosuchtype\"}]}");
    return 0;
}

static int teardown(void **state)
{
    char cmd[300];

    (void)state;
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    assert_int_equal(system(cmd), 0);
    return 0;
}

#define HEAD                                                                   \
    "domain: orders\n"                                                         \
    "name: events\n"                                                           \
    "version: 1\n"                                                             \
    "owner:\n"                                                                 \
    "  team: orders-team\n"

static const char good[] = HEAD "  contact: orders@example.com\n"
                                "status: active\n"
                                "description: Every order as it changes.\n"
                                "tags: [orders, core]\n"
                                "terms: Internal use only.\n"
                                "sla:\n"
                                "  freshness: 5m\n"
                                "  availability: 99.9%\n"
                                "input_ports:\n"
                                "  - name: pg\n"
                                "    source: postgres\n"
                                "    location: public.orders\n"
                                "output_ports:\n"
                                "  - name: events\n"
                                "    partitions: 3\n"
                                "    retention: 7d\n"
                                "    cleanup_policy: delete\n"
                                "    key_schema:\n"
                                "      inline: '\"long\"'\n"
                                "    value_schema:\n"
                                "      file: order.avsc\n"
                                "    fields:\n"
                                "      - name: email\n"
                                "        classification: pii\n"
                                "  - name: table\n"
                                "    type: table\n"
                                "    from: events\n"
                                "    sink: sqlite\n"
                                "    location: orders\n";

static void test_good_descriptor(void **state)
{
    mw_err_t err;
    dp_product_t *prod = load("good.yaml", good, &err);
    const dp_output_t *out;
    json_t *js;
    char subject[128];

    (void)state;
    if (!prod)
        fail_msg("%s", err.msg);
    assert_string_equal(dp_product_ref(prod), "orders/events@1");
    assert_string_equal(dp_product_owner_contact(prod), "orders@example.com");
    assert_int_equal(dp_product_sla_freshness_ms(prod), 300000);
    assert_int_equal(dp_product_tag_cnt(prod), 2);
    assert_int_equal(dp_product_output_cnt(prod), 2);
    out = dp_product_output(prod, 0);
    assert_string_equal(out->topic, "orders.events.v1"); /* the default */
    assert_int_equal(out->partitions, 3);
    assert_int_equal(out->retention_ms, 7LL * 86400000);
    assert_string_equal(out->key_schema->text, "\"long\"");
    assert_string_equal(dp_output_subject(out, false, subject, sizeof(subject)),
                        "orders.events.v1-value");
    assert_int_equal(dp_product_output(prod, 1)->kind, DP_OUTPUT_TABLE);
    assert_int_equal(dp_validate(prod, NULL, &err), 0);

    js = dp_product_to_json(prod);
    assert_non_null(js);
    json_t *fields = json_object_get(
        json_array_get(json_object_get(js, "output_ports"), 0), "fields");
    assert_int_equal(json_array_size(fields), 3); /* every schema field */
    assert_string_equal(json_string_value(json_object_get(
                            json_array_get(fields, 1), "classification")),
                        "pii");
    json_decref(js);
    dp_product_destroy(prod);
}

static void test_yaml_syntax_error(void **state)
{
    (void)state;
    load_fails(HEAD "tags: [a, b\n",
               "7:1: YAML: did not find expected ',' or ']' while parsing a "
               "flow sequence");
}

static void test_unknown_key(void **state)
{
    (void)state;
    load_fails(HEAD "colour: blue\n",
               "6:1: unknown key 'colour' (expected one of: domain, name, "
               "version, status, description, owner, tags, terms, sla, "
               "input_ports, output_ports)");
    load_fails(HEAD "output_ports:\n"
                    "  - name: e\n"
                    "    partitons: 3\n",
               "8:5: output_ports[0]: unknown key 'partitons' (expected one "
               "of: name, type, topic, partitions, replication, retention, "
               "cleanup_policy, key_schema, value_schema, fields, "
               "description)");
}

static void test_wrong_type(void **state)
{
    (void)state;
    load_fails(HEAD "output_ports:\n"
                    "  - name: e\n"
                    "    partitions: six\n"
                    "    value_schema: {file: order.avsc}\n",
               "8:17: output_ports[0].partitions: expected an integer, got "
               "'six'");
    load_fails(HEAD "tags:\n  a: b\n", "7:3: tags: expected a sequence, got a "
                                       "mapping");
    load_fails("domain: orders\nname: events\nversion: 1\nowner: me\n",
               "4:8: owner: expected a mapping, got 'me'");
    load_fails(HEAD "output_ports:\n"
                    "  - name: e\n"
                    "    cleanup_policy: shred\n",
               "8:21: output_ports[0].cleanup_policy: 'shred' is not one of: "
               "delete, compact, compact,delete");
}

static void test_missing_key(void **state)
{
    (void)state;
    load_fails("domain: orders\nname: events\nowner: {team: t}\n",
               "1:1: missing key 'version'");
    load_fails(HEAD "output_ports:\n  - name: e\n",
               "7:5: output_ports[0]: missing key 'value_schema'");
}

static void test_missing_schema_file(void **state)
{
    char want[600];

    (void)state;
    snprintf(want, sizeof(want),
             "9:13: output_ports[0].value_schema.file: cannot read "
             "'%s/nope.avsc': No such file or directory",
             dir);
    load_fails(HEAD "output_ports:\n"
                    "  - name: e\n"
                    "    value_schema:\n"
                    "      file: nope.avsc\n",
               want);
}

static void test_invalid_avro(void **state)
{
    (void)state;
    load_fails(HEAD "output_ports:\n"
                    "  - name: e\n"
                    "    value_schema:\n"
                    "      file: bad.avsc\n",
               "9:13: output_ports[0].value_schema: 'bad.avsc' is not valid "
               "Avro: $.fields[0].type: unknown type 'nosuchtype'");
    load_fails(HEAD "output_ports:\n"
                    "  - name: e\n"
                    "    value_schema:\n"
                    "      inline: {type: enum, name: E}\n",
               "9:15: output_ports[0].value_schema: the inline schema is not "
               "valid Avro: $: enum 'E' needs a 'symbols' array");
}

static void test_field_not_in_schema(void **state)
{
    (void)state;
    load_fails(HEAD "output_ports:\n"
                    "  - name: e\n"
                    "    value_schema: {file: order.avsc}\n"
                    "    fields:\n"
                    "      - name: emial\n"
                    "        classification: pii\n",
               "10:15: output_ports[0].fields[0].name: 'emial' is not a field "
               "of the value schema");
}

static void test_dangling_from(void **state)
{
    (void)state;
    load_fails(HEAD "output_ports:\n"
                    "  - name: e\n"
                    "    value_schema: {file: order.avsc}\n"
                    "  - name: t\n"
                    "    type: table\n"
                    "    from: evnts\n"
                    "    sink: sqlite\n"
                    "    location: x\n",
               "11:11: output_ports[1].from: 'evnts' is not a topic port of "
               "this product");
}

static const char reader[] = "domain: billing\n"
                             "name: invoices\n"
                             "version: 1\n"
                             "owner: {team: billing}\n"
                             "input_ports:\n"
                             "  - name: orders\n"
                             "    product: orders/events@1\n"
                             "  - name: users\n"
                             "    product: users/profiles@2\n"
                             "output_ports:\n"
                             "  - name: invoices\n"
                             "    value_schema: {file: order.avsc}\n";

static int resolve_users(void *opaque, const char *domain, const char *name,
                         int version, mw_err_t *err)
{
    (void)opaque;
    (void)err;
    return !strcmp(domain, "users") && !strcmp(name, "profiles") &&
           version == 2;
}

static void test_dangling_input_port(void **state)
{
    mw_err_t err;
    dp_product_t *orders = load("good.yaml", good, &err);
    dp_product_t *billing = load("billing.yaml", reader, &err);
    const dp_product_t *mesh[] = {orders, billing};
    char want[600];

    (void)state;
    assert_non_null(orders);
    assert_non_null(billing);
    /* users/profiles@2 is neither given nor resolvable. */
    snprintf(want, sizeof(want),
             "%s/billing.yaml:9:14: input_ports[1].product: no product "
             "'users/profiles@2' among the descriptors given",
             dir);
    assert_int_equal(
        dp_validate(billing, &(dp_validate_opts_t){.mesh = mesh, .mesh_cnt = 2},
                    &err),
        MW_ERR_INVALID);
    assert_string_equal(err.msg, want);
    /* The resolver (the catalog) knows it. */
    assert_int_equal(
        dp_validate(billing,
                    &(dp_validate_opts_t){
                        .mesh = mesh, .mesh_cnt = 2, .resolve = resolve_users},
                    &err),
        0);
    dp_product_destroy(billing);
    dp_product_destroy(orders);
}

/* A policy in the shape governance will add: refuses a pii field when the
 * owner has no contact, naming the field's position. */
static int pii_needs_contact(void *opaque, const dp_product_t *prod,
                             const dp_product_t *const *mesh, size_t mesh_cnt,
                             mw_err_t *err)
{
    int *calls = opaque;

    (void)mesh;
    (void)mesh_cnt;
    ++*calls;
    for (size_t i = 0; i < dp_product_output_cnt(prod); i++) {
        const dp_output_t *out = dp_product_output(prod, i);
        for (size_t f = 0; f < out->field_cnt; f++)
            if (out->fields[f].classification &&
                !strcmp(out->fields[f].classification, "pii") &&
                !dp_product_owner_contact(prod))
                return dp_product_err(prod, out->fields[f].pos, err,
                                      MW_ERR_INVALID,
                                      "policy pii-needs-contact: field '%s'",
                                      out->fields[f].name);
    }
    return 0;
}

static void test_validation_hook(void **state)
{
    mw_err_t err;
    int calls = 0;
    const dp_check_t check = {.name = "pii-needs-contact",
                              .run = pii_needs_contact,
                              .opaque = &calls};
    dp_product_t *prod = load("pii.yaml",
                              HEAD "output_ports:\n"
                                   "  - name: e\n"
                                   "    value_schema: {file: order.avsc}\n"
                                   "    fields:\n"
                                   "      - name: email\n"
                                   "        classification: pii\n",
                              &err);
    char want[600];

    (void)state;
    assert_non_null(prod);
    assert_int_equal(
        dp_validate(prod,
                    &(dp_validate_opts_t){.checks = &check, .check_cnt = 1},
                    &err),
        MW_ERR_INVALID);
    assert_int_equal(calls, 1);
    snprintf(want, sizeof(want),
             "%s/pii.yaml:10:9: policy pii-needs-contact: field 'email'", dir);
    assert_string_equal(err.msg, want);
    dp_product_destroy(prod);
}

static char *render(const json_t *graph, dp_lineage_format_t fmt)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    mw_err_t err;

    assert_non_null(f);
    assert_int_equal(dp_lineage_render(graph, fmt, f, &err), 0);
    fclose(f);
    return buf;
}

static void test_lineage_three_products(void **state)
{
    json_t *entries = json_pack(
        "[{s:s,s:s,s:i,s:{s:s},s:[{s:s,s:s,s:s}]},"
        " {s:s,s:s,s:i,s:{s:s},s:[]},"
        " {s:s,s:s,s:i,s:{s:s},s:[{s:s,s:s},{s:s,s:s}]}]",
        "domain", "orders", "name", "events", "version", 1, "owner", "team",
        "orders", "input_ports", "name", "pg", "source", "postgres", "location",
        "public.orders", "domain", "users", "name", "profiles", "version", 2,
        "owner", "team", "users", "input_ports", "domain", "billing", "name",
        "invoices", "version", 1, "owner", "team", "billing", "input_ports",
        "name", "orders", "product", "orders/events@1", "name", "users",
        "product", "users/profiles@2");
    json_t *graph = dp_lineage_build(entries);
    char *dot, *mmd;
    dp_lineage_format_t fmt;
    mw_err_t err;

    (void)state;
    assert_non_null(graph);
    assert_int_equal(json_array_size(json_object_get(graph, "nodes")), 4);
    assert_int_equal(json_array_size(json_object_get(graph, "edges")), 3);
    dot = render(graph, DP_LINEAGE_DOT);
    assert_non_null(strstr(dot, "digraph mesh {\n"));
    assert_non_null(strstr(dot, "n0 [label=\"orders/events@1 (orders)\", "
                                "shape=box];\n"));
    assert_non_null(strstr(dot, "n1 [label=\"source:postgres:public.orders\", "
                                "shape=cylinder];\n"));
    assert_non_null(strstr(dot, "n0 -> n3 [label=\"orders\"];\n"));
    assert_non_null(strstr(dot, "n2 -> n3 [label=\"users\"];\n"));
    mmd = render(graph, DP_LINEAGE_MERMAID);
    assert_non_null(strstr(mmd, "flowchart LR\n"));
    assert_non_null(
        strstr(mmd, "    n1[(\"source:postgres:public.orders\")]\n"));
    assert_non_null(strstr(mmd, "    n1 -->|\"pg\"| n0\n"));
    assert_int_equal(dp_lineage_format_parse("mermaid", &fmt, &err), 0);
    assert_int_equal(fmt, DP_LINEAGE_MERMAID);
    assert_int_equal(dp_lineage_format_parse("png", &fmt, &err),
                     MW_ERR_INVALID);
    free(dot);
    free(mmd);
    json_decref(graph);
    json_decref(entries);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_good_descriptor),
        cmocka_unit_test(test_yaml_syntax_error),
        cmocka_unit_test(test_unknown_key),
        cmocka_unit_test(test_wrong_type),
        cmocka_unit_test(test_missing_key),
        cmocka_unit_test(test_missing_schema_file),
        cmocka_unit_test(test_invalid_avro),
        cmocka_unit_test(test_field_not_in_schema),
        cmocka_unit_test(test_dangling_from),
        cmocka_unit_test(test_dangling_input_port),
        cmocka_unit_test(test_validation_hook),
        cmocka_unit_test(test_lineage_three_products),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
