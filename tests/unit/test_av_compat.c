/* Unit tests for av_compat: the data-driven case suite (tests/data/compat,
 * expected results taken from Java's Avro), the compatibility levels and
 * Confluent's verbose message format. */
#include <dirent.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "av_compat.h"
#include "av_schema.h"

#define CASE_MAX_BYTES (1u << 20)

/* tests/unit/../data/compat, found from this file's path so the test runs
 * from any build directory as long as the source tree is where it was. */
static void data_dir(char *buf, size_t cap)
{
    const char *file = __FILE__;
    const char *slash = strrchr(file, '/');
    int dir_len = slash ? (int)(slash - file) : 1;
    snprintf(buf, cap, "%.*s/../data/compat", dir_len, slash ? file : ".");
}

static char *slurp(const char *path, size_t *len)
{
    FILE *fp = fopen(path, "rb");
    char *buf = malloc(CASE_MAX_BYTES + 1);
    assert_non_null(fp);
    assert_non_null(buf);
    *len = fread(buf, 1, CASE_MAX_BYTES, fp);
    fclose(fp);
    buf[*len] = '\0';
    return buf;
}

static av_schema_t *parse_text(const char *text)
{
    mw_err_t err;
    mw_err_clear(&err);
    av_schema_t *schema = av_schema_parse(text, strlen(text), NULL, 0, &err);
    if (!schema)
        fail_msg("schema does not parse: %s: %s", err.msg, text);
    return schema;
}

static av_schema_t *parse_file(const char *dir, const char *name)
{
    char path[8400];
    size_t len;
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    char *text = slurp(path, &len);
    av_schema_t *schema = parse_text(text);
    free(text);
    return schema;
}

/* One case: "compatible" or "incompatible TYPE LOCATION" for the first
 * incompatibility. */
static int run_case(const char *dir, av_compat_result_t *res)
{
    char line[512], path[8400];
    size_t len;
    av_schema_t *writer = parse_file(dir, "writer.avsc");
    av_schema_t *reader = parse_file(dir, "reader.avsc");
    snprintf(path, sizeof(path), "%s/expected", dir);
    char *expected = slurp(path, &len);
    expected[strcspn(expected, "\n")] = '\0';
    assert_int_equal(av_compat_check(reader, writer, res), 0);
    if (av_compat_result_is_compatible(res)) {
        snprintf(line, sizeof(line), "compatible");
    } else {
        const av_compat_msg_t *m = av_compat_result_get(res, 0);
        snprintf(line, sizeof(line), "incompatible %s %s",
                 av_compat_err_name(m->type), m->location);
    }
    int ok = strcmp(line, expected) == 0;
    if (!ok)
        print_error("case %s: got '%s', expected '%s'\n", dir, line, expected);
    free(expected);
    av_schema_release(reader);
    av_schema_release(writer);
    return ok;
}

static void test_case_suite(void **state)
{
    char base[4096], dir[8192];
    size_t cases = 0, failed = 0;
    (void)state;
    data_dir(base, sizeof(base));
    DIR *d = opendir(base);
    assert_non_null(d);
    av_compat_result_t *res = av_compat_result_new();
    struct dirent *ent;
    while ((ent = readdir(d))) {
        if (ent->d_name[0] == '.')
            continue;
        snprintf(dir, sizeof(dir), "%s/%s", base, ent->d_name);
        char probe[8300];
        snprintf(probe, sizeof(probe), "%s/expected", dir);
        FILE *fp = fopen(probe, "r");
        if (!fp)
            continue; /* README.md and other files */
        fclose(fp);
        cases++;
        failed += !run_case(dir, res);
    }
    closedir(d);
    av_compat_result_destroy(res);
    assert_true(cases >= 100);
    assert_int_equal(failed, 0);
}

/* ------------------------------------------------------------ levels */

#define V_A                                                                    \
    "{\"type\":\"record\",\"name\":\"R\",\"fields\":["                         \
    "{\"name\":\"a\",\"type\":\"int\"}]}"
#define V_AB                                                                   \
    "{\"type\":\"record\",\"name\":\"R\",\"fields\":["                         \
    "{\"name\":\"a\",\"type\":\"int\"},"                                       \
    "{\"name\":\"b\",\"type\":\"string\"}]}"
#define V_AB_DFLT                                                              \
    "{\"type\":\"record\",\"name\":\"R\",\"fields\":["                         \
    "{\"name\":\"a\",\"type\":\"int\"},"                                       \
    "{\"name\":\"b\",\"type\":\"string\",\"default\":\"x\"}]}"
#define V_A_LONG                                                               \
    "{\"type\":\"record\",\"name\":\"R\",\"fields\":["                         \
    "{\"name\":\"a\",\"type\":\"long\"}]}"
#define V_A_STRING                                                             \
    "{\"type\":\"record\",\"name\":\"R\",\"fields\":["                         \
    "{\"name\":\"a\",\"type\":\"string\"}]}"

typedef struct mode_case {
    av_compat_level_t level;
    const char *candidate;
    const char *previous[3];
    size_t n;
    size_t msg_cnt;
} mode_case_t;

static av_compat_result_t *check_mode(const mode_case_t *mc)
{
    av_schema_t *prev[3] = {0};
    av_schema_t *cand = parse_text(mc->candidate);
    for (size_t i = 0; i < mc->n; i++)
        prev[i] = parse_text(mc->previous[i]);
    av_compat_result_t *res = av_compat_result_new();
    assert_int_equal(av_compat_check_mode(mc->level, cand, prev, mc->n, res),
                     0);
    for (size_t i = 0; i < mc->n; i++)
        av_schema_release(prev[i]);
    av_schema_release(cand);
    return res;
}

/* The case passes: the result holds no message. */
static void expect_compatible(const mode_case_t *mc)
{
    av_compat_result_t *res = check_mode(mc);
    assert_true(av_compat_result_is_compatible(res));
    av_compat_result_destroy(res);
}

static void test_transitive_vs_latest(void **state)
{
    (void)state;
    /* b without default reads v2 (which has b) but not v1. */
    mode_case_t back = {AV_COMPAT_BACKWARD, V_AB, {V_A, V_AB_DFLT}, 2, 0};
    expect_compatible(&back);

    back.level = AV_COMPAT_BACKWARD_TRANSITIVE;
    av_compat_result_t *res = check_mode(&back);
    assert_int_equal(av_compat_result_cnt(res), 1);
    const av_compat_msg_t *m = av_compat_result_get(res, 0);
    assert_int_equal(m->type, AV_COMPAT_READER_FIELD_MISSING_DEFAULT_VALUE);
    assert_string_equal(m->location, "/fields/1");
    assert_string_equal(m->info, "b");
    assert_int_equal(m->previous_index, 0);
    assert_int_equal(m->reader_is_new, 1);
    av_compat_result_destroy(res);

    /* Old v1 needs b, which the candidate drops; v2 has a default. */
    mode_case_t fwd = {AV_COMPAT_FORWARD, V_A, {V_AB, V_AB_DFLT}, 2, 0};
    expect_compatible(&fwd);
    fwd.level = AV_COMPAT_FORWARD_TRANSITIVE;
    res = check_mode(&fwd);
    assert_int_equal(av_compat_result_cnt(res), 1);
    m = av_compat_result_get(res, 0);
    assert_int_equal(m->previous_index, 0);
    assert_int_equal(m->reader_is_new, 0);
    av_compat_result_destroy(res);
}

static void test_transitive_stops_at_newest_failure(void **state)
{
    (void)state;
    /* Both versions reject the candidate; only the newest is reported. */
    mode_case_t mc = {
        AV_COMPAT_BACKWARD_TRANSITIVE, V_A_STRING, {V_A_LONG, V_A}, 2, 0};
    av_compat_result_t *res = check_mode(&mc);
    assert_int_equal(av_compat_result_cnt(res), 1);
    const av_compat_msg_t *m = av_compat_result_get(res, 0);
    assert_int_equal(m->previous_index, 1);
    assert_string_equal(m->info,
                        "reader type: STRING not compatible with writer "
                        "type: INT");
    av_compat_result_destroy(res);
}

static void test_full_and_none(void **state)
{
    (void)state;
    /* int -> long: the new schema reads old data, the old cannot read new. */
    mode_case_t mc = {AV_COMPAT_BACKWARD, V_A_LONG, {V_A}, 1, 0};
    expect_compatible(&mc);
    mc.level = AV_COMPAT_FULL;
    av_compat_result_t *res = check_mode(&mc);
    assert_int_equal(av_compat_result_cnt(res), 1);
    assert_int_equal(av_compat_result_get(res, 0)->reader_is_new, 0);
    assert_int_equal(av_compat_result_get(res, 0)->append_schema, 0);
    av_compat_result_destroy(res);
    /* int -> string fails both ways: forward first, then backward. */
    mode_case_t both = {AV_COMPAT_FULL_TRANSITIVE, V_A_STRING, {V_A}, 1, 0};
    res = check_mode(&both);
    assert_int_equal(av_compat_result_cnt(res), 2);
    assert_int_equal(av_compat_result_get(res, 0)->reader_is_new, 0);
    assert_int_equal(av_compat_result_get(res, 1)->reader_is_new, 1);
    av_compat_result_destroy(res);
    both.level = AV_COMPAT_NONE;
    expect_compatible(&both);
    both.level = AV_COMPAT_FULL;
    both.n = 0;
    expect_compatible(&both);
}

static void test_level_names(void **state)
{
    av_compat_level_t level = AV_COMPAT_NONE;
    mw_err_t err;
    (void)state;
    for (int i = 0; i < AV_COMPAT_LEVEL__CNT; i++) {
        const char *name = av_compat_level_name((av_compat_level_t)i);
        assert_int_equal(av_compat_level_parse(name, &level, NULL), 0);
        assert_int_equal(level, i);
    }
    assert_int_equal(av_compat_level_parse("full_transitive", &level, NULL), 0);
    assert_int_equal(level, AV_COMPAT_FULL_TRANSITIVE);
    assert_int_equal(av_compat_level_parse("SIDEWAYS", &level, &err),
                     MW_ERR_INVALID);
    assert_non_null(strstr(err.msg, "SIDEWAYS"));
    assert_string_equal(av_compat_level_name(AV_COMPAT_LEVEL__CNT), "UNKNOWN");
    assert_string_equal(av_compat_err_name(AV_COMPAT_MISSING_UNION_BRANCH),
                        "MISSING_UNION_BRANCH");
}

/* ------------------------------------------------------- formatting */

/* The case's messages as the verbose answer words them, the one previous
 * schema being version 3 with the text V_A. */
static json_t *confluent_messages(const mode_case_t *mc)
{
    static const int versions[] = {3};
    static const char *const texts[] = {V_A};
    av_compat_result_t *res = check_mode(mc);
    json_t *out = json_array();
    assert_int_equal(av_compat_format_messages(res, versions, texts, 1, out),
                     0);
    av_compat_result_destroy(res);
    return out;
}

static void test_confluent_messages(void **state)
{
    (void)state;
    mode_case_t mc = {AV_COMPAT_BACKWARD, V_AB, {V_A}, 1, 0};
    json_t *out = confluent_messages(&mc);
    assert_int_equal(json_array_size(out), 3);
    assert_string_equal(
        json_string_value(json_array_get(out, 0)),
        "{errorType:'READER_FIELD_MISSING_DEFAULT_VALUE', description:'The "
        "field 'b' at path '/fields/1' in the new schema has no default "
        "value and is missing in the old schema', additionalInfo:'b'}");
    assert_string_equal(json_string_value(json_array_get(out, 1)),
                        "{oldSchemaVersion: 3}");
    assert_string_equal(json_string_value(json_array_get(out, 2)),
                        "{oldSchema: '" V_A "'}");
    json_decref(out);

    /* FULL, forward half only: Confluent adds no schema notes. */
    mode_case_t full = {AV_COMPAT_FULL, V_A_LONG, {V_A}, 1, 0};
    out = confluent_messages(&full);
    assert_int_equal(json_array_size(out), 1);
    assert_string_equal(
        json_string_value(json_array_get(out, 0)),
        "{errorType:'TYPE_MISMATCH', description:'The type (path "
        "'/fields/0/type') of a field in the old schema does not match with "
        "the new schema', additionalInfo:'reader type: INT not compatible "
        "with writer type: LONG'}");
    json_decref(out);
}

static void test_recursive_self_and_reuse(void **state)
{
    (void)state;
    const char *list = "{\"type\":\"record\",\"name\":\"L\",\"fields\":["
                       "{\"name\":\"v\",\"type\":\"int\"},"
                       "{\"name\":\"next\",\"type\":[\"null\",\"L\"]}]}";
    av_schema_t *a = parse_text(list);
    av_schema_t *b = parse_text(V_A_STRING);
    av_compat_result_t *res = av_compat_result_new();
    assert_int_equal(av_compat_check(a, a, res), 0);
    assert_true(av_compat_result_is_compatible(res));
    assert_int_equal(av_compat_check(b, a, res), 0);
    assert_false(av_compat_result_is_compatible(res));
    assert_string_equal(av_compat_result_get(res, 0)->location, "/name");
    assert_null(av_compat_result_get(res, av_compat_result_cnt(res)));
    /* A reused result is cleared by the next check. */
    assert_int_equal(av_compat_check(a, a, res), 0);
    assert_int_equal(av_compat_result_cnt(res), 0);
    av_compat_result_destroy(res);
    av_compat_result_destroy(NULL);
    av_schema_release(b);
    av_schema_release(a);
}

/* T(i) = {a: T(i-1), b: T(i-1)} over 24 levels: Java's list of messages
 * doubles per level; ours stops growing, and the check stays quick. */
static char *doubling_schema(const char *leaf_type)
{
    size_t cap = 64 * 1024, len = 0;
    char *s = malloc(cap);
    assert_non_null(s);
    len += (size_t)snprintf(s + len, cap - len,
                            "{\"type\":\"record\",\"name\":\"T0\","
                            "\"fields\":[{\"name\":\"x\",\"type\":\"%s\"}]}",
                            leaf_type);
    for (int i = 1; i <= 24; i++) {
        char *next = malloc(cap);
        assert_non_null(next);
        len = (size_t)snprintf(next, cap,
                               "{\"type\":\"record\",\"name\":\"T%d\","
                               "\"fields\":[{\"name\":\"a\",\"type\":%s},"
                               "{\"name\":\"b\",\"type\":\"T%d\"}]}",
                               i, s, i - 1);
        assert_true(len < cap);
        free(s);
        s = next;
    }
    return s;
}

static void test_message_list_is_bounded(void **state)
{
    (void)state;
    char *wtext = doubling_schema("int");
    char *rtext = doubling_schema("string");
    av_schema_t *writer = parse_text(wtext);
    av_schema_t *reader = parse_text(rtext);
    av_compat_result_t *res = av_compat_result_new();
    assert_int_equal(av_compat_check(reader, writer, res), 0);
    assert_false(av_compat_result_is_compatible(res));
    assert_true(av_compat_result_cnt(res) <= 1000);
    av_compat_result_destroy(res);
    av_schema_release(reader);
    av_schema_release(writer);
    free(rtext);
    free(wtext);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_case_suite),
        cmocka_unit_test(test_transitive_vs_latest),
        cmocka_unit_test(test_transitive_stops_at_newest_failure),
        cmocka_unit_test(test_full_and_none),
        cmocka_unit_test(test_level_names),
        cmocka_unit_test(test_confluent_messages),
        cmocka_unit_test(test_recursive_self_and_reuse),
        cmocka_unit_test(test_message_list_is_bounded),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
