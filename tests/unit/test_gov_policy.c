/*
 * Unit tests for governance policies (schema-registry/policy), through
 * gov_policy.h, gov_check.h, gov_report.h and gov_hook.h: policy files
 * refused with FILE:LINE:COL and the key path; a domain that tightens a
 * mesh rule accepted, one that weakens it refused naming both rules (and
 * a mesh policy that would leave a domain rule weaker refused too); each
 * rule firing on a violating schema or product and silent on a conforming
 * one, with its JSON path; the validation hook refusing a descriptor with
 * its position.
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

#include "dp_validate.h"
#include "gov_check.h"
#include "gov_hook.h"

/* ------------------------------------------------------------ helpers */

static gov_policy_t *policy(const char *text)
{
    gov_policy_t *pol = gov_policy_new();
    mw_err_t err;

    assert_non_null(pol);
    if (gov_policy_add(pol, text, strlen(text), "mesh.yaml", NULL, &err))
        fail_msg("policy refused: %s", err.msg);
    return pol;
}

/* Adding text to a fresh set fails with exactly want. */
static void parse_fails(const char *text, const char *want)
{
    gov_policy_t *pol = gov_policy_new();
    mw_err_t err;

    assert_int_equal(
        gov_policy_add(pol, text, strlen(text), "p.yaml", NULL, &err),
        MW_ERR_INVALID);
    assert_string_equal(err.msg, want);
    assert_true(gov_policy_is_empty(pol));
    gov_policy_destroy(pol);
}

/* The violations of schema text under subject, as "rule@path" lines. */
static char *schema_violations(const gov_policy_t *pol, const char *subject,
                               const char *text, const char *compat)
{
    mw_err_t err;
    av_schema_t *s = av_schema_parse(text, strlen(text), NULL, 0, &err);
    gov_report_t *rep = gov_report_new();
    char *out = calloc(1, 4096);
    size_t off = 0;

    if (!s)
        fail_msg("bad schema in test: %s", err.msg);
    assert_int_equal(gov_check_schema(pol, subject, s,
                                      strlen(av_schema_normalized(s)), compat,
                                      rep),
                     0);
    for (size_t i = 0; i < gov_report_cnt(rep); i++) {
        const gov_violation_t *v = gov_report_get(rep, i);
        off +=
            (size_t)snprintf(out + off, 4096 - off, "%s%s@%s", off ? " " : "",
                             gov_rule_name(v->rule), v->path);
    }
    gov_report_destroy(rep);
    av_schema_release(s);
    return out;
}

static char *product_violations(const gov_policy_t *pol, const char *json)
{
    json_error_t jerr;
    json_t *entry = json_loads(json, 0, &jerr);
    gov_report_t *rep = gov_report_new();
    char *out = calloc(1, 4096);
    size_t off = 0;

    if (!entry)
        fail_msg("bad JSON in test: %s", jerr.text);
    assert_int_equal(gov_check_product(pol, entry, NULL, NULL, rep), 0);
    for (size_t i = 0; i < gov_report_cnt(rep); i++) {
        const gov_violation_t *v = gov_report_get(rep, i);
        off +=
            (size_t)snprintf(out + off, 4096 - off, "%s%s@%s", off ? " " : "",
                             gov_rule_name(v->rule), v->path);
    }
    gov_report_destroy(rep);
    json_decref(entry);
    return out;
}

static void expect_schema(const char *rules, const char *subject,
                          const char *text, const char *want)
{
    gov_policy_t *pol = policy(rules);
    char *got = schema_violations(pol, subject, text, "BACKWARD");

    assert_string_equal(got, want);
    free(got);
    gov_policy_destroy(pol);
}

static void expect_product(const char *rules, const char *json,
                           const char *want)
{
    gov_policy_t *pol = policy(rules);
    char *got = product_violations(pol, json);

    assert_string_equal(got, want);
    free(got);
    gov_policy_destroy(pol);
}

#define SUBJ "orders.events.v1-value"
#define GOOD                                                                   \
    "{\"type\":\"record\",\"name\":\"Order\",\"doc\":\"An order.\","           \
    "\"fields\":[{\"name\":\"order_id\",\"type\":\"long\",\"doc\":\"Id.\"}]}"

/* ------------------------------------------------------------ parsing */

static void test_parse_errors(void **state)
{
    (void)state;
    parse_fails("level: mesh\nrules:\n  colour: error\n",
                "p.yaml:3:3: rules: unknown rule 'colour' (expected one of: "
                "subject-naming, topic-naming, record-naming, field-naming, "
                "doc-required, descriptor-required, min-compatibility, "
                "pii-declared, pii-not-public, partitions, retention, "
                "forbidden-types, schema-size)");
    parse_fails("level: mesh\nrules:\n  partitions:\n    max: many\n",
                "p.yaml:4:10: rules.partitions.max: expected an integer >= 0, "
                "got 'many'");
    parse_fails("level: mesh\nrules:\n  doc-required: fatal\n",
                "p.yaml:3:17: rules.doc-required: expected error or warn, got "
                "'fatal'");
    parse_fails("level: mesh\nrules:\n  partitions: {colour: red}\n",
                "p.yaml:3:16: rules.partitions: unknown key 'colour' "
                "(expected one of: severity, min, max)");
    parse_fails("level: mesh\nrules:\n  retention: {max: 3x}\n",
                "p.yaml:3:20: rules.retention.max: expected a duration "
                "(500ms, 30s, 5m, 12h, 7d, 2w), got '3x'");
    parse_fails("level: mesh\nrules:\n  min-compatibility: {level: SOME}\n",
                "p.yaml:3:30: rules.min-compatibility.level: 'SOME' is not a "
                "compatibility level (BACKWARD, BACKWARD_TRANSITIVE, FORWARD, "
                "FORWARD_TRANSITIVE, FULL, FULL_TRANSITIVE, NONE)");
    parse_fails("rules: {}\n", "p.yaml:1:1: missing key 'level' (mesh or "
                               "domain)");
    parse_fails("level: domain\n",
                "p.yaml:1:1: missing key 'domain' (level is domain)");
    parse_fails("level: mesh\nrules: [a\n",
                "p.yaml:3:1: YAML: did not find expected ',' or ']'");
    parse_fails("level: mesh\nrules:\n  partitions: {min: 9, max: 3}\n",
                "p.yaml:3:15: rules.partitions: min 9 is above max 3");
}

/* ------------------------------------------------------------ levels */

static const char mesh_text[] = "level: mesh\n"
                                "rules:\n"
                                "  partitions: {severity: error, max: 64}\n"
                                "  doc-required: warn\n"
                                "  min-compatibility: {level: BACKWARD}\n"
                                "  forbidden-types: {types: [bytes]}\n";

static void test_domain_tightens(void **state)
{
    gov_policy_t *pol = policy(mesh_text);
    const char dom[] = "level: domain\ndomain: orders\nrules:\n"
                       "  partitions: {max: 12}\n"
                       "  doc-required: error\n"
                       "  min-compatibility: {level: FULL_TRANSITIVE}\n"
                       "  forbidden-types: {types: [bytes, fixed]}\n"
                       "  schema-size: {max: 100}\n";
    gov_rule_t rules[GOV_RULE__CNT];
    const char *scope;
    mw_err_t err;

    (void)state;
    assert_int_equal(
        gov_policy_add(pol, dom, strlen(dom), "orders.yaml", &scope, &err), 0);
    assert_string_equal(scope, "orders");
    gov_policy_rules(pol, "orders", rules);
    assert_int_equal(rules[GOV_RULE_PARTITIONS].max, 12);
    assert_int_equal(rules[GOV_RULE_DOC_REQUIRED].severity, GOV_SEV_ERROR);
    assert_true(rules[GOV_RULE_SCHEMA_SIZE].on);
    /* another domain keeps the mesh's rules alone */
    gov_policy_rules(pol, "billing", rules);
    assert_int_equal(rules[GOV_RULE_PARTITIONS].max, 64);
    assert_int_equal(rules[GOV_RULE_DOC_REQUIRED].severity, GOV_SEV_WARN);
    assert_false(rules[GOV_RULE_SCHEMA_SIZE].on);
    gov_policy_destroy(pol);
}

static void test_domain_weakens(void **state)
{
    gov_policy_t *pol = policy(mesh_text);
    mw_err_t err;
    struct {
        const char *line, *msg;
    } cases[] = {
        {"  partitions: {max: 128}",
         "orders.yaml:4:3: rule 'partitions' of domain orders weakens mesh "
         "rule 'partitions' at mesh.yaml:3:3: max 128 is above 64"},
        {"  doc-required: {severity: warn}\n  partitions: {severity: warn}",
         "orders.yaml:5:3: rule 'partitions' of domain orders weakens mesh "
         "rule 'partitions' at mesh.yaml:3:3: severity warn is below error"},
        {"  min-compatibility: {level: FORWARD}",
         "orders.yaml:4:3: rule 'min-compatibility' of domain orders weakens "
         "mesh rule 'min-compatibility' at mesh.yaml:5:3: level FORWARD does "
         "not keep BACKWARD"},
        {"  forbidden-types: {types: [fixed]}",
         "orders.yaml:4:3: rule 'forbidden-types' of domain orders weakens "
         "mesh rule 'forbidden-types' at mesh.yaml:6:3: types lacks 'bytes'"},
    };

    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char dom[256];
        snprintf(dom, sizeof(dom),
                 "level: domain\ndomain: orders\nrules:\n%s\n", cases[i].line);
        assert_int_equal(
            gov_policy_add(pol, dom, strlen(dom), "orders.yaml", NULL, &err),
            MW_ERR_INVALID);
        assert_string_equal(err.msg, cases[i].msg);
    }
    gov_policy_destroy(pol);
}

/* A mesh policy loosened below a domain's is fine; one tightened past a
 * domain's rule would leave that rule weaker: refused, naming both. */
static void test_mesh_after_domain(void **state)
{
    gov_policy_t *pol = policy(mesh_text);
    const char dom[] = "level: domain\ndomain: orders\nrules:\n"
                       "  partitions: {max: 32}\n";
    const char tight[] = "level: mesh\nrules:\n  partitions: {max: 16}\n";
    mw_err_t err;

    (void)state;
    assert_int_equal(
        gov_policy_add(pol, dom, strlen(dom), "orders.yaml", NULL, &err), 0);
    assert_int_equal(
        gov_policy_add(pol, tight, strlen(tight), "mesh2.yaml", NULL, &err),
        MW_ERR_INVALID);
    assert_string_equal(err.msg,
                        "mesh2.yaml:3:3: mesh rule 'partitions' would be "
                        "weaker than rule 'partitions' of domain orders at "
                        "orders.yaml:4:3, which may only tighten it: max 32 "
                        "is above 16");
    gov_policy_destroy(pol);
}

/* ------------------------------------------------------------ schema rules */

static void test_subject_naming(void **state)
{
    (void)state;
    expect_schema("level: mesh\nrules: {subject-naming: error}\n", SUBJ, GOOD,
                  "");
    expect_schema("level: mesh\nrules: {subject-naming: error}\n",
                  "Orders-value", GOOD, "subject-naming@$");
    expect_schema("level: mesh\nrules: {subject-naming: error}\n",
                  "orders.events.v0-value", GOOD, "subject-naming@$");
}

static void test_naming_styles(void **state)
{
    const char bad[] =
        "{\"type\":\"record\",\"name\":\"order_rec\",\"fields\":["
        "{\"name\":\"orderId\",\"type\":\"long\"},"
        "{\"name\":\"items\",\"type\":{\"type\":\"array\",\"items\":"
        "{\"type\":\"record\",\"name\":\"Item\",\"fields\":"
        "[{\"name\":\"Sku\",\"type\":\"string\"}]}}}]}";

    (void)state;
    expect_schema("level: mesh\nrules: {record-naming: error, "
                  "field-naming: error}\n",
                  SUBJ, GOOD, "");
    expect_schema("level: mesh\nrules: {record-naming: error, "
                  "field-naming: error}\n",
                  SUBJ, bad,
                  "record-naming@$ field-naming@$.fields[0] "
                  "field-naming@$.fields[1].type.items.fields[0]");
    expect_schema("level: mesh\nrules:\n  field-naming: {style: camelCase}\n",
                  SUBJ, bad, "field-naming@$.fields[1].type.items.fields[0]");
}

static void test_doc_required(void **state)
{
    const char nodoc[] = "{\"type\":\"record\",\"name\":\"Order\",\"fields\":["
                         "{\"name\":\"a\",\"type\":\"long\",\"doc\":\"A.\"},"
                         "{\"name\":\"b\",\"type\":\"long\"}]}";

    (void)state;
    expect_schema("level: mesh\nrules: {doc-required: error}\n", SUBJ, GOOD,
                  "");
    expect_schema("level: mesh\nrules: {doc-required: error}\n", SUBJ, nodoc,
                  "doc-required@$ doc-required@$.fields[1]");
}

static void test_forbidden_types(void **state)
{
    const char bytes[] =
        "{\"type\":\"record\",\"name\":\"R\",\"fields\":["
        "{\"name\":\"amount\",\"type\":{\"type\":\"bytes\",\"logicalType\":"
        "\"decimal\",\"precision\":9,\"scale\":2}},"
        "{\"name\":\"blob\",\"type\":[\"null\",\"bytes\"]}]}";

    (void)state;
    expect_schema("level: mesh\nrules: {forbidden-types: error}\n", SUBJ, GOOD,
                  "");
    /* the decimal keeps its bytes; the bare bytes in the union do not */
    expect_schema("level: mesh\nrules: {forbidden-types: error}\n", SUBJ, bytes,
                  "forbidden-types@$.fields[1].type[1]");
}

static void test_schema_size_and_compat(void **state)
{
    gov_policy_t *pol = policy("level: mesh\nrules:\n  schema-size: {max: 40}\n"
                               "  min-compatibility: {level: BACKWARD}\n");
    char *got;

    (void)state;
    got = schema_violations(pol, SUBJ, "\"long\"", "FULL");
    assert_string_equal(got, "");
    free(got);
    got = schema_violations(pol, SUBJ, GOOD, "NONE");
    assert_string_equal(got, "schema-size@$ min-compatibility@$");
    free(got);
    /* offline the level is unknown: not evaluated */
    got = schema_violations(pol, SUBJ, "\"long\"", NULL);
    assert_string_equal(got, "");
    free(got);
    gov_policy_destroy(pol);
}

/* ------------------------------------------------------------ product rules */

#define ENTRY(extra, port)                                                     \
    "{\"domain\":\"orders\",\"name\":\"events\",\"version\":1," extra          \
    "\"output_ports\":[{\"name\":\"events\",\"type\":\"topic\"," port "}]}"
#define PORT_OK                                                                \
    "\"topic\":\"orders.events.v1\",\"partitions\":3,"                         \
    "\"retention_ms\":604800000,\"fields\":[{\"name\":\"email\","              \
    "\"classification\":\"pii\"}]"

static void test_topic_naming(void **state)
{
    (void)state;
    expect_product("level: mesh\nrules: {topic-naming: error}\n",
                   ENTRY("", PORT_OK), "");
    expect_product("level: mesh\nrules: {topic-naming: error}\n",
                   ENTRY("", "\"topic\":\"orders-events\""),
                   "topic-naming@$.output_ports[0].topic");
}

static void test_descriptor_required(void **state)
{
    const char rules[] = "level: mesh\nrules:\n  descriptor-required:\n"
                         "    keys: [owner.contact, description, sla]\n";

    (void)state;
    expect_product(rules,
                   ENTRY("\"description\":\"d\",\"owner\":{\"team\":\"t\","
                         "\"contact\":\"c@x\"},\"sla\":{\"freshness\":\"5m\"},",
                         PORT_OK),
                   "");
    expect_product(rules, ENTRY("\"owner\":{\"team\":\"t\"},", PORT_OK),
                   "descriptor-required@$.owner.contact "
                   "descriptor-required@$.description "
                   "descriptor-required@$.sla");
}

static void test_partitions_and_retention(void **state)
{
    const char rules[] = "level: mesh\nrules:\n"
                         "  partitions: {min: 2, max: 6}\n"
                         "  retention: {min: 1h, max: 30d}\n";

    (void)state;
    expect_product(rules, ENTRY("", PORT_OK), "");
    expect_product(rules,
                   ENTRY("", "\"topic\":\"orders.events.v1\","
                             "\"partitions\":12,\"retention_ms\":-1"),
                   "partitions@$.output_ports[0].partitions "
                   "retention@$.output_ports[0].retention_ms");
    expect_product(rules,
                   ENTRY("", "\"topic\":\"orders.events.v1\","
                             "\"partitions\":1,\"retention_ms\":1000"),
                   "partitions@$.output_ports[0].partitions "
                   "retention@$.output_ports[0].retention_ms");
}

static void test_pii(void **state)
{
    const char rules[] = "level: mesh\nrules: {pii-declared: error, "
                         "pii-not-public: error}\n";
#define UNDECLARED                                                             \
    "\"topic\":\"orders.events.v1\",\"fields\":[{\"name\":\"id\"},"            \
    "{\"name\":\"customer_email\",\"classification\":null}]"

    (void)state;
    expect_product(rules, ENTRY("\"tags\":[\"core\"],", PORT_OK), "");
    expect_product(rules, ENTRY("", UNDECLARED),
                   "pii-declared@$.output_ports[0].fields[1]");
    expect_product(rules, ENTRY("\"tags\":[\"public\"],", PORT_OK),
                   "pii-not-public@$.output_ports[0].fields[0]");
}

/* Schema rules run on each topic port's schemas, paths under the port. */
static void test_product_schemas(void **state)
{
    (void)state;
    expect_product(
        "level: mesh\nrules: {doc-required: error}\n",
        ENTRY("", "\"topic\":\"orders.events.v1\",\"value_schema\":{"
                  "\"subject\":\"orders.events.v1-value\",\"schema\":"
                  "\"{\\\"type\\\":\\\"record\\\",\\\"name\\\":\\\"O\\\","
                  "\\\"doc\\\":\\\"o\\\",\\\"fields\\\":[{\\\"name\\\":"
                  "\\\"a\\\",\\\"type\\\":\\\"int\\\"}]}\"}"),
        "doc-required@$.output_ports[0].value_schema.fields[0]");
}

/* A rule a policy does not state does not run; severities are kept. */
static void test_unstated_rules_and_severity(void **state)
{
    gov_policy_t *pol = policy("level: mesh\nrules: {doc-required: warn}\n");
    char *got = schema_violations(pol, "NotASubject", "\"bytes\"", "NONE");
    gov_report_t *rep = gov_report_new();
    const char rec[] = "{\"type\":\"record\",\"name\":\"R\",\"fields\":[]}";
    av_schema_t *s = av_schema_parse(rec, strlen(rec), NULL, 0, NULL);
    char buf[512];

    (void)state;
    assert_string_equal(got, "");
    free(got);
    assert_non_null(s);
    assert_int_equal(gov_check_schema(pol, SUBJ, s, 10, NULL, rep), 0);
    assert_int_equal(gov_report_sev_cnt(rep, GOV_SEV_WARN), 1);
    assert_int_equal(gov_report_sev_cnt(rep, GOV_SEV_ERROR), 0);
    assert_string_equal(gov_report_join(rep, GOV_SEV_WARN, buf, sizeof(buf)),
                        "policy rule 'doc-required' (warn) at $: record 'R' "
                        "has no doc");
    av_schema_release(s);
    gov_report_destroy(rep);
    gov_policy_destroy(pol);
}

/* ------------------------------------------------------------ the hook */

static void test_hook_refuses_with_position(void **state)
{
    char dir[] = "/tmp/test_gov_policy.XXXXXX", path[512];
    const char desc[] = "domain: orders\n"
                        "name: events\n"
                        "version: 1\n"
                        "owner:\n"
                        "  team: t\n"
                        "output_ports:\n"
                        "  - name: events\n"
                        "    partitions: 100\n"
                        "    value_schema:\n"
                        "      inline: '\"long\"'\n";
    gov_policy_t *pol = policy(
        "level: mesh\nrules:\n  partitions: {max: 64}\n"
        "  descriptor-required: {severity: warn, keys: [description]}\n");
    gov_hook_t *hook = gov_hook_new(pol);
    dp_check_t check = gov_hook_check(hook);
    dp_validate_opts_t opts = {.checks = &check, .check_cnt = 1};
    dp_product_t *prod;
    mw_err_t err;
    char want[1024];
    FILE *f;

    (void)state;
    assert_non_null(mkdtemp(dir));
    snprintf(path, sizeof(path), "%s/orders.yaml", dir);
    assert_non_null(f = fopen(path, "w"));
    fputs(desc, f);
    fclose(f);
    assert_non_null(prod = dp_product_load(path, &err));
    assert_int_equal(dp_validate(prod, &opts, &err), MW_ERR_INVALID);
    snprintf(want, sizeof(want),
             "%s:7:5: policy rule 'partitions' (error) at "
             "$.output_ports[0].partitions: 100 partitions, outside 1..64",
             path);
    assert_string_equal(err.msg, want);
    assert_int_equal(gov_hook_warning_cnt(hook), 0);
    dp_product_destroy(prod);
    unlink(path);
    rmdir(dir);
    gov_hook_destroy(hook);
    gov_policy_destroy(pol);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_errors),
        cmocka_unit_test(test_domain_tightens),
        cmocka_unit_test(test_domain_weakens),
        cmocka_unit_test(test_mesh_after_domain),
        cmocka_unit_test(test_subject_naming),
        cmocka_unit_test(test_naming_styles),
        cmocka_unit_test(test_doc_required),
        cmocka_unit_test(test_forbidden_types),
        cmocka_unit_test(test_schema_size_and_compat),
        cmocka_unit_test(test_topic_naming),
        cmocka_unit_test(test_descriptor_required),
        cmocka_unit_test(test_partitions_and_retention),
        cmocka_unit_test(test_pii),
        cmocka_unit_test(test_product_schemas),
        cmocka_unit_test(test_unstated_rules_and_severity),
        cmocka_unit_test(test_hook_refuses_with_position),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
