/*
 * Unit tests for mat_envelope: Debezium change events (c, r, u, d, t),
 * plain records (keyed upsert, append), tombstones, the shapes that are
 * not envelopes, and Debezium's unavailable-value placeholder.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "mat_envelope.h"
#include "av_schema.h"
#include "unit_av.h"

static json_t *js(const char *text)
{
    json_error_t jerr;
    json_t *v = json_loads(text, JSON_DECODE_ANY, &jerr);
    if (!v)
        fail_msg("json: %s", jerr.text);
    return v;
}

static const char *ENVELOPE =
    "{\"type\":\"record\",\"name\":\"Envelope\",\"namespace\":\"s.t\","
    "\"fields\":["
    "{\"name\":\"before\",\"type\":[\"null\",{\"type\":\"record\","
    "\"name\":\"Value\",\"fields\":[{\"name\":\"id\",\"type\":\"long\"},"
    "{\"name\":\"v\",\"type\":\"string\"}]}],\"default\":null},"
    "{\"name\":\"after\",\"type\":[\"null\",\"Value\"],\"default\":null},"
    "{\"name\":\"source\",\"type\":{\"type\":\"record\",\"name\":\"Source\","
    "\"fields\":[{\"name\":\"ts_ms\",\"type\":\"long\"},"
    "{\"name\":\"db\",\"type\":\"string\"}]}},"
    "{\"name\":\"op\",\"type\":\"string\"},"
    "{\"name\":\"ts_ms\",\"type\":[\"null\",\"long\"],\"default\":null}]}";

static const char *PLAIN =
    "{\"type\":\"record\",\"name\":\"P\",\"fields\":["
    "{\"name\":\"id\",\"type\":\"long\"},{\"name\":\"op\",\"type\":"
    "\"string\"}]}";

typedef struct fixture {
    av_schema_t *env, *plain;
    mat_envelope_shape_t env_shape, plain_shape;
} fixture_t;

static int setup(void **state)
{
    fixture_t *f = calloc(1, sizeof *f);
    mw_err_t err = {0};
    f->env = unit_schema(ENVELOPE);
    f->plain = unit_schema(PLAIN);
    assert_int_equal(
        mat_envelope_inspect(av_schema_root(f->env), &f->env_shape, &err), 0);
    assert_int_equal(
        mat_envelope_inspect(av_schema_root(f->plain), &f->plain_shape, &err),
        0);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture_t *f = *state;
    av_schema_release(f->env);
    av_schema_release(f->plain);
    free(f);
    return 0;
}

static void test_inspect(void **state)
{
    fixture_t *f = *state;
    assert_true(f->env_shape.is_envelope);
    assert_string_equal(f->env_shape.row->fullname, "s.t.Value");
    assert_true(f->env_shape.after_union);
    assert_false(f->plain_shape.is_envelope);
    assert_ptr_equal(f->plain_shape.row, av_schema_root(f->plain));
    mat_envelope_shape_t shape;
    mw_err_t err = {0};
    av_schema_t *s = unit_schema("\"string\"");
    assert_int_equal(mat_envelope_inspect(av_schema_root(s), &shape, &err),
                     MW_ERR_INVALID);
    av_schema_release(s);
    /* before/after/op present but after is not a record. */
    s = unit_schema("{\"type\":\"record\",\"name\":\"X\",\"fields\":["
                    "{\"name\":\"before\",\"type\":\"string\"},"
                    "{\"name\":\"after\",\"type\":\"string\"},"
                    "{\"name\":\"op\",\"type\":\"string\"}]}");
    assert_int_equal(mat_envelope_inspect(av_schema_root(s), &shape, &err),
                     MW_ERR_INVALID);
    av_schema_release(s);
}

static void check_op(fixture_t *f, const char *op, bool append, bool skip,
                     mat_op_t want, const char *row_v)
{
    char text[512];
    mat_envelope_event_t ev;
    mw_err_t err = {0};
    snprintf(text, sizeof text,
             "{\"before\":{\"s.t.Value\":{\"id\":1,\"v\":\"old\"}},"
             "\"after\":%s,\"source\":{\"ts_ms\":111,\"db\":\"d\"},"
             "\"op\":\"%s\",\"ts_ms\":{\"long\":222}}",
             op[0] == 'd' ? "null" : "{\"s.t.Value\":{\"id\":1,\"v\":\"new\"}}",
             op);
    json_t *v = js(text);
    assert_int_equal(
        mat_envelope_read(&f->env_shape, v, true, append, &ev, &err), 0);
    assert_int_equal(ev.skip, skip);
    assert_int_equal(ev.op_code, op[0]);
    if (!skip) {
        assert_int_equal(ev.op, want);
        assert_int_equal(ev.source_ts_ms, 111);
        assert_string_equal(json_string_value(json_object_get(ev.row, "v")),
                            row_v);
    }
    json_decref(v);
}

static void test_change_events(void **state)
{
    fixture_t *f = *state;
    check_op(f, "c", false, false, MAT_OP_UPSERT, "new");
    check_op(f, "r", false, false, MAT_OP_UPSERT, "new");
    check_op(f, "u", false, false, MAT_OP_UPSERT, "new");
    check_op(f, "d", false, false, MAT_OP_DELETE, "old");
    check_op(f, "t", false, true, MAT_OP_UPSERT, NULL);
    /* mode=append: rows appended, deletes add nothing. */
    check_op(f, "c", true, false, MAT_OP_APPEND, "new");
    check_op(f, "d", true, true, MAT_OP_DELETE, NULL);
}

static void test_bad_events(void **state)
{
    fixture_t *f = *state;
    mat_envelope_event_t ev;
    mw_err_t err = {0};
    json_t *v = js("{\"before\":null,\"after\":null,\"source\":{\"ts_ms\":1,"
                   "\"db\":\"d\"},\"op\":\"c\",\"ts_ms\":null}");
    assert_int_equal(
        mat_envelope_read(&f->env_shape, v, true, false, &ev, &err),
        MW_ERR_INVALID);
    assert_non_null(strstr(err.msg, "after"));
    json_decref(v);
    v = js("{\"before\":null,\"after\":null,\"source\":{\"ts_ms\":1,"
           "\"db\":\"d\"},\"op\":\"x\",\"ts_ms\":null}");
    assert_int_equal(
        mat_envelope_read(&f->env_shape, v, true, false, &ev, &err),
        MW_ERR_INVALID);
    json_decref(v);
    /* A delete without a before image: the key alone finds the row. */
    v = js("{\"before\":null,\"after\":null,\"source\":{\"ts_ms\":1,"
           "\"db\":\"d\"},\"op\":\"d\",\"ts_ms\":null}");
    assert_int_equal(
        mat_envelope_read(&f->env_shape, v, true, false, &ev, &err), 0);
    assert_int_equal(ev.op, MAT_OP_DELETE);
    assert_null(ev.row);
    json_decref(v);
}

static void test_plain_and_tombstone(void **state)
{
    fixture_t *f = *state;
    mat_envelope_event_t ev;
    mw_err_t err = {0};
    json_t *v = js("{\"id\":3,\"op\":\"d\"}");
    /* A plain record named like an envelope field is still plain. */
    assert_int_equal(
        mat_envelope_read(&f->plain_shape, v, true, false, &ev, &err), 0);
    assert_false(ev.skip);
    assert_int_equal(ev.op, MAT_OP_UPSERT);
    assert_ptr_equal(ev.row, v);
    assert_int_equal(ev.source_ts_ms, -1);
    /* No op letter: a history sink writes what the record did instead. */
    assert_int_equal(ev.op_code, 0);
    assert_int_equal(
        mat_envelope_read(&f->plain_shape, v, false, false, &ev, &err), 0);
    assert_int_equal(ev.op, MAT_OP_APPEND);
    assert_int_equal(
        mat_envelope_read(&f->plain_shape, v, true, true, &ev, &err), 0);
    assert_int_equal(ev.op, MAT_OP_APPEND);
    json_decref(v);
    assert_int_equal(
        mat_envelope_read(&f->env_shape, NULL, true, false, &ev, &err), 0);
    assert_true(ev.skip);
    assert_int_equal(
        mat_envelope_read(&f->plain_shape, json_null(), true, false, &ev, &err),
        0);
    assert_true(ev.skip);
}

/* Debezium's unavailable-value placeholder: exactly its bytes, in a text
 * or bytes value, of a Debezium upsert (c, r, u). */
static void test_unavailable(void **state)
{
    (void)state;
    static const char ph[] = "__debezium_unavailable_value";
    mat_value_t v = {.u.s = {ph, sizeof ph - 1}};
    mat_value_t shorter = {.u.s = {ph, sizeof ph - 2}};
    mat_value_t longer = {.u.s = {"__debezium_unavailable_value!", 29}};
    mat_value_t other = {.u.s = {"__debezium_unavailable_valuE", 28}};
    mat_value_t null = {.is_null = true};

    assert_int_equal(MAT_ENVELOPE_UNAVAILABLE_LEN, 28);
    assert_true(mat_envelope_is_unavailable(MAT_COL_TEXT, &v));
    assert_true(mat_envelope_is_unavailable(MAT_COL_BYTES, &v));
    for (int t = 0; t < MAT_COL__CNT; t++)
        if (t != MAT_COL_TEXT && t != MAT_COL_BYTES)
            assert_false(mat_envelope_is_unavailable(t, &v));
    assert_false(mat_envelope_is_unavailable(MAT_COL_TEXT, &shorter));
    assert_false(mat_envelope_is_unavailable(MAT_COL_TEXT, &longer));
    assert_false(mat_envelope_is_unavailable(MAT_COL_TEXT, &other));
    assert_false(mat_envelope_is_unavailable(MAT_COL_TEXT, &null));

    mat_change_t ch = {.op = MAT_OP_UPSERT};
    for (const char *op = "cru"; *op; op++) {
        ch.src_op = *op;
        assert_true(mat_envelope_change_has_placeholders(&ch));
    }
    ch.src_op = 0; /* a plain keyed record */
    assert_false(mat_envelope_change_has_placeholders(&ch));
    ch.src_op = 'u';
    ch.op = MAT_OP_APPEND; /* mode = append: a history */
    assert_false(mat_envelope_change_has_placeholders(&ch));
    ch.op = MAT_OP_DELETE;
    ch.src_op = 'd';
    assert_false(mat_envelope_change_has_placeholders(&ch));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_inspect, setup, teardown),
        cmocka_unit_test_setup_teardown(test_change_events, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bad_events, setup, teardown),
        cmocka_unit_test_setup_teardown(test_plain_and_tombstone, setup,
                                        teardown),
        cmocka_unit_test(test_unavailable),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
