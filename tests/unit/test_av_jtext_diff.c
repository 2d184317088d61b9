/*
 * Unit tests for av_jtext — the differential test: random values for a set
 * of schemas, dumped with random key order, whitespace and escaping, then
 * mutated (byte flips, truncations, garbage, deleted and repeated ranges,
 * swapped values, tricky numbers and escapes), each run through the
 * contract check of av_jtext_check.h.  The seed is printed;
 * MESH_JTEXT_SEED=<n> replays a run and MESH_JTEXT_ITER=<n> changes the
 * number of values per schema.
 */
#include "av_jtext_check.h"

#include "unit_avgen.h"

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
            out[cnt++] = (tok_t){s, i, j < t->n && t->b[j] == ':' ? 'k' : 's'};
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

/* The token's text replaced by s. */
static void t_replace_tok(text_t *t, const tok_t *k, const char *s)
{
    t_erase(t, k->s, k->e - k->s);
    t_insert(t, k->s, s, strlen(s));
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
    static const char *bytes[] = {"\"",   "\\",   "{",  "}",    "[",    "]",
                                  ",",    ":",    "0",  "-",    "e",    ".",
                                  " ",    "n",    "u",  "\x80", "\xc3", "\xff",
                                  "\x00", "\x01", "\n", "1",    "a"};
    static const char *numbers[] = {
        "-0",
        "0",
        "1E2",
        "1e+2",
        "12.0",
        "1.5",
        "-0.0",
        "1e400",
        "-1e400",
        "1e-400",
        "9223372036854775807",
        "9223372036854775808",
        "-9223372036854775808",
        "-9223372036854775809",
        "2147483647",
        "2147483648",
        "-2147483649",
        "01",
        "1.",
        ".5",
        "+1",
        "0e0",
        "123456789012345678901234567890",
        "4.9e-324",
        "1.7976931348623157e308",
        "1.7976931348623159e308",
        "1e19",
        "9.3e18",
        "-9.2e18",
        "3.4028235e38",
        "1e39",
        "0.1",
        "1.e1",
        "2e",
        "-",
        "1e0000000400",
        "12345678901234567890123456789012345678901234567890"
        "12345678901234567890.5",
        "-1",
        "127",
        "-128",
        "255"};
    static const char *values[] = {"null",         "true",
                                   "false",        "0",
                                   "-1",           "1.5",
                                   "\"x\"",        "\"\"",
                                   "[]",           "{}",
                                   "[1]",          "{\"a\":1}",
                                   "\"NaN\"",      "{\"string\":\"a\"}",
                                   "{\"long\":1}", "{\"null\":null}",
                                   "\"\\u0000\"",  "\"\\u00ff\"",
                                   "\"A\"",        "\"abc\"",
                                   "\"Infinity\"", "[null]",
                                   "{\"\":1}"};
    static const char *escapes[] = {"\\u0000",
                                    "\\ud800",
                                    "\\udc00",
                                    "\\ud83d\\ude00",
                                    "\\u00e9",
                                    "\\u0100",
                                    "\\n",
                                    "\\x",
                                    "\\",
                                    "\x01",
                                    "\xc3\xa9",
                                    "\xed\xa0\x80",
                                    "\xc0\x80",
                                    "\xff",
                                    "\"",
                                    "\\u12",
                                    "\\/",
                                    "\\u0041",
                                    "\xf4\x90\x80\x80",
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
        if ((k = pick_tok(t, toks, "snl")))
            t_replace_tok(t, k, PICK(values));
        break;
    case 6: /* a tricky number */
        if ((k = pick_tok(t, toks, "n")))
            t_replace_tok(t, k, PICK(numbers));
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
                  "per schema, %d mutants each\n",
                  (unsigned long long)seed, iter, MUTANTS);
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
                snprintf(ctx, sizeof(ctx), "schema %zu value %zu mutant %d", s,
                         it, k);
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
                      "same %zu declined %zu rejected\n",
                      s, clean.same, clean.rejected, mut.same, mut.declined,
                      mut.rejected);
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
            json_object_set_new(doc, "key",
                                chance(50) ? json_integer((int64_t)rnd())
                                           : rand_string(1, 4));
        if (chance(95))
            json_object_set_new(doc, "value", gen(av_schema_root(f.schema), 0));
        if (chance(30))
            json_object_set_new(doc, "traceparent", rand_string(1, 3));
        if (chance(30))
            json_object_set_new(doc, "other", rand_string(1, 3));
        text_t t = {0};
        t.b = dump_random(doc, &t.n);
        t.cap = t.n + 1;
        json_decref(doc);
        for (int j = 0, cnt = it % (MUTANTS + 1) ? 1 + (int)rn(3) : 0; j < cnt;
             j++)
            mutate(&t);
        av_jtext_span_t sp[3];
        char *exact = malloc(t.n ? t.n : 1); /* ASan: no byte past n */
        memcpy(exact, t.b, t.n);
        int rc = av_jtext_members(exact, t.n, names, 3, sp, NULL);
        for (int i = 0; rc == 0 && i < 3; i++)
            if (sp[i].ptr)
                sp[i].ptr = t.b + (sp[i].ptr - exact);
        free(exact);
        json_t *ref =
            json_loadb(t.b, t.n, JSON_DECODE_ANY | JSON_ALLOW_NUL, NULL);
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
                json_t *got =
                    json_loadb(sp[i].ptr, sp[i].len,
                               JSON_DECODE_ANY | JSON_ALLOW_NUL, NULL);
                if (!json_equal(want, got))
                    fail_msg("member %s: value differs: '%s'", names[i], shown);
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
                  "transcoded\n",
                  (unsigned long long)seed, found, declined, transcoded);
    assert_true(found > iter && declined > iter && transcoded > iter / 2);
    fix_free(&f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_differential),
        cmocka_unit_test(test_differential_members),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
