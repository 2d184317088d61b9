/*
 * Unit tests for av_schema: the data-driven cases under tests/data/schema
 * (valid/<case>/schema.avsc with optional canonical.txt and normalized.txt;
 * invalid/<case>/schema.avsc with error.txt, a substring the message must
 * contain), plus normal-form equality, fingerprints, references, recursive
 * graphs, limits and the node attributes; and the memory layout's
 * promises: the graph outlives the text and its JSON tree, schemas larger
 * than the first arena block, the lazily built canonical form.
 *
 * The data directory is $MESH_TESTDATA/schema when set, else
 * ../data/schema next to this file.  Fingerprints were computed with an
 * independent Python implementation of the spec's CRC-64-AVRO.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <dirent.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "av_schema.h"
#include "unit_util.h"

static char data_dir[1024];

static void find_data_dir(void)
{
    const char *env = getenv("MESH_TESTDATA");
    if (env) {
        snprintf(data_dir, sizeof(data_dir), "%s/schema", env);
        return;
    }
    const char *file = __FILE__;
    const char *slash = strrchr(file, '/');
    int len = slash ? (int)(slash - file) : 1;
    snprintf(data_dir, sizeof(data_dir), "%.*s/../data/schema", len,
             slash ? file : ".");
}

static av_schema_t *parse_str(const char *text, mw_err_t *err)
{
    mw_err_clear(err);
    return av_schema_parse(text, strlen(text), NULL, 0, err);
}

/* Compares with an expected file when there is one. */
static void compare_file(const char *dir, const char *file, const char *got)
{
    char path[2048];
    snprintf(path, sizeof(path), "%s/%s", dir, file);
    char *want = unit_read_file(path, NULL);
    if (!want)
        return;
    unit_chomp(want);
    if (strcmp(want, got) != 0)
        fail_msg("%s: %s\n  want %s\n  got  %s", dir, file, want, got);
    free(want);
}

/* Parsing the normalised text again gives the same texts. */
static void check_roundtrip(const char *dir, av_schema_t *sch)
{
    mw_err_t err;
    av_schema_t *again = parse_str(av_schema_normalized(sch), &err);
    if (!again)
        fail_msg("%s: normalised form does not parse: %s", dir, err.msg);
    assert_string_equal(av_schema_normalized(again), av_schema_normalized(sch));
    assert_string_equal(av_schema_canonical(again), av_schema_canonical(sch));
    assert_true(av_schema_fingerprint(again) == av_schema_fingerprint(sch));
    av_schema_release(again);
}

static void run_valid(const char *dir)
{
    char path[2048];
    size_t len = 0;
    mw_err_t err;
    snprintf(path, sizeof(path), "%s/schema.avsc", dir);
    char *text = unit_read_file(path, &len);
    assert_non_null(text);
    mw_err_clear(&err);
    av_schema_t *sch = av_schema_parse(text, len, NULL, 0, &err);
    if (!sch)
        fail_msg("%s: rejected: %s", dir, err.msg);
    compare_file(dir, "canonical.txt", av_schema_canonical(sch));
    compare_file(dir, "normalized.txt", av_schema_normalized(sch));
    check_roundtrip(dir, sch);
    av_schema_release(sch);
    free(text);
}

static void run_invalid(const char *dir)
{
    char path[2048];
    size_t len = 0;
    mw_err_t err;
    snprintf(path, sizeof(path), "%s/schema.avsc", dir);
    char *text = unit_read_file(path, &len);
    snprintf(path, sizeof(path), "%s/error.txt", dir);
    char *want = unit_read_file(path, NULL);
    assert_non_null(text);
    assert_non_null(want);
    unit_chomp(want);
    mw_err_clear(&err);
    av_schema_t *sch = av_schema_parse(text, len, NULL, 0, &err);
    if (sch)
        fail_msg("%s: accepted, normalised %s", dir, av_schema_normalized(sch));
    assert_int_equal(err.code, MW_ERR_INVALID);
    if (!strstr(err.msg, want))
        fail_msg("%s:\n  want ...%s...\n  got  %s", dir, want, err.msg);
    free(text);
    free(want);
}

/* Runs fn on every case directory of kind; returns the count. */
static int walk(const char *kind, void (*fn)(const char *))
{
    char dir[1536], sub[2048];
    int cnt = 0;
    snprintf(dir, sizeof(dir), "%s/%s", data_dir, kind);
    DIR *d = opendir(dir);
    if (!d)
        fail_msg("no test data in %s (set MESH_TESTDATA)", dir);
    struct dirent *ent;
    while ((ent = readdir(d))) {
        if (ent->d_name[0] == '.')
            continue;
        snprintf(sub, sizeof(sub), "%s/%s", dir, ent->d_name);
        fn(sub);
        cnt++;
    }
    closedir(d);
    return cnt;
}

static void test_valid_cases(void **state)
{
    (void)state;
    int cnt = walk("valid", run_valid);
    print_message("valid schema cases: %d\n", cnt);
    assert_true(cnt >= 40);
}

static void test_invalid_cases(void **state)
{
    (void)state;
    int cnt = walk("invalid", run_invalid);
    print_message("invalid schema cases: %d\n", cnt);
    assert_true(cnt >= 40);
}

/* Whitespace, key order and attribute order do not change the normalised
 * form; a real difference does. */
static void test_normalized_equality(void **state)
{
    static const char *const same[] = {
        "{\"type\":\"record\",\"name\":\"R\",\"namespace\":\"a\",\"fields\":"
        "[{\"name\":\"x\",\"type\":\"int\",\"default\":1,\"doc\":\"d\"},"
        "{\"name\":\"m\",\"type\":{\"type\":\"map\",\"values\":\"R\"},"
        "\"default\":{\"b\":{\"x\":2,\"m\":{}},\"a\":{\"x\":1,\"m\":{}}}}],"
        "\"z\":1,\"y\":[true]}",
        "  {\"fields\" : [ {\"doc\":\"d\", \"default\" : 1, \"type\" : "
        "\"int\", \"name\":\"x\"},\n {\"default\":{\"a\":{\"m\":{},\"x\":1},"
        "\"b\":{\"x\":2,\"m\":{}}},\"name\":\"m\",\"type\":{\"values\":\"a.R\","
        "\"type\":\"map\"}}], \"y\":[true], \"z\":1, \"namespace\" : \"a\","
        "\t\"type\" : \"record\", \"name\" : \"R\" }\n",
        "{\"type\":\"record\",\"name\":\"a.R\",\"fields\":[{\"name\":\"x\","
        "\"type\":{\"type\":\"int\"},\"default\":1,\"doc\":\"d\"},{\"name\":"
        "\"m\",\"type\":{\"type\":\"map\",\"values\":\"R\"},\"default\":"
        "{\"a\":{\"x\":1,\"m\":{}},\"b\":{\"x\":2,\"m\":{}}}}],\"y\":[true],"
        "\"z\":1}",
    };
    mw_err_t err;
    (void)state;
    av_schema_t *first = parse_str(same[0], &err);
    if (!first)
        fail_msg("%s", err.msg);
    for (size_t i = 1; i < sizeof(same) / sizeof(same[0]); i++) {
        av_schema_t *other = parse_str(same[i], &err);
        if (!other)
            fail_msg("variant %zu: %s", i, err.msg);
        assert_string_equal(av_schema_normalized(other),
                            av_schema_normalized(first));
        av_schema_release(other);
    }
    av_schema_t *diff = parse_str(
        "{\"type\":\"record\",\"name\":\"R\",\"namespace\":\"a\",\"fields\":"
        "[{\"name\":\"x\",\"type\":\"int\",\"default\":2,\"doc\":\"d\"},"
        "{\"name\":\"m\",\"type\":{\"type\":\"map\",\"values\":\"R\"}}]}",
        &err);
    assert_non_null(diff);
    assert_string_not_equal(av_schema_normalized(diff),
                            av_schema_normalized(first));
    /* Same canonical form: only a default and the doc differ. */
    av_schema_release(diff);
    av_schema_release(first);
}

/* The spec's canonical-form rules and CRC-64-AVRO, with values from an
 * independent Python implementation.  The fingerprint of "int" is
 * 0x7275d51a3f395c8f, i.e. bytes 8f 5c 39 3f 1a d5 75 72 little-endian as
 * Avro's single-object encoding writes it. */
static void test_canonical_and_fingerprint(void **state)
{
    static const struct {
        const char *text, *canonical;
        uint64_t fp;
    } cases[] = {
        {"\"int\"", "\"int\"", 0x7275d51a3f395c8fULL},
        {"{\"type\":\"int\"}", "\"int\"", 0x7275d51a3f395c8fULL},
        {"\"null\"", "\"null\"", 0x63dd24e7cc258f8aULL},
        {"{\"type\":\"long\",\"logicalType\":\"timestamp-millis\"}", "\"long\"",
         0xd054e14493f41db7ULL},
        {"{\"namespace\":\"x.y\",\"type\":\"fixed\",\"name\":\"F\","
         "\"size\":016,\"doc\":\"d\"}",
         NULL, 0},
        {"{\"type\":\"enum\",\"name\":\"E\",\"namespace\":\"n\",\"doc\":\"x\","
         "\"symbols\":[\"A\",\"B\"],\"default\":\"A\",\"aliases\":[\"O\"]}",
         "{\"name\":\"n.E\",\"type\":\"enum\",\"symbols\":[\"A\",\"B\"]}",
         0x36bdb0f27ae4534cULL},
        {"{\"type\":\"record\",\"name\":\"R\",\"namespace\":\"n\",\"fields\":"
         "[{\"name\":\"a\",\"type\":{\"type\":\"array\",\"items\":\"string\"},"
         "\"default\":[]},{\"name\":\"r\",\"type\":[\"null\",\"R\"]}]}",
         "{\"name\":\"n.R\",\"type\":\"record\",\"fields\":[{\"name\":\"a\","
         "\"type\":{\"type\":\"array\",\"items\":\"string\"}},{\"name\":\"r\","
         "\"type\":[\"null\",\"n.R\"]}]}",
         0x9787b952c657e954ULL},
    };
    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        mw_err_t err;
        av_schema_t *sch = parse_str(cases[i].text, &err);
        if (!cases[i].canonical) {
            /* 016 is not JSON: leading zeros are a JSON error. */
            assert_null(sch);
            assert_non_null(strstr(err.msg, "$: invalid JSON"));
            continue;
        }
        if (!sch)
            fail_msg("case %zu: %s", i, err.msg);
        assert_string_equal(av_schema_canonical(sch), cases[i].canonical);
        if (av_schema_fingerprint(sch) != cases[i].fp)
            fail_msg("case %zu: fingerprint %016llx", i,
                     (unsigned long long)av_schema_fingerprint(sch));
        av_schema_release(sch);
    }
}

/* A schema using a type registered in another schema: resolution, lookup,
 * the reference kept alive, the normalised form keeping the reference and
 * the canonical form writing the type in full. */
static void test_references(void **state)
{
    mw_err_t err;
    (void)state;
    av_schema_t *addr = parse_str(
        "{\"type\":\"record\",\"name\":\"Address\",\"namespace\":\"com.x\","
        "\"fields\":[{\"name\":\"city\",\"type\":\"string\"}]}",
        &err);
    assert_non_null(addr);
    const char *text =
        "{\"type\":\"record\",\"name\":\"User\",\"namespace\":\"com.x\","
        "\"fields\":[{\"name\":\"home\",\"type\":\"Address\"},"
        "{\"name\":\"work\",\"type\":[\"null\",\"com.x.Address\"],"
        "\"default\":null}]}";
    /* Without the reference the name is unknown. */
    assert_null(parse_str(text, &err));
    assert_non_null(strstr(err.msg, "$.fields[0].type: unknown type "
                                    "'Address'"));
    av_schema_t *refs[] = {addr};
    av_schema_t *user = av_schema_parse(text, strlen(text), refs, 1, &err);
    assert_non_null(user);
    av_schema_release(addr); /* the user schema keeps it */
    const av_node_t *root = av_schema_root(user);
    const av_node_t *a = av_schema_named(user, "com.x.Address");
    assert_non_null(a);
    assert_ptr_equal(root->fields[0].type, a);
    assert_ptr_equal(root->fields[1].type->branches[1], a);
    assert_string_equal(a->fields[0].name, "city");
    assert_null(av_schema_named(user, "com.x.Nope"));
    assert_string_equal(av_schema_normalized(user),
                        "{\"type\":\"record\",\"name\":\"User\","
                        "\"namespace\":\"com.x\",\"fields\":[{\"name\":"
                        "\"home\",\"type\":\"Address\"},{\"name\":\"work\","
                        "\"type\":[\"null\",\"Address\"],\"default\":null}]}");
    assert_string_equal(av_schema_canonical(user),
                        "{\"name\":\"com.x.User\",\"type\":\"record\","
                        "\"fields\":[{\"name\":\"home\",\"type\":{\"name\":"
                        "\"com.x.Address\",\"type\":\"record\",\"fields\":"
                        "[{\"name\":\"city\",\"type\":\"string\"}]}},"
                        "{\"name\":\"work\",\"type\":[\"null\","
                        "\"com.x.Address\"]}]}");
    /* Redefining a referenced type is an error. */
    const char *redef = "{\"type\":\"fixed\",\"name\":\"com.x.Address\","
                        "\"size\":1}";
    av_schema_t *refs2[] = {user};
    assert_null(av_schema_parse(redef, strlen(redef), refs2, 1, &err));
    assert_non_null(strstr(err.msg, "already defined"));
    av_schema_release(user);
}

static void test_recursive_graph(void **state)
{
    mw_err_t err;
    (void)state;
    av_schema_t *sch = parse_str(
        "{\"type\":\"record\",\"name\":\"Node\",\"fields\":[{\"name\":\"v\","
        "\"type\":\"int\"},{\"name\":\"next\",\"type\":[\"null\",\"Node\"],"
        "\"default\":null}]}",
        &err);
    assert_non_null(sch);
    const av_node_t *root = av_schema_root(sch);
    assert_int_equal(root->type, AV_RECORD);
    assert_int_equal(root->field_cnt, 2);
    assert_int_equal(root->fields[1].index, 1);
    const av_node_t *u = root->fields[1].type;
    assert_int_equal(u->type, AV_UNION);
    assert_int_equal(u->branch_cnt, 2);
    assert_ptr_equal(u->branches[1], root);
    assert_true(json_is_null(root->fields[1].dflt));
    assert_null(root->fields[0].dflt);
    assert_ptr_equal(av_schema_keep(sch), sch);
    av_schema_release(sch);
    av_schema_release(sch);
}

/* 128 levels parse, 129 do not, 100000 do not crash. */
static char *nested_arrays(int depth)
{
    const char *open = "{\"type\":\"array\",\"items\":";
    size_t len = (size_t)depth * (strlen(open) + 1) + 16;
    char *s = malloc(len), *p = s;
    assert_non_null(s);
    for (int i = 0; i < depth; i++)
        p += sprintf(p, "%s", open);
    p += sprintf(p, "\"int\"");
    for (int i = 0; i < depth; i++)
        *p++ = '}';
    *p = '\0';
    return s;
}

static void test_depth_limit(void **state)
{
    mw_err_t err;
    (void)state;
    char *ok = nested_arrays(127);
    av_schema_t *sch = parse_str(ok, &err);
    assert_non_null(sch);
    av_schema_release(sch);
    free(ok);
    char *deep = nested_arrays(128);
    assert_null(parse_str(deep, &err));
    assert_int_equal(err.code, MW_ERR_INVALID);
    assert_non_null(strstr(err.msg, "nested deeper than 128 levels"));
    free(deep);
    char *huge = nested_arrays(100000);
    assert_null(parse_str(huge, &err));
    assert_int_equal(err.code, MW_ERR_INVALID);
    free(huge);
}

static void test_node_attributes(void **state)
{
    mw_err_t err;
    (void)state;
    av_schema_t *sch = parse_str(
        "{\"type\":\"error\",\"name\":\"E\",\"namespace\":\"a.b\","
        "\"doc\":\"D\",\"aliases\":[\"Old\",\"c.New\"],\"k\":1,\"fields\":["
        "{\"name\":\"d\",\"type\":{\"type\":\"bytes\",\"logicalType\":"
        "\"decimal\",\"precision\":9,\"scale\":2},\"order\":\"ignore\","
        "\"aliases\":[\"dd\"],\"p\":\"v\"},"
        "{\"name\":\"bad\",\"type\":{\"type\":\"fixed\",\"name\":\"F\","
        "\"size\":2,\"logicalType\":\"decimal\",\"precision\":5}},"
        "{\"name\":\"s\",\"type\":{\"type\":\"enum\",\"name\":\"S\","
        "\"symbols\":[\"X\",\"Y\"],\"default\":\"Y\"}},"
        "{\"name\":\"t\",\"type\":{\"type\":\"long\",\"logicalType\":"
        "\"local-timestamp-micros\"}}]}",
        &err);
    if (!sch)
        fail_msg("%s", err.msg);
    const av_node_t *r = av_schema_root(sch);
    assert_true(r->is_error);
    assert_string_equal(r->name, "E");
    assert_string_equal(r->space, "a.b");
    assert_string_equal(r->fullname, "a.b.E");
    assert_string_equal(r->doc, "D");
    assert_int_equal(r->alias_cnt, 2);
    assert_string_equal(r->aliases[0], "a.b.Old");
    assert_string_equal(r->aliases[1], "c.New");
    assert_int_equal(json_integer_value(json_object_get(r->props, "k")), 1);
    const av_field_t *d = &r->fields[0];
    assert_int_equal(d->type->logical, AV_LOGICAL_DECIMAL);
    assert_int_equal(d->type->precision, 9);
    assert_int_equal(d->type->scale, 2);
    assert_int_equal(d->order, AV_ORDER_IGNORE);
    assert_string_equal(d->aliases[0], "dd");
    assert_string_equal(json_string_value(json_object_get(d->props, "p")), "v");
    /* fixed(2) holds at most 4 digits: the decimal is ignored. */
    assert_int_equal(r->fields[1].type->logical, AV_LOGICAL_NONE);
    assert_int_equal(r->fields[1].type->size, 2);
    assert_string_equal(r->fields[2].type->enum_default, "Y");
    assert_int_equal(r->fields[2].type->symbol_cnt, 2);
    assert_int_equal(r->fields[3].type->logical,
                     AV_LOGICAL_LOCAL_TIMESTAMP_MICROS);
    assert_ptr_equal(av_schema_named(sch, "a.b.S"), r->fields[2].type);
    av_schema_release(sch);
}

static void test_misc_api(void **state)
{
    (void)state;
    assert_string_equal(av_type_name(AV_FIXED), "fixed");
    assert_string_equal(av_type_name(AV_TYPE__CNT), "unknown");
    assert_string_equal(av_logical_name(AV_LOGICAL_TIMESTAMP_MILLIS),
                        "timestamp-millis");
    assert_string_equal(av_logical_name(AV_LOGICAL_DURATION), "duration");
    /* err may be NULL; text need not be NUL-terminated. */
    assert_null(av_schema_parse("\"nope\"", 6, NULL, 0, NULL));
    const char buf[] = {'"', 'i', 'n', 't', '"', 'x', 'x'};
    mw_err_t err;
    av_schema_t *sch = av_schema_parse(buf, 5, NULL, 0, &err);
    assert_non_null(sch);
    assert_int_equal(av_schema_root(sch)->type, AV_INT);
    av_schema_release(sch);
    av_schema_release(NULL);
}

/* Everything the graph holds is copied out of the text (or referenced):
 * the buffer is overwritten before the graph is read, so ASan and the
 * string checks catch anything still pointing into it. */
static void test_graph_outlives_text(void **state)
{
    (void)state;
    static const char src[] =
        "{\"type\":\"record\",\"name\":\"R\",\"namespace\":\"n.s\","
        "\"doc\":\"rd\",\"aliases\":[\"Old\"],\"x-r\":[1,2],\"fields\":["
        "{\"name\":\"e\",\"doc\":\"fd\",\"aliases\":[\"ee\"],\"x-f\":{\"k\":"
        "\"v\"},"
        "\"type\":{\"type\":\"enum\",\"name\":\"E\",\"namespace\":\"o\","
        "\"symbols\":[\"A\",\"B\"],\"default\":\"B\"},\"default\":\"A\"},"
        "{\"name\":\"m\",\"type\":{\"type\":\"map\",\"values\":\"long\"},"
        "\"default\":{\"a\":1,\"b\":2}},"
        "{\"name\":\"l\",\"type\":{\"type\":\"array\",\"items\":"
        "{\"type\":\"string\",\"logicalType\":\"uuid\"}},\"default\":[\"x\"]},"
        "{\"name\":\"d\",\"type\":\"a.b.D\"}]}";
    static const char dref[] =
        "{\"type\":\"fixed\",\"name\":\"a.b.D\",\"size\":4}";
    mw_err_t err;
    char *text = strdup(dref);
    av_schema_t *ref = av_schema_parse(text, strlen(text), NULL, 0, &err);
    assert_non_null(ref);
    memset(text, 'x', strlen(text));
    free(text);
    text = strdup(src);
    av_schema_t *sch = av_schema_parse(text, strlen(text), &ref, 1, &err);
    if (!sch)
        fail_msg("%s", err.msg);
    char *norm = strdup(av_schema_normalized(sch));
    memset(text, 'x', strlen(text));
    free(text);
    av_schema_release(ref); /* the schema keeps its own reference */

    const av_node_t *r = av_schema_root(sch);
    assert_string_equal(r->fullname, "n.s.R");
    assert_string_equal(r->name, "R");
    assert_string_equal(r->space, "n.s");
    assert_string_equal(r->doc, "rd");
    assert_string_equal(r->aliases[0], "n.s.Old");
    assert_int_equal(json_array_size(json_object_get(r->props, "x-r")), 2);
    const av_field_t *f = &r->fields[0];
    assert_string_equal(f->name, "e");
    assert_string_equal(f->doc, "fd");
    assert_string_equal(f->aliases[0], "ee");
    const json_t *xf = json_object_get(f->props, "x-f");
    assert_string_equal(json_string_value(json_object_get(xf, "k")), "v");
    assert_string_equal(json_string_value(f->dflt), "A");
    const av_node_t *e = f->type;
    assert_string_equal(e->fullname, "o.E");
    assert_string_equal(e->name, "E");
    assert_string_equal(e->space, "o");
    assert_string_equal(e->symbols[1], "B");
    assert_string_equal(e->enum_default, "B");
    assert_int_equal(
        json_integer_value(json_object_get(r->fields[1].dflt, "b")), 2);
    assert_string_equal(json_string_value(json_array_get(r->fields[2].dflt, 0)),
                        "x");
    assert_int_equal(r->fields[2].type->items->logical, AV_LOGICAL_UUID);
    assert_int_equal(r->fields[3].type->size, 4);
    assert_string_equal(r->fields[3].type->fullname, "a.b.D");
    assert_ptr_equal(av_schema_named(sch, "a.b.D"), r->fields[3].type);
    assert_string_equal(av_schema_normalized(sch), norm);
    assert_non_null(strstr(av_schema_canonical(sch), "\"a.b.D\""));
    free(norm);
    av_schema_release(sch);
}

/* Appends fmt to a growing string. */
static void grow(char **s, size_t *len, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void grow(char **s, size_t *len, const char *fmt, ...)
{
    char piece[512];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(piece, sizeof(piece), fmt, ap);
    va_end(ap);
    assert_true(n > 0 && (size_t)n < sizeof(piece));
    *s = realloc(*s, *len + (size_t)n + 1);
    assert_non_null(*s);
    memcpy(*s + *len, piece, (size_t)n + 1);
    *len += (size_t)n;
}

/* A record whose graph is much larger than its text predicts (nullable
 * unions with defaults) fills several arena blocks; the same schema pretty
 * printed normalises to the same text. */
static void test_large_and_pretty(void **state)
{
    (void)state;
    char *compact = NULL, *pretty = NULL;
    size_t clen = 0, plen = 0;
    grow(&compact, &clen, "{\"type\":\"record\",\"name\":\"Big\",\"fields\":[");
    grow(&pretty, &plen,
         "{\n    \"type\" : \"record\",\n    \"name\" : "
         "\"Big\",\n    \"fields\" : [\n");
    for (int i = 0; i < 500; i++) {
        grow(&compact, &clen,
             "%s{\"name\":\"f%d\",\"type\":[\"null\","
             "{\"type\":\"long\",\"k\":%d}],\"default\":null}",
             i ? "," : "", i, i);
        grow(&pretty, &plen,
             "%s        {\n            \"default\" : null,\n"
             "            \"name\" : \"f%d\",\n            \"type\" : [ "
             "\"null\", { \"k\" : %d, \"type\" : \"long\" } ]\n        }",
             i ? ",\n" : "", i, i);
    }
    grow(&compact, &clen, "]}");
    grow(&pretty, &plen, "\n    ]\n}\n");
    mw_err_t err;
    av_schema_t *a = av_schema_parse(compact, clen, NULL, 0, &err);
    if (!a)
        fail_msg("%s", err.msg);
    av_schema_t *b = av_schema_parse(pretty, plen, NULL, 0, &err);
    if (!b)
        fail_msg("%s", err.msg);
    assert_string_equal(av_schema_normalized(a), av_schema_normalized(b));
    assert_string_equal(av_schema_normalized(a), compact);
    assert_true(av_schema_fingerprint(a) == av_schema_fingerprint(b));
    const av_node_t *r = av_schema_root(a);
    assert_int_equal(r->field_cnt, 500);
    const av_node_t *last = r->fields[499].type->branches[1];
    assert_int_equal(json_integer_value(json_object_get(last->props, "k")),
                     499);
    assert_true(json_is_null(r->fields[499].dflt));
    free(compact);
    free(pretty);
    av_schema_release(a);
    av_schema_release(b);
}

static void *canonical_thread(void *arg)
{
    return (void *)av_schema_canonical(arg);
}

/* The canonical form is built on first use: concurrent first calls agree
 * on one copy, and it matches the fingerprint computed at parse time. */
static void test_canonical_lazy(void **state)
{
    (void)state;
    mw_err_t err;
    av_schema_t *sch = parse_str(
        "{\"type\":\"record\",\"name\":\"L\",\"doc\":\"x\",\"fields\":["
        "{\"name\":\"a\",\"type\":\"int\",\"default\":1}]}",
        &err);
    assert_non_null(sch);
    pthread_t th[4];
    void *res[4];
    for (int i = 0; i < 4; i++)
        assert_int_equal(pthread_create(&th[i], NULL, canonical_thread, sch),
                         0);
    for (int i = 0; i < 4; i++)
        assert_int_equal(pthread_join(th[i], &res[i]), 0);
    for (int i = 1; i < 4; i++)
        assert_ptr_equal(res[i], res[0]);
    assert_ptr_equal(av_schema_canonical(sch), res[0]);
    assert_string_equal(res[0],
                        "{\"name\":\"L\",\"type\":\"record\","
                        "\"fields\":[{\"name\":\"a\",\"type\":\"int\"}]}");
    av_schema_release(sch);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_valid_cases),
        cmocka_unit_test(test_invalid_cases),
        cmocka_unit_test(test_normalized_equality),
        cmocka_unit_test(test_canonical_and_fingerprint),
        cmocka_unit_test(test_references),
        cmocka_unit_test(test_recursive_graph),
        cmocka_unit_test(test_depth_limit),
        cmocka_unit_test(test_node_attributes),
        cmocka_unit_test(test_misc_api),
        cmocka_unit_test(test_graph_outlives_text),
        cmocka_unit_test(test_large_and_pretty),
        cmocka_unit_test(test_canonical_lazy),
    };
    find_data_dir();
    return cmocka_run_group_tests(tests, NULL, NULL);
}
