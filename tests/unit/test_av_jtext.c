/*
 * Unit tests for av_jtext: the one-pass JSON text -> Avro transcoder and
 * the top-level member finder — the hand cases.
 *
 * Each case pins one rule (numbers, strings, escapes, UTF-8, records in
 * any order, defaults, unions, enums, bytes/fixed, decimals, containers,
 * depth limits, trailing text) through the contract check of
 * av_jtext_check.h.  The random differential test is test_av_jtext_diff.c.
 */
#include "av_jtext_check.h"

/* ------------------------------------------------------------ hand cases */

static void test_numbers(void **state)
{
    (void)state;
    each("\"int\"", SAME,
         (const char *[]){"0", "-0", "1", "-1", "2147483647", "-2147483648",
                          "12.0", "1e2", "1E2", "1e+2", "-0.0", "0.0e5",
                          "2.147483647e9", " 7 ", "\n\t\r 7", NULL});
    each("\"int\"", REJECT,
         (const char *[]){"2147483648", "-2147483649", "12.5",
                          "1e10",       "01",          "-01",
                          "+1",         "1.",          ".5",
                          "1e",         "1e+",         "-",
                          "--1",        "0x10",        "1 2",
                          "1,",         "[1]",         "\"1\"",
                          "true",       "null",        "",
                          " ",          "1e400",       "NaN",
                          "Infinity",   "1x",          "9223372036854775808",
                          "-",          "1.e5",        NULL});
    each("\"long\"", SAME,
         (const char *[]){"9223372036854775807", "-9223372036854775808", "1e18",
                          "-9.2e18", "4611686018427387904", "123456789.0",
                          NULL});
    each("\"long\"", REJECT,
         (const char *[]){"9223372036854775808", "-9223372036854775809",
                          "9.3e18", "9.223372036854775807e18",
                          "99999999999999999999", "1.5", NULL});
    each("\"double\"", SAME,
         (const char *[]){"0", "-0", "-0.0", "1.5", "1e-400", "-1e-400",
                          "4.9e-324", "1.7976931348623157e308",
                          "123456789012345678", "\"NaN\"", "\"Infinity\"",
                          "\"-Infinity\"", "3.141592653589793238462643383",
                          "1E-7", "0.1", "9223372036854775807", NULL});
    /* Both sides of the exact way without strtod (15 digits, 10^+-22). */
    each("\"double\"", SAME,
         (const char *[]){"12.50",
                          "-5.00",
                          "0.3",
                          "2.675",
                          "0.000001",
                          "123456789012345",
                          "1234567890123456",
                          "12345678901234.5",
                          "1e22",
                          "1e23",
                          "1.5e-22",
                          "1.5e-23",
                          "999999999999999e22",
                          "0E0",
                          "0.1e1",
                          "-0.0e-5",
                          "9007199254740993",
                          "4.35e+3",
                          "100000000000000000000000e-30",
                          "1e00022",
                          "7e-00022",
                          "0.0000000000000000000001",
                          NULL});
    each("\"double\"", REJECT,
         (const char *[]){"1e400", "-1e400", "1.7976931348623159e308", "NaN",
                          "Infinity", "\"nan\"", "\"NaN \"", "\"\"", "null",
                          "1.5.5", NULL});
    each("\"float\"", SAME,
         (const char *[]){"3.4028235e38", "1e39", "16777217", "\"-Infinity\"",
                          "1e-50", NULL});
}

static void test_strings(void **state)
{
    (void)state;
    each("\"string\"", SAME,
         (const char *[]){"\"\"", "\"abc\"", "\"\\\"\\\\\\/\\b\\f\\n\\r\\t\"",
                          "\"\\u00e9\\u20ac\"", "\"\\ud83d\\ude00\"",
                          "\"\\uD83D\\uDE00\"", "\"a\\u0000b\"", "\"\\u0000\"",
                          "\"\xc3\xa9\xe2\x82\xac\"", "\"\xf0\x9f\x98\x80\"",
                          "\"\xf4\x8f\xbf\xbf\"", "\"\x7f\"",
                          "\"\xef\xbb\xbf\"",
                          "\"\\u007f\\u0080\\u07ff\\u0800\\uffff\"", NULL});
    each("\"string\"", REJECT,
         (const char *[]){"\"abc",
                          "\"\\",
                          "\"\\u12\"",
                          "\"\\u12g4\"",
                          "\"\\x\"",
                          "\"\\'\"",
                          "\"\\ud800\"",
                          "\"\\udc00\"",
                          "\"\\ud800\\u0041\"",
                          "\"\\ud800\\n\"",
                          "\"\\ud800x\"",
                          "\"\x01\"",
                          "\"\n\"",
                          "\"\t\"",
                          "\"\xc0\x80\"",
                          "\"\xc1\xbf\"",
                          "\"\xe0\x80\x80\"",
                          "\"\xed\xa0\x80\"",
                          "\"\xf4\x90\x80\x80\"",
                          "\"\xf5\x80\x80\x80\"",
                          "\"\xc3\"",
                          "\"\xc3",
                          "\"\x80\"",
                          "\"\xff\"",
                          "\"\xe2\x82\"",
                          "'abc'",
                          "abc",
                          "\xef\xbb\xbf\"a\"",
                          "\"a\" \"b\"",
                          NULL});
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
    each("\"bytes\"", SAME,
         (const char *[]){"\"\"", "\"\\u0000\\u00ff\\u0080\"",
                          "\"\xc3\xbf\xc2\x80\x7f\"", "\"\\n\\\"\"", NULL});
    each("\"bytes\"", REJECT,
         (const char *[]){"\"\\u0100\"", "\"\xc4\x80\"", "\"\xe2\x82\xac\"",
                          "\"\\ud83d\\ude00\"", "1", NULL});
    const char *fx = "{\"type\":\"fixed\",\"name\":\"F\",\"size\":3}";
    each(fx, SAME, (const char *[]){"\"abc\"", "\"\\u00ff\\u0000a\"", NULL});
    each(fx, REJECT, (const char *[]){"\"ab\"", "\"abcd\"", "3", NULL});
    const char *db = "{\"type\":\"bytes\",\"logicalType\":\"decimal\","
                     "\"precision\":10,\"scale\":2}";
    each(db, SAME,
         (const char *[]){"-12.34", "0", "1", "-1", "127", "128", "-128",
                          "-129", "12.345", "1e3", "92233720368547758.07e-3",
                          "\"\\u00fb.\"", NULL});
    each(db, REJECT,
         (const char *[]){"1e17", "92233720368547758.07", "-1e300", "null",
                          NULL});
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
    each(rec_schema, SAME,
         (const char *[]){
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
             "{\"\\u0069d\":1,\"req\":true}",
             " { \"id\" : 1 , \"req\" : true } ", NULL});
    each(rec_schema, REJECT,
         (const char *[]){
             "{\"id\":1}", "{\"req\":true}", "{\"id\":1,\"req\":true,\"x\":1}",
             "{\"id\":1,\"req\":true,}", "{\"id\":1 \"req\":true}",
             "{\"id\":1,\"req\":true", "{\"id\":1,\"req\":true}}",
             "{\"id\":1,\"req\":true}x", "{\"id\\u0000\":1,\"req\":true}",
             "{\"id\":1,\"sub\":{},\"req\":true}", "[1]", "null", "{id:1}",
             "{\"id\":1,\"req\":true,\"\\u0000\":1}", NULL});
    /* jansson keeps the last of duplicate keys: declined */
    each(rec_schema, DECLINE,
         (const char *[]){"{\"id\":1,\"id\":2,\"req\":true}",
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
    each(u, SAME,
         (const char *[]){"null", "{\"string\":\"s\"}", "{\"long\":5}",
                          "{\"x.A\":{\"v\":1}}", "{\"y.A\":{\"w\":1}}",
                          "{\"E\":\"Q\"}", "{\"array\":[1,2]}",
                          "{ \"null\" : null }", "{\"\\u0073tring\":\"s\"}",
                          NULL});
    each(u, REJECT,
         (const char *[]){"{}", "\"s\"", "{\"int\":1}", "{\"A\":{\"v\":1}}",
                          "{\"E\":\"R\"}", "{\"string\":1}", "5", "[]",
                          "{\"string\":\"s\"", "nul", NULL});
    each(u, DECLINE,
         (const char *[]){"{\"string\":\"a\",\"string\":\"b\"}", NULL});
    /* a unique short name picks a named branch */
    each("[\"null\",{\"type\":\"enum\",\"name\":\"E\",\"namespace\":\"n\","
         "\"symbols\":[\"P\"]}]",
         SAME, (const char *[]){"{\"E\":\"P\"}", "{\"n.E\":\"P\"}", NULL});
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
    each(a, SAME,
         (const char *[]){"[]", "[ ]", "[1]", "[1,2,-3]", "[ 1 , 2 ]", NULL});
    each(a, REJECT,
         (const char *[]){"[", "[1,]", "[,1]", "[1 2]", "]", "[1]]", "{}",
                          NULL});
    each(m, SAME,
         (const char *[]){"{}", "{\"a\":1}", "{\"b\":1,\"a\":2}", "{\"\":0}",
                          "{\"\\u00e9\\n\":1}",
                          "{\"\xc3\xa9\":1,\"e\\u0301\":2}", NULL});
    each(m, REJECT,
         (const char *[]){"{\"a\":1,}", "{\"a\"}", "{\"a\":}",
                          "{\"a\\u0000\":1}", "{1:1}", "[]", NULL});
    each(m, DECLINE,
         (const char *[]){"{\"a\":1,\"a\":2}",
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
        n += (size_t)sprintf(schema + n,
                             "%s{\"name\":\"field_%d\",\"type\":"
                             "\"int\",\"default\":%d}",
                             i ? "," : "", i, -i);
    sprintf(schema + n, "]}");
    fix_t f = fix_new(schema);
    n = (size_t)sprintf(text, "{");
    for (int i = 19; i >= 0; i -= 1 + (i % 3 == 0))
        n += (size_t)sprintf(text + n, "%s\"field_%d\":%d", n > 1 ? "," : "", i,
                             i * 7);
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
        n += (size_t)sprintf(big + n,
                             "%s{\"name\":\"f%d\",\"type\":"
                             "\"long\",\"default\":%d}",
                             i ? "," : "", i, i);
    sprintf(big + n, "]}");
    f = fix_new(big);
    n = (size_t)sprintf(txt, "{");
    for (int i = 299; i >= 0; i -= 2)
        n += (size_t)sprintf(txt + n, "%s\"f%d\":%d", n > 1 ? "," : "", i, -i);
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
                                               : style == 1
                                                   ? "{\"next\":null,"
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
    av_schema_t *w, *r;
    unit_int_long_pair(&w, &r);
    av_serde_plan_t *rp = av_serde_plan_new(w, r, NULL);
    av_serde_plan_t *wp = av_serde_plan_new(w, NULL, NULL);
    mw_buf_t *out = mw_buf_new(4);
    mw_err_t err = {0};
    assert_int_equal(av_jtext_encode(rp, "{\"a\":1}", 7, out, &err),
                     MW_ERR_STATE);
    assert_int_equal(av_jtext_encode(wp, "{\"a\":1}", 7, out, NULL), 0);
    assert_int_equal(mw_buf_len(out), 1);
    /* past out's maximum: MW_ERR_FULL, out unchanged */
    assert_int_equal(av_jtext_encode(wp, "{\"a\":-2147483648}", 17, out, &err),
                     MW_ERR_FULL);
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
    assert_int_equal(
        av_jtext_member_first("{\"k\":1,\"k\":2}", 15, "k", &v, &vn), 0);
    assert_memory_equal(v, "1", vn);
    /* What comes after the member is not read. */
    assert_int_equal(av_jtext_member_first("{\"k\":1,@", 9, "k", &v, &vn), 0);
    static const char *bad[] = {"[1]",       "{\"a\":tru,\"k\":1}",
                                "{\"k\" 1}", "{\"a\":1 \"k\":1}",
                                "",          NULL};
    for (size_t i = 0; bad[i]; i++)
        assert_int_equal(
            av_jtext_member_first(bad[i], strlen(bad[i]), "k", &v, &vn),
            MW_ERR_UNSUPPORTED);
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
    assert_int_equal(
        av_jtext_member("{\"v\":{\"a\":1,\"a\":2}}", 19, "v", &v, &vn), 0);
    static const char *bad[] = {"{\"key\":1,\"key\":2}",
                                "{\"key\":1,\"k\\u0065y\":2}",
                                "[1]",
                                "1",
                                "{\"key\":1",
                                "{\"key\":1}x",
                                "{\"key\":01}",
                                "{\"a\\u0000\":1}",
                                "{\"key\":\"\xc3\"}",
                                "{\"key\":1e400}",
                                "{\"key\":[1,]}",
                                "",
                                "{\"key\":tru}",
                                "{\"key\" 1}",
                                "{,}",
                                "{\"key\":1,}",
                                NULL};
    for (size_t i = 0; bad[i]; i++)
        assert_int_equal(
            av_jtext_member(bad[i], strlen(bad[i]), "key", &v, &vn),
            MW_ERR_UNSUPPORTED);
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
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
