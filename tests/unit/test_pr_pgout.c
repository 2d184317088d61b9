/*
 * Unit tests of the pg source's pure parts: the pgoutput decoder (every
 * message type decoded field by field; every truncation of every message
 * refused, and random mutations never read past the buffer — ASan would
 * say) and the value conversions of pr_pg_type (the values Debezium 3.6.1
 * gave for tests/data/pg/alltypes.sql, tests/data/pg/debezium/MAPPING.md).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <jansson.h>

#include "av_schema.h"
#include "av_serde.h"
#include "mw_buf.h"
#include "pr_pg_int.h"

/* ------------------------------------------------------ message builder */

typedef struct msg {
    uint8_t b[512];
    size_t n;
} msg_t;

static void put8(msg_t *m, uint8_t v)
{
    m->b[m->n++] = v;
}

static void put16(msg_t *m, uint16_t v)
{
    put8(m, (uint8_t)(v >> 8));
    put8(m, (uint8_t)v);
}

static void put32(msg_t *m, uint32_t v)
{
    put16(m, (uint16_t)(v >> 16));
    put16(m, (uint16_t)v);
}

static void put64(msg_t *m, uint64_t v)
{
    put32(m, (uint32_t)(v >> 32));
    put32(m, (uint32_t)v);
}

static void puts0(msg_t *m, const char *s)
{
    memcpy(m->b + m->n, s, strlen(s) + 1);
    m->n += strlen(s) + 1;
}

static void put_text(msg_t *m, const char *s)
{
    put8(m, 't');
    put32(m, (uint32_t)strlen(s));
    memcpy(m->b + m->n, s, strlen(s));
    m->n += strlen(s);
}

static msg_t relation(void)
{
    msg_t m = {.n = 0};

    put8(&m, 'R');
    put32(&m, 16384);
    puts0(&m, "public");
    puts0(&m, "orders");
    put8(&m, 'd');
    put16(&m, 2);
    put8(&m, 1);
    puts0(&m, "id");
    put32(&m, 20);
    put32(&m, 0xffffffff);
    put8(&m, 0);
    puts0(&m, "note");
    put32(&m, 25);
    put32(&m, 0xffffffff);
    return m;
}

static msg_t update_with_key(void)
{
    msg_t m = {.n = 0};

    put8(&m, 'U');
    put32(&m, 16384);
    put8(&m, 'K');
    put16(&m, 2);
    put_text(&m, "7");
    put8(&m, 'n');
    put8(&m, 'N');
    put16(&m, 2);
    put_text(&m, "8");
    put8(&m, 'u');
    return m;
}

static void test_decode_every_type(void **state)
{
    pr_pgout_t *dec = pr_pgout_new();
    pr_pgout_msg_t out;
    mw_err_t err = {0};
    msg_t m = {.n = 0};

    (void)state;
    put8(&m, 'B');
    put64(&m, 0x1234);
    put64(&m, 5000000);
    put32(&m, 771);
    assert_int_equal(pr_pgout_decode(dec, m.b, m.n, &out, &err), 0);
    assert_int_equal(out.u.begin.final_lsn, 0x1234);
    assert_int_equal(out.u.begin.commit_us, 5000000);
    assert_int_equal(out.u.begin.xid, 771);

    m = relation();
    assert_int_equal(pr_pgout_decode(dec, m.b, m.n, &out, &err), 0);
    assert_int_equal(out.type, 'R');
    assert_string_equal(out.u.rel.nspname, "public");
    assert_string_equal(out.u.rel.relname, "orders");
    assert_int_equal(out.u.rel.ncols, 2);
    assert_true(out.u.rel.cols[0].key);
    assert_string_equal(out.u.rel.cols[1].name, "note");
    assert_int_equal(out.u.rel.cols[1].type_oid, 25);
    assert_int_equal(out.u.rel.cols[1].typmod, -1);

    m = update_with_key();
    assert_int_equal(pr_pgout_decode(dec, m.b, m.n, &out, &err), 0);
    assert_int_equal(out.u.change.old_kind, 'K');
    assert_int_equal(out.u.change.old_tup.ncols, 2);
    assert_int_equal(out.u.change.old_tup.cols[0].kind, 't');
    assert_memory_equal(out.u.change.old_tup.cols[0].data, "7", 1);
    assert_int_equal(out.u.change.old_tup.cols[1].kind, 'n');
    assert_memory_equal(out.u.change.new_tup.cols[0].data, "8", 1);
    assert_int_equal(out.u.change.new_tup.cols[1].kind, 'u');

    m.n = 0;
    put8(&m, 'T');
    put32(&m, 2);
    put8(&m, 1);
    put32(&m, 16384);
    put32(&m, 16390);
    assert_int_equal(pr_pgout_decode(dec, m.b, m.n, &out, &err), 0);
    assert_int_equal(out.u.truncate.nrels, 2);
    assert_int_equal(pr_pgout_relid_at(&out, 1), 16390);

    m.n = 0;
    put8(&m, 'M');
    put8(&m, 1);
    put64(&m, 99);
    puts0(&m, "app");
    put32(&m, 3);
    memcpy(m.b + m.n, "hey", 3);
    m.n += 3;
    assert_int_equal(pr_pgout_decode(dec, m.b, m.n, &out, &err), 0);
    assert_true(out.u.message.transactional);
    assert_string_equal(out.u.message.prefix, "app");
    assert_int_equal(out.u.message.len, 3);

    m.n = 0;
    put8(&m, 'C');
    put8(&m, 0);
    put64(&m, 10);
    put64(&m, 20);
    put64(&m, 30);
    assert_int_equal(pr_pgout_decode(dec, m.b, m.n, &out, &err), 0);
    assert_int_equal(out.u.commit.end_lsn, 20);

    /* trailing bytes, unknown types and kinds are refused */
    put8(&m, 0);
    assert_int_equal(pr_pgout_decode(dec, m.b, m.n, &out, &err),
                     MW_ERR_INVALID);
    assert_non_null(strstr(err.msg, "trailing"));
    m.b[0] = 'Z';
    assert_int_equal(pr_pgout_decode(dec, m.b, m.n, &out, &err),
                     MW_ERR_INVALID);
    pr_pgout_destroy(dec);
}

/* Every prefix of every message is refused, never read past. */
static void test_truncations_refused(void **state)
{
    pr_pgout_t *dec = pr_pgout_new();
    msg_t msgs[2] = {relation(), update_with_key()};
    pr_pgout_msg_t out;
    mw_err_t err;

    (void)state;
    for (int k = 0; k < 2; k++) {
        for (size_t n = 0; n < msgs[k].n; n++) {
            /* a copy of exactly n bytes: ASan catches any read past it */
            uint8_t *copy = malloc(n ? n : 1);

            memcpy(copy, msgs[k].b, n);
            assert_int_equal(pr_pgout_decode(dec, copy, n, &out, &err),
                             MW_ERR_INVALID);
            free(copy);
        }
    }
    pr_pgout_destroy(dec);
}

static void test_random_mutations_never_crash(void **state)
{
    pr_pgout_t *dec = pr_pgout_new();
    msg_t base = update_with_key();
    pr_pgout_msg_t out;
    mw_err_t err;
    unsigned seed = 12345;

    (void)state;
    for (int i = 0; i < 20000; i++) {
        size_t n = base.n - (size_t)(rand_r(&seed) % 4);
        uint8_t *copy = malloc(n);

        memcpy(copy, base.b, n);
        for (int j = 0; j < 3; j++)
            copy[rand_r(&seed) % n] = (uint8_t)rand_r(&seed);
        (void)pr_pgout_decode(dec, copy, n, &out, &err);
        free(copy);
    }
    pr_pgout_destroy(dec);
}

/* ---------------------------------------------------------- values */

/* The binary of text under t, decoded by the registry's codec against
 * t's own schema, equals the JSON form: schema, binary and JSON agree. */
static void check_binary(const pr_pg_type_t *t, const char *text,
                         const char *json)
{
    mw_buf_t *sch = mw_buf_new(0), *bin = mw_buf_new(0);
    pr_pg_out_t o = {bin, true};
    mw_err_t err = {0};
    bool named = false;
    av_schema_t *schema;
    av_serde_plan_t *plan;
    json_t *got = NULL, *want;

    assert_int_equal(pr_pg_type_schema(t, &named, sch), 0);
    schema = av_schema_parse(mw_buf_data(sch), mw_buf_len(sch), NULL, 0, &err);
    if (!schema)
        fail_msg("schema %s: %s", mw_buf_data(sch), err.msg);
    plan = av_serde_plan_new(schema, NULL, &err);
    assert_non_null(plan);
    assert_int_equal(pr_pg_type_value(t, text, strlen(text), &o, &err), 0);
    if (av_serde_avro_to_json(plan, mw_buf_data(bin), mw_buf_len(bin), &got,
                              &err) != 0)
        fail_msg("%s: binary does not decode: %s", text, err.msg);
    want = json_loads(json, JSON_DECODE_ANY | JSON_ALLOW_NUL, NULL);
    assert_non_null(want);
    if (!json_equal(got, want)) {
        char *g = json_dumps(got, JSON_ENCODE_ANY);

        fail_msg("%s: binary decodes to %s, JSON form %s", text, g, json);
    }
    json_decref(got);
    json_decref(want);
    av_serde_plan_destroy(plan);
    av_schema_release(schema);
    mw_buf_destroy(sch);
    mw_buf_destroy(bin);
}

static void check_value(uint32_t oid, int32_t typmod, const char *text,
                        const char *want)
{
    pr_pg_type_t t;
    mw_buf_t *buf = mw_buf_new(0);
    pr_pg_out_t out = {buf, false};
    mw_err_t err = {0};

    assert_true(pr_pg_type_builtin(oid, typmod, &t));
    if (pr_pg_type_value(&t, text, strlen(text), &out, &err) != 0)
        fail_msg("%s: %s", text, err.msg);
    if (strlen(want) != mw_buf_len(buf) ||
        memcmp(want, mw_buf_data(buf), mw_buf_len(buf)) != 0)
        fail_msg("%s: got %.*s, want %s", text, (int)mw_buf_len(buf),
                 mw_buf_data(buf), want);
    check_binary(&t, text, want);
    pr_pg_type_clear(&t);
    mw_buf_destroy(buf);
}

#define NUMERIC_12_3 ((12 << 16 | 3) + 4)

static void test_values_as_debezium(void **state)
{
    (void)state;
    check_value(20, -1, "-9223372036854775808", "-9223372036854775808");
    /* numeric(12,3): the unscaled integer, big-endian two's complement */
    check_value(1700, NUMERIC_12_3, "123456789.125",
                "\"\\u001c\\u00be\\u0099\\u001a\\u0085\"");
    check_value(1700, NUMERIC_12_3, "-0.001", "\"\\u00ff\"");
    check_value(1700, NUMERIC_12_3, "999999999.999",
                "\"\\u0000\\u00e8\\u00d4\\u00a5\\u000f\\u00ff\"");
    check_value(1700, NUMERIC_12_3, "-128.000", "\"\\u00fe\\u000c\\u0000\"");
    /* numeric: VariableScaleDecimal {scale, value} */
    check_value(1700, -1, "0", "{\"scale\":0,\"value\":\"\\u0000\"}");
    check_value(1700, -1, "-12345678901234567890.5",
                "{\"scale\":1,\"value\":\"\\u00f9N\\u00b1`~\\u00d0\\u00c9"
                "\\u0093\\u00c7\"}");
    check_value(700, -1, "1.5", "1.5");
    check_value(701, -1, "NaN", "\"NaN\"");
    /* "-0" would load as the integer 0 and lose its sign */
    check_value(701, -1, "-0", "-0.0");
    check_value(16, -1, "t", "true");
    check_value(17, -1, "\\x00ff10", "\"\\u0000\\u00ff\\u0010\"");
    check_value(25, -1, "tab\t\"q\"", "\"tab\\u0009\\\"q\\\"\"");
    check_value(1082, -1, "2024-02-29", "19782");
    check_value(1082, -1, "0001-01-01", "-719162");
    check_value(1082, -1, "0044-03-15 BC", "-735160");
    check_value(1083, -1, "13:45:56.123456", "49556123456");
    check_value(1083, -1, "23:59:59.999999", "86399999999");
    check_value(1266, -1, "13:45:56.5+02", "\"11:45:56.5Z\"");
    check_value(1266, -1, "00:00:00+00", "\"00:00:00Z\"");
    check_value(1114, -1, "2024-02-29 13:45:56.123456", "1709214356123456");
    check_value(1114, -1, "1899-12-31 23:59:59.5", "-2208988800500000");
    check_value(1114, 3, "1970-01-01 00:00:01.5", "1500");
    check_value(1184, -1, "1970-01-01 00:00:00+00",
                "\"1970-01-01T00:00:00.000000Z\"");
    check_value(1184, -1, "2024-02-29 11:45:56.123456+00",
                "\"2024-02-29T11:45:56.123456Z\"");
    /* MicroDuration: a month is 365.25 / 12 days */
    check_value(1186, -1, "P1Y2M3DT4H5M6.789S", "37091106789000");
    check_value(1186, -1, "P-1DT-1S", "-86401000000");
    check_value(1186, -1, "PT0S", "0");
    check_value(2950, -1, "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11",
                "\"a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11\"");
}

static void test_bad_values_refused(void **state)
{
    static const struct {
        uint32_t oid;
        const char *text;
    } bad[] = {{23, "12x"},
               {23, ""},
               {16, "yes"},
               {17, "\\x0"},
               {17, "00"},
               {1082, "2024-13-01"},
               {1083, "9:00"},
               {1186, "1 day"},
               {1184, "2024-01-01"},
               {701, "1.5.5"},
               {1700, "1.2.3"},
               /* found by tests/fuzz/fz_pgout.c: outside the column
                * type's range, or not a number JSON can hold */
               {21, "-32769"},
               {23, "2147483648"},
               {700, "3.5e38"},
               {701, "0x10"},
               {701, "-inf"},
               {701, "1e999"},
               {701, "1."},
               {701, "00.5"}};
    mw_buf_t *buf = mw_buf_new(0);
    pr_pg_out_t out = {buf, true};

    (void)state;
    for (size_t i = 0; i < sizeof(bad) / sizeof(*bad); i++) {
        pr_pg_type_t t;
        mw_err_t err = {0};

        assert_true(pr_pg_type_builtin(bad[i].oid, -1, &t));
        mw_buf_reset(buf);
        if (pr_pg_type_value(&t, bad[i].text, strlen(bad[i].text), &out,
                             &err) == 0)
            fail_msg("oid %u accepted '%s'", bad[i].oid, bad[i].text);
        assert_non_null(strstr(err.msg, "does not parse"));
    }
    /* Bytes that are not UTF-8 (a SQL_ASCII database sends them as they
     * are): an Avro string must be UTF-8. */
    {
        pr_pg_type_t t;
        mw_err_t err = {0};

        assert_true(pr_pg_type_builtin(25, -1, &t));
        assert_int_equal(pr_pg_type_value(&t, "caf\xc3", 4, &out, &err),
                         MW_ERR_INVALID);
        assert_string_equal(err.msg,
                            "type 25: value is not valid UTF-8 (byte 3)");
        assert_int_equal(pr_pg_type_value(&t, "\xed\xa0\x80", 3, &out, &err),
                         MW_ERR_INVALID);
        assert_int_equal(pr_pg_type_value(&t, "caf\xc3\xa9", 5, &out, &err), 0);
    }
    mw_buf_destroy(buf);
}

static void test_arrays(void **state)
{
    pr_pg_type_t t = {.kind = PR_PG_ARRAY};
    mw_buf_t *buf = mw_buf_new(0);
    pr_pg_out_t out = {buf, false};
    mw_err_t err = {0};
    static const char text[] = "{\"x\",\"y z\",NULL,\"a\\\"b\"}";
    static const char want[] = "[{\"string\":\"x\"},{\"string\":\"y z\"},"
                               "null,{\"string\":\"a\\\"b\"}]";

    (void)state;
    t.elem = calloc(1, sizeof(*t.elem));
    assert_true(pr_pg_type_builtin(25, -1, t.elem));
    assert_int_equal(pr_pg_type_value(&t, text, strlen(text), &out, &err), 0);
    assert_int_equal(mw_buf_len(buf), strlen(want));
    assert_memory_equal(mw_buf_data(buf), want, mw_buf_len(buf));
    /* the binary decodes to the same, union wrappers included */
    check_binary(&t, text, want);
    check_binary(&t, "{}", "[]");
    mw_buf_reset(buf);
    assert_int_equal(pr_pg_type_value(&t, "{}", 2, &out, &err), 0);
    assert_memory_equal(mw_buf_data(buf), "[]", 2);
    assert_int_equal(pr_pg_type_value(&t, "{{1},{2}}", 9, &out, &err),
                     MW_ERR_UNSUPPORTED);
    pr_pg_type_clear(&t);
    mw_buf_destroy(buf);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_decode_every_type),
        cmocka_unit_test(test_truncations_refused),
        cmocka_unit_test(test_random_mutations_never_crash),
        cmocka_unit_test(test_values_as_debezium),
        cmocka_unit_test(test_bad_values_refused),
        cmocka_unit_test(test_arrays),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
