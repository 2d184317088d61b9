/*
 * Unit tests for av_proj — the differential test against
 * av_serde_avro_to_json.  For a set of (writer, reader) pairs, every
 * scalar path of the reader (through records and nullable records) and
 * every nullable record itself is projected; random values are encoded
 * and mutated (byte flips, truncation, inserted, deleted and appended
 * bytes).  For every record:
 *   - av_proj_read succeeds exactly when av_serde_avro_to_json does
 *     (av_proj.h promises the same acceptance, also in the parts no path
 *     reads: arrays, maps, skipped writer fields);
 *   - each slot holds what the decoded JSON holds at its path.
 * MESH_PROJ_SEED=<n> replays a run, MESH_PROJ_ITER=<n> changes the number
 * of values per pair.
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

#include "mw_buf.h"
#include "av_proj.h"
#include "av_serde.h"
#include "unit_av.h"
#include "unit_avgen.h"

#define MAX_PATHS 64
#define MAX_DEPTH 8

static const char *const PAIRS[][2] = {
    /* every kind, nested and nullable records, containers no path reads */
    {"{\"type\":\"record\",\"name\":\"R\",\"fields\":["
     "{\"name\":\"b\",\"type\":\"boolean\"},"
     "{\"name\":\"i\",\"type\":\"int\"},"
     "{\"name\":\"l\",\"type\":\"long\"},"
     "{\"name\":\"f\",\"type\":\"float\"},"
     "{\"name\":\"d\",\"type\":\"double\"},"
     "{\"name\":\"s\",\"type\":\"string\"},"
     "{\"name\":\"by\",\"type\":\"bytes\"},"
     "{\"name\":\"fx\",\"type\":{\"type\":\"fixed\",\"name\":\"F\","
     "\"size\":4}},"
     "{\"name\":\"e\",\"type\":{\"type\":\"enum\",\"name\":\"E\","
     "\"symbols\":[\"A\",\"B\",\"C\"]}},"
     "{\"name\":\"u\",\"type\":[\"null\",\"string\",\"long\"]},"
     "{\"name\":\"arr\",\"type\":{\"type\":\"array\",\"items\":\"string\"}},"
     "{\"name\":\"m\",\"type\":{\"type\":\"map\",\"values\":"
     "{\"type\":\"array\",\"items\":\"long\"}}},"
     "{\"name\":\"n\",\"type\":[\"null\",{\"type\":\"record\",\"name\":\"N\","
     "\"fields\":[{\"name\":\"x\",\"type\":\"string\"},"
     "{\"name\":\"y\",\"type\":[\"null\",\"double\"]},"
     "{\"name\":\"deep\",\"type\":{\"type\":\"record\",\"name\":\"D\","
     "\"fields\":[{\"name\":\"z\",\"type\":\"int\"}]}}]}]},"
     "{\"name\":\"tail\",\"type\":\"string\"}]}",
     NULL},
    /* resolution: promotions, a dropped writer field (skipped, not
     * checked), an enum the reader narrows with a default, a union
     * branch the reader lacks, a writer union read as a plain type */
    {"{\"type\":\"record\",\"name\":\"P\",\"fields\":["
     "{\"name\":\"a\",\"type\":\"int\"},"
     "{\"name\":\"b\",\"type\":\"long\"},"
     "{\"name\":\"c\",\"type\":\"float\"},"
     "{\"name\":\"drop\",\"type\":{\"type\":\"map\",\"values\":\"string\"}},"
     "{\"name\":\"s\",\"type\":\"string\"},"
     "{\"name\":\"by\",\"type\":\"bytes\"},"
     "{\"name\":\"e\",\"type\":{\"type\":\"enum\",\"name\":\"E\","
     "\"symbols\":[\"A\",\"B\",\"C\"]}},"
     "{\"name\":\"u\",\"type\":[\"null\",\"string\",\"int\"]},"
     "{\"name\":\"w\",\"type\":[\"null\",\"long\"]}]}",
     "{\"type\":\"record\",\"name\":\"P\",\"fields\":["
     "{\"name\":\"a\",\"type\":\"long\"},"
     "{\"name\":\"b\",\"type\":\"double\"},"
     "{\"name\":\"c\",\"type\":\"double\"},"
     "{\"name\":\"s\",\"type\":\"bytes\"},"
     "{\"name\":\"by\",\"type\":\"string\"},"
     "{\"name\":\"e\",\"type\":{\"type\":\"enum\",\"name\":\"E\","
     "\"symbols\":[\"A\",\"B\",\"Z\"],\"default\":\"Z\"}},"
     "{\"name\":\"u\",\"type\":[\"null\",\"string\"]},"
     "{\"name\":\"w\",\"type\":[\"null\",\"long\"]}]}"},
};

static size_t iterations(void)
{
    const char *s = getenv("MESH_PROJ_ITER");
    return s ? (size_t)strtoull(s, NULL, 10) : 2000;
}

static uint64_t seed0(void)
{
    const char *s = getenv("MESH_PROJ_SEED");
    return s ? strtoull(s, NULL, 0) : 0x70726f6aull; /* "proj" */
}

/* A path and the reader node it ends on. */
typedef struct ppath {
    const char *names[MAX_DEPTH];
    size_t cnt;
    const av_node_t *node;
} ppath_t;

typedef struct paths {
    ppath_t p[MAX_PATHS];
    size_t cnt;
} paths_t;

/* The record behind a node, through a union of it and null. */
static const av_node_t *as_record(const av_node_t *n)
{
    if (n->type == AV_RECORD)
        return n;
    if (n->type != AV_UNION)
        return NULL;
    const av_node_t *rec = NULL;
    for (size_t i = 0; i < n->branch_cnt; i++) {
        if (n->branches[i]->type == AV_NULL)
            continue;
        if (rec || n->branches[i]->type != AV_RECORD)
            return NULL;
        rec = n->branches[i];
    }
    return rec;
}

static bool scalar(const av_node_t *n)
{
    if (n->type == AV_RECORD || n->type == AV_ARRAY || n->type == AV_MAP)
        return false;
    for (size_t i = 0; n->type == AV_UNION && i < n->branch_cnt; i++)
        if (!scalar(n->branches[i]))
            return false;
    return true;
}

/* Every scalar field and every nullable record under rec. */
static void collect(const av_node_t *rec, ppath_t *at, paths_t *out)
{
    for (size_t i = 0; i < rec->field_cnt && out->cnt < MAX_PATHS; i++) {
        const av_field_t *f = &rec->fields[i];
        ppath_t p = *at;
        p.names[p.cnt++] = f->name;
        p.node = f->type;
        const av_node_t *sub = as_record(f->type);
        if (scalar(f->type) || (sub && f->type->type == AV_UNION))
            out->p[out->cnt++] = p;
        if (sub && p.cnt < MAX_DEPTH)
            collect(sub, &p, out);
    }
}

/* {"branch": v} -> v and the branch's node. */
static const json_t *unwrap(const json_t *v, const av_node_t **node)
{
    if ((*node)->type != AV_UNION || !json_is_object(v))
        return v;
    const char *key = json_object_iter_key(json_object_iter((json_t *)v));
    for (size_t i = 0; i < (*node)->branch_cnt; i++) {
        const av_node_t *b = (*node)->branches[i];
        const char *name = b->fullname ? b->fullname : av_type_name(b->type);
        if (strcmp(name, key) == 0) {
            *node = b;
            return json_object_iter_value(json_object_iter((json_t *)v));
        }
    }
    fail_msg("no branch %s", key);
    return NULL;
}

static const av_node_t *field_type(const av_node_t *rec, const char *name)
{
    for (size_t i = 0; i < rec->field_cnt; i++)
        if (strcmp(rec->fields[i].name, name) == 0)
            return rec->fields[i].type;
    fail_msg("no field %s", name);
    return NULL;
}

/* The slot the JSON value of one path must give. */
static void expect_slot(const json_t *root, const av_node_t *rec,
                        const ppath_t *p, const av_pv_t *pv, const char *ctx)
{
    const json_t *v = root;
    const av_node_t *node = rec;
    for (size_t i = 0; i < p->cnt; i++) {
        node = field_type(node, p->names[i]);
        v = json_object_get(v, p->names[i]);
        if (i + 1 == p->cnt)
            break;
        v = json_is_null(v) ? NULL : unwrap(v, &node);
        if (!v) {
            assert_int_equal(pv->kind, AV_PV_NULL);
            return;
        }
    }
    v = json_is_null(v) ? NULL : unwrap(v, &node);
    char buf[600];
    size_t n = 0;
    if (!v || json_is_null(v)) {
        if (pv->kind != AV_PV_NULL)
            fail_msg("%s: %s: slot kind %d, JSON null", ctx, p->names[0],
                     pv->kind);
        return;
    }
    switch (node->type) {
    case AV_RECORD:
        assert_int_equal(pv->kind, AV_PV_RECORD);
        return;
    case AV_BOOLEAN:
        assert_int_equal(pv->kind, AV_PV_BOOL);
        assert_int_equal(pv->u.b, json_is_true(v));
        return;
    case AV_INT:
    case AV_LONG:
        assert_int_equal(pv->kind, AV_PV_INT);
        assert_int_equal(pv->u.i, json_integer_value(v));
        return;
    case AV_FLOAT:
    case AV_DOUBLE:
        assert_int_equal(pv->kind, AV_PV_REAL);
        if (json_is_string(v))
            assert_true(isnan(pv->u.d) || isinf(pv->u.d));
        else if (memcmp(&pv->u.d, &(double){json_number_value(v)},
                        sizeof(double)) != 0)
            fail_msg("%s: %.17g vs %.17g", ctx, pv->u.d, json_number_value(v));
        return;
    case AV_STRING:
    case AV_ENUM:
        assert_int_equal(pv->kind, AV_PV_STRING);
        assert_int_equal(pv->u.s.len, json_string_length(v));
        assert_memory_equal(pv->u.s.ptr, json_string_value(v), pv->u.s.len);
        return;
    default: { /* bytes and fixed: code points 0-255 */
        assert_int_equal(pv->kind, AV_PV_BYTES);
        const uint8_t *s = (const uint8_t *)json_string_value(v);
        for (size_t i = 0; i < json_string_length(v); i++) {
            if (s[i] < 0x80) {
                buf[n++] = (char)s[i];
            } else {
                buf[n++] = (char)(((s[i] & 3) << 6) | (s[i + 1] & 0x3f));
                i++;
            }
        }
        assert_int_equal(pv->u.s.len, n);
        assert_memory_equal(pv->u.s.ptr, buf, n);
    }
    }
}

typedef struct pfix {
    av_schema_t *w, *r;
    av_serde_plan_t *plan, *enc;
    av_proj_t *proj;
    paths_t paths;
    av_proj_path_t pp[MAX_PATHS];
} pfix_t;

static void pfix_new(pfix_t *f, const char *w, const char *r)
{
    mw_err_t err = {0};
    memset(f, 0, sizeof *f);
    f->w = unit_schema(w);
    f->r = r ? unit_schema(r) : NULL;
    f->plan = av_serde_plan_new(f->w, f->r, &err);
    f->enc = av_serde_plan_new(f->w, NULL, &err);
    assert_non_null(f->plan);
    ppath_t root = {.cnt = 0};
    collect(av_schema_root(f->r ? f->r : f->w), &root, &f->paths);
    for (size_t i = 0; i < f->paths.cnt; i++)
        f->pp[i] = (av_proj_path_t){f->paths.p[i].names, f->paths.p[i].cnt};
    f->proj = av_proj_new(f->plan, f->pp, f->paths.cnt, &err);
    if (!f->proj)
        fail_msg("av_proj_new: %s", err.msg);
}

static void pfix_free(pfix_t *f)
{
    av_proj_destroy(f->proj);
    av_serde_plan_destroy(f->plan);
    av_serde_plan_destroy(f->enc);
    av_schema_release(f->w);
    av_schema_release(f->r);
}

/* Both readers on one body; returns whether they accepted it. */
static bool same(pfix_t *f, const uint8_t *p, size_t n, const char *ctx)
{
    av_pv_t slots[MAX_PATHS];
    json_t *v = NULL;
    int pr = av_proj_read(f->proj, p, n, slots);
    int jr = av_serde_avro_to_json(f->plan, p, n, &v, NULL);
    if ((pr == 0) != (jr == 0))
        fail_msg("%s: av_proj %s, av_serde %s", ctx, pr ? "refuses" : "takes",
                 jr ? "refuses" : "takes");
    for (size_t i = 0; jr == 0 && i < f->paths.cnt; i++)
        expect_slot(v, av_schema_root(f->r ? f->r : f->w), &f->paths.p[i],
                    &slots[i], ctx);
    json_decref(v);
    return jr == 0;
}

static void test_differential(void **state)
{
    uint64_t seed = seed0();
    size_t iter = iterations();
    char ctx[96];
    (void)state;
    print_message("av_proj differential: seed=0x%llx (MESH_PROJ_SEED)\n",
                  (unsigned long long)seed);
    for (size_t c = 0; c < sizeof PAIRS / sizeof PAIRS[0]; c++) {
        pfix_t f;
        pfix_new(&f, PAIRS[c][0], PAIRS[c][1]);
        size_t took = 0, refused = 0;
        mw_buf_t *b = mw_buf_new(0);
        rng = seed ^ (0x9e3779b97f4a7c15ull * (c + 1));
        for (size_t it = 0; it < iter; it++) {
            json_t *v = gen(av_schema_root(f.w), 0);
            mw_buf_reset(b);
            int enc = av_serde_json_to_avro(f.enc, v, b, NULL);
            json_decref(v);
            if (enc != 0)
                continue;
            size_t len = mw_buf_len(b);
            uint8_t *m = malloc(len + 4);
            snprintf(ctx, sizeof ctx, "pair %zu value %zu", c, it);
            same(&f, (const uint8_t *)mw_buf_data(b), len, ctx) ? took++
                                                                : refused++;
            for (int k = 0; k < 6; k++) {
                size_t n = len;
                memcpy(m, mw_buf_data(b), len);
                size_t at = n ? rn(n) : 0;
                switch (rn(5)) {
                case 0:
                    if (n)
                        m[at] ^= (uint8_t)(1u << rn(8));
                    break;
                case 1:
                    n = rn(n + 1);
                    break;
                case 2:
                    m[n++] = (uint8_t)rnd();
                    break;
                case 3:
                    if (n)
                        memmove(m + at, m + at + 1, n - at - 1), n--;
                    break;
                default:
                    if (n)
                        m[at] = (uint8_t)(0x80 | rnd());
                }
                snprintf(ctx, sizeof ctx, "pair %zu value %zu mutant %d", c, it,
                         k);
                same(&f, m, n, ctx) ? took++ : refused++;
            }
            free(m);
        }
        print_message("pair %zu: %zu paths; %zu taken by both, %zu refused "
                      "by both\n",
                      c, f.paths.cnt, took, refused);
        assert_true(took > iter / 2 && refused > iter / 2);
        mw_buf_destroy(b);
        pfix_free(&f);
    }
}

/* Paths the projection cannot serve are refused when compiling. */
static void test_refused_paths(void **state)
{
    static const char *const arr[] = {"arr"}, *const into[] = {"s", "x"},
                             *const twice[] = {"s"};
    const av_proj_path_t cases[][2] = {
        {{arr, 1}, {NULL, 0}},
        {{into, 2}, {NULL, 0}},
        {{twice, 1}, {twice, 1}},
    };
    const int codes[] = {MW_ERR_UNSUPPORTED, MW_ERR_UNSUPPORTED,
                         MW_ERR_INVALID};
    const size_t cnts[] = {1, 1, 2};
    (void)state;
    av_schema_t *s = unit_schema(PAIRS[0][0]);
    av_serde_plan_t *plan = av_serde_plan_new(s, NULL, NULL);
    for (size_t i = 0; i < 3; i++) {
        mw_err_t err = {0};
        assert_null(av_proj_new(plan, cases[i], cnts[i], &err));
        assert_int_equal(err.code, codes[i]);
    }
    /* a reader field filled from its default is the JSON path's */
    av_schema_t *w = unit_schema("{\"type\":\"record\",\"name\":\"C\","
                                 "\"fields\":[{\"name\":\"a\",\"type\":"
                                 "\"int\"}]}");
    av_schema_t *r = unit_schema("{\"type\":\"record\",\"name\":\"C\","
                                 "\"fields\":[{\"name\":\"a\",\"type\":"
                                 "\"int\"},{\"name\":\"b\",\"type\":\"int\","
                                 "\"default\":7}]}");
    av_serde_plan_t *rp = av_serde_plan_new(w, r, NULL);
    static const char *const b[] = {"b"};
    mw_err_t err = {0};
    assert_null(av_proj_new(rp, &(av_proj_path_t){b, 1}, 1, &err));
    assert_int_equal(err.code, MW_ERR_UNSUPPORTED);
    av_serde_plan_destroy(rp);
    av_schema_release(w);
    av_schema_release(r);
    av_serde_plan_destroy(plan);
    av_schema_release(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_differential),
        cmocka_unit_test(test_refused_paths),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
