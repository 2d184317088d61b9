/*
 * Unit tests for mat_fast, the direct path from Avro binary to a change —
 * the differential test against the JSON path (av_serde_avro_to_json ->
 * mat_envelope_read -> mat_map_row).  For a set of value schemas
 * (Debezium envelopes, plain records, every column type, nested and
 * nullable records, a record key, a scalar key, a reader schema that
 * resolves), random values are encoded, then mutated (byte flips,
 * truncation, inserted, deleted and appended bytes).  Each record goes
 * through both paths:
 *   - when the direct path gives a change, the JSON path must give the
 *     same one: op, skip, op letter, timestamp, and every column value
 *     byte for byte;
 *   - on an unmutated record the JSON path accepts, the direct path must
 *     not decline (else a direct path that declines everything passes).
 * The seed is printed; MESH_FAST_SEED=<n> replays a run, MESH_FAST_ITER=<n>
 * changes the number of values per schema.
 */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "mat_envelope.h"
#include "mat_fast.h"
#include "mat_map.h"
#include "mw_buf.h"
#include "av_serde.h"
#include "unit_av.h"
#include "unit_avgen.h"

#define ROW_FIELDS                                                             \
    "{\"name\":\"id\",\"type\":\"long\"},"                                     \
    "{\"name\":\"b\",\"type\":\"boolean\"},"                                   \
    "{\"name\":\"i\",\"type\":\"int\"},"                                       \
    "{\"name\":\"f\",\"type\":\"float\"},"                                     \
    "{\"name\":\"d\",\"type\":\"double\"},"                                    \
    "{\"name\":\"s\",\"type\":\"string\"},"                                    \
    "{\"name\":\"ns\",\"type\":[\"null\",\"string\"],\"default\":null},"       \
    "{\"name\":\"by\",\"type\":\"bytes\"},"                                    \
    "{\"name\":\"dec\",\"type\":{\"type\":\"bytes\",\"logicalType\":"          \
    "\"decimal\",\"precision\":10,\"scale\":2}},"                              \
    "{\"name\":\"fdec\",\"type\":{\"type\":\"fixed\",\"name\":\"F8\","         \
    "\"size\":8,\"logicalType\":\"decimal\",\"precision\":18,\"scale\":3}},"   \
    "{\"name\":\"day\",\"type\":{\"type\":\"int\",\"logicalType\":\"date\"}}," \
    "{\"name\":\"tm\",\"type\":{\"type\":\"int\",\"logicalType\":"             \
    "\"time-millis\"}},"                                                       \
    "{\"name\":\"tsm\",\"type\":{\"type\":\"long\",\"logicalType\":"           \
    "\"timestamp-millis\"}},"                                                  \
    "{\"name\":\"tsu\",\"type\":[\"null\",{\"type\":\"long\","                 \
    "\"logicalType\":\"timestamp-micros\"}]},"                                 \
    "{\"name\":\"u\",\"type\":{\"type\":\"string\",\"logicalType\":\"uuid\"}}" \
    ","                                                                        \
    "{\"name\":\"e\",\"type\":{\"type\":\"enum\",\"name\":\"E\","              \
    "\"symbols\":[\"RED\",\"GREEN\",\"BLUE\"]}},"                              \
    "{\"name\":\"fx\",\"type\":{\"type\":\"fixed\",\"name\":\"F3\","           \
    "\"size\":3}},"                                                            \
    "{\"name\":\"addr\",\"type\":[\"null\",{\"type\":\"record\","              \
    "\"name\":\"Addr\",\"fields\":[{\"name\":\"city\",\"type\":\"string\"},"   \
    "{\"name\":\"zip\",\"type\":[\"null\",\"int\"]}]}]}"

#define ENVELOPE(row)                                                          \
    "{\"type\":\"record\",\"name\":\"Envelope\",\"namespace\":\"db.t\","       \
    "\"fields\":[{\"name\":\"before\",\"type\":[\"null\",{\"type\":"           \
    "\"record\",\"name\":\"Value\",\"fields\":[" row "]}],\"default\":null},"  \
    "{\"name\":\"after\",\"type\":[\"null\",\"Value\"],\"default\":null},"     \
    "{\"name\":\"source\",\"type\":{\"type\":\"record\",\"name\":\"Source\","  \
    "\"fields\":[{\"name\":\"connector\",\"type\":\"string\"},"                \
    "{\"name\":\"ts_ms\",\"type\":\"long\"},"                                  \
    "{\"name\":\"tags\",\"type\":{\"type\":\"array\",\"items\":\"string\"}},"  \
    "{\"name\":\"lsn\",\"type\":[\"null\",\"long\"]}]}},"                      \
    "{\"name\":\"op\",\"type\":\"string\"},"                                   \
    "{\"name\":\"ts_ms\",\"type\":[\"null\",\"long\"],\"default\":null}]}"

static const char *KEY_SCHEMA =
    "{\"type\":\"record\",\"name\":\"Key\",\"fields\":["
    "{\"name\":\"id\",\"type\":\"long\"}]}";

/* One case: the value schema, an optional reader, the key schema (NULL:
 * no framed key), mode=append. */
typedef struct fcase {
    const char *value, *reader, *key;
    bool append;
} fcase_t;

static const fcase_t CASES[] = {
    {ENVELOPE(ROW_FIELDS), NULL, NULL, false},
    {ENVELOPE(ROW_FIELDS), NULL, "KEY", false},
    {ENVELOPE(ROW_FIELDS), NULL, "KEY", true},
    {"{\"type\":\"record\",\"name\":\"Plain\",\"fields\":[" ROW_FIELDS "]}",
     NULL, "KEY", false},
    {"{\"type\":\"record\",\"name\":\"Plain\",\"fields\":[" ROW_FIELDS "]}",
     NULL, NULL, false},
    {"{\"type\":\"record\",\"name\":\"Plain\",\"fields\":[" ROW_FIELDS "]}",
     NULL, "\"string\"", false},
    /* resolution: int -> long and float -> double promotions, a dropped
     * writer field, a reader field the writer lacks is absent from the
     * map's columns here (the map follows the reader) */
    {"{\"type\":\"record\",\"name\":\"P\",\"fields\":["
     "{\"name\":\"id\",\"type\":\"long\"},"
     "{\"name\":\"n\",\"type\":\"int\"},"
     "{\"name\":\"x\",\"type\":\"float\"},"
     "{\"name\":\"gone\",\"type\":{\"type\":\"map\",\"values\":\"string\"}},"
     "{\"name\":\"s\",\"type\":[\"null\",\"string\"]}]}",
     "{\"type\":\"record\",\"name\":\"P\",\"fields\":["
     "{\"name\":\"id\",\"type\":\"long\"},"
     "{\"name\":\"n\",\"type\":\"long\"},"
     "{\"name\":\"x\",\"type\":\"double\"},"
     "{\"name\":\"s\",\"type\":[\"null\",\"string\"]}]}",
     "KEY", false},
};

static size_t iterations(void)
{
    const char *s = getenv("MESH_FAST_ITER");
    return s ? (size_t)strtoull(s, NULL, 10) : 1500;
}

static uint64_t seed0(void)
{
    const char *s = getenv("MESH_FAST_SEED");
    return s ? strtoull(s, NULL, 0) : 0x66617374ull; /* "fast" */
}

/* Everything one case needs, built once. */
typedef struct fix {
    av_schema_t *value, *reader, *key;
    av_serde_plan_t *vplan, *kplan, *enc, *kenc;
    mat_map_t *map_fast, *map_slow;
    mat_fast_t *fast;
    mat_envelope_shape_t shape;
    mat_value_t *vf, *vs;
    bool append;
} fix_t;

static fix_t fix_new(const fcase_t *c)
{
    fix_t f = {.append = c->append};
    mw_err_t err = {0};
    f.value = unit_schema(c->value);
    f.reader = c->reader ? unit_schema(c->reader) : NULL;
    if (c->key)
        f.key = unit_schema(strcmp(c->key, "KEY") == 0 ? KEY_SCHEMA : c->key);
    f.vplan = av_serde_plan_new(f.value, f.reader, &err);
    f.enc = av_serde_plan_new(f.value, NULL, &err);
    assert_non_null(f.vplan);
    assert_non_null(f.enc);
    if (f.key) {
        f.kplan = av_serde_plan_new(f.key, NULL, &err);
        f.kenc = f.kplan;
    }
    const av_node_t *root = av_schema_root(f.reader ? f.reader : f.value);
    assert_int_equal(mat_envelope_inspect(root, &f.shape, &err), 0);
    const av_node_t *kroot = f.key ? av_schema_root(f.key) : NULL;
    f.map_fast =
        mat_map_new(f.shape.row, kroot, MAT_NESTED_FLATTEN, "t", "topic", &err);
    f.map_slow =
        mat_map_new(f.shape.row, kroot, MAT_NESTED_FLATTEN, "t", "topic", &err);
    assert_non_null(f.map_fast);
    f.fast = mat_fast_new(f.map_fast, f.vplan, f.kplan, f.append, &err);
    if (!f.fast)
        fail_msg("mat_fast_new: %s", err.msg);
    size_t cols = mat_map_table(f.map_fast)->col_cnt;
    f.vf = calloc(cols, sizeof *f.vf);
    f.vs = calloc(cols, sizeof *f.vs);
    return f;
}

static void fix_free(fix_t *f)
{
    mat_fast_destroy(f->fast);
    mat_map_destroy(f->map_fast);
    mat_map_destroy(f->map_slow);
    av_serde_plan_destroy(f->vplan);
    av_serde_plan_destroy(f->enc);
    av_serde_plan_destroy(f->kplan);
    av_schema_release(f->value);
    av_schema_release(f->reader);
    av_schema_release(f->key);
    free(f->vf);
    free(f->vs);
}

/* Envelope values get a plausible op (now and then a bogus one) and,
 * for c/r/u, mostly an after row. */
static void fix_up(const fix_t *f, json_t *v)
{
    static const char *ops[] = {"c", "r", "u", "d", "t", "m", "x", "cc", ""};
    if (!f->shape.is_envelope || !json_is_object(v))
        return;
    const char *op = ops[rn(100) < 90 ? rn(4) : rn(9)];
    json_object_set_new(v, "op", json_string(op));
    if (strchr("cru", op[0]) && op[0] && chance(90) &&
        json_is_null(json_object_get(v, "after"))) {
        const av_field_t *af = NULL;
        const av_node_t *root = av_schema_root(f->value);
        for (size_t i = 0; i < root->field_cnt; i++)
            if (strcmp(root->fields[i].name, "after") == 0)
                af = &root->fields[i];
        const av_node_t *rec = af->type->branches[1];
        json_t *w = json_object();
        json_object_set_new(w, rec->fullname, gen(rec, 1));
        json_object_set_new(v, "after", w);
    }
}

/* Bytes of one record (room for one more). */
typedef struct bin {
    uint8_t *p;
    size_t n;
} bin_t;

/* Byte-level damage to an encoded record. */
static void mutate_bin(bin_t *b)
{
    size_t n = b->n;
    switch (rn(6)) {
    case 0:
        if (n)
            b->p[rn(n)] ^= (uint8_t)(1u << rn(8));
        break;
    case 1:
        if (n)
            b->p[rn(n)] = (uint8_t)rnd();
        break;
    case 2:
        b->n = rn(n + 1);
        break;
    case 3:
        b->p[b->n++] = (uint8_t)rnd(); /* the caller left room for 3 */
        break;
    case 4:
        if (n > 1) {
            size_t at = rn(n - 1);
            memmove(b->p + at, b->p + at + 1, n - at - 1);
            b->n--;
        }
        break;
    default:
        if (n)
            b->p[rn(n)] = (uint8_t)(0x80 | rnd()); /* into a string, maybe */
        break;
    }
}

static void same_value(const mat_column_t *col, const mat_value_t *a,
                       const mat_value_t *b, const char *ctx)
{
    if (a->is_null != b->is_null)
        fail_msg("%s: column %s: null %d vs %d", ctx, col->name, a->is_null,
                 b->is_null);
    if (a->is_null)
        return;
    switch (col->type) {
    case MAT_COL_BOOL:
        if (a->u.b != b->u.b)
            fail_msg("%s: column %s: bool differs", ctx, col->name);
        return;
    case MAT_COL_FLOAT:
    case MAT_COL_DOUBLE:
        if (memcmp(&a->u.d, &b->u.d, sizeof a->u.d) != 0)
            fail_msg("%s: column %s: %.17g vs %.17g", ctx, col->name, a->u.d,
                     b->u.d);
        return;
    case MAT_COL_INT32:
    case MAT_COL_INT64:
    case MAT_COL_DATE:
    case MAT_COL_TIME_MICROS:
    case MAT_COL_TIMESTAMP_MICROS:
        if (a->u.i != b->u.i)
            fail_msg("%s: column %s: %lld vs %lld", ctx, col->name,
                     (long long)a->u.i, (long long)b->u.i);
        return;
    default:
        if (a->u.s.len != b->u.s.len ||
            memcmp(a->u.s.ptr, b->u.s.ptr, a->u.s.len) != 0)
            fail_msg("%s: column %s: '%.*s' vs '%.*s'", ctx, col->name,
                     (int)a->u.s.len, a->u.s.ptr, (int)b->u.s.len, b->u.s.ptr);
    }
}

typedef struct tally {
    size_t fast, declined, rejected;
} tally_t;

/* The JSON path on one record: 0 and *ev / f->vs, or -1 when it refuses. */
static int slow_path(fix_t *f, const mat_fast_rec_t *rec,
                     mat_envelope_event_t *ev, json_t **jv, json_t **jk)
{
    mw_err_t err = {0};
    const mat_table_t *t = mat_map_table(f->map_slow);
    if (av_serde_avro_to_json(f->vplan, rec->value, rec->value_len, jv, &err) !=
        0)
        return -1;
    if (f->kplan &&
        av_serde_avro_to_json(f->kplan, rec->key, rec->key_len, jk, &err) != 0)
        return -1;
    if (mat_envelope_read(&f->shape, *jv, t->key_cnt > 0, f->append, ev,
                          &err) != 0)
        return -1;
    if (ev->skip || (ev->op == MAT_OP_DELETE && t->key_cnt == 0))
        return 0;
    return mat_map_row(f->map_slow, ev->row, *jk, f->vs, &err) == 0 ? 0 : -1;
}

/* Both paths on one record; returns whether the direct path gave a
 * change. */
static bool agree(fix_t *f, const mat_fast_rec_t *rec, tally_t *tl,
                  const char *ctx)
{
    mat_envelope_event_t ef, es;
    json_t *jv = NULL, *jk = NULL;
    const mat_table_t *t = mat_map_table(f->map_fast);
    bool fast_ok = mat_fast_row(f->fast, f->map_fast, rec, &ef, f->vf) == 0;
    int slow = slow_path(f, rec, &es, &jv, &jk);
    if (fast_ok) {
        if (slow != 0)
            fail_msg("%s: the direct path took a record the JSON path "
                     "refuses",
                     ctx);
        if (ef.skip != es.skip || ef.op != es.op || ef.op_code != es.op_code ||
            ef.source_ts_ms != es.source_ts_ms)
            fail_msg("%s: event differs: skip %d/%d op %d/%d code %d/%d "
                     "ts %lld/%lld",
                     ctx, ef.skip, es.skip, ef.op, es.op, ef.op_code,
                     es.op_code, (long long)ef.source_ts_ms,
                     (long long)es.source_ts_ms);
        bool rows = !ef.skip && !(ef.op == MAT_OP_DELETE && t->key_cnt == 0);
        for (size_t i = 0; rows && i < t->col_cnt; i++)
            same_value(&t->cols[i], &f->vf[i], &f->vs[i], ctx);
        tl->fast++;
    } else if (slow == 0) {
        tl->declined++;
    } else {
        tl->rejected++;
    }
    json_decref(jv);
    json_decref(jk);
    return fast_ok || slow != 0;
}

#define MUTANTS 6

static void test_differential(void **state)
{
    uint64_t seed = seed0();
    size_t iter = iterations();
    char ctx[96];
    (void)state;
    print_message("mat_fast differential: seed=0x%llx (MESH_FAST_SEED), %zu "
                  "values per case, %d mutants each\n",
                  (unsigned long long)seed, iter, MUTANTS);
    for (size_t c = 0; c < sizeof CASES / sizeof CASES[0]; c++) {
        fix_t f = fix_new(&CASES[c]);
        tally_t clean = {0}, mut = {0};
        mw_buf_t *v = mw_buf_new(0), *k = mw_buf_new(0);
        rng = seed ^ (0x9e3779b97f4a7c15ull * (c + 1));
        for (size_t it = 0; it < iter; it++) {
            mw_err_t err = {0};
            json_t *jv = gen(av_schema_root(f.value), 0);
            fix_up(&f, jv);
            mw_buf_reset(v);
            int enc = av_serde_json_to_avro(f.enc, jv, v, &err);
            json_decref(jv);
            if (enc != 0)
                continue; /* the generator's invalid values */
            mw_buf_reset(k);
            if (f.key) {
                json_t *jk = gen(av_schema_root(f.key), 0);
                enc = av_serde_json_to_avro(f.kenc, jk, k, &err);
                json_decref(jk);
                if (enc != 0)
                    continue;
            }
            snprintf(ctx, sizeof ctx, "case %zu value %zu", c, it);
            mat_fast_rec_t rec = {mw_buf_data(v), mw_buf_len(v), mw_buf_data(k),
                                  mw_buf_len(k)};
            if (!agree(&f, &rec, &clean, ctx))
                fail_msg("%s: the direct path declined a clean record the "
                         "JSON path takes",
                         ctx);
            bin_t m = {malloc(mw_buf_len(v) + 4), 0};
            for (int j = 0; j < MUTANTS; j++) {
                memcpy(m.p, mw_buf_data(v), mw_buf_len(v));
                m.n = mw_buf_len(v);
                for (int n = 0, cnt = 1 + (int)rn(3); n < cnt; n++)
                    mutate_bin(&m);
                snprintf(ctx, sizeof ctx, "case %zu value %zu mutant %d", c, it,
                         j);
                rec.value = m.p;
                rec.value_len = m.n;
                agree(&f, &rec, &mut, ctx);
            }
            free(m.p);
        }
        print_message("case %zu: clean %zu direct %zu rejected; mutants %zu "
                      "direct %zu declined %zu rejected\n",
                      c, clean.fast, clean.rejected, mut.fast, mut.declined,
                      mut.rejected);
        assert_true(clean.fast > iter / 4);
        assert_true(mut.fast > 0 && mut.rejected > 0);
        mw_buf_destroy(v);
        mw_buf_destroy(k);
        fix_free(&f);
    }
}

/* What only the JSON path can do is declined when compiling. */
static void test_declines_json_columns(void **state)
{
    static const char *schemas[] = {
        /* an array column */
        "{\"type\":\"record\",\"name\":\"A\",\"fields\":["
        "{\"name\":\"id\",\"type\":\"long\"},"
        "{\"name\":\"tags\",\"type\":{\"type\":\"array\",\"items\":"
        "\"string\"}}]}",
        /* a union of several types */
        "{\"type\":\"record\",\"name\":\"U\",\"fields\":["
        "{\"name\":\"id\",\"type\":\"long\"},"
        "{\"name\":\"v\",\"type\":[\"null\",\"long\",\"string\"]}]}",
        /* an envelope whose op is a record */
        "{\"type\":\"record\",\"name\":\"Env\",\"fields\":["
        "{\"name\":\"before\",\"type\":[\"null\",{\"type\":\"record\","
        "\"name\":\"V\",\"fields\":[{\"name\":\"id\",\"type\":\"long\"}]}]},"
        "{\"name\":\"after\",\"type\":[\"null\",\"V\"]},"
        "{\"name\":\"op\",\"type\":{\"type\":\"record\",\"name\":\"Op\","
        "\"fields\":[{\"name\":\"code\",\"type\":\"string\"}]}}]}",
    };
    (void)state;
    for (size_t i = 0; i < sizeof schemas / sizeof schemas[0]; i++) {
        mw_err_t err = {0};
        av_schema_t *s = unit_schema(schemas[i]);
        av_serde_plan_t *plan = av_serde_plan_new(s, NULL, &err);
        mat_envelope_shape_t shape;
        assert_int_equal(mat_envelope_inspect(av_schema_root(s), &shape, &err),
                         0);
        mat_map_t *map =
            mat_map_new(shape.row, NULL, MAT_NESTED_FLATTEN, "t", "t", &err);
        assert_non_null(map);
        assert_null(mat_fast_new(map, plan, NULL, false, &err));
        assert_int_equal(err.code, MW_ERR_UNSUPPORTED);
        mat_map_destroy(map);
        av_serde_plan_destroy(plan);
        av_schema_release(s);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_differential),
        cmocka_unit_test(test_declines_json_columns),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
