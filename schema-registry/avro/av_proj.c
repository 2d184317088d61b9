/*
 * av_proj: compiles paths over a serde plan into per-record actions, and
 * reads Avro binary with them (av_proj.h).
 *
 * The compiled form mirrors the plan: for each record on some path, one
 * action per writer field, in writer order (the order of the bytes):
 *   SKIP   a writer field the reader drops: parsed as av_serde skips it;
 *   CHECK  a reader field no path reads: parsed and checked as av_serde
 *          decodes it (UTF-8, enum and union indexes), nothing kept;
 *   SLOT   a path ends here: the scalar goes into its slot;
 *   SUB    paths go on below: the record's own actions.
 * The walker below is av_serde_dec.c's decoder with the output replaced
 * by a keep flag, check for check: the two must refuse the same bytes.
 * Any change to the checks there belongs here too (test_av_proj.c
 * compares them over random and mutated records).
 */
#include "av_proj.h"

#include <stdlib.h>
#include <string.h>

#include "av_serde_int.h"
#include "av_utf8.h"
#include "av_varint.h"

#define PJ_MAX_EMPTY_ITEMS ((uint64_t)1 << 20) /* av_serde_dec's limit */

typedef enum pj_what { PJ_SKIP = 0, PJ_CHECK, PJ_SLOT, PJ_SUB } pj_what_t;

typedef struct pj_act {
    uint8_t what; /* pj_what_t */
    uint32_t arg; /* PJ_SLOT: slot; PJ_SUB: index in subs */
} pj_act_t;

/* One record's actions: acts[i] for writer field i of record op `op`;
 * `here` the slot of a path ending on the record itself, or AV_OP_NONE. */
typedef struct pj_sub {
    uint32_t op;
    uint32_t here;
    pj_act_t *acts;
} pj_sub_t;

struct av_proj {
    const av_op_t *ops;
    uint32_t root_op;
    pj_act_t root;
    pj_sub_t *subs;
    size_t sub_cnt, sub_cap;
    size_t slot_cnt;
};

/* ---- compiling -----------------------------------------------------------*/

typedef struct pj_build {
    av_proj_t *pj;
    const av_proj_path_t *paths;
    mw_err_t *err;
} pj_build_t;

/* True when every value op idx can produce is a scalar or null. */
static bool pj_leaf_ok(const av_op_t *ops, uint32_t idx)
{
    const av_op_t *op = &ops[idx];
    switch ((av_op_kind_t)op->kind) {
    case AV_OP_ARRAY:
    case AV_OP_MAP:
    case AV_OP_RECORD:
        return false;
    case AV_OP_UNION:
        for (uint32_t b = 0; b < op->cnt; b++)
            if (op->map[b] != AV_OP_NONE && !pj_leaf_ok(ops, op->map[b]))
                return false;
        return true;
    case AV_OP_WRAP:
        return pj_leaf_ok(ops, op->child);
    default:
        return true;
    }
}

/* The one record op a value of op idx can be (through unions, whose other
 * branches may only be null), or AV_OP_NONE. */
static uint32_t pj_record_of(const av_op_t *ops, uint32_t idx)
{
    const av_op_t *op = &ops[idx];
    if (op->kind == AV_OP_RECORD)
        return idx;
    if (op->kind == AV_OP_WRAP)
        return pj_record_of(ops, op->child);
    if (op->kind != AV_OP_UNION)
        return AV_OP_NONE;
    uint32_t rec = AV_OP_NONE;
    for (uint32_t b = 0; b < op->cnt; b++) {
        uint32_t m = op->map[b];
        if (m == AV_OP_NONE || ops[m].kind == AV_OP_NULL)
            continue;
        uint32_t r = pj_record_of(ops, m);
        if (r == AV_OP_NONE || (rec != AV_OP_NONE && r != rec))
            return AV_OP_NONE;
        rec = r;
    }
    return rec;
}

static int pj_value(pj_build_t *b, uint32_t idx, const uint32_t *set,
                    size_t set_cnt, size_t depth, pj_act_t *act);

/* The actions of record op rec for the paths in set (depth names
 * matched so far). */
static int pj_record(pj_build_t *b, uint32_t rec, uint32_t here,
                     const uint32_t *set, size_t set_cnt, size_t depth,
                     pj_act_t *act)
{
    av_proj_t *pj = b->pj;
    const av_op_t *op = &pj->ops[rec];
    for (uint32_t i = op->cnt; i < op->cnt + op->nextra; i++)
        for (size_t k = 0; k < set_cnt; k++)
            if (strcmp(b->paths[set[k]].names[depth], op->flds[i].name) == 0)
                return mw_err_set(b->err, MW_ERR_UNSUPPORTED,
                                  "field '%s' comes from the reader's default",
                                  op->flds[i].name);
    if (pj->sub_cnt == pj->sub_cap) {
        size_t cap = pj->sub_cap ? pj->sub_cap * 2 : 4;
        pj_sub_t *s = realloc(pj->subs, cap * sizeof *s);
        if (!s)
            return mw_err_set(b->err, MW_ERR_NOMEM, "out of memory");
        pj->subs = s;
        pj->sub_cap = cap;
    }
    size_t me = pj->sub_cnt++;
    pj_act_t *acts = calloc(op->cnt ? op->cnt : 1, sizeof *acts);
    pj->subs[me] = (pj_sub_t){.op = rec, .here = here, .acts = acts};
    uint32_t *sub = malloc((set_cnt ? set_cnt : 1) * sizeof *sub);
    int rc =
        acts && sub ? 0 : mw_err_set(b->err, MW_ERR_NOMEM, "out of memory");
    for (uint32_t i = 0; rc == 0 && i < op->cnt; i++) {
        const av_fld_t *f = &op->flds[i];
        size_t n = 0;
        for (size_t k = 0; f->rfield != AV_OP_NONE && k < set_cnt; k++)
            if (strcmp(b->paths[set[k]].names[depth], f->name) == 0)
                sub[n++] = set[k];
        pj_act_t a = {.what = f->rfield == AV_OP_NONE ? PJ_SKIP : PJ_CHECK};
        if (n > 0)
            rc = pj_value(b, f->op, sub, n, depth + 1, &a);
        /* pj->subs may have moved: index it again. */
        pj->subs[me].acts[i] = a;
    }
    free(sub);
    *act = (pj_act_t){.what = PJ_SUB, .arg = (uint32_t)me};
    return rc;
}

/* The action for a value of op idx that the paths in set reach. */
static int pj_value(pj_build_t *b, uint32_t idx, const uint32_t *set,
                    size_t set_cnt, size_t depth, pj_act_t *act)
{
    const av_op_t *ops = b->pj->ops;
    size_t ends = 0, k = 0, n = 0;
    uint32_t here = AV_OP_NONE;
    for (k = 0; k < set_cnt; k++)
        if (b->paths[set[k]].cnt == depth)
            ends++, here = set[k];
    if (ends > 1)
        return mw_err_set(b->err, MW_ERR_INVALID, "two equal paths");
    if (ends == 1 && set_cnt == 1 && pj_leaf_ok(ops, idx)) {
        *act = (pj_act_t){.what = PJ_SLOT, .arg = here};
        return 0;
    }
    uint32_t rec = pj_record_of(ops, idx);
    if (rec == AV_OP_NONE)
        return mw_err_set(b->err, MW_ERR_UNSUPPORTED,
                          ends ? "a path ends on an array, a map or a union "
                                 "of several types"
                               : "a path steps into a value that is not a "
                                 "record");
    /* The paths going on below, without the one ending here. */
    uint32_t *below = malloc((set_cnt ? set_cnt : 1) * sizeof *below);
    if (!below)
        return mw_err_set(b->err, MW_ERR_NOMEM, "out of memory");
    for (k = 0; k < set_cnt; k++)
        if (set[k] != here)
            below[n++] = set[k];
    int rc = pj_record(b, rec, here, below, n, depth, act);
    free(below);
    return rc;
}

av_proj_t *av_proj_new(const av_serde_plan_t *plan, const av_proj_path_t *paths,
                       size_t path_cnt, mw_err_t *err)
{
    av_proj_t *pj = calloc(1, sizeof *pj);
    uint32_t *all = malloc((path_cnt ? path_cnt : 1) * sizeof *all);
    if (!pj || !all) {
        free(pj);
        free(all);
        mw_err_set(err, MW_ERR_NOMEM, "out of memory");
        return NULL;
    }
    pj->ops = plan->ops;
    pj->root_op = plan->root;
    pj->slot_cnt = path_cnt;
    for (size_t i = 0; i < path_cnt; i++)
        all[i] = (uint32_t)i;
    pj_build_t b = {.pj = pj, .paths = paths, .err = err};
    int rc =
        path_cnt ? pj_value(&b, plan->root, all, path_cnt, 0, &pj->root) : 0;
    free(all);
    if (rc != 0) {
        av_proj_destroy(pj);
        return NULL;
    }
    return pj;
}

void av_proj_destroy(av_proj_t *proj)
{
    if (!proj)
        return;
    for (size_t i = 0; i < proj->sub_cnt; i++)
        free(proj->subs[i].acts);
    free(proj->subs);
    free(proj);
}

/* ---- reading -------------------------------------------------------------*/

typedef struct pj_rd {
    const uint8_t *p, *end;
    const av_proj_t *pj;
    const av_op_t *ops;
    av_pv_t *slots;
    int depth;
} pj_rd_t;

static size_t rd_left(const pj_rd_t *r)
{
    return (size_t)(r->end - r->p);
}

static int rd_long(pj_rd_t *r, int64_t *v)
{
    return av_varint_get(&r->p, r->end, v) == AV_VARINT_OK ? 0 : -1;
}

/* av_serde_dec's int: at most 5 bytes, within 32 bits. */
static int rd_int(pj_rd_t *r, int64_t *v)
{
    const uint8_t *start = r->p;
    if (av_varint_get(&r->p, r->end, v) != AV_VARINT_OK || r->p - start > 5 ||
        *v < INT32_MIN || *v > INT32_MAX)
        return -1;
    return 0;
}

static int rd_len(pj_rd_t *r, size_t *n)
{
    int64_t v;
    if (rd_long(r, &v) != 0 || v < 0 || (uint64_t)v > rd_left(r))
        return -1;
    *n = (size_t)v;
    return 0;
}

static int rd_push(pj_rd_t *r)
{
    if (r->depth >= AV_SERDE_MAX_DEPTH)
        return -1;
    r->depth++;
    return 0;
}

/* A union value's branch index, checked as av_serde_dec's dec_union
 * checks it; *next: the op that reads the branch. */
static int rd_branch(pj_rd_t *r, const av_op_t *op, uint32_t *next)
{
    int64_t b;
    if (rd_long(r, &b) != 0 || b < 0 || (uint64_t)b >= op->cnt ||
        op->map[b] == AV_OP_NONE)
        return -1;
    *next = op->map[b];
    return 0;
}

/* A scalar op's value into pv (NULL: parse and check only, keep says
 * whether av_serde would build it, i.e. check it). */
static int rd_scalar(pj_rd_t *r, const av_op_t *op, bool keep, av_pv_t *pv)
{
    int64_t v;
    size_t n;
    av_pv_t tmp;
    if (!pv)
        pv = &tmp;
    switch ((av_op_kind_t)op->kind) {
    case AV_OP_NULL:
        pv->kind = AV_PV_NULL;
        return 0;
    case AV_OP_BOOL:
        if (r->p == r->end || *r->p > 1)
            return -1;
        *pv = (av_pv_t){.kind = AV_PV_BOOL, .u.b = *r->p++ != 0};
        return 0;
    case AV_OP_INT:
    case AV_OP_LONG:
        if ((op->kind == AV_OP_INT ? rd_int(r, &v) : rd_long(r, &v)) != 0)
            return -1;
        if (op->conv == AV_CONV_REAL)
            *pv = (av_pv_t){.kind = AV_PV_REAL, .u.d = (double)v};
        else if (op->conv == AV_CONV_F32)
            *pv = (av_pv_t){.kind = AV_PV_REAL, .u.d = (double)(float)v};
        else
            *pv = (av_pv_t){.kind = AV_PV_INT, .u.i = v};
        return 0;
    case AV_OP_FLOAT:
    case AV_OP_DOUBLE: {
        n = op->kind == AV_OP_FLOAT ? 4 : 8;
        if (rd_left(r) < n)
            return -1;
        uint64_t u = 0;
        for (size_t i = 0; i < n; i++)
            u |= (uint64_t)r->p[i] << (8 * i);
        r->p += n;
        double d;
        if (n == 4) {
            uint32_t u32 = (uint32_t)u;
            float f;
            memcpy(&f, &u32, sizeof f);
            d = f;
        } else {
            memcpy(&d, &u, sizeof d);
        }
        *pv = (av_pv_t){.kind = AV_PV_REAL, .u.d = d};
        return 0;
    }
    case AV_OP_BYTES:
    case AV_OP_STRING: {
        if (rd_len(r, &n) != 0)
            return -1;
        const char *s = (const char *)r->p;
        r->p += n;
        bool as_string = op->kind == AV_OP_STRING ? op->conv != AV_CONV_BYTES
                                                  : op->conv == AV_CONV_STRING;
        if (as_string && keep && !av_utf8_valid(s, n))
            return -1;
        *pv = (av_pv_t){.kind = as_string ? AV_PV_STRING : AV_PV_BYTES,
                        .u.s = {s, n}};
        return 0;
    }
    case AV_OP_FIXED:
        if (rd_left(r) < op->cnt)
            return -1;
        *pv = (av_pv_t){.kind = AV_PV_BYTES,
                        .u.s = {(const char *)r->p, op->cnt}};
        r->p += op->cnt;
        return 0;
    case AV_OP_ENUM: {
        if (rd_int(r, &v) != 0 || v < 0 || (uint64_t)v >= op->cnt ||
            op->map[v] == AV_OP_NONE)
            return -1;
        const char *sym = op->node->symbols[op->map[v]];
        *pv = (av_pv_t){.kind = AV_PV_STRING, .u.s = {sym, strlen(sym)}};
        return 0;
    }
    default:
        return -1;
    }
}

static int rd_walk(pj_rd_t *r, uint32_t idx, bool keep);

/* Array and map blocks, as av_serde_dec's dec_blocks. */
static int rd_blocks(pj_rd_t *r, const av_op_t *op, bool keep)
{
    uint64_t total = 0;
    size_t per = r->ops[op->child].min_bytes + (op->kind == AV_OP_MAP);
    for (;;) {
        int64_t cnt, size;
        if (rd_long(r, &cnt) != 0)
            return -1;
        if (cnt == 0)
            return 0;
        if (cnt < 0) {
            if (cnt == INT64_MIN || rd_long(r, &size) != 0 || size < 0 ||
                (uint64_t)size > rd_left(r))
                return -1;
            cnt = -cnt;
            if (!keep) {
                r->p += size;
                continue;
            }
        }
        if (per > 0 && (uint64_t)cnt > rd_left(r) / per)
            return -1;
        if (per == 0 && (uint64_t)cnt + total > PJ_MAX_EMPTY_ITEMS)
            return -1;
        for (int64_t i = 0; i < cnt; i++, total++) {
            size_t kn = 0;
            const char *kp = NULL;
            if (op->kind == AV_OP_MAP) {
                if (rd_len(r, &kn) != 0)
                    return -1;
                kp = (const char *)r->p;
                r->p += kn;
            }
            if (rd_push(r) != 0 || rd_walk(r, op->child, keep) != 0)
                return -1;
            r->depth--;
            if (kp && keep && !av_utf8_valid(kp, kn))
                return -1;
        }
    }
}

/* Parses one value of op idx as av_serde_dec's dec() does with an output
 * (keep) or without one. */
static int rd_walk(pj_rd_t *r, uint32_t idx, bool keep)
{
    const av_op_t *op = &r->ops[idx];
    uint32_t next;
    switch ((av_op_kind_t)op->kind) {
    case AV_OP_ARRAY:
    case AV_OP_MAP:
        return rd_blocks(r, op, keep);
    case AV_OP_RECORD:
        for (uint32_t i = 0; i < op->cnt; i++) {
            const av_fld_t *f = &op->flds[i];
            if (rd_push(r) != 0 ||
                rd_walk(r, f->op, keep && f->rfield != AV_OP_NONE) != 0)
                return -1;
            r->depth--;
        }
        return 0;
    case AV_OP_UNION:
        return rd_branch(r, op, &next) != 0 ? -1 : rd_walk(r, next, keep);
    case AV_OP_WRAP:
        return rd_walk(r, op->child, keep);
    default:
        return rd_scalar(r, op, keep, NULL);
    }
}

/* A value the paths of slot `slot` end on (through unions). */
static int rd_leaf(pj_rd_t *r, uint32_t idx, uint32_t slot)
{
    const av_op_t *op = &r->ops[idx];
    uint32_t next;
    if (op->kind == AV_OP_UNION)
        return rd_branch(r, op, &next) != 0 ? -1 : rd_leaf(r, next, slot);
    if (op->kind == AV_OP_WRAP)
        return rd_leaf(r, op->child, slot);
    return rd_scalar(r, op, true, &r->slots[slot]);
}

static int rd_act(pj_rd_t *r, uint32_t idx, pj_act_t act);

/* A value on the way to deeper paths: a record, or a union of it and
 * null (whose null leaves every slot below null). */
static int rd_sub(pj_rd_t *r, uint32_t idx, uint32_t sub)
{
    const av_op_t *op = &r->ops[idx];
    uint32_t next;
    switch ((av_op_kind_t)op->kind) {
    case AV_OP_NULL:
        return 0;
    case AV_OP_UNION:
        return rd_branch(r, op, &next) != 0 ? -1 : rd_sub(r, next, sub);
    case AV_OP_WRAP:
        return rd_sub(r, op->child, sub);
    case AV_OP_RECORD: {
        const pj_sub_t *s = &r->pj->subs[sub];
        const pj_act_t *acts = s->acts;
        if (s->here != AV_OP_NONE)
            r->slots[s->here].kind = AV_PV_RECORD;
        for (uint32_t i = 0; i < op->cnt; i++) {
            if (rd_push(r) != 0 || rd_act(r, op->flds[i].op, acts[i]) != 0)
                return -1;
            r->depth--;
        }
        return 0;
    }
    default:
        return -1; /* compiling refuses any other op on a path */
    }
}

static int rd_act(pj_rd_t *r, uint32_t idx, pj_act_t act)
{
    switch ((pj_what_t)act.what) {
    case PJ_SKIP:
        return rd_walk(r, idx, false);
    case PJ_CHECK:
        return rd_walk(r, idx, true);
    case PJ_SLOT:
        return rd_leaf(r, idx, act.arg);
    case PJ_SUB:
        return rd_sub(r, idx, act.arg);
    }
    return -1;
}

int av_proj_read(const av_proj_t *proj, const void *data, size_t len,
                 av_pv_t *slots)
{
    pj_rd_t r = {.p = data ? data : (const uint8_t *)"",
                 .pj = proj,
                 .ops = proj->ops,
                 .slots = slots};
    if (!data && len > 0)
        return -1;
    r.end = r.p + len;
    for (size_t i = 0; i < proj->slot_cnt; i++)
        slots[i].kind = AV_PV_NULL;
    pj_act_t root = proj->slot_cnt ? proj->root : (pj_act_t){.what = PJ_CHECK};
    if (rd_act(&r, proj->root_op, root) != 0)
        return -1;
    return r.p == r.end ? 0 : -1;
}
