/*
 * Unit tests for mat_map: Avro types (logical ones included) to column
 * types, nested records flattened or kept as JSON, keys from the record
 * key, rows from Avro JSON, and schema evolution (merge, incompatible
 * changes).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "mat_map.h"
#include "av_schema.h"
#include "unit_av.h"

static json_t *js(const char *text)
{
    json_error_t jerr;
    json_t *v = json_loads(text, JSON_DECODE_ANY | JSON_ALLOW_NUL, &jerr);
    if (!v)
        fail_msg("json: %s", jerr.text);
    return v;
}

static const mat_column_t *col(const mat_table_t *t, const char *name,
                               size_t *idx)
{
    for (size_t i = 0; i < t->col_cnt; i++)
        if (strcmp(t->cols[i].name, name) == 0) {
            if (idx)
                *idx = i;
            return &t->cols[i];
        }
    fail_msg("no column %s", name);
    return NULL;
}

static const char *ALL_TYPES =
    "{\"type\":\"record\",\"name\":\"R\",\"fields\":["
    "{\"name\":\"b\",\"type\":\"boolean\"},"
    "{\"name\":\"i\",\"type\":\"int\"},"
    "{\"name\":\"l\",\"type\":\"long\"},"
    "{\"name\":\"f\",\"type\":\"float\"},"
    "{\"name\":\"d\",\"type\":\"double\"},"
    "{\"name\":\"s\",\"type\":\"string\"},"
    "{\"name\":\"by\",\"type\":\"bytes\"},"
    "{\"name\":\"dec\",\"type\":{\"type\":\"bytes\",\"logicalType\":"
    "\"decimal\",\"precision\":10,\"scale\":2}},"
    "{\"name\":\"fdec\",\"type\":{\"type\":\"fixed\",\"name\":\"F8\","
    "\"size\":8,\"logicalType\":\"decimal\",\"precision\":18,\"scale\":3}},"
    "{\"name\":\"day\",\"type\":{\"type\":\"int\",\"logicalType\":\"date\"}},"
    "{\"name\":\"tm\",\"type\":{\"type\":\"int\",\"logicalType\":"
    "\"time-millis\"}},"
    "{\"name\":\"tu\",\"type\":{\"type\":\"long\",\"logicalType\":"
    "\"time-micros\"}},"
    "{\"name\":\"tsm\",\"type\":{\"type\":\"long\",\"logicalType\":"
    "\"timestamp-millis\"}},"
    "{\"name\":\"tsu\",\"type\":{\"type\":\"long\",\"logicalType\":"
    "\"timestamp-micros\"}},"
    "{\"name\":\"u\",\"type\":{\"type\":\"string\",\"logicalType\":\"uuid\"}},"
    "{\"name\":\"e\",\"type\":{\"type\":\"enum\",\"name\":\"E\","
    "\"symbols\":[\"A\",\"B\"]}},"
    "{\"name\":\"fx\",\"type\":{\"type\":\"fixed\",\"name\":\"F2\","
    "\"size\":2}},"
    "{\"name\":\"arr\",\"type\":{\"type\":\"array\",\"items\":\"int\"}},"
    "{\"name\":\"m\",\"type\":{\"type\":\"map\",\"values\":\"long\"}},"
    "{\"name\":\"ns\",\"type\":[\"null\",\"string\"],\"default\":null},"
    "{\"name\":\"multi\",\"type\":[\"string\",\"int\"]},"
    "{\"name\":\"addr\",\"type\":{\"type\":\"record\",\"name\":\"A\","
    "\"fields\":[{\"name\":\"city\",\"type\":\"string\"},"
    "{\"name\":\"zip\",\"type\":[\"null\",\"int\"]}]}},"
    "{\"name\":\"alt\",\"type\":[\"null\",\"A\"],\"default\":null}"
    "]}";

/* ALL_TYPES mapped without a key schema, as table "tbl" of "topic"; the
 * schema, which the map borrows, goes to *s. */
static mat_map_t *all_types_map(mat_nested_t nested, av_schema_t **s)
{
    mw_err_t err = {0};
    *s = unit_schema(ALL_TYPES);
    mat_map_t *map =
        mat_map_new(av_schema_root(*s), NULL, nested, "tbl", "topic", &err);
    assert_non_null(map);
    return map;
}

static void test_type_mapping(void **state)
{
    (void)state;
    static const struct {
        const char *name;
        mat_col_type_t type;
        bool nullable;
    } want[] = {
        {"b", MAT_COL_BOOL, false},
        {"i", MAT_COL_INT32, false},
        {"l", MAT_COL_INT64, false},
        {"f", MAT_COL_FLOAT, false},
        {"d", MAT_COL_DOUBLE, false},
        {"s", MAT_COL_TEXT, false},
        {"by", MAT_COL_BYTES, false},
        {"dec", MAT_COL_DECIMAL, false},
        {"fdec", MAT_COL_DECIMAL, false},
        {"day", MAT_COL_DATE, false},
        {"tm", MAT_COL_TIME_MICROS, false},
        {"tu", MAT_COL_TIME_MICROS, false},
        {"tsm", MAT_COL_TIMESTAMP_MICROS, false},
        {"tsu", MAT_COL_TIMESTAMP_MICROS, false},
        {"u", MAT_COL_UUID, false},
        {"e", MAT_COL_TEXT, false},
        {"fx", MAT_COL_BYTES, false},
        {"arr", MAT_COL_JSON, false},
        {"m", MAT_COL_JSON, false},
        {"ns", MAT_COL_TEXT, true},
        {"multi", MAT_COL_JSON, false},
        {"addr_city", MAT_COL_TEXT, false},
        {"addr_zip", MAT_COL_INT32, true},
        {"alt_city", MAT_COL_TEXT, true},
        {"alt_zip", MAT_COL_INT32, true},
    };
    av_schema_t *s;
    mat_map_t *map = all_types_map(MAT_NESTED_FLATTEN, &s);
    const mat_table_t *t = mat_map_table(map);
    assert_string_equal(t->name, "tbl");
    assert_string_equal(t->topic, "topic");
    assert_int_equal(t->col_cnt, sizeof want / sizeof want[0]);
    assert_int_equal(t->key_cnt, 0);
    for (size_t i = 0; i < t->col_cnt; i++) {
        assert_string_equal(t->cols[i].name, want[i].name);
        assert_int_equal(t->cols[i].type, want[i].type);
        assert_int_equal(t->cols[i].nullable, want[i].nullable);
        assert_false(t->cols[i].is_key);
    }
    assert_int_equal(col(t, "dec", NULL)->precision, 10);
    assert_int_equal(col(t, "dec", NULL)->scale, 2);
    assert_int_equal(col(t, "fdec", NULL)->scale, 3);
    assert_string_equal(mat_col_type_name(MAT_COL_TIMESTAMP_MICROS),
                        "timestamp-micros");
    assert_string_equal(mat_op_name(MAT_OP_DELETE), "delete");
    mat_map_destroy(map);
    av_schema_release(s);
}

static void test_row_values(void **state)
{
    (void)state;
    av_schema_t *s;
    mat_map_t *map = all_types_map(MAT_NESTED_FLATTEN, &s);
    mw_err_t err = {0};
    const mat_table_t *t = mat_map_table(map);
    /* dec: -12345 as two's complement 0xcfc7 -> -123.45;
     * fdec: 5 in 8 bytes, scale 3 -> 0.005. */
    json_t *row = js(
        "{\"b\":true,\"i\":-7,\"l\":9007199254740993,\"f\":1.5,"
        "\"d\":\"NaN\",\"s\":\"h\\u00e9\",\"by\":\"\\u0001\\u00ff\","
        "\"dec\":\"\\u00cf\\u00c7\","
        "\"fdec\":\"\\u0000\\u0000\\u0000\\u0000\\u0000\\u0000\\u0000\\u0005\","
        "\"day\":19000,\"tm\":5,\"tu\":7,\"tsm\":1000,\"tsu\":3,"
        "\"u\":\"0b4a3c1e-0000-4000-8000-000000000000\",\"e\":\"B\","
        "\"fx\":\"ab\",\"arr\":[1,2],\"m\":{\"k\":1},\"ns\":{\"string\":\"x\"},"
        "\"multi\":{\"int\":3},\"addr\":{\"city\":\"Oslo\",\"zip\":null},"
        "\"alt\":{\"A\":{\"city\":\"Rome\",\"zip\":{\"int\":100}}}}");
    mat_value_t v[32];
    size_t i;
    assert_int_equal(mat_map_row(map, row, NULL, v, &err), 0);
    assert_true(v[0].u.b);
    assert_int_equal(v[1].u.i, -7);
    assert_int_equal(v[2].u.i, 9007199254740993LL);
    assert_true(v[4].u.d != v[4].u.d); /* NaN */
    col(t, "s", &i);
    assert_int_equal(v[i].u.s.len, 3);
    col(t, "by", &i);
    assert_int_equal(v[i].u.s.len, 2);
    assert_memory_equal(v[i].u.s.ptr, "\x01\xff", 2);
    col(t, "dec", &i);
    assert_int_equal(v[i].u.s.len, strlen("-123.45"));
    assert_memory_equal(v[i].u.s.ptr, "-123.45", 7);
    col(t, "fdec", &i);
    assert_memory_equal(v[i].u.s.ptr, "0.005", 5);
    col(t, "tm", &i);
    assert_int_equal(v[i].u.i, 5000);
    col(t, "tsm", &i);
    assert_int_equal(v[i].u.i, 1000000);
    col(t, "tsu", &i);
    assert_int_equal(v[i].u.i, 3);
    col(t, "arr", &i);
    assert_memory_equal(v[i].u.s.ptr, "[1,2]", 5);
    col(t, "ns", &i);
    assert_false(v[i].is_null);
    assert_memory_equal(v[i].u.s.ptr, "x", 1);
    col(t, "multi", &i);
    assert_memory_equal(v[i].u.s.ptr, "{\"int\":3}", 9);
    col(t, "addr_zip", &i);
    assert_true(v[i].is_null);
    col(t, "alt_city", &i);
    assert_memory_equal(v[i].u.s.ptr, "Rome", 4);
    col(t, "alt_zip", &i);
    assert_int_equal(v[i].u.i, 100);
    json_decref(row);
    /* A wrong JSON type names the column. */
    row = js("{\"b\":1}");
    assert_int_equal(mat_map_row(map, row, NULL, v, &err), MW_ERR_INVALID);
    assert_non_null(strstr(err.msg, "column b"));
    json_decref(row);
    mat_map_destroy(map);
    av_schema_release(s);
}

static void test_nested_json(void **state)
{
    (void)state;
    av_schema_t *s;
    mat_map_t *map = all_types_map(MAT_NESTED_JSON, &s);
    mw_err_t err = {0};
    const mat_table_t *t = mat_map_table(map);
    size_t i;
    assert_int_equal(col(t, "addr", &i)->type, MAT_COL_JSON);
    assert_false(t->cols[i].nullable);
    assert_true(col(t, "alt", NULL)->nullable);
    json_t *row = js("{\"addr\":{\"city\":\"Oslo\",\"zip\":null},"
                     "\"alt\":null}");
    mat_value_t v[32];
    assert_int_equal(mat_map_row(map, row, NULL, v, &err), 0);
    const char *want = "{\"city\":\"Oslo\",\"zip\":null}";
    assert_int_equal(v[i].u.s.len, strlen(want));
    assert_memory_equal(v[i].u.s.ptr, want, strlen(want));
    col(t, "alt", &i);
    assert_true(v[i].is_null);
    json_decref(row);
    mat_map_destroy(map);
    av_schema_release(s);
}

static const char *ROW_V1 = "{\"type\":\"record\",\"name\":\"V\",\"fields\":["
                            "{\"name\":\"name\",\"type\":\"string\"},"
                            "{\"name\":\"id\",\"type\":\"long\"},"
                            "{\"name\":\"qty\",\"type\":\"int\"}]}";
static const char *ROW_V2 =
    "{\"type\":\"record\",\"name\":\"V\",\"fields\":["
    "{\"name\":\"name\",\"type\":\"string\"},"
    "{\"name\":\"id\",\"type\":\"long\"},"
    "{\"name\":\"qty\",\"type\":\"int\"},"
    "{\"name\":\"note\",\"type\":[\"null\",\"string\"],\"default\":null}]}";
static const char *ROW_BAD = "{\"type\":\"record\",\"name\":\"V\",\"fields\":["
                             "{\"name\":\"name\",\"type\":\"string\"},"
                             "{\"name\":\"id\",\"type\":\"long\"},"
                             "{\"name\":\"qty\",\"type\":\"string\"}]}";
static const char *KEY = "{\"type\":\"record\",\"name\":\"K\",\"fields\":["
                         "{\"name\":\"id\",\"type\":\"long\"}]}";

static void test_keys(void **state)
{
    (void)state;
    av_schema_t *row = unit_schema(ROW_V1), *key = unit_schema(KEY);
    av_schema_t *skey = unit_schema("\"string\"");
    av_schema_t *bad = unit_schema("{\"type\":\"record\",\"name\":\"K2\","
                                   "\"fields\":[{\"name\":\"nope\",\"type\":"
                                   "\"int\"}]}");
    mw_err_t err = {0};
    mat_map_t *map = mat_map_new(av_schema_root(row), av_schema_root(key),
                                 MAT_NESTED_FLATTEN, "t", "tp", &err);
    assert_non_null(map);
    const mat_table_t *t = mat_map_table(map);
    assert_int_equal(t->key_cnt, 1);
    assert_string_equal(t->cols[0].name, "id");
    assert_true(t->cols[0].is_key);
    assert_false(t->cols[0].nullable);
    assert_string_equal(t->cols[1].name, "name");
    /* The key comes from the record key when given (a delete's row may be
     * missing), else from the row. */
    json_t *k = js("{\"id\":42}"), *r = js("{\"name\":\"a\",\"id\":1,"
                                           "\"qty\":2}");
    mat_value_t v[8];
    assert_int_equal(mat_map_row(map, NULL, k, v, &err), 0);
    assert_int_equal(v[0].u.i, 42);
    assert_true(v[1].is_null);
    assert_int_equal(mat_map_row(map, r, NULL, v, &err), 0);
    assert_int_equal(v[0].u.i, 1);
    assert_int_equal(mat_map_row(map, NULL, NULL, v, &err), MW_ERR_INVALID);
    assert_non_null(strstr(err.msg, "key column id is null"));
    mat_map_destroy(map);
    /* A scalar key: one leading column "key". */
    map = mat_map_new(av_schema_root(row), av_schema_root(skey),
                      MAT_NESTED_FLATTEN, "t", "tp", &err);
    assert_non_null(map);
    t = mat_map_table(map);
    assert_string_equal(t->cols[0].name, "key");
    assert_int_equal(t->cols[0].type, MAT_COL_TEXT);
    assert_int_equal(t->key_cnt, 1);
    json_t *sk = js("\"abc\"");
    assert_int_equal(mat_map_row(map, r, sk, v, &err), 0);
    assert_memory_equal(v[0].u.s.ptr, "abc", 3);
    mat_map_destroy(map);
    /* A key field that is not a column. */
    assert_null(mat_map_new(av_schema_root(row), av_schema_root(bad),
                            MAT_NESTED_FLATTEN, "t", "tp", &err));
    assert_int_equal(err.code, MW_ERR_INVALID);
    assert_non_null(strstr(err.msg, "nope"));
    /* Not a record. */
    assert_null(mat_map_new(av_schema_root(skey), NULL, MAT_NESTED_FLATTEN, "t",
                            "tp", &err));
    json_decref(k);
    json_decref(r);
    json_decref(sk);
    av_schema_release(row);
    av_schema_release(key);
    av_schema_release(skey);
    av_schema_release(bad);
}

static void test_evolution(void **state)
{
    (void)state;
    av_schema_t *v1 = unit_schema(ROW_V1), *v2 = unit_schema(ROW_V2),
                *bad = unit_schema(ROW_BAD), *key = unit_schema(KEY);
    mw_err_t err = {0};
    mat_map_t *map = mat_map_new(av_schema_root(v1), av_schema_root(key),
                                 MAT_NESTED_FLATTEN, "t", "tp", &err);
    assert_non_null(map);
    const mat_table_t *t = mat_map_table(map);
    assert_int_equal(t->version, 1);
    assert_int_equal(
        mat_map_merge(map, av_schema_root(v1), av_schema_root(key), &err), 0);
    assert_int_equal(
        mat_map_merge(map, av_schema_root(v2), av_schema_root(key), &err), 1);
    t = mat_map_table(map);
    assert_int_equal(t->version, 2);
    assert_int_equal(t->col_cnt, 4);
    assert_string_equal(t->cols[3].name, "note");
    assert_true(t->cols[3].nullable);
    /* An old writer's row reads NULL in the new column. */
    json_t *old = js("{\"name\":\"a\",\"id\":1,\"qty\":2}");
    json_t *nu = js("{\"name\":\"a\",\"id\":1,\"qty\":2,"
                    "\"note\":{\"string\":\"n\"}}");
    mat_value_t v[8];
    assert_int_equal(mat_map_row(map, old, NULL, v, &err), 0);
    assert_true(v[3].is_null);
    assert_int_equal(mat_map_row(map, nu, NULL, v, &err), 0);
    assert_false(v[3].is_null);
    assert_memory_equal(v[3].u.s.ptr, "n", 1);
    /* Back to v1: no change (note stays, nullable). */
    assert_int_equal(
        mat_map_merge(map, av_schema_root(v1), av_schema_root(key), &err), 0);
    /* A type change is refused and changes nothing. */
    assert_int_equal(
        mat_map_merge(map, av_schema_root(bad), av_schema_root(key), &err),
        MW_ERR_INVALID);
    assert_non_null(strstr(err.msg, "incompatible change of column qty"));
    assert_int_equal(mat_map_table(map)->col_cnt, 4);
    assert_int_equal(mat_map_table(map)->version, 2);
    /* Losing the key is refused too. */
    assert_int_equal(mat_map_merge(map, av_schema_root(v2), NULL, &err),
                     MW_ERR_INVALID);
    json_decref(old);
    json_decref(nu);
    mat_map_destroy(map);
    av_schema_release(v1);
    av_schema_release(v2);
    av_schema_release(bad);
    av_schema_release(key);
}

static void test_removed_required_column(void **state)
{
    (void)state;
    av_schema_t *v1 = unit_schema(ROW_V1);
    av_schema_t *fewer = unit_schema("{\"type\":\"record\",\"name\":\"V\","
                                     "\"fields\":[{\"name\":\"id\",\"type\":"
                                     "\"long\"}]}");
    mw_err_t err = {0};
    mat_map_t *map = mat_map_new(av_schema_root(v1), NULL, MAT_NESTED_FLATTEN,
                                 "t", "tp", &err);
    assert_int_equal(mat_map_merge(map, av_schema_root(fewer), NULL, &err),
                     MW_ERR_INVALID);
    assert_non_null(strstr(err.msg, "column name"));
    assert_non_null(strstr(err.msg, "removed"));
    mat_map_destroy(map);
    av_schema_release(v1);
    av_schema_release(fewer);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_type_mapping),
        cmocka_unit_test(test_row_values),
        cmocka_unit_test(test_nested_json),
        cmocka_unit_test(test_keys),
        cmocka_unit_test(test_evolution),
        cmocka_unit_test(test_removed_required_column),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
