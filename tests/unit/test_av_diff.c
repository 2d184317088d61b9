/*
 * Unit tests for av_diff through av_diff.h: field additions and removals
 * (with and without defaults), type, default, enum symbol, union branch,
 * fixed size and logical type changes, paths through arrays, maps and
 * nested records, a recursive record walked once, and no changes between
 * equal schemas.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <stdio.h>
#include <string.h>

#include "av_diff.h"

typedef struct lines {
    char text[4096];
    size_t len;
} lines_t;

static void collect(void *opaque, av_diff_kind_t kind, const char *path,
                    const char *what)
{
    lines_t *l = opaque;

    l->len +=
        (size_t)snprintf(l->text + l->len, sizeof(l->text) - l->len,
                         "%s %s: %s\n", av_diff_kind_name(kind), path, what);
}

static av_schema_t *parse(const char *text)
{
    mw_err_t err;
    av_schema_t *s = av_schema_parse(text, strlen(text), NULL, 0, &err);

    if (!s)
        fail_msg("%s: %s", text, err.msg);
    return s;
}

/* The diff of a to b is exactly want. */
static void diff_is(const char *a, const char *b, const char *want)
{
    av_schema_t *sa = parse(a), *sb = parse(b);
    lines_t l = {0};
    int n = av_diff(sa, sb, collect, &l);

    assert_true(n >= 0);
    assert_string_equal(l.text, want);
    av_schema_release(sa);
    av_schema_release(sb);
}

#define REC(fields)                                                            \
    "{\"type\":\"record\",\"name\":\"R\",\"fields\":[" fields "]}"

static void test_fields_added_removed_changed(void **state)
{
    (void)state;
    diff_is(REC("{\"name\":\"a\",\"type\":\"int\"},"
                "{\"name\":\"b\",\"type\":\"string\"},"
                "{\"name\":\"c\",\"type\":\"long\",\"default\":1}"),
            REC("{\"name\":\"a\",\"type\":\"long\"},"
                "{\"name\":\"c\",\"type\":\"long\",\"default\":2},"
                "{\"name\":\"d\",\"type\":\"string\",\"default\":\"x\"},"
                "{\"name\":\"e\",\"type\":\"boolean\"}"),
            "removed b: field (type string)\n"
            "changed a: type int -> long\n"
            "changed c: default 1 -> 2\n"
            "added d: field (type string, default \"x\")\n"
            "added e: field (type boolean, no default)\n");
}

static void test_nested_paths(void **state)
{
    (void)state;
    diff_is(REC("{\"name\":\"items\",\"type\":{\"type\":\"array\",\"items\":"
                "{\"type\":\"record\",\"name\":\"I\",\"fields\":["
                "{\"name\":\"sku\",\"type\":\"string\"}]}}},"
                "{\"name\":\"tags\",\"type\":{\"type\":\"map\",\"values\":"
                "\"int\"}},"
                "{\"name\":\"s\",\"type\":{\"type\":\"enum\",\"name\":\"S\","
                "\"symbols\":[\"A\",\"B\"]}},"
                "{\"name\":\"u\",\"type\":[\"null\",\"string\"]},"
                "{\"name\":\"f\",\"type\":{\"type\":\"fixed\",\"name\":\"F\","
                "\"size\":4}},"
                "{\"name\":\"t\",\"type\":\"long\"}"),
            REC("{\"name\":\"items\",\"type\":{\"type\":\"array\",\"items\":"
                "{\"type\":\"record\",\"name\":\"I\",\"fields\":["
                "{\"name\":\"sku\",\"type\":\"string\"},"
                "{\"name\":\"qty\",\"type\":\"int\",\"default\":1}]}}},"
                "{\"name\":\"tags\",\"type\":{\"type\":\"map\",\"values\":"
                "\"long\"}},"
                "{\"name\":\"s\",\"type\":{\"type\":\"enum\",\"name\":\"S\","
                "\"symbols\":[\"B\",\"C\"]}},"
                "{\"name\":\"u\",\"type\":[\"null\",\"string\",\"int\"]},"
                "{\"name\":\"f\",\"type\":{\"type\":\"fixed\",\"name\":\"F\","
                "\"size\":8}},"
                "{\"name\":\"t\",\"type\":{\"type\":\"long\","
                "\"logicalType\":\"timestamp-millis\"}}"),
            "added items[].qty: field (type int, default 1)\n"
            "changed tags{}: type int -> long\n"
            "removed s: symbol A\n"
            "added s: symbol C\n"
            "added u: union branch int\n"
            "changed f: size 4 -> 8\n"
            "changed t: logical type none -> timestamp-millis\n");
}

static void test_recursive_and_equal(void **state)
{
    const char *list = REC("{\"name\":\"next\",\"type\":[\"null\",\"R\"]}");

    (void)state;
    diff_is(list, list, "");
    diff_is(list,
            REC("{\"name\":\"next\",\"type\":[\"null\",\"R\"]},"
                "{\"name\":\"v\",\"type\":\"int\",\"default\":0}"),
            "added v: field (type int, default 0)\n");
    diff_is("\"int\"", "\"string\"", "changed (root): type int -> string\n");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fields_added_removed_changed),
        cmocka_unit_test(test_nested_paths),
        cmocka_unit_test(test_recursive_and_equal),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
