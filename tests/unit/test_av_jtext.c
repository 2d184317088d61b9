/*
 * Unit tests for av_jtext: the one-pass JSON text -> Avro transcoder and
 * the top-level member finder.
 *
 * The reference is the slow path, json_loadb(JSON_DECODE_ANY |
 * JSON_ALLOW_NUL) + av_serde_json_to_avro.  Every check asserts the
 * contract of av_jtext.h: when the transcoder accepts, the slow path
 * accepts with identical bytes; when the slow path rejects, the transcoder
 * does not accept; a declined text leaves the output buffer untouched.
 *
 * Hand cases pin each rule (numbers, strings, escapes, UTF-8, records in
 * any order, defaults, unions, enums, bytes/fixed, decimals, containers,
 * depth limits, trailing text).  The differential test generates random
 * values for a set of schemas, dumps them with random key order,
 * whitespace and escaping, then mutates them (byte flips, truncations,
 * garbage, deleted and repeated ranges, swapped values, tricky numbers and
 * escapes).  The seed is printed; MESH_JTEXT_SEED=<n> replays a run and
 * MESH_JTEXT_ITER=<n> changes the number of values per schema.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "mw_buf.h"
#include "mw_err.h"
#include "av_jtext.h"
#include "av_schema.h"
#include "av_serde.h"
#include "unit_av.h"

/* ------------------------------------------------------------ helpers */

typedef struct fix {
    av_schema_t *schema;
    av_serde_plan_t *plan;
} fix_t;

static fix_t fix_new(const char *schema_text)
{
    fix_t f = {.schema = unit_schema(schema_text)};
    mw_err_t err = {0};
    f.plan = av_serde_plan_new(f.schema, NULL, &err);
    if (!f.plan)
        fail_msg("plan: %s", err.msg);
    return f;
}

static void fix_free(fix_t *f)
{
    av_serde_plan_destroy(f->plan);
    av_schema_release(f->schema);
}

/* The text with non-printable bytes as \xNN, for failure messages. */
static char *show(const char *s, size_t n)
{
    char *out = malloc(n * 4 + 1), *o = out;
    assert_non_null(out);
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c >= 0x20 && c < 0x7f && c != '\\')
            *o++ = (char)c;
        else
            o += sprintf(o, "\\x%02x", c);
    }
    *o = '\0';
    return out;
}

typedef struct stats {
    size_t same;     /* both accepted, identical bytes */
    size_t declined; /* slow path accepted, transcoder declined */
    size_t rejected; /* both refused */
} stats_t;

enum { ANY = 0, SAME, DECLINE, REJECT };

/* Runs both paths on text and checks the contract; want narrows the
 * expected outcome for hand cases.  Returns the outcome. */
static int agree_n(const av_serde_plan_t *plan, const char *text, size_t len,
                   int want, stats_t *st, const char *ctx)
{
    mw_buf_t *slow = mw_buf_new(0), *fast = mw_buf_new(0);
    mw_err_t err = {0};
    json_error_t jerr;
    json_t *doc = json_loadb(text, len, JSON_DECODE_ANY | JSON_ALLOW_NUL,
                             &jerr);
    int slow_ok = doc && av_serde_json_to_avro(plan, doc, slow, &err) == 0;
    json_decref(doc);
    assert_int_equal(mw_buf_append(fast, "HDR", 3), 0);
    mw_err_t ferr = {0};
    char *exact = malloc(len ? len : 1); /* ASan: no byte past len */
    assert_non_null(exact);
    memcpy(exact, text, len);
    int rc = av_jtext_encode(plan, exact, len, fast, &ferr);
    free(exact);
    int outcome;
    char *shown = show(text, len);
    if (rc == 0) {
        if (!slow_ok)
            fail_msg("%s: transcoder accepted what the slow path rejects "
                     "(%s): '%s'", ctx, doc ? err.msg : jerr.text, shown);
        if (mw_buf_len(fast) != mw_buf_len(slow) + 3 ||
            memcmp(mw_buf_data(fast) + 3, mw_buf_data(slow),
                   mw_buf_len(slow)) != 0) {
            char *a = show(mw_buf_data(slow), mw_buf_len(slow));
            char *b = show(mw_buf_data(fast) + 3, mw_buf_len(fast) - 3);
            fail_msg("%s: different bytes for '%s': slow '%s' fast '%s'", ctx,
                     shown, a, b);
        }
        assert_memory_equal(mw_buf_data(fast), "HDR", 3);
        outcome = SAME;
        if (st)
            st->same++;
    } else {
        if (mw_buf_len(fast) != 3 || memcmp(mw_buf_data(fast), "HDR", 3))
            fail_msg("%s: declined text changed the output: '%s'", ctx,
                     shown);
        if (rc != MW_ERR_UNSUPPORTED)
            fail_msg("%s: unexpected code %s (%s) for '%s'", ctx,
                     mw_err_name(rc), ferr.msg, shown);
        outcome = slow_ok ? DECLINE : REJECT;
        if (slow_ok && getenv("MESH_JTEXT_SHOW_DECLINED"))
            print_message("declined (%s): '%s'\n", ferr.msg, shown);
        if (!slow_ok && getenv("MESH_JTEXT_SHOW_REJECTED"))
            print_message("%s rejected (%s): '%.200s'\n", ctx,
                          doc ? err.msg : jerr.text, shown);
        if (st && slow_ok)
            st->declined++;
        else if (st)
            st->rejected++;
    }
    if (want != ANY && want != outcome)
        fail_msg("%s: '%s': want %s, got %s (slow: %s; fast: %s)", ctx, shown,
                 want == SAME ? "same bytes" : want == DECLINE ? "decline"
                                                               : "reject",
                 outcome == SAME ? "same bytes" : outcome == DECLINE
                                                      ? "decline"
                                                      : "reject",
                 slow_ok ? "ok" : doc ? err.msg : jerr.text, ferr.msg);
    free(shown);
    mw_buf_destroy(slow);
    mw_buf_destroy(fast);
    return outcome;
}

static int agree(const av_serde_plan_t *plan, const char *text, int want)
{
    return agree_n(plan, text, strlen(text), want, NULL, "hand case");
}

/* One schema, many texts with the same expectation. */
static void each(const char *schema, int want, const char *const *texts)
{
    fix_t f = fix_new(schema);
    for (size_t i = 0; texts[i]; i++)
        agree(f.plan, texts[i], want);
    fix_free(&f);
}

/* ------------------------------------------------------------ hand cases */

static void test_numbers(void **state)
{
    (void)state;
    each("\"int\"", SAME, (const char *[]){
        "0", "-0", "1", "-1", "2147483647", "-2147483648", "12.0", "1e2",
        "1E2", "1e+2", "-0.0", "0.0e5", "2.147483647e9", " 7 ", "\n\t\r 7",
        NULL});
    each("\"int\"", REJECT, (const char *[]){
        "2147483648", "-2147483649", "12.5", "1e10", "01", "-01", "+1",
        "1.", ".5", "1e", "1e+", "-", "--1", "0x10", "1 2", "1,", "[1]",
        "\"1\"", "true", "null", "", " ", "1e400", "NaN", "Infinity", "1x",
        "9223372036854775808", "-", "1.e5", NULL});
    each("\"long\"", SAME, (const char *[]){
        "9223372036854775807", "-9223372036854775808", "1e18", "-9.2e18",
        "4611686018427387904", "123456789.0", NULL});
    each("\"long\"", REJECT, (const char *[]){
        "9223372036854775808", "-9223372036854775809", "9.3e18",
        "9.223372036854775807e18", "99999999999999999999", "1.5", NULL});
    each("\"double\"", SAME, (const char *[]){
        "0", "-0", "-0.0", "1.5", "1e-400", "-1e-400", "4.9e-324",
        "1.7976931348623157e308", "123456789012345678", "\"NaN\"",
        "\"Infinity\"", "\"-Infinity\"", "3.141592653589793238462643383",
        "1E-7", "0.1", "9223372036854775807", NULL});
    each("\"double\"", REJECT, (const char *[]){
        "1e400", "-1e400", "1.7976931348623159e308", "NaN", "Infinity",
        "\"nan\"", "\"NaN \"", "\"\"", "null", "1.5.5", NULL});
    each("\"float\"", SAME, (const char *[]){
        "3.4028235e38", "1e39", "16777217", "\"-Infinity\"", "1e-50", NULL});
}

static void test_strings(void **state)
{
    (void)state;
    each("\"string\"", SAME, (const char *[]){
        "\"\"", "\"abc\"", "\"\\\"\\\\\\/\\b\\f\\n\\r\\t\"",
        "\"\\u00e9\\u20ac\"", "\"\\ud83d\\ude00\"", "\"\\uD83D\\uDE00\"",
        "\"a\\u0000b\"", "\"\\u0000\"", "\"\xc3\xa9\xe2\x82\xac\"",
        "\"\xf0\x9f\x98\x80\"", "\"\xf4\x8f\xbf\xbf\"", "\"\x7f\"",
        "\"\xef\xbb\xbf\"", "\"\\u007f\\u0080\\u07ff\\u0800\\uffff\"",
        NULL});
    each("\"string\"", REJECT, (const char *[]){
        "\"abc", "\"\\", "\"\\u12\"", "\"\\u12g4\"", "\"\\x\"", "\"\\'\"",
        "\"\\ud800\"", "\"\\udc00\"", "\"\\ud800\\u0041\"",
        "\"\\ud800\\n\"", "\"\\ud800x\"", "\"\x01\"", "\"\n\"", "\"\t\"",
        "\"\xc0\x80\"", "\"\xc1\xbf\"", "\"\xe0\x80\x80\"",
        "\"\xed\xa0\x80\"", "\"\xf4\x90\x80\x80\"", "\"\xf5\x80\x80\x80\"",
        "\"\xc3\"", "\"\xc3", "\"\x80\"", "\"\xff\"", "\"\xe2\x82\"",
        "'abc'", "abc", "\xef\xbb\xbf\"a\"", "\"a\" \"b\"", NULL});
    /* a raw NUL byte is a control character to jansson */
    fix_t f = fix_new("\"string\"");
    agree_n(f.plan, "\"a\0b\"", 5, REJECT, NULL, "raw NUL");
    agree_n(f.plan, "\"ab\"\0", 5, REJECT, NULL, "NUL after");
    agree_n(f.plan, "\"ab\"", 3, REJECT, NULL, "cut by len");
    fix_free(&f);
}

static void test_bytes_fixed_decimal(void **state)
{
    (void)state;
    each("\"bytes\"", SAME, (const char *[]){
        "\"\"", "\"\\u0000\\u00ff\\u0080\"", "\"\xc3\xbf\xc2\x80\x7f\"",
        "\"\\n\\\"\"", NULL});
    each("\"bytes\"", REJECT, (const char *[]){
        "\"\\u0100\"", "\"\xc4\x80\"", "\"\xe2\x82\xac\"", "\"\\ud83d\\ude00\"",
        "1", NULL});
    const char *fx = "{\"type\":\"fixed\",\"name\":\"F\",\"size\":3}";
    each(fx, SAME, (const char *[]){"\"abc\"", "\"\\u00ff\\u0000a\"", NULL});
    each(fx, REJECT, (const char *[]){"\"ab\"", "\"abcd\"", "3", NULL});
    const char *db = "{\"type\":\"bytes\",\"logicalType\":\"decimal\","
                     "\"precision\":10,\"scale\":2}";
    each(db, SAME, (const char *[]){
        "-12.34", "0", "1", "-1", "127", "128", "-128", "-129", "12.345",
        "1e3", "92233720368547758.07e-3", "\"\\u00fb.\"", NULL});
    each(db, REJECT, (const char *[]){"1e17", "92233720368547758.07",
                                  "-1e300", "null", NULL});
    const char *df = "{\"type\":\"fixed\",\"name\":\"D\",\"size\":2,"
                     "\"logicalType\":\"decimal\",\"precision\":4,"
                     "\"scale\":1}";
    each(df, SAME, (const char *[]){"1", "-3276.8", "\"ab\"", NULL});
    each(df, REJECT, (const char *[]){"3276.8", "\"abc\"", NULL});
}

static const char *rec_schema =
    "{\"type\":\"record\",\"name\":\"R\",\"namespace\":\"t\",\"fields\":["
    "{\"name\":\"id\",\"type\":\"long\"},"
    "{\"name\":\"name\",\"type\":\"string\",\"default\":\"anon\"},"
    "{\"name\":\"tags\",\"type\":{\"type\":\"array\",\"items\":\"string\"},"
    "\"default\":[\"x\",\"y\"]},"
    "{\"name\":\"opt\",\"type\":[\"null\",\"int\"],\"default\":null},"
    "{\"name\":\"sub\",\"type\":{\"type\":\"record\",\"name\":\"S\","
    "\"fields\":[{\"name\":\"a\",\"type\":\"int\",\"default\":7},"
    "{\"name\":\"b\",\"type\":\"string\"}]},\"default\":{\"b\":\"bee\"}},"
    "{\"name\":\"req\",\"type\":\"boolean\"}]}";

static void test_records(void **state)
{
    (void)state;
    each(rec_schema, SAME, (const char *[]){
        "{\"id\":1,\"name\":\"n\",\"tags\":[],\"opt\":null,"
        "\"sub\":{\"a\":1,\"b\":\"c\"},\"req\":true}",
        /* any order */
        "{\"req\":false,\"sub\":{\"b\":\"c\",\"a\":2},\"opt\":{\"int\":5},"
        "\"tags\":[\"q\"],\"name\":\"n\",\"id\":-3}",
        "{\"name\":\"n\",\"id\":1,\"req\":true}",
        "{\"id\":1,\"req\":true,\"name\":\"late\"}",
        /* defaults, including a record default filled from its own */
        "{\"id\":1,\"req\":true}", "{\"req\":true,\"id\":1}",
        "{\"id\":1,\"sub\":{\"b\":\"\"},\"req\":true}",
        "{\"\\u0069d\":1,\"req\":true}", " { \"id\" : 1 , \"req\" : true } ",
        NULL});
    each(rec_schema, REJECT, (const char *[]){
        "{\"id\":1}", "{\"req\":true}", "{\"id\":1,\"req\":true,\"x\":1}",
        "{\"id\":1,\"req\":true,}", "{\"id\":1 \"req\":true}",
        "{\"id\":1,\"req\":true", "{\"id\":1,\"req\":true}}",
        "{\"id\":1,\"req\":true}x", "{\"id\\u0000\":1,\"req\":true}",
        "{\"id\":1,\"sub\":{},\"req\":true}", "[1]", "null", "{id:1}",
        "{\"id\":1,\"req\":true,\"\\u0000\":1}", NULL});
    /* jansson keeps the last of duplicate keys: declined */
    each(rec_schema, DECLINE, (const char *[]){
        "{\"id\":1,\"id\":2,\"req\":true}",
        "{\"req\":true,\"id\":1,\"req\":false}",
        "{\"id\":1,\"req\":true,\"\\u0069d\":2}", NULL});
}

static void test_unions_enums(void **state)
{
    (void)state;
    const char *u = "[\"null\",\"string\",\"long\",{\"type\":\"record\","
                    "\"name\":\"A\",\"namespace\":\"x\",\"fields\":[{\"name\":"
                    "\"v\",\"type\":\"int\"}]},{\"type\":\"record\",\"name\":"
                    "\"A\",\"namespace\":\"y\",\"fields\":[{\"name\":\"w\","
                    "\"type\":\"int\"}]},{\"type\":\"enum\",\"name\":\"E\","
                    "\"symbols\":[\"P\",\"Q\"]},{\"type\":\"array\","
                    "\"items\":\"int\"}]";
    each(u, SAME, (const char *[]){
        "null", "{\"string\":\"s\"}", "{\"long\":5}", "{\"x.A\":{\"v\":1}}",
        "{\"y.A\":{\"w\":1}}", "{\"E\":\"Q\"}", "{\"array\":[1,2]}",
        "{ \"null\" : null }", "{\"\\u0073tring\":\"s\"}", NULL});
    each(u, REJECT, (const char *[]){
        "{}", "\"s\"", "{\"int\":1}", "{\"A\":{\"v\":1}}", "{\"E\":\"R\"}",
        "{\"string\":1}", "5", "[]", "{\"string\":\"s\"", "nul", NULL});
    each(u, DECLINE, (const char *[]){
        "{\"string\":\"a\",\"string\":\"b\"}", NULL});
    /* a unique short name picks a named branch */
    each("[\"null\",{\"type\":\"enum\",\"name\":\"E\",\"namespace\":\"n\","
         "\"symbols\":[\"P\"]}]", SAME,
         (const char *[]){"{\"E\":\"P\"}", "{\"n.E\":\"P\"}", NULL});
    const char *e = "{\"type\":\"enum\",\"name\":\"E\",\"symbols\":"
                    "[\"A\",\"BB\",\"C_1\"]}";
    each(e, SAME, (const char *[]){"\"A\"", "\"BB\"", "\"C_1\"", NULL});
    each(e, REJECT, (const char *[]){"\"B\"", "\"AB\"", "\"\"", "0", NULL});
    /* jansson compares C strings: "A\u0000x" is the symbol A to it */
    each(e, DECLINE, (const char *[]){"\"\\u0041\"", "\"A\\u0000x\"", NULL});
    each("\"double\"", DECLINE, (const char *[]){"\"Na\\u004e\"", NULL});
}

static void test_containers(void **state)
{
    (void)state;
    char big[2048];
    size_t n = 0;
    const char *a = "{\"type\":\"array\",\"items\":\"long\"}";
    const char *m = "{\"type\":\"map\",\"values\":\"int\"}";
    each(a, SAME, (const char *[]){"[]", "[ ]", "[1]", "[1,2,-3]",
                                    "[ 1 , 2 ]", NULL});
    each(a, REJECT, (const char *[]){"[", "[1,]", "[,1]", "[1 2]", "]",
                                     "[1]]", "{}", NULL});
    each(m, SAME, (const char *[]){"{}", "{\"a\":1}", "{\"b\":1,\"a\":2}",
                                    "{\"\":0}", "{\"\\u00e9\\n\":1}",
                                    "{\"\xc3\xa9\":1,\"e\\u0301\":2}", NULL});
    each(m, REJECT, (const char *[]){"{\"a\":1,}", "{\"a\"}", "{\"a\":}",
                                     "{\"a\\u0000\":1}", "{1:1}", "[]",
                                     NULL});
    each(m, DECLINE, (const char *[]){"{\"a\":1,\"a\":2}",
                                      "{\"a\":1,\"b\":2,\"\\u0061\":3}", NULL});
    /* 64 and more items: the count takes two varint bytes */
    fix_t f = fix_new(a);
    for (int cnt = 60; cnt < 70; cnt++) {
        n = (size_t)sprintf(big, "[");
        for (int i = 0; i < cnt; i++)
            n += (size_t)sprintf(big + n, "%s%d", i ? "," : "", i * 1000);
        sprintf(big + n, "]");
        agree(f.plan, big, SAME);
    }
    fix_free(&f);
    /* wide maps go through the hash index; duplicates still declined */
    f = fix_new(m);
    n = (size_t)sprintf(big, "{");
    for (int i = 0; i < 100; i++)
        n += (size_t)sprintf(big + n, "%s\"k%d\":%d", i ? "," : "", i, i);
    sprintf(big + n, "}");
    agree(f.plan, big, SAME);
    sprintf(big + n, ",\"k57\":0}");
    agree(f.plan, big, DECLINE);
    fix_free(&f);
}

/* A record of 20 fields (hash lookup) in reverse order, with some
 * missing. */
static void test_wide_record(void **state)
{
    char schema[4096], text[2048];
    size_t n = (size_t)sprintf(schema, "{\"type\":\"record\",\"name\":\"W\","
                                       "\"fields\":[");
    (void)state;
    for (int i = 0; i < 20; i++)
        n += (size_t)sprintf(schema + n, "%s{\"name\":\"field_%d\",\"type\":"
                             "\"int\",\"default\":%d}", i ? "," : "", i, -i);
    sprintf(schema + n, "]}");
    fix_t f = fix_new(schema);
    n = (size_t)sprintf(text, "{");
    for (int i = 19; i >= 0; i -= 1 + (i % 3 == 0))
        n += (size_t)sprintf(text + n, "%s\"field_%d\":%d", n > 1 ? "," : "",
                             i, i * 7);
    sprintf(text + n, "}");
    agree(f.plan, text, SAME);
    agree(f.plan, "{}", SAME);
    agree(f.plan, "{\"field_20\":1}", REJECT);
    agree(f.plan, "{\"field_1\":1,\"field_0\":1,\"field_1\":2}", DECLINE);
    fix_free(&f);
    /* 300 fields out of order: more slots than the stack holds */
    char *big = malloc(32768), *txt = malloc(16384);
    n = (size_t)sprintf(big, "{\"type\":\"record\",\"name\":\"V\","
                             "\"fields\":[");
    for (int i = 0; i < 300; i++)
        n += (size_t)sprintf(big + n, "%s{\"name\":\"f%d\",\"type\":"
                             "\"long\",\"default\":%d}", i ? "," : "", i, i);
    sprintf(big + n, "]}");
    f = fix_new(big);
    n = (size_t)sprintf(txt, "{");
    for (int i = 299; i >= 0; i -= 2)
        n += (size_t)sprintf(txt + n, "%s\"f%d\":%d", n > 1 ? "," : "", i,
                             -i);
    sprintf(txt + n, "}");
    agree(f.plan, txt, SAME);
    fix_free(&f);
    free(txt);
    free(big);
}

/* Nesting near AV_SERDE_MAX_DEPTH: the transcoder must cut exactly where
 * the slow path does, including depth reached inside a missing field's
 * default. */
static void test_depth(void **state)
{
    static const char *node =
        "{\"type\":\"record\",\"name\":\"N\",\"fields\":["
        "{\"name\":\"pad\",\"type\":{\"type\":\"record\",\"name\":\"P\","
        "\"fields\":[{\"name\":\"q\",\"type\":{\"type\":\"record\",\"name\":"
        "\"Q\",\"fields\":[{\"name\":\"r\",\"type\":\"int\"}]}}]},"
        "\"default\":{\"q\":{\"r\":1}}},"
        "{\"name\":\"kids\",\"type\":{\"type\":\"array\",\"items\":\"N\"}},"
        "{\"name\":\"next\",\"type\":[\"null\",\"N\"]}]}";
    fix_t f = fix_new(node);
    size_t cap = 64 * 1024;
    char *text = malloc(cap);
    int last = -1, flips = 0;
    (void)state;
    for (int style = 0; style < 3; style++) {
        last = -1;
        for (int levels = 20; levels < 140; levels++) {
            size_t n = 0;
            for (int i = 0; i < levels; i++)
                n += (size_t)sprintf(text + n, style == 0 ? "{\"kids\":[],"
                                     "\"next\":{\"N\":"
                                     : style == 1 ? "{\"next\":null,"
                                                    "\"kids\":["
                                                  : "{\"pad\":{\"q\":{\"r\""
                                                    ":2}},\"next\":null,"
                                                    "\"kids\":[");
            n += (size_t)sprintf(text + n, "{\"kids\":[],\"next\":null}");
            for (int i = 0; i < levels; i++)
                n += (size_t)sprintf(text + n, style == 0 ? "}}" : "]}");
            int out = agree_n(f.plan, text, n, ANY, NULL, "depth");
            assert_int_not_equal(out, DECLINE);
            if (last != -1 && out != last)
                flips++;
            last = out;
        }
        assert_int_equal(last, REJECT);
    }
    assert_int_equal(flips, 3); /* each style: accepted, then rejected */
    free(text);
    fix_free(&f);
}

static void test_api_edges(void **state)
{
    (void)state;
    av_schema_t *w = unit_schema("{\"type\":\"record\",\"name\":\"C\",\"fields\":["
                           "{\"name\":\"a\",\"type\":\"int\"}]}");
    av_schema_t *r = unit_schema("{\"type\":\"record\",\"name\":\"C\",\"fields\":["
                           "{\"name\":\"a\",\"type\":\"long\"}]}");
    av_serde_plan_t *rp = av_serde_plan_new(w, r, NULL);
    av_serde_plan_t *wp = av_serde_plan_new(w, NULL, NULL);
    mw_buf_t *out = mw_buf_new(4);
    mw_err_t err = {0};
    assert_int_equal(av_jtext_encode(rp, "{\"a\":1}", 7, out, &err),
                     MW_ERR_STATE);
    assert_int_equal(av_jtext_encode(wp, "{\"a\":1}", 7, out, NULL), 0);
    assert_int_equal(mw_buf_len(out), 1);
    /* past out's maximum: MW_ERR_FULL, out unchanged */
    assert_int_equal(av_jtext_encode(wp, "{\"a\":-2147483648}", 17, out,
                                     &err), MW_ERR_FULL);
    assert_int_equal(mw_buf_len(out), 1);
    assert_int_equal(av_jtext_encode(wp, NULL, 0, out, &err),
                     MW_ERR_UNSUPPORTED);
    assert_non_null(strstr(err.msg, "declined at byte 0"));
    mw_buf_destroy(out);
    av_serde_plan_destroy(wp);
    av_serde_plan_destroy(rp);
    av_schema_release(r);
    av_schema_release(w);
    /* a long string moves the output from the stack to the heap */
    fix_t f = fix_new("{\"type\":\"array\",\"items\":\"string\"}");
    size_t n = 200000;
    char *text = malloc(n + 16);
    memcpy(text, "[\"", 2);
    for (size_t i = 2; i < n; i++)
        text[i] = (char)('a' + i % 26);
    memcpy(text + n, "\",\"\\u00e9\"]", 11);
    agree_n(f.plan, text, n + 11, SAME, NULL, "long string");
    free(text);
    fix_free(&f);
}

/* ------------------------------------------------------------ members */

/* The short scan for texts the transcoder accepted: the first member,
 * the text before it validated, the text after it not looked at. */
static void test_member_first(void **state)
{
    const char *v;
    size_t vn;
    (void)state;
    const char *t1 = "{\"a\": [1, {\"k\": 2}], \"k\" : \"x\\\"y\", \"b\": 3}";
    assert_int_equal(av_jtext_member_first(t1, strlen(t1), "k", &v, &vn), 0);
    assert_memory_equal(v, "\"x\\\"y\"", vn);
    assert_int_equal(av_jtext_member_first(t1, strlen(t1), "b", &v, &vn), 0);
    assert_memory_equal(v, "3", vn);
    assert_int_equal(av_jtext_member_first(t1, strlen(t1), "z", &v, &vn),
                     MW_ERR_NOT_FOUND);
    /* The first of two (a text the transcoder declines: never used so). */
    assert_int_equal(av_jtext_member_first("{\"k\":1,\"k\":2}", 15, "k", &v,
                                           &vn), 0);
    assert_memory_equal(v, "1", vn);
    /* What comes after the member is not read. */
    assert_int_equal(av_jtext_member_first("{\"k\":1,@", 9, "k", &v, &vn), 0);
    static const char *bad[] = {"[1]", "{\"a\":tru,\"k\":1}", "{\"k\" 1}",
                                "{\"a\":1 \"k\":1}", "", NULL};
    for (size_t i = 0; bad[i]; i++)
        assert_int_equal(av_jtext_member_first(bad[i], strlen(bad[i]), "k",
                                               &v, &vn), MW_ERR_UNSUPPORTED);
}

static void test_members(void **state)
{
    static const char *names[] = {"key", "value", "traceparent"};
    av_jtext_span_t sp[3];
    const char *v;
    size_t vn;
    (void)state;
    const char *t1 = " {\"value\": {\"a\": [1, {\"b\": null}]}, \"key\" :\"k\","
                     " \"other\": 1e5 } ";
    assert_int_equal(av_jtext_members(t1, strlen(t1), names, 3, sp, NULL), 0);
    assert_int_equal(sp[0].len, 3);
    assert_memory_equal(sp[0].ptr, "\"k\"", 3);
    assert_memory_equal(sp[1].ptr, "{\"a\": [1, {\"b\": null}]}", sp[1].len);
    assert_null(sp[2].ptr);
    assert_int_equal(av_jtext_member(t1, strlen(t1), "other", &v, &vn), 0);
    assert_memory_equal(v, "1e5", vn);
    assert_int_equal(av_jtext_member(t1, strlen(t1), "nope", &v, &vn),
                     MW_ERR_NOT_FOUND);
    assert_int_equal(av_jtext_member("{\"\\u006bey\":2}", 14, "key", &v, &vn),
                     0);
    assert_memory_equal(v, "2", vn);
    assert_int_equal(av_jtext_member("{}", 2, "key", &v, &vn),
                     MW_ERR_NOT_FOUND);
    /* nested duplicates are jansson's business: fine */
    assert_int_equal(av_jtext_member("{\"v\":{\"a\":1,\"a\":2}}", 19, "v", &v,
                                     &vn), 0);
    static const char *bad[] = {
        "{\"key\":1,\"key\":2}", "{\"key\":1,\"k\\u0065y\":2}", "[1]", "1",
        "{\"key\":1", "{\"key\":1}x", "{\"key\":01}", "{\"a\\u0000\":1}",
        "{\"key\":\"\xc3\"}", "{\"key\":1e400}", "{\"key\":[1,]}", "",
        "{\"key\":tru}", "{\"key\" 1}", "{,}", "{\"key\":1,}", NULL};
    for (size_t i = 0; bad[i]; i++)
        assert_int_equal(av_jtext_member(bad[i], strlen(bad[i]), "key", &v,
                                         &vn), MW_ERR_UNSUPPORTED);
    /* past AV_JTEXT_SKIP_DEPTH: declined, never a crash */
    size_t n = 0;
    char *deep = malloc(40000);
    n += (size_t)sprintf(deep, "{\"key\":");
    for (int i = 0; i < 10000; i++)
        deep[n++] = '[';
    for (int i = 0; i < 10000; i++)
        deep[n++] = ']';
    deep[n++] = '}';
    assert_int_equal(av_jtext_member(deep, n, "key", &v, &vn),
                     MW_ERR_UNSUPPORTED);
    free(deep);
}

/* ------------------------------------------------------------ generator */

static uint64_t rng;

static uint64_t rnd(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng;
}

static size_t rn(size_t n)
{
    return n ? (size_t)(rnd() % n) : 0;
}

static int chance(int pct)
{
    return (int)rn(100) < pct;
}

static const char *branch_key(const av_node_t *b, int short_name)
{
    if (b->type == AV_RECORD || b->type == AV_ENUM || b->type == AV_FIXED)
        return short_name ? b->name : b->fullname;
    return av_type_name(b->type);
}

/* Valid UTF-8 made of pieces that stress escaping; NUL when allowed. */
static json_t *rand_string(int allow_nul, size_t max_pieces)
{
    static const char *pieces[] = {
        "a", "b", "Z", "0", "9", " ", "\"", "\\", "/", "\n", "\t", "\x01",
        "\x1f", "\x7f", "\xc3\xa9", "\xc3\xbf", "\xc2\x80", "\xe2\x82\xac",
        "\xf0\x9f\x98\x80", "\xef\xbf\xbf", "~", "key", "NaN", "A"};
    char buf[256];
    size_t n = 0, cnt = rn(max_pieces + 1);
    for (size_t i = 0; i < cnt; i++) {
        if (allow_nul && chance(3)) {
            buf[n++] = '\0';
            continue;
        }
        const char *p = pieces[rn(sizeof(pieces) / sizeof(pieces[0]))];
        memcpy(buf + n, p, strlen(p));
        n += strlen(p);
    }
    return json_stringn(buf, n);
}

/* A bytes/fixed string: code points 0-255, rarely one above. */
static json_t *rand_bytes(size_t cnt)
{
    char buf[600];
    size_t n = 0;
    for (size_t i = 0; i < cnt; i++) {
        unsigned c = chance(50) ? (unsigned)rn(128) : (unsigned)rn(256);
        if (rn(500) == 0) {
            memcpy(buf + n, "\xc4\x80", 2); /* U+0100 */
            n += 2;
        } else if (c < 0x80) {
            buf[n++] = (char)c;
        } else {
            buf[n++] = (char)(0xc0 | (c >> 6));
            buf[n++] = (char)(0x80 | (c & 0x3f));
        }
    }
    return json_stringn(buf, n);
}

/* Mostly valid; 1 in 300 a non-integral real or out of range. */
static json_t *gen_int(int64_t lo, int64_t hi)
{
    if (rn(300) == 0)
        return rn(2) ? json_real((double)rn(1000) / 8.0 + 0.5)
               : hi == INT32_MAX ? json_integer((json_int_t)hi + 1 + rn(3))
                                 : json_real(1e19);
    switch (rn(12)) {
    case 0:
        return json_integer(lo);
    case 1:
        return json_integer(hi);
    case 2:
        return json_integer(0);
    case 3:
        return json_real((double)((int64_t)rn(2000) - 1000));
    case 4:
        return json_real(-0.0);
    default:
        if (hi == INT32_MAX)
            return json_integer((int32_t)rnd() >> rn(32));
        return json_integer((int64_t)rnd() >> rn(64));
    }
}

static json_t *gen_real(void)
{
    static const char *special[] = {"NaN", "Infinity", "-Infinity"};
    switch (rn(10)) {
    case 0:
        return json_string(special[rn(3)]);
    case 1:
        return json_integer((int64_t)rnd() >> rn(64));
    case 2:
        return json_real(4.9e-324 * (double)rn(100));
    case 3:
        return json_real((chance(50) ? 1 : -1) * 1.7e308 * (double)rn(2));
    case 4:
        return json_real(-0.0);
    case 5:
        return json_real(3.4e38 * (double)rn(3));
    default:
        return json_real((double)(int64_t)rnd() /
                         (double)(1ull << rn(64)));
    }
}

static json_t *gen_decimal(void)
{
    if (chance(2))
        return json_real(1e17 * (double)rn(3));
    switch (rn(3)) {
    case 0:
        return json_integer((int64_t)rn(200000) - 100000);
    case 1:
        return json_real(((double)rn(2000000) - 1000000) / 1000.0);
    default:
        return json_integer((int64_t)rnd() >> (16 + rn(48)));
    }
}

static json_t *gen(const av_node_t *n, int depth);

static json_t *gen_record(const av_node_t *n, int depth)
{
    json_t *o = json_object();
    size_t order[64];
    assert_true(n->field_cnt <= 64);
    for (size_t i = 0; i < n->field_cnt; i++)
        order[i] = i;
    for (size_t i = n->field_cnt; i > 1; i--) { /* random key order */
        size_t j = rn(i), t = order[i - 1];
        order[i - 1] = order[j];
        order[j] = t;
    }
    for (size_t k = 0; k < n->field_cnt; k++) {
        const av_field_t *f = &n->fields[order[k]];
        if ((f->dflt && chance(20)) || (!f->dflt && rn(300) == 0))
            continue; /* default, or a missing required field */
        json_object_set_new(o, f->name, gen(f->type, depth + 1));
    }
    if (rn(300) == 0)
        json_object_set_new(o, "zz_unknown", json_integer(1));
    return o;
}

static json_t *gen_container(const av_node_t *n, int depth)
{
    size_t cnt = depth > 8 ? 0 : depth > 2 ? rn(2) : chance(4) ? 60 + rn(10)
                                                               : rn(5);
    if (n->type == AV_ARRAY) {
        json_t *a = json_array();
        for (size_t i = 0; i < cnt; i++)
            json_array_append_new(a, gen(n->items, depth + 1));
        return a;
    }
    json_t *m = json_object();
    for (size_t i = 0; i < cnt; i++) {
        json_t *k = rand_string(0, 4);
        json_object_setn_new(m, json_string_value(k), json_string_length(k),
                             gen(n->values, depth + 1));
        json_decref(k);
    }
    return m;
}

static json_t *gen_union(const av_node_t *n, int depth)
{
    const av_node_t *b = n->branches[rn(n->branch_cnt)];
    for (size_t i = 0; depth > 3 && i < n->branch_cnt && chance(90); i++)
        if (n->branches[i]->type == AV_NULL)
            b = n->branches[i];
    if (b->type == AV_NULL && chance(95))
        return json_null();
    json_t *o = json_object();
    json_object_set_new(o, rn(100) ? branch_key(b, chance(30)) : "bogus",
                        gen(b, depth));
    return o;
}

static json_t *gen(const av_node_t *n, int depth)
{
    switch (n->type) {
    case AV_NULL:
        return json_null();
    case AV_BOOLEAN:
        return json_boolean(rn(2));
    case AV_INT:
        return gen_int(INT32_MIN, INT32_MAX);
    case AV_LONG:
        return gen_int(INT64_MIN, INT64_MAX);
    case AV_FLOAT:
    case AV_DOUBLE:
        return gen_real();
    case AV_STRING:
        return rand_string(1, 12);
    case AV_BYTES:
    case AV_FIXED:
        if (n->logical == AV_LOGICAL_DECIMAL && chance(40))
            return gen_decimal();
        if (n->type == AV_BYTES)
            return rand_bytes(rn(10));
        return rand_bytes(rn(100) ? n->size : n->size + 1);
    case AV_ENUM:
        return json_string(rn(100) ? n->symbols[rn(n->symbol_cnt)] : "NOPE");
    case AV_ARRAY:
    case AV_MAP:
        return gen_container(n, depth);
    case AV_RECORD:
        return gen_record(n, depth);
    case AV_UNION:
        return gen_union(n, depth);
    default:
        return json_null();
    }
}

/* json_dumps with random layout: indentation, key order, \u escapes of
 * non-ASCII (surrogate pairs too), escaped slashes, real precision. */
static char *dump_random(const json_t *v, size_t *len)
{
    size_t flags = JSON_ENCODE_ANY;
    flags |= rn(3) == 0 ? JSON_COMPACT : rn(2) ? JSON_INDENT(rn(4)) : 0;
    flags |= chance(30) ? JSON_SORT_KEYS : 0;
    flags |= chance(30) ? JSON_ENSURE_ASCII : 0;
    flags |= chance(20) ? JSON_ESCAPE_SLASH : 0;
    flags |= chance(30) ? JSON_REAL_PRECISION(1 + rn(17)) : 0;
    char *s = json_dumps(v, flags);
    assert_non_null(s);
    *len = strlen(s);
    return s;
}

/* ------------------------------------------------------------ mutations */

typedef struct text {
    char *b;
    size_t n, cap;
} text_t;

static void t_insert(text_t *t, size_t at, const char *s, size_t n)
{
    if (t->n + n + 1 > t->cap) {
        t->cap = (t->n + n + 1) * 2;
        t->b = realloc(t->b, t->cap);
        assert_non_null(t->b);
    }
    memmove(t->b + at + n, t->b + at, t->n - at);
    memcpy(t->b + at, s, n);
    t->n += n;
}

static void t_erase(text_t *t, size_t at, size_t n)
{
    memmove(t->b + at, t->b + at + n, t->n - at - n);
    t->n -= n;
}

/* Scalar tokens outside strings ('s' value string, 'k' key, 'n' number,
 * 'l' literal), found leniently: texts may already be mutated. */
typedef struct tok {
    size_t s, e;
    char kind;
} tok_t;

static size_t tokens(const text_t *t, tok_t *out, size_t max)
{
    size_t cnt = 0, i = 0;
    while (i < t->n && cnt < max) {
        char c = t->b[i];
        size_t s = i;
        if (c == '"') {
            for (i++; i < t->n && t->b[i] != '"'; i++)
                if (t->b[i] == '\\')
                    i++;
            i = i < t->n ? i + 1 : t->n;
            size_t j = i;
            while (j < t->n && strchr(" \t\r\n", t->b[j]))
                j++;
            out[cnt++] = (tok_t){s, i, j < t->n && t->b[j] == ':' ? 'k'
                                                                  : 's'};
        } else if (c == '-' || (c >= '0' && c <= '9')) {
            while (i < t->n && strchr("0123456789.eE+-", t->b[i]))
                i++;
            out[cnt++] = (tok_t){s, i, 'n'};
        } else if (c >= 'a' && c <= 'z') {
            while (i < t->n && t->b[i] >= 'a' && t->b[i] <= 'z')
                i++;
            out[cnt++] = (tok_t){s, i, 'l'};
        } else {
            i++;
        }
    }
    return cnt;
}

/* A random token of one of the kinds, or NULL. */
static const tok_t *pick_tok(const text_t *t, tok_t *toks, const char *kinds)
{
    size_t cnt = tokens(t, toks, 512), hits = 0, want;
    for (size_t i = 0; i < cnt; i++)
        hits += strchr(kinds, toks[i].kind) != NULL;
    if (!hits)
        return NULL;
    want = rn(hits);
    for (size_t i = 0; i < cnt; i++)
        if (strchr(kinds, toks[i].kind) && want-- == 0)
            return &toks[i];
    return NULL;
}

static const char *pick(const char *const *list, size_t cnt)
{
    return list[rn(cnt)];
}
#define PICK(list) pick(list, sizeof(list) / sizeof(list[0]))

static void mutate(text_t *t)
{
    static const char *bytes[] = {
        "\"", "\\", "{", "}", "[", "]", ",", ":", "0", "-", "e", ".", " ",
        "n", "u", "\x80", "\xc3", "\xff", "\x00", "\x01", "\n", "1", "a"};
    static const char *numbers[] = {
        "-0", "0", "1E2", "1e+2", "12.0", "1.5", "-0.0", "1e400", "-1e400",
        "1e-400", "9223372036854775807", "9223372036854775808",
        "-9223372036854775808", "-9223372036854775809", "2147483647",
        "2147483648", "-2147483649", "01", "1.", ".5", "+1", "0e0",
        "123456789012345678901234567890", "4.9e-324",
        "1.7976931348623157e308", "1.7976931348623159e308", "1e19", "9.3e18",
        "-9.2e18", "3.4028235e38", "1e39", "0.1", "1.e1", "2e", "-",
        "1e0000000400", "12345678901234567890123456789012345678901234567890"
        "12345678901234567890.5", "-1", "127", "-128", "255"};
    static const char *values[] = {
        "null", "true", "false", "0", "-1", "1.5", "\"x\"", "\"\"", "[]",
        "{}", "[1]", "{\"a\":1}", "\"NaN\"", "{\"string\":\"a\"}",
        "{\"long\":1}", "{\"null\":null}", "\"\\u0000\"", "\"\\u00ff\"",
        "\"A\"", "\"abc\"", "\"Infinity\"", "[null]", "{\"\":1}"};
    static const char *escapes[] = {
        "\\u0000", "\\ud800", "\\udc00", "\\ud83d\\ude00", "\\u00e9",
        "\\u0100", "\\n", "\\x", "\\", "\x01", "\xc3\xa9", "\xed\xa0\x80",
        "\xc0\x80", "\xff", "\"", "\\u12", "\\/", "\\u0041", "\xf4\x90\x80\x80",
        "\\uDBFF\\uDFFF"};
    tok_t toks[512];
    const tok_t *k;
    const char *s;
    size_t at = rn(t->n + 1), len;
    switch (rn(10)) {
    case 0: /* byte flip */
        if (t->n)
            t->b[rn(t->n)] = chance(50) ? *PICK(bytes) : (char)rnd();
        break;
    case 1: /* truncation */
        t->n = rn(t->n + 1);
        break;
    case 2: /* garbage */
        s = PICK(bytes);
        t_insert(t, at, s, strlen(s) ? strlen(s) : 1);
        break;
    case 3: /* deleted range */
        len = rn(t->n - at + 1) % 12;
        t_erase(t, at, len);
        break;
    case 4: { /* a range repeated elsewhere (duplicate keys, members) */
        len = rn(t->n - at + 1) % 40;
        char tmp[40];
        memcpy(tmp, t->b + at, len);
        t_insert(t, rn(t->n + 1), tmp, len);
        break;
    }
    case 5: /* a value swapped for another type */
        if ((k = pick_tok(t, toks, "snl"))) {
            size_t ks = k->s, ke = k->e;
            s = PICK(values);
            t_erase(t, ks, ke - ks);
            t_insert(t, ks, s, strlen(s));
        }
        break;
    case 6: /* a tricky number */
        if ((k = pick_tok(t, toks, "n"))) {
            size_t ks = k->s, ke = k->e;
            s = PICK(numbers);
            t_erase(t, ks, ke - ks);
            t_insert(t, ks, s, strlen(s));
        }
        break;
    case 7: /* an escape or raw bytes inside a string or key */
        if ((k = pick_tok(t, toks, "sk")) && k->e - k->s >= 2) {
            s = PICK(escapes);
            t_insert(t, k->s + 1 + rn(k->e - k->s - 1), s, strlen(s));
        }
        break;
    case 8: /* trailing text */
        s = chance(50) ? PICK(bytes) : chance(50) ? " \n" : " 1";
        t_insert(t, t->n, s, strlen(s) ? strlen(s) : 1);
        break;
    default: /* whitespace where it is allowed, or not */
        s = PICK(((const char *[]){" ", "\t", "\r\n", "\x0b", "\xc2\xa0"}));
        t_insert(t, at, s, strlen(s));
        break;
    }
}

/* ------------------------------------------------------------ differential */

static const char *diff_schemas[] = {
    /* 0: every primitive */
    "{\"type\":\"record\",\"name\":\"P\",\"fields\":["
    "{\"name\":\"n\",\"type\":\"null\"},{\"name\":\"b\",\"type\":\"boolean\"},"
    "{\"name\":\"i\",\"type\":\"int\"},{\"name\":\"l\",\"type\":\"long\"},"
    "{\"name\":\"f\",\"type\":\"float\"},{\"name\":\"d\",\"type\":\"double\"},"
    "{\"name\":\"by\",\"type\":\"bytes\"},{\"name\":\"s\",\"type\":\"string\"}"
    "]}",
    /* 1: logical types */
    "{\"type\":\"record\",\"name\":\"L\",\"fields\":["
    "{\"name\":\"dec\",\"type\":{\"type\":\"bytes\",\"logicalType\":"
    "\"decimal\",\"precision\":12,\"scale\":2}},"
    "{\"name\":\"decf\",\"type\":{\"type\":\"fixed\",\"name\":\"DF\","
    "\"size\":5,\"logicalType\":\"decimal\",\"precision\":10,\"scale\":1}},"
    "{\"name\":\"u\",\"type\":{\"type\":\"string\",\"logicalType\":\"uuid\"}},"
    "{\"name\":\"day\",\"type\":{\"type\":\"int\",\"logicalType\":\"date\"}},"
    "{\"name\":\"tm\",\"type\":{\"type\":\"int\",\"logicalType\":"
    "\"time-millis\"}},"
    "{\"name\":\"ts\",\"type\":{\"type\":\"long\",\"logicalType\":"
    "\"timestamp-millis\"}},"
    "{\"name\":\"tu\",\"type\":{\"type\":\"long\",\"logicalType\":"
    "\"timestamp-micros\"}},"
    "{\"name\":\"lt\",\"type\":{\"type\":\"long\",\"logicalType\":"
    "\"local-timestamp-millis\"}},"
    "{\"name\":\"dur\",\"type\":{\"type\":\"fixed\",\"name\":\"Dur\","
    "\"size\":12,\"logicalType\":\"duration\"}}]}",
    /* 2: nested records, arrays, maps */
    "{\"type\":\"record\",\"name\":\"O\",\"namespace\":\"shop\",\"fields\":["
    "{\"name\":\"id\",\"type\":\"long\"},"
    "{\"name\":\"lines\",\"type\":{\"type\":\"array\",\"items\":{\"type\":"
    "\"record\",\"name\":\"Line\",\"fields\":[{\"name\":\"sku\",\"type\":"
    "\"string\"},{\"name\":\"qty\",\"type\":\"int\"},{\"name\":\"price\","
    "\"type\":\"double\"}]}}},"
    "{\"name\":\"attrs\",\"type\":{\"type\":\"map\",\"values\":{\"type\":"
    "\"array\",\"items\":\"long\"}}},"
    "{\"name\":\"byline\",\"type\":{\"type\":\"map\",\"values\":\"Line\"}},"
    "{\"name\":\"grid\",\"type\":{\"type\":\"array\",\"items\":{\"type\":"
    "\"array\",\"items\":\"boolean\"}}}]}",
    /* 3: unions, named branches, two records sharing a short name */
    "{\"type\":\"record\",\"name\":\"U\",\"fields\":["
    "{\"name\":\"a\",\"type\":[\"null\",\"string\",\"long\",\"double\","
    "\"bytes\",\"boolean\"]},"
    "{\"name\":\"b\",\"type\":[\"null\",{\"type\":\"record\",\"name\":\"X\","
    "\"namespace\":\"p\",\"fields\":[{\"name\":\"v\",\"type\":\"int\"}]},"
    "{\"type\":\"record\",\"name\":\"X\",\"namespace\":\"q\",\"fields\":["
    "{\"name\":\"w\",\"type\":[\"null\",\"string\"]}]},"
    "{\"type\":\"enum\",\"name\":\"Col\",\"symbols\":[\"RED\",\"GREEN\"]},"
    "{\"type\":\"fixed\",\"name\":\"F2\",\"size\":2},"
    "{\"type\":\"array\",\"items\":\"int\"},"
    "{\"type\":\"map\",\"values\":[\"null\",\"int\"]}]},"
    "{\"name\":\"c\",\"type\":[\"int\",\"null\"]}]}",
    /* 4: enums and fixed */
    "{\"type\":\"record\",\"name\":\"EF\",\"fields\":["
    "{\"name\":\"e\",\"type\":{\"type\":\"enum\",\"name\":\"E\",\"symbols\":"
    "[\"A\",\"B\",\"C_D\",\"e9\"]}},"
    "{\"name\":\"es\",\"type\":{\"type\":\"array\",\"items\":\"E\"}},"
    "{\"name\":\"f1\",\"type\":{\"type\":\"fixed\",\"name\":\"F1\","
    "\"size\":1}},"
    "{\"name\":\"f16\",\"type\":{\"type\":\"fixed\",\"name\":\"F16\","
    "\"size\":16}}]}",
    /* 5: recursive */
    "{\"type\":\"record\",\"name\":\"T\",\"fields\":["
    "{\"name\":\"v\",\"type\":\"int\"},"
    "{\"name\":\"kids\",\"type\":{\"type\":\"array\",\"items\":\"T\"}},"
    "{\"name\":\"next\",\"type\":[\"null\",\"T\"],\"default\":null},"
    "{\"name\":\"index\",\"type\":{\"type\":\"map\",\"values\":\"T\"},"
    "\"default\":{}}]}",
    /* 6: defaults of every kind */
    "{\"type\":\"record\",\"name\":\"D\",\"fields\":["
    "{\"name\":\"i\",\"type\":\"int\",\"default\":-5},"
    "{\"name\":\"l\",\"type\":\"long\",\"default\":1234567890123},"
    "{\"name\":\"f\",\"type\":\"float\",\"default\":1},"
    "{\"name\":\"d\",\"type\":\"double\",\"default\":2.5},"
    "{\"name\":\"s\",\"type\":\"string\",\"default\":\"h\\u00e9\"},"
    "{\"name\":\"b\",\"type\":\"bytes\",\"default\":\"\\u00ff\\u0000\"},"
    "{\"name\":\"bo\",\"type\":\"boolean\",\"default\":true},"
    "{\"name\":\"n\",\"type\":\"null\",\"default\":null},"
    "{\"name\":\"a\",\"type\":{\"type\":\"array\",\"items\":\"int\"},"
    "\"default\":[1,2,3]},"
    "{\"name\":\"m\",\"type\":{\"type\":\"map\",\"values\":\"string\"},"
    "\"default\":{\"k\":\"v\"}},"
    "{\"name\":\"e\",\"type\":{\"type\":\"enum\",\"name\":\"En\",\"symbols\":"
    "[\"X\",\"Y\"]},\"default\":\"Y\"},"
    "{\"name\":\"fx\",\"type\":{\"type\":\"fixed\",\"name\":\"Fx\","
    "\"size\":2},\"default\":\"ab\"},"
    "{\"name\":\"u\",\"type\":[\"null\",\"string\"],\"default\":null},"
    "{\"name\":\"u2\",\"type\":[\"string\",\"null\"],\"default\":\"dflt\"},"
    "{\"name\":\"r\",\"type\":{\"type\":\"record\",\"name\":\"In\","
    "\"fields\":[{\"name\":\"x\",\"type\":\"int\",\"default\":1},"
    "{\"name\":\"y\",\"type\":{\"type\":\"array\",\"items\":\"In\"},"
    "\"default\":[]}]},\"default\":{\"y\":[{\"x\":5}]}},"
    "{\"name\":\"req\",\"type\":\"string\"}]}",
    /* 7-10: top-level non-records */
    "\"string\"",
    "[\"null\",\"double\",\"string\",\"long\"]",
    "{\"type\":\"map\",\"values\":\"bytes\"}",
    "{\"type\":\"array\",\"items\":\"float\"}",
    /* 11: wide record (hash lookup), like the bench's */
    "{\"type\":\"record\",\"name\":\"Wide\",\"fields\":["
    "{\"name\":\"c01\",\"type\":\"long\"},"
    "{\"name\":\"c02\",\"type\":\"string\"},"
    "{\"name\":\"c03\",\"type\":\"double\"},"
    "{\"name\":\"c04\",\"type\":\"int\"},"
    "{\"name\":\"c05\",\"type\":\"boolean\"},"
    "{\"name\":\"c06\",\"type\":[\"null\",\"string\"],\"default\":null},"
    "{\"name\":\"c07\",\"type\":\"string\",\"default\":\"x\"},"
    "{\"name\":\"c08\",\"type\":{\"type\":\"array\",\"items\":\"string\"}},"
    "{\"name\":\"c09\",\"type\":{\"type\":\"map\",\"values\":\"long\"}},"
    "{\"name\":\"c10\",\"type\":\"bytes\"},"
    "{\"name\":\"c11\",\"type\":\"int\",\"default\":0},"
    "{\"name\":\"c12\",\"type\":\"long\",\"default\":-1}]}",
};

static size_t iterations(void)
{
    const char *s = getenv("MESH_JTEXT_ITER");
    return s ? (size_t)strtoull(s, NULL, 10) : 1500;
}

static uint64_t seed0(void)
{
    const char *s = getenv("MESH_JTEXT_SEED");
    return s ? strtoull(s, NULL, 0) : 0x6a74657874ull; /* "jtext" */
}

#define MUTANTS 6

static void test_differential(void **state)
{
    uint64_t seed = seed0();
    size_t iter = iterations(), total_same = 0, total_rej = 0;
    char ctx[96];
    (void)state;
    print_message("differential: seed=0x%llx (MESH_JTEXT_SEED), %zu values "
                  "per schema, %d mutants each\n", (unsigned long long)seed,
                  iter, MUTANTS);
    for (size_t s = 0; s < sizeof(diff_schemas) / sizeof(diff_schemas[0]);
         s++) {
        fix_t f = fix_new(diff_schemas[s]);
        stats_t clean = {0}, mut = {0};
        rng = seed ^ (0x9e3779b97f4a7c15ull * (s + 1));
        for (size_t it = 0; it < iter; it++) {
            json_t *v = gen(av_schema_root(f.schema), 0);
            text_t t = {0};
            t.b = dump_random(v, &t.n);
            t.cap = t.n + 1;
            json_decref(v);
            snprintf(ctx, sizeof(ctx), "schema %zu value %zu", s, it);
            /* a jansson dump is never declined: nothing unusual in it */
            assert_int_not_equal(agree_n(f.plan, t.b, t.n, ANY, &clean, ctx),
                                 DECLINE);
            text_t m = {malloc(t.n + 1), t.n, t.n + 1};
            for (int k = 0; k < MUTANTS; k++) {
                memcpy(m.b, t.b, t.n);
                m.n = t.n;
                for (int j = 0, cnt = 1 + (int)rn(3); j < cnt; j++)
                    mutate(&m);
                snprintf(ctx, sizeof(ctx), "schema %zu value %zu mutant %d",
                         s, it, k);
                agree_n(f.plan, m.b, m.n, ANY, &mut, ctx);
                if (m.cap < t.n + 1) {
                    m.b = realloc(m.b, t.n + 1);
                    m.cap = t.n + 1;
                }
            }
            free(m.b);
            free(t.b);
        }
        print_message("schema %2zu: clean %zu same %zu rejected; mutants %zu "
                      "same %zu declined %zu rejected\n", s, clean.same,
                      clean.rejected, mut.same, mut.declined, mut.rejected);
        assert_true(clean.same > iter / 3);
        assert_true(mut.same > 0 && mut.rejected > 0);
        total_same += clean.same + mut.same;
        total_rej += clean.rejected + mut.rejected;
        fix_free(&f);
    }
    print_message("differential: %zu identical, %zu refused by both\n",
                  total_same, total_rej);
}

/* Envelope lines: the member finder against jansson, and the transcoded
 * "value" span against the slow path on json_object_get(doc, "value"). */
static void test_differential_members(void **state)
{
    static const char *names[] = {"key", "value", "traceparent"};
    uint64_t seed = seed0();
    size_t iter = iterations(), found = 0, declined = 0, transcoded = 0;
    char ctx[96];
    (void)state;
    fix_t f = fix_new(diff_schemas[2]);
    rng = seed ^ 0x656e76656c6f7065ull;
    for (size_t it = 0; it < iter * (MUTANTS + 1); it++) {
        json_t *doc = json_object();
        if (chance(90))
            json_object_set_new(doc, "key", chance(50) ? json_integer(
                                                            (int64_t)rnd())
                                                       : rand_string(1, 4));
        if (chance(95))
            json_object_set_new(doc, "value",
                                gen(av_schema_root(f.schema), 0));
        if (chance(30))
            json_object_set_new(doc, "traceparent", rand_string(1, 3));
        if (chance(30))
            json_object_set_new(doc, "other", rand_string(1, 3));
        text_t t = {0};
        t.b = dump_random(doc, &t.n);
        t.cap = t.n + 1;
        json_decref(doc);
        for (int j = 0, cnt = it % (MUTANTS + 1) ? 1 + (int)rn(3) : 0;
             j < cnt; j++)
            mutate(&t);
        av_jtext_span_t sp[3];
        char *exact = malloc(t.n ? t.n : 1); /* ASan: no byte past n */
        memcpy(exact, t.b, t.n);
        int rc = av_jtext_members(exact, t.n, names, 3, sp, NULL);
        for (int i = 0; rc == 0 && i < 3; i++)
            if (sp[i].ptr)
                sp[i].ptr = t.b + (sp[i].ptr - exact);
        free(exact);
        json_t *ref = json_loadb(t.b, t.n, JSON_DECODE_ANY | JSON_ALLOW_NUL,
                                 NULL);
        char *shown = show(t.b, t.n);
        if (rc != 0) {
            assert_int_equal(rc, MW_ERR_UNSUPPORTED);
            declined++;
        } else if (!json_is_object(ref)) {
            fail_msg("members accepted what jansson refuses: '%s'", shown);
        } else {
            found++;
            for (int i = 0; i < 3; i++) {
                json_t *want = json_object_get(ref, names[i]);
                if (!sp[i].ptr != !want)
                    fail_msg("member %s: presence differs: '%s'", names[i],
                             shown);
                if (!want)
                    continue;
                json_t *got = json_loadb(sp[i].ptr, sp[i].len,
                                         JSON_DECODE_ANY | JSON_ALLOW_NUL,
                                         NULL);
                if (!json_equal(want, got))
                    fail_msg("member %s: value differs: '%s'", names[i],
                             shown);
                json_decref(got);
            }
            if (sp[1].ptr) {
                snprintf(ctx, sizeof(ctx), "envelope %zu", it);
                transcoded += agree_n(f.plan, sp[1].ptr, sp[1].len, ANY, NULL,
                                      ctx) == SAME;
            }
        }
        free(shown);
        json_decref(ref);
        free(t.b);
    }
    print_message("members: seed=0x%llx, %zu found, %zu declined, %zu values "
                  "transcoded\n", (unsigned long long)seed, found, declined,
                  transcoded);
    assert_true(found > iter && declined > iter && transcoded > iter / 2);
    fix_free(&f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_numbers),
        cmocka_unit_test(test_strings),
        cmocka_unit_test(test_bytes_fixed_decimal),
        cmocka_unit_test(test_records),
        cmocka_unit_test(test_unions_enums),
        cmocka_unit_test(test_containers),
        cmocka_unit_test(test_wide_record),
        cmocka_unit_test(test_depth),
        cmocka_unit_test(test_api_edges),
        cmocka_unit_test(test_members),
        cmocka_unit_test(test_member_first),
        cmocka_unit_test(test_differential),
        cmocka_unit_test(test_differential_members),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
