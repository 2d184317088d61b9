/*
 * Unit tests for av_serde: data-driven over tests/data/serde/<case>/
 *   schema.avsc value.json expected.hex [reader.avsc reader_value.json]
 *     encode -> expected.hex, decode -> value.json, resolve -> reader_value
 *   bad_<case>/schema.avsc framed.hex error.txt   decode fails with error.txt
 *   bad_<case>/schema.avsc value.json error.txt   encode fails with error.txt
 * (expected.hex and reader_value.json were produced by fastavro, an
 * independent implementation; test_serde_interop.py re-checks them), plus
 * every truncation of every good body, random bytes, the plan cache and
 * the resolution corner cases.  Run from the repository root (tests/run.sh
 * does); MESH_SERDE_DATA overrides the data folder.
 */
#include <dirent.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <cmocka.h>

#include "mw_buf.h"
#include "mw_err.h"
#include "av_schema.h"
#include "av_serde.h"
#include "sr_frame.h"
#include "unit_av.h"
#include "unit_util.h"

#define MAX_CASES 256

static const char *data_dir(void)
{
    const char *d = getenv("MESH_SERDE_DATA");
    return d ? d : "tests/data/serde";
}

static char *slurp(const char *dir, const char *name, size_t *len)
{
    char path[1024];
    snprintf(path, sizeof(path), "%s/%s/%s", data_dir(), dir, name);
    return unit_read_file(path, len);
}

static uint8_t *unhex(const char *hex, size_t *len)
{
    size_t n = strspn(hex, "0123456789abcdefABCDEF");
    uint8_t *out = malloc(n / 2 + 1);
    assert_non_null(out);
    for (size_t i = 0; i + 1 < n; i += 2) {
        unsigned v;
        sscanf(hex + i, "%2x", &v);
        out[i / 2] = (uint8_t)v;
    }
    *len = n / 2;
    return out;
}

static av_schema_t *load_schema(const char *dir, const char *name)
{
    size_t len;
    char *text = slurp(dir, name, &len);
    if (!text)
        return NULL;
    mw_err_t err = {0};
    av_schema_t *s = av_schema_parse(text, len, NULL, 0, &err);
    if (!s)
        fail_msg("%s/%s: %s", dir, name, err.msg);
    free(text);
    return s;
}

static json_t *load_json(const char *dir, const char *name)
{
    char path[1024];
    json_error_t jerr;
    snprintf(path, sizeof(path), "%s/%s/%s", data_dir(), dir, name);
    json_t *v = json_load_file(path, JSON_DECODE_ANY | JSON_ALLOW_NUL, &jerr);
    if (!v)
        fail_msg("%s: %s", path, jerr.text);
    return v;
}

/* Case folder names, sorted; bad = 1 for bad_*. */
static size_t list_cases(char names[][128], int bad)
{
    DIR *d = opendir(data_dir());
    struct dirent *e;
    size_t n = 0;
    assert_non_null(d);
    while ((e = readdir(d)) && n < MAX_CASES) {
        if (e->d_name[0] == '.')
            continue;
        if ((strncmp(e->d_name, "bad_", 4) == 0) != bad)
            continue;
        snprintf(names[n++], 128, "%.127s", e->d_name);
    }
    closedir(d);
    qsort(names, n, 128, (int (*)(const void *, const void *))strcmp);
    return n;
}

static char *dumps(const json_t *v)
{
    return json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY | JSON_SORT_KEYS);
}

static void assert_json_eq(const char *what, const json_t *want,
                           const json_t *got)
{
    if (json_equal(want, got))
        return;
    char *a = dumps(want), *b = dumps(got);
    fail_msg("%s: want %s got %s", what, a, b ? b : "(null)");
}

/* ------------------------------------------------------------ good cases */

static void run_good_case(const char *name, size_t *checks)
{
    av_schema_t *w = load_schema(name, "schema.avsc");
    json_t *value = load_json(name, "value.json");
    char *hex = slurp(name, "expected.hex", NULL);
    size_t want_len;
    uint8_t *want = unhex(hex, &want_len);
    mw_err_t err = {0};
    av_serde_plan_t *plan = av_serde_plan_new(w, NULL, &err);
    assert_non_null(plan);

    mw_buf_t *out = mw_buf_new(0);
    if (av_serde_json_to_avro(plan, value, out, &err) != 0)
        fail_msg("%s: encode: %s", name, err.msg);
    assert_int_equal(mw_buf_len(out), want_len);
    assert_memory_equal(mw_buf_data(out), want, want_len);

    json_t *back = NULL;
    if (av_serde_avro_to_json(plan, want, want_len, &back, &err) != 0)
        fail_msg("%s: decode: %s", name, err.msg);
    assert_json_eq(name, value, back);
    json_decref(back);
    *checks += 2;

    av_schema_t *r = load_schema(name, "reader.avsc");
    if (r) {
        json_t *rv = load_json(name, "reader_value.json");
        av_serde_plan_t *rplan = av_serde_plan_new(w, r, &err);
        if (!rplan)
            fail_msg("%s: resolve: %s", name, err.msg);
        if (av_serde_avro_to_json(rplan, want, want_len, &back, &err) != 0)
            fail_msg("%s: resolved decode: %s", name, err.msg);
        assert_json_eq(name, rv, back);
        json_decref(back);
        json_decref(rv);
        av_serde_plan_destroy(rplan);
        av_schema_release(r);
        (*checks)++;
    }
    /* Every proper prefix of the body must fail cleanly (no crash, an
     * error with a message) — except where a prefix is itself a value. */
    for (size_t cut = 0; cut < want_len; cut++) {
        mw_err_clear(&err);
        if (av_serde_avro_to_json(plan, want, cut, &back, &err) == 0) {
            json_decref(back);
            continue;
        }
        assert_null(back);
        assert_true(err.msg[0] != '\0');
    }
    mw_buf_destroy(out);
    av_serde_plan_destroy(plan);
    free(want);
    free(hex);
    json_decref(value);
    av_schema_release(w);
}

static void test_data_cases(void **state)
{
    static char names[MAX_CASES][128];
    size_t n = list_cases(names, 0), checks = 0;
    (void)state;
    assert_true(n >= 20);
    for (size_t i = 0; i < n; i++)
        run_good_case(names[i], &checks);
    print_message("serde data cases: %zu folders, %zu checks\n", n, checks);
}

static void run_bad_case(const char *name)
{
    av_schema_t *w = load_schema(name, "schema.avsc");
    char *want = slurp(name, "error.txt", NULL);
    char *hex = slurp(name, "framed.hex", NULL);
    mw_err_t err = {0};
    av_serde_plan_t *plan = av_serde_plan_new(w, NULL, &err);
    assert_non_null(plan);
    assert_non_null(want);
    unit_chomp(want);
    int rc;
    if (hex) {
        size_t len;
        uint8_t *data = unhex(hex, &len);
        json_t *out = (json_t *)1;
        rc = sr_frame_decode(plan, data, len, NULL, &out, &err);
        assert_null(out);
        free(data);
    } else {
        json_t *value = load_json(name, "value.json");
        mw_buf_t *buf = mw_buf_new(0);
        rc = av_serde_json_to_avro(plan, value, buf, &err);
        mw_buf_destroy(buf);
        json_decref(value);
    }
    if (rc != MW_ERR_INVALID || !strstr(err.msg, want))
        fail_msg("%s: want error containing '%s', got %d '%s'", name, want, rc,
                 err.msg);
    av_serde_plan_destroy(plan);
    free(hex);
    free(want);
    av_schema_release(w);
}

static void test_bad_cases(void **state)
{
    static char names[MAX_CASES][128];
    size_t n = list_cases(names, 1);
    (void)state;
    assert_true(n >= 25);
    for (size_t i = 0; i < n; i++)
        run_bad_case(names[i]);
    print_message("serde bad-input cases: %zu\n", n);
}

/* ------------------------------------------------------------ helpers */

static json_t *jparse(const char *text)
{
    json_t *v = json_loads(text, JSON_DECODE_ANY | JSON_ALLOW_NUL, NULL);
    assert_non_null(v);
    return v;
}

/* Encodes text with schema w and decodes it with reader r. */
static json_t *roundtrip(av_schema_t *w, av_schema_t *r, const char *text,
                         mw_err_t *err)
{
    av_serde_plan_t *enc = av_serde_plan_new(w, NULL, err);
    av_serde_plan_t *dec = av_serde_plan_new(w, r, err);
    mw_buf_t *buf = mw_buf_new(0);
    json_t *value = jparse(text), *out = NULL;
    assert_non_null(enc);
    assert_non_null(dec);
    assert_int_equal(av_serde_json_to_avro(enc, value, buf, err), 0);
    av_serde_avro_to_json(dec, mw_buf_data(buf), mw_buf_len(buf), &out, err);
    json_decref(value);
    mw_buf_destroy(buf);
    av_serde_plan_destroy(dec);
    av_serde_plan_destroy(enc);
    return out;
}

/* ------------------------------------------------------------ unit tests */

/* xorshift: deterministic, so a failing input can be replayed. */
static uint64_t rnd(uint64_t *s)
{
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    return *s;
}

static void test_random_bytes_never_crash(void **state)
{
    static const char *schemas[] = {
        "{\"type\":\"record\",\"name\":\"R\",\"fields\":["
        "{\"name\":\"a\",\"type\":[\"null\",\"string\",\"R\"]},"
        "{\"name\":\"m\",\"type\":{\"type\":\"map\",\"values\":"
        "{\"type\":\"array\",\"items\":[\"null\",\"double\",\"bytes\"]}}},"
        "{\"name\":\"e\",\"type\":{\"type\":\"enum\",\"name\":\"E\","
        "\"symbols\":[\"A\",\"B\"]}},"
        "{\"name\":\"f\",\"type\":{\"type\":\"fixed\",\"name\":\"F\","
        "\"size\":3}},{\"name\":\"b\",\"type\":\"boolean\"}]}",
        "{\"type\":\"array\",\"items\":{\"type\":\"map\",\"values\":\"null\"}}",
        "[\"int\",\"long\",\"float\",\"string\"]",
    };
    static const char *sample_json =
        "{\"a\":{\"R\":{\"a\":{\"string\":\"hi\"},\"m\":{},\"e\":\"A\","
        "\"f\":\"xyz\",\"b\":false}},\"m\":{\"k\":[null,{\"double\":1.5},"
        "{\"bytes\":\"xy\"}]},\"e\":\"B\",\"f\":\"abc\",\"b\":true}";
    uint8_t sample[64];
    size_t sample_len = 0;
    uint64_t seed = 0x9e3779b97f4a7c15u;
    size_t ok = 0, rejected = 0;
    (void)state;
    for (size_t s = 0; s < sizeof(schemas) / sizeof(schemas[0]); s++) {
        av_schema_t *w = unit_schema(schemas[s]);
        av_serde_plan_t *plan = av_serde_plan_new(w, NULL, NULL);
        assert_non_null(plan);
        if (s == 0) {
            mw_buf_t *b = mw_buf_new(sizeof(sample));
            json_t *v = jparse(sample_json);
            assert_int_equal(av_serde_json_to_avro(plan, v, b, NULL), 0);
            sample_len = mw_buf_len(b);
            memcpy(sample, mw_buf_data(b), sample_len);
            json_decref(v);
            mw_buf_destroy(b);
        }
        for (int i = 0; i < 4000; i++) {
            uint8_t buf[64];
            size_t len = sample_len;
            /* half pure noise, half a valid value with bytes flipped */
            if (i % 2 == 0 || s > 0) {
                len = rnd(&seed) % sizeof(buf);
                for (size_t k = 0; k < len; k++)
                    buf[k] = (uint8_t)rnd(&seed);
            } else {
                memcpy(buf, sample, len);
                for (int k = 0; k < 1 + (int)(rnd(&seed) % 3); k++)
                    buf[rnd(&seed) % len] = (uint8_t)rnd(&seed);
            }
            json_t *out = NULL;
            mw_err_t err = {0};
            if (av_serde_avro_to_json(plan, buf, len, &out, &err) == 0) {
                ok++;
                json_decref(out);
            } else {
                rejected++;
                assert_null(out);
                assert_true(err.code == MW_ERR_INVALID);
            }
        }
        av_serde_plan_destroy(plan);
        av_schema_release(w);
    }
    print_message("random inputs: %zu decoded, %zu rejected\n", ok, rejected);
    assert_true(rejected > 0);
}

static void test_frame(void **state)
{
    mw_buf_t *buf = mw_buf_new(0);
    uint32_t id = 0;
    const uint8_t *body;
    size_t body_len;
    mw_err_t err = {0};
    (void)state;
    assert_int_equal(sr_frame_write(buf, 0x01020304u, &err), 0);
    mw_buf_append(buf, "\x02", 1);
    assert_memory_equal(mw_buf_data(buf), "\x00\x01\x02\x03\x04\x02", 6);
    assert_int_equal(
        sr_frame_parse(mw_buf_data(buf), 6, &id, &body, &body_len, &err), 0);
    assert_int_equal(id, 0x01020304u);
    assert_int_equal(body_len, 1);
    assert_int_equal(body[0], 2);
    assert_int_equal(sr_frame_parse("\x00\x00", 2, &id, &body, &body_len, &err),
                     MW_ERR_INVALID);
    assert_non_null(strstr(err.msg, "truncated header"));
    mw_buf_destroy(buf);
}

/* The case avro-c 1.11.1's resolved reader rejects ("Reader field ...
 * doesn't appear in writer"): the reader adds a defaulted field. */
static void test_reader_default_missing_in_writer(void **state)
{
    av_schema_t *w =
        unit_schema("{\"type\":\"record\",\"name\":\"U\",\"fields\":["
                    "{\"name\":\"id\",\"type\":\"int\"}]}");
    av_schema_t *r = unit_schema(
        "{\"type\":\"record\",\"name\":\"U\",\"fields\":["
        "{\"name\":\"region\",\"type\":\"string\",\"default\":\"eu\"},"
        "{\"name\":\"id\",\"type\":\"long\"},"
        "{\"name\":\"opt\",\"type\":[\"null\",\"int\"],\"default\":null},"
        "{\"name\":\"n\",\"type\":[\"int\",\"null\"],\"default\":4}]}");
    mw_err_t err = {0};
    json_t *out = roundtrip(w, r, "{\"id\": 42}", &err);
    json_t *want = jparse("{\"region\":\"eu\",\"id\":42,\"opt\":null,"
                          "\"n\":{\"int\":4}}");
    (void)state;
    assert_json_eq("default", want, out);
    /* reader order is kept in the output object */
    char *text = json_dumps(out, JSON_COMPACT);
    assert_string_equal(text, "{\"region\":\"eu\",\"id\":42,\"opt\":null,"
                              "\"n\":{\"int\":4}}");
    free(text);
    json_decref(want);
    json_decref(out);
    av_schema_release(r);
    av_schema_release(w);
}

static void test_resolution_errors(void **state)
{
    av_schema_t *w =
        unit_schema("{\"type\":\"record\",\"name\":\"U\",\"fields\":["
                    "{\"name\":\"id\",\"type\":\"string\"}]}");
    av_schema_t *r1 =
        unit_schema("{\"type\":\"record\",\"name\":\"U\",\"fields\":["
                    "{\"name\":\"id\",\"type\":\"string\"},"
                    "{\"name\":\"x\",\"type\":\"int\"}]}");
    av_schema_t *r2 =
        unit_schema("{\"type\":\"record\",\"name\":\"U\",\"fields\":["
                    "{\"name\":\"id\",\"type\":\"int\"}]}");
    av_schema_t *r3 =
        unit_schema("{\"type\":\"record\",\"name\":\"V\",\"fields\":["
                    "{\"name\":\"id\",\"type\":\"string\"}]}");
    mw_err_t err = {0};
    (void)state;
    assert_null(av_serde_plan_new(w, r1, &err));
    assert_non_null(strstr(err.msg, "reader field 'x' of U has no default"));
    assert_null(av_serde_plan_new(w, r2, &err));
    assert_string_equal(err.msg,
                        "$.id: writer type string cannot be read as int");
    assert_null(av_serde_plan_new(w, r3, &err));
    assert_non_null(strstr(err.msg, "does not match reader record V"));
    av_schema_release(r3);
    av_schema_release(r2);
    av_schema_release(r1);
    av_schema_release(w);
}

/* A writer union branch the reader cannot take fails only the messages
 * that use it. */
static void test_union_branch_unreadable(void **state)
{
    av_schema_t *w = unit_schema("[\"null\",\"string\",\"boolean\"]");
    av_schema_t *r = unit_schema("[\"null\",\"bytes\"]");
    mw_err_t err = {0};
    av_serde_plan_t *plan = av_serde_plan_new(w, r, &err);
    json_t *out = NULL;
    (void)state;
    assert_non_null(plan);
    assert_int_equal(av_serde_avro_to_json(plan, "\x02\x02z", 3, &out, &err),
                     0);
    char *text = json_dumps(out, JSON_COMPACT);
    assert_string_equal(text, "{\"bytes\":\"z\"}");
    free(text);
    json_decref(out);
    assert_int_equal(av_serde_avro_to_json(plan, "\x04\x01", 2, &out, &err),
                     MW_ERR_INVALID);
    assert_non_null(strstr(err.msg, "writer union branch 2 (boolean)"));
    av_serde_plan_destroy(plan);
    av_schema_release(r);
    av_schema_release(w);
}

static void test_special_values(void **state)
{
    av_schema_t *w = unit_schema(
        "{\"type\":\"record\",\"name\":\"S\",\"fields\":["
        "{\"name\":\"d\",\"type\":\"double\"},"
        "{\"name\":\"f\",\"type\":\"float\"},"
        "{\"name\":\"l\",\"type\":\"long\"},"
        "{\"name\":\"dec\",\"type\":{\"type\":\"bytes\",\"logicalType\":"
        "\"decimal\",\"precision\":10,\"scale\":2}},"
        "{\"name\":\"fx\",\"type\":{\"type\":\"fixed\",\"name\":\"D4\","
        "\"size\":4,\"logicalType\":\"decimal\",\"precision\":6,"
        "\"scale\":1}}]}");
    mw_err_t err = {0};
    (void)state;
    json_t *out = roundtrip(w, NULL,
                            "{\"d\":\"NaN\",\"f\":\"-Infinity\","
                            "\"l\":12.0,\"dec\":-12.34,\"fx\":1}",
                            &err);
    assert_non_null(out);
    json_t *want = jparse("{\"d\":\"NaN\",\"f\":\"-Infinity\",\"l\":12,"
                          "\"dec\":\"\\u00fb.\","
                          "\"fx\":\"\\u0000\\u0000\\u0000\\n\"}");
    assert_json_eq("special", want, out);
    json_decref(want);
    json_decref(out);
    av_schema_release(w);
}

static void test_cache_and_encode_guard(void **state)
{
    av_schema_t *w, *r;
    unit_int_long_pair(&w, &r);
    mw_err_t err = {0};
    av_serde_cache_t *cache = av_serde_cache_new(2, &err);
    (void)state;
    const av_serde_plan_t *p1 = av_serde_cache_get(cache, w, NULL, &err);
    assert_non_null(p1);
    assert_ptr_equal(av_serde_cache_get(cache, w, w, &err), p1);
    const av_serde_plan_t *p2 = av_serde_cache_get(cache, w, r, &err);
    assert_non_null(p2);
    assert_ptr_not_equal(p1, p2);
    assert_null(av_serde_cache_get(cache, r, NULL, &err));
    assert_int_equal(err.code, MW_ERR_FULL);
    json_t *v = jparse("{\"a\":1}");
    mw_buf_t *buf = mw_buf_new(0);
    assert_int_equal(av_serde_json_to_avro(p2, v, buf, &err), MW_ERR_STATE);
    assert_int_equal(sr_frame_encode(p1, 9, v, buf, &err), 0);
    assert_int_equal(mw_buf_len(buf), 6);
    json_t *back = NULL;
    uint32_t id = 0;
    assert_int_equal(sr_frame_decode(p2, mw_buf_data(buf), 6, &id, &back, &err),
                     0);
    assert_int_equal(id, 9);
    assert_true(json_is_integer(json_object_get(back, "a")));
    json_decref(back);
    json_decref(v);
    mw_buf_destroy(buf);
    /* the cache keeps the schemas alive */
    av_schema_release(r);
    av_schema_release(w);
    av_serde_cache_destroy(cache);
}

static void test_output_limit(void **state)
{
    av_schema_t *w = unit_schema("\"string\"");
    av_serde_plan_t *plan = av_serde_plan_new(w, NULL, NULL);
    mw_buf_t *buf = mw_buf_new(8);
    json_t *v = json_string("a string longer than eight bytes");
    mw_err_t err = {0};
    (void)state;
    assert_int_equal(av_serde_json_to_avro(plan, v, buf, &err), MW_ERR_FULL);
    assert_non_null(strstr(err.msg, "output limit"));
    json_decref(v);
    mw_buf_destroy(buf);
    av_serde_plan_destroy(plan);
    av_schema_release(w);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_data_cases),
        cmocka_unit_test(test_bad_cases),
        cmocka_unit_test(test_random_bytes_never_crash),
        cmocka_unit_test(test_frame),
        cmocka_unit_test(test_reader_default_missing_in_writer),
        cmocka_unit_test(test_resolution_errors),
        cmocka_unit_test(test_union_branch_unreadable),
        cmocka_unit_test(test_special_values),
        cmocka_unit_test(test_cache_and_encode_guard),
        cmocka_unit_test(test_output_limit),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
