/*
 * mat_fast: compiles a table's columns and an envelope's fields into
 * av_proj paths, and turns the slots of each record into one change
 * (mat_fast.h).
 *
 * Value slots, in order: for a Debezium envelope its op, source.ts_ms,
 * ts_ms, then the after and before records themselves (present or not),
 * then each column under after, then each under before; for a plain
 * record each column under the root.  Key slots: each key column's field
 * in a record key, or the whole key.
 *
 * What mat_envelope_read does with a JSON value it cannot be sure of
 * (unwrapping any one-member object as if it were a union) is declined
 * here at compile time when a schema could make such a value: an op,
 * ts_ms or source that is a record or a map, a source record with a
 * single field and no ts_ms.  Everything else the envelope reads is a
 * scalar or a nullable record, and reads the same from the slots.
 *
 * Thread: see mat_fast.h.
 */
#include "mat_fast.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "av_proj.h"

#define FAST_NONE SIZE_MAX
#define FAST_MAX_DEPTH 18 /* envelope field + MAP_MAX_DEPTH + 1 */

typedef struct fast_col {
    size_t row, before, key; /* slots, FAST_NONE when not read there */
} fast_col_t;

struct mat_fast {
    av_proj_t *vproj, *kproj;
    av_pv_t *vslots, *kslots;
    bool envelope, append;
    size_t op, source_ts, ts, after, before; /* envelope slots */
    fast_col_t *cols;
    size_t col_cnt, key_cnt;
};

/* Paths being collected: each owns its names array (the names themselves
 * are borrowed from the map and the schema). */
typedef struct fast_paths {
    av_proj_path_t *v;
    size_t cnt, cap;
} fast_paths_t;

static void fast_paths_free(fast_paths_t *p)
{
    for (size_t i = 0; i < p->cnt; i++)
        free((void *)p->v[i].names);
    free(p->v);
}

/* Adds prefix (0 or 1 name) + names; returns its slot or FAST_NONE on
 * ENOMEM. */
static size_t fast_path_add(fast_paths_t *p, const char *prefix,
                            const char *const *names, size_t cnt)
{
    if (p->cnt == p->cap) {
        size_t cap = p->cap ? p->cap * 2 : 16;
        av_proj_path_t *v = realloc(p->v, cap * sizeof *v);
        if (!v)
            return FAST_NONE;
        p->v = v;
        p->cap = cap;
    }
    size_t n = cnt + (prefix != NULL);
    const char **all = malloc((n ? n : 1) * sizeof *all);
    if (!all)
        return FAST_NONE;
    size_t k = 0;
    if (prefix)
        all[k++] = prefix;
    for (size_t i = 0; i < cnt; i++)
        all[k++] = names[i];
    p->v[p->cnt] = (av_proj_path_t){.names = all, .cnt = n};
    return p->cnt++;
}

/* ---- the envelope's own fields -----------------------------------------*/

static const av_field_t *fast_field(const av_node_t *rec, const char *name)
{
    for (size_t i = 0; rec && i < rec->field_cnt; i++)
        if (strcmp(rec->fields[i].name, name) == 0)
            return &rec->fields[i];
    return NULL;
}

/* True when no value of node is a JSON object (mat_envelope would unwrap
 * a one-member object). */
static bool fast_no_object(const av_node_t *node)
{
    if (node->type == AV_RECORD || node->type == AV_MAP)
        return false;
    if (node->type == AV_UNION)
        for (size_t i = 0; i < node->branch_cnt; i++)
            if (node->branches[i]->type == AV_RECORD ||
                node->branches[i]->type == AV_MAP)
                return false;
    return true;
}

/* The path to source.ts_ms, when mat_envelope's reading of it is the
 * path's: 1 with *use set when there is one to read, 0 when the JSON path
 * finds none either, -1 when only the JSON path knows. */
static int fast_source_ts(const av_node_t *root, bool *use)
{
    *use = false;
    const av_field_t *src = fast_field(root, "source");
    if (!src)
        return 0;
    const av_node_t *t = src->type, *base = t;
    if (t->type == AV_UNION) {
        base = NULL;
        for (size_t i = 0; i < t->branch_cnt; i++) {
            if (t->branches[i]->type == AV_NULL)
                continue;
            if (base)
                return -1; /* several branches: leave it to JSON */
            base = t->branches[i];
        }
        if (!base)
            return 0;
    }
    if (base->type == AV_MAP)
        return -1;
    if (base->type != AV_RECORD)
        return 0; /* never an object: no source timestamp */
    /* A union's wrapper named "ts_ms" would be read as the field. */
    if (t->type == AV_UNION && strcmp(base->fullname, "ts_ms") == 0)
        return -1;
    const av_field_t *ts = fast_field(base, "ts_ms");
    if (!ts)
        /* A lone field would be unwrapped as if it were a union. */
        return t->type != AV_UNION && base->field_cnt == 1 ? -1 : 0;
    if (!fast_no_object(ts->type))
        return -1;
    *use = true;
    return 1;
}

static int fast_envelope(mat_fast_t *f, const av_node_t *root, fast_paths_t *p,
                         mw_err_t *err)
{
    static const char *const op[] = {"op"};
    static const char *const src_ts[] = {"source", "ts_ms"};
    static const char *const ts[] = {"ts_ms"};
    const av_field_t *opf = fast_field(root, "op"),
                     *tsf = fast_field(root, "ts_ms");
    bool use_src;
    if (!fast_no_object(opf->type) || (tsf && !fast_no_object(tsf->type)) ||
        fast_source_ts(root, &use_src) < 0)
        return mw_err_set(err, MW_ERR_UNSUPPORTED,
                          "an envelope field of a type only the JSON path "
                          "reads");
    f->op = fast_path_add(p, NULL, op, 1);
    f->source_ts = use_src ? fast_path_add(p, NULL, src_ts, 2) : FAST_NONE;
    f->ts = tsf ? fast_path_add(p, NULL, ts, 1) : FAST_NONE;
    f->after = fast_path_add(p, "after", NULL, 0);
    f->before = fast_path_add(p, "before", NULL, 0);
    if (f->op == FAST_NONE || f->after == FAST_NONE || f->before == FAST_NONE ||
        (use_src && f->source_ts == FAST_NONE) || (tsf && f->ts == FAST_NONE))
        return mw_err_set(err, MW_ERR_NOMEM, "out of memory");
    return 0;
}

/* ---- compiling -----------------------------------------------------------*/

static int fast_columns(mat_fast_t *f, const mat_map_t *map, bool keyed,
                        fast_paths_t *vp, fast_paths_t *kp, mw_err_t *err)
{
    const mat_table_t *table = mat_map_table(map);
    for (size_t i = 0; i < f->col_cnt; i++) {
        if (!mat_map_col_direct(map, i))
            return mw_err_set(err, MW_ERR_UNSUPPORTED, "column %s is JSON",
                              table->cols[i].name);
        const char *names[FAST_MAX_DEPTH], *key_field;
        size_t n = mat_map_col_path(map, i, names, FAST_MAX_DEPTH);
        if (n > FAST_MAX_DEPTH)
            return mw_err_set(err, MW_ERR_UNSUPPORTED,
                              "column %s is nested too deep",
                              table->cols[i].name);
        fast_col_t *c = &f->cols[i];
        *c = (fast_col_t){FAST_NONE, FAST_NONE, FAST_NONE};
        if (n > 0) {
            c->row = fast_path_add(vp, f->envelope ? "after" : NULL, names, n);
            if (f->envelope)
                c->before = fast_path_add(vp, "before", names, n);
            if (c->row == FAST_NONE || (f->envelope && c->before == FAST_NONE))
                return mw_err_set(err, MW_ERR_NOMEM, "out of memory");
        }
        if (keyed && mat_map_col_from_key(map, i, &key_field)) {
            c->key = fast_path_add(kp, NULL, &key_field, key_field ? 1 : 0);
            if (c->key == FAST_NONE)
                return mw_err_set(err, MW_ERR_NOMEM, "out of memory");
        }
    }
    return 0;
}

/* Compiles paths over plan into *proj and its slots. */
static int fast_proj(const av_serde_plan_t *plan, const fast_paths_t *p,
                     av_proj_t **proj, av_pv_t **slots, mw_err_t *err)
{
    *proj = av_proj_new(plan, p->v, p->cnt, err);
    if (!*proj)
        return err->code;
    *slots = calloc(p->cnt ? p->cnt : 1, sizeof **slots);
    if (!*slots)
        return mw_err_set(err, MW_ERR_NOMEM, "out of memory");
    return 0;
}

mat_fast_t *mat_fast_new(const mat_map_t *map,
                         const av_serde_plan_t *value_plan,
                         const av_serde_plan_t *key_plan, bool append,
                         mw_err_t *err)
{
    const mat_table_t *table = mat_map_table(map);
    const av_node_t *root = av_schema_root(av_serde_plan_reader(value_plan));
    mat_envelope_shape_t shape;
    mw_err_t local = {0};
    if (!err)
        err = &local;
    if (mat_envelope_inspect(root, &shape, err) != 0) {
        err->code = MW_ERR_UNSUPPORTED;
        return NULL;
    }
    mat_fast_t *f = calloc(1, sizeof *f);
    fast_paths_t vp = {0}, kp = {0};
    int rc = f ? 0 : mw_err_set(err, MW_ERR_NOMEM, "out of memory");
    if (rc == 0) {
        f->envelope = shape.is_envelope;
        f->append = append;
        f->col_cnt = table->col_cnt;
        f->key_cnt = table->key_cnt;
        f->cols = calloc(f->col_cnt ? f->col_cnt : 1, sizeof *f->cols);
        if (!f->cols)
            rc = mw_err_set(err, MW_ERR_NOMEM, "out of memory");
    }
    if (rc == 0 && f->envelope)
        rc = fast_envelope(f, root, &vp, err);
    if (rc == 0)
        rc = fast_columns(f, map, key_plan != NULL, &vp, &kp, err);
    if (rc == 0)
        rc = fast_proj(value_plan, &vp, &f->vproj, &f->vslots, err);
    if (rc == 0 && key_plan)
        rc = fast_proj(key_plan, &kp, &f->kproj, &f->kslots, err);
    fast_paths_free(&vp);
    fast_paths_free(&kp);
    if (rc != 0) {
        mat_fast_destroy(f);
        return NULL;
    }
    return f;
}

void mat_fast_destroy(mat_fast_t *fast)
{
    if (!fast)
        return;
    av_proj_destroy(fast->vproj);
    av_proj_destroy(fast->kproj);
    free(fast->vslots);
    free(fast->kslots);
    free(fast->cols);
    free(fast);
}

/* ---- one record ----------------------------------------------------------*/

static int64_t fast_long(const mat_fast_t *f, size_t slot)
{
    const av_pv_t *pv = slot == FAST_NONE ? NULL : &f->vslots[slot];
    return pv && pv->kind == AV_PV_INT ? pv->u.i : -1;
}

/* The envelope's op and timestamps into ev, as mat_envelope's
 * env_change; *row_after: the change reads the after row (else before),
 * *row_present: that row is there. */
static int fast_change(const mat_fast_t *f, mat_envelope_event_t *ev,
                       bool *row_after, bool *row_present)
{
    const av_pv_t *op = &f->vslots[f->op];
    /* mat_envelope reads the op as a C string: up to its first NUL. */
    if (op->kind != AV_PV_STRING || op->u.s.len == 0 || op->u.s.ptr[0] == 0 ||
        (op->u.s.len > 1 && op->u.s.ptr[1] != 0))
        return MW_ERR_INVALID;
    ev->op_code = op->u.s.ptr[0];
    int64_t ts = fast_long(f, f->source_ts);
    ev->source_ts_ms = ts >= 0 ? ts : fast_long(f, f->ts);
    int which = mat_envelope_op(ev->op_code, f->append, ev);
    *row_after = which == MAT_ENVELOPE_AFTER;
    if (which == MAT_ENVELOPE_AFTER || which == MAT_ENVELOPE_BEFORE)
        *row_present =
            f->vslots[*row_after ? f->after : f->before].kind == AV_PV_RECORD;
    if (which < 0 || (*row_after && !*row_present))
        return MW_ERR_INVALID;
    return 0;
}

int mat_fast_row(mat_fast_t *fast, mat_map_t *map, const mat_fast_rec_t *rec,
                 mat_envelope_event_t *ev, mat_value_t *values)
{
    const mat_fast_t *f = fast;
    memset(ev, 0, sizeof *ev);
    ev->source_ts_ms = -1;
    if (av_proj_read(f->vproj, rec->value, rec->value_len, f->vslots) != 0 ||
        (f->kproj &&
         av_proj_read(f->kproj, rec->key, rec->key_len, f->kslots) != 0))
        return MW_ERR_INVALID;
    bool after = true, present = true;
    if (f->envelope) {
        if (fast_change(f, ev, &after, &present) != 0)
            return MW_ERR_INVALID;
    } else {
        ev->op = f->key_cnt > 0 && !f->append ? MAT_OP_UPSERT : MAT_OP_APPEND;
    }
    if (ev->skip || (ev->op == MAT_OP_DELETE && f->key_cnt == 0))
        return 0;
    static const av_pv_t null_pv = {.kind = AV_PV_NULL};
    const mat_column_t *cols = mat_map_table(map)->cols;
    mat_map_row_begin(map);
    for (size_t i = 0; i < f->col_cnt; i++) {
        const fast_col_t *c = &f->cols[i];
        size_t row_slot = after ? c->row : c->before;
        const av_pv_t *pv = &null_pv;
        if (c->key != FAST_NONE)
            pv = &f->kslots[c->key];
        else if (present && row_slot != FAST_NONE)
            pv = &f->vslots[row_slot];
        if (mat_map_value(map, i, pv, &values[i]) != 0 ||
            (values[i].is_null && cols[i].is_key))
            return MW_ERR_INVALID;
    }
    return 0;
}
