/*
 * sr_serde_plan: compiles a (writer, reader) schema pair into the flat op
 * array that sr_serde_dec.c and sr_serde_enc.c run per message.
 *
 * Every decision of Avro's schema resolution is taken here, once: which
 * writer field feeds which reader field (by name or reader alias), which
 * writer fields are only skipped, which reader fields take their default
 * (pre-converted to Avro JSON), numeric and string/bytes promotions, the
 * enum symbol map (with the reader's default symbol), and for unions the
 * reader branch each writer branch lands in.  The per-message code then
 * only follows indexes.  Records are memoised per (writer, reader) node
 * pair, which both shares identical sub-plans and turns recursive schemas
 * into cycles of op indexes.
 *
 * Compiling runs on the caller's thread; a finished plan is immutable.
 */
#include "sr_serde.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sr_serde_int.h"

typedef struct memo {
    const sr_node_t *w, *r;
    uint32_t op;
} memo_t;

typedef struct cctx {
    sr_serde_plan_t *plan;
    memo_t *memo;
    size_t memo_cnt, memo_cap;
    sr_path_t path;
    mw_err_t *err;
} cctx_t;

static uint32_t compile(cctx_t *c, const sr_node_t *w, const sr_node_t *r);

/* ------------------------------------------------------------ helpers */

const char *sr_serde_branch_name(const sr_node_t *node)
{
    if (node->type == SR_RECORD || node->type == SR_ENUM ||
        node->type == SR_FIXED)
        return node->fullname;
    return sr_type_name(node->type);
}

static int cerr(cctx_t *c, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static int cerr(cctx_t *c, const char *fmt, ...)
{
    char path[256], msg[384];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    sr_serde_path_format(&c->path, path, sizeof(path));
    return mw_err_set(c->err, MW_ERR_INVALID, "%s: %s", path, msg);
}

static uint32_t add_op(cctx_t *c, sr_op_kind_t kind, const sr_node_t *w,
                       const sr_node_t *r)
{
    sr_serde_plan_t *plan = c->plan;
    if (plan->op_cnt == plan->op_cap) {
        uint32_t cap = plan->op_cap ? plan->op_cap * 2 : 16;
        sr_op_t *ops = realloc(plan->ops, cap * sizeof(*ops));
        if (!ops) {
            mw_err_set(c->err, MW_ERR_NOMEM, "out of memory compiling plan");
            return SR_OP_NONE;
        }
        plan->ops = ops;
        plan->op_cap = cap;
    }
    sr_op_t *op = &plan->ops[plan->op_cnt];
    memset(op, 0, sizeof(*op));
    op->kind = (uint8_t)kind;
    op->wnode = w;
    op->node = r;
    op->child = SR_OP_NONE;
    return plan->op_cnt++;
}

/* Named types match on their unqualified name, or when the reader lists
 * the writer's full name among its aliases (Avro 1.11 resolution). */
static int names_match(const sr_node_t *w, const sr_node_t *r)
{
    if (strcmp(w->name, r->name) == 0)
        return 1;
    for (size_t i = 0; i < r->alias_cnt; i++)
        if (strcmp(r->aliases[i], w->fullname) == 0)
            return 1;
    return 0;
}

/* Reader types a writer primitive may be promoted to. */
static int promotes(sr_type_t w, sr_type_t r)
{
    switch (w) {
    case SR_INT:
        return r == SR_LONG || r == SR_FLOAT || r == SR_DOUBLE;
    case SR_LONG:
        return r == SR_FLOAT || r == SR_DOUBLE;
    case SR_FLOAT:
        return r == SR_DOUBLE;
    case SR_STRING:
        return r == SR_BYTES;
    case SR_BYTES:
        return r == SR_STRING;
    default:
        return 0;
    }
}

static int same_kind(const sr_node_t *w, const sr_node_t *r)
{
    if (w->type != r->type)
        return 0;
    if (w->type == SR_RECORD || w->type == SR_ENUM || w->type == SR_FIXED)
        return names_match(w, r);
    return 1;
}

/* The reader union branch a writer (non-union) type resolves to: the
 * first exact match, else the first promotion, else SR_OP_NONE. */
static uint32_t match_branch(const sr_node_t *w, const sr_node_t *ru)
{
    /* 1. the same type (same full name): identity plans map i -> i even
     *    when two branches share a short name in different namespaces;
     * 2. the same type by resolution's name rules;
     * 3. a promotion. */
    for (size_t i = 0; i < ru->branch_cnt; i++) {
        const sr_node_t *b = ru->branches[i];
        if (b->type == w->type &&
            (!w->fullname || !b->fullname ||
             strcmp(w->fullname, b->fullname) == 0))
            return (uint32_t)i;
    }
    for (size_t i = 0; i < ru->branch_cnt; i++)
        if (same_kind(w, ru->branches[i]))
            return (uint32_t)i;
    for (size_t i = 0; i < ru->branch_cnt; i++)
        if (promotes(w->type, ru->branches[i]->type))
            return (uint32_t)i;
    return SR_OP_NONE;
}

/* ------------------------------------------------------------ defaults */

static json_t *default_record(const sr_node_t *node, const json_t *dflt,
                              int depth)
{
    if (!json_is_object(dflt))
        return NULL;
    json_t *obj = json_object();
    for (size_t i = 0; obj && i < node->field_cnt; i++) {
        const sr_field_t *f = &node->fields[i];
        const json_t *v = json_object_get(dflt, f->name);
        json_t *conv = sr_serde_default_json(f->type, v ? v : f->dflt,
                                             depth + 1);
        if (!conv || json_object_set_new(obj, f->name, conv) != 0) {
            json_decref(obj);
            obj = NULL;
        }
    }
    return obj;
}

static json_t *default_container(const sr_node_t *node, const json_t *dflt,
                                 int depth)
{
    json_t *out = node->type == SR_ARRAY ? json_array() : json_object();
    if (node->type == SR_ARRAY ? !json_is_array(dflt) : !json_is_object(dflt))
        goto fail;
    if (node->type == SR_ARRAY) {
        size_t i;
        const json_t *v;
        json_array_foreach(dflt, i, v) {
            json_t *e = sr_serde_default_json(node->items, v, depth + 1);
            if (!e || json_array_append_new(out, e) != 0)
                goto fail;
        }
        return out;
    }
    const char *k;
    const json_t *v;
    json_object_foreach((json_t *)dflt, k, v) {
        json_t *e = sr_serde_default_json(node->values, v, depth + 1);
        if (!e || json_object_set_new(out, k, e) != 0)
            goto fail;
    }
    return out;
fail:
    json_decref(out);
    return NULL;
}

/* A union default is a value of its first branch (Avro 1.11); later
 * branches are tried too, as newer writers of schemas allow. */
static json_t *default_union(const sr_node_t *node, const json_t *dflt,
                             int depth)
{
    for (size_t i = 0; i < node->branch_cnt; i++) {
        const sr_node_t *b = node->branches[i];
        json_t *v = sr_serde_default_json(b, dflt, depth + 1);
        if (!v)
            continue;
        if (b->type == SR_NULL)
            return v;
        json_t *w = json_object();
        if (w && json_object_set_new(w, sr_serde_branch_name(b), v) == 0)
            return w;
        json_decref(w);
        return NULL;
    }
    return NULL;
}

json_t *sr_serde_default_json(const sr_node_t *node, const json_t *dflt,
                              int depth)
{
    if (!dflt || depth > SR_SERDE_MAX_DEPTH)
        return NULL;
    switch (node->type) {
    case SR_NULL:
        return json_is_null(dflt) ? json_null() : NULL;
    case SR_BOOLEAN:
        return json_is_boolean(dflt) ? json_deep_copy(dflt) : NULL;
    case SR_INT:
    case SR_LONG:
        return json_is_integer(dflt) ? json_deep_copy(dflt) : NULL;
    case SR_FLOAT:
    case SR_DOUBLE:
        return json_is_number(dflt) ? json_real(json_number_value(dflt))
                                    : NULL;
    case SR_BYTES:
    case SR_STRING:
    case SR_FIXED:
    case SR_ENUM:
        return json_is_string(dflt) ? json_deep_copy(dflt) : NULL;
    case SR_RECORD:
        return default_record(node, dflt, depth);
    case SR_ARRAY:
    case SR_MAP:
        return default_container(node, dflt, depth);
    case SR_UNION:
        return default_union(node, dflt, depth);
    default:
        return NULL;
    }
}

/* ------------------------------------------------------------ compile */

static uint32_t compile_enum(cctx_t *c, const sr_node_t *w,
                             const sr_node_t *r)
{
    uint32_t idx = add_op(c, SR_OP_ENUM, w, r);
    if (idx == SR_OP_NONE)
        return idx;
    uint32_t *map = calloc(w->symbol_cnt ? w->symbol_cnt : 1, sizeof(*map));
    if (!map) {
        mw_err_set(c->err, MW_ERR_NOMEM, "out of memory compiling plan");
        return SR_OP_NONE;
    }
    uint32_t dflt = SR_OP_NONE;
    for (size_t j = 0; r->enum_default && j < r->symbol_cnt; j++)
        if (strcmp(r->symbols[j], r->enum_default) == 0)
            dflt = (uint32_t)j;
    for (size_t i = 0; i < w->symbol_cnt; i++) {
        map[i] = dflt;
        for (size_t j = 0; j < r->symbol_cnt; j++)
            if (strcmp(w->symbols[i], r->symbols[j]) == 0)
                map[i] = (uint32_t)j;
    }
    sr_op_t *op = &c->plan->ops[idx];
    op->map = map;
    op->cnt = (uint32_t)w->symbol_cnt;
    op->min_bytes = 1;
    op->symbol_dflt = r->enum_default;
    return idx;
}

static const sr_field_t *reader_field(const sr_node_t *r, const char *name)
{
    for (size_t i = 0; i < r->field_cnt; i++) {
        const sr_field_t *f = &r->fields[i];
        if (strcmp(f->name, name) == 0)
            return f;
    }
    for (size_t i = 0; i < r->field_cnt; i++) {
        const sr_field_t *f = &r->fields[i];
        for (size_t a = 0; a < f->alias_cnt; a++)
            if (strcmp(f->aliases[a], name) == 0)
                return f;
    }
    return NULL;
}

/* Writer fields in writer order: read into their reader field or only
 * skipped (compiled against themselves). */
static int compile_writer_fields(cctx_t *c, uint32_t idx, const sr_node_t *w,
                                 const sr_node_t *r, char *seen)
{
    for (size_t i = 0; i < w->field_cnt; i++) {
        const sr_field_t *wf = &w->fields[i];
        const sr_field_t *rf = reader_field(r, wf->name);
        if (rf && seen[rf->index])
            rf = NULL; /* two writer fields aliasing one reader field */
        c->path.seg[c->path.depth].key = wf->name;
        c->path.depth++;
        uint32_t sub = compile(c, wf->type, rf ? rf->type : wf->type);
        c->path.depth--;
        if (sub == SR_OP_NONE)
            return -1;
        sr_fld_t *e = &c->plan->ops[idx].flds[i];
        e->op = sub;
        e->rfield = rf ? (uint32_t)rf->index : SR_OP_NONE;
        e->name = rf ? rf->name : wf->name;
        if (rf) {
            seen[rf->index] = 1;
            e->dflt = sr_serde_default_json(rf->type, rf->dflt, 0);
        }
        c->plan->ops[idx].min_bytes += c->plan->ops[sub].min_bytes;
    }
    return 0;
}

static int compile_defaults(cctx_t *c, uint32_t idx, const sr_node_t *w,
                            const sr_node_t *r, const char *seen)
{
    uint32_t n = (uint32_t)w->field_cnt;
    for (size_t j = 0; j < r->field_cnt; j++) {
        const sr_field_t *rf = &r->fields[j];
        if (seen[j])
            continue;
        json_t *d = sr_serde_default_json(rf->type, rf->dflt, 0);
        if (!d)
            return cerr(c, "reader field '%s' of %s has no %sdefault and is "
                        "missing in the writer", rf->name, r->fullname,
                        rf->dflt ? "usable " : "");
        sr_fld_t *e = &c->plan->ops[idx].flds[n++];
        e->name = rf->name;
        e->op = SR_OP_NONE;
        e->rfield = (uint32_t)j;
        e->dflt = d;
        c->plan->ops[idx].nextra++;
    }
    return 0;
}

static uint32_t compile_record(cctx_t *c, const sr_node_t *w,
                               const sr_node_t *r)
{
    for (size_t i = 0; i < c->memo_cnt; i++)
        if (c->memo[i].w == w && c->memo[i].r == r)
            return c->memo[i].op;
    uint32_t idx = add_op(c, SR_OP_RECORD, w, r);
    if (idx == SR_OP_NONE)
        return idx;
    if (c->memo_cnt == c->memo_cap) {
        size_t cap = c->memo_cap ? c->memo_cap * 2 : 8;
        memo_t *m = realloc(c->memo, cap * sizeof(*m));
        if (!m)
            goto nomem;
        c->memo = m;
        c->memo_cap = cap;
    }
    c->memo[c->memo_cnt++] = (memo_t){w, r, idx};
    sr_fld_t *flds = calloc(w->field_cnt + r->field_cnt + 1, sizeof(*flds));
    char *seen = calloc(r->field_cnt + 1, 1);
    c->plan->ops[idx].flds = flds;
    c->plan->ops[idx].cnt = (uint32_t)w->field_cnt;
    c->plan->ops[idx].rcnt = (uint32_t)r->field_cnt;
    if (!flds || !seen) {
        free(seen);
        goto nomem;
    }
    int rc = compile_writer_fields(c, idx, w, r, seen);
    if (rc == 0)
        rc = compile_defaults(c, idx, w, r, seen);
    free(seen);
    return rc == 0 ? idx : SR_OP_NONE;
nomem:
    mw_err_set(c->err, MW_ERR_NOMEM, "out of memory compiling plan");
    return SR_OP_NONE;
}

/* A writer union: each branch resolved on its own.  A branch the reader
 * cannot take keeps its reason for the message that uses it. */
static int union_branch(cctx_t *c, uint32_t idx, size_t i,
                        const sr_node_t *wb, const sr_node_t *r)
{
    const sr_node_t *rb = r;
    uint32_t sub = SR_OP_NONE;
    char why[MW_ERR_MSG_MAX];
    mw_err_t sub_err = {0};
    mw_err_t *saved = c->err;

    if (r->type == SR_UNION) {
        uint32_t b = match_branch(wb, r);
        rb = b == SR_OP_NONE ? NULL : r->branches[b];
    }
    if (rb) {
        c->err = &sub_err;
        sub = compile(c, wb, rb);
        c->err = saved;
        if (sub == SR_OP_NONE && sub_err.code == MW_ERR_NOMEM)
            return mw_err_set(saved, MW_ERR_NOMEM, "%s", sub_err.msg);
    }
    sr_op_t *op = &c->plan->ops[idx];
    op->map[i] = sub;
    if (sub == SR_OP_NONE) {
        snprintf(why, sizeof(why), "writer union branch %zu (%.80s) %.400s", i,
                 sr_serde_branch_name(wb),
                 rb ? sub_err.msg : "matches no branch of the reader");
        op->fail[i] = strdup(why);
        return op->fail[i] ? 0 : mw_err_set(saved, MW_ERR_NOMEM, "nomem");
    }
    if (r->type == SR_UNION && rb->type != SR_NULL)
        op->names[i] = sr_serde_branch_name(rb);
    return 0;
}

static uint32_t compile_union(cctx_t *c, const sr_node_t *w,
                              const sr_node_t *r)
{
    uint32_t idx = add_op(c, SR_OP_UNION, w, r);
    if (idx == SR_OP_NONE)
        return idx;
    size_t n = w->branch_cnt ? w->branch_cnt : 1;
    sr_op_t *op = &c->plan->ops[idx];
    op->map = calloc(n, sizeof(*op->map));
    op->names = calloc(n, sizeof(*op->names));
    op->fail = calloc(n, sizeof(*op->fail));
    op->cnt = (uint32_t)w->branch_cnt;
    op->min_bytes = 1;
    if (!op->map || !op->names || !op->fail) {
        mw_err_set(c->err, MW_ERR_NOMEM, "out of memory compiling plan");
        return SR_OP_NONE;
    }
    for (size_t i = 0; i < w->branch_cnt; i++)
        if (union_branch(c, idx, i, w->branches[i], r) != 0)
            return SR_OP_NONE;
    return idx;
}

/* Reader union, writer not: resolve against the matching branch, then wrap
 * the value in {"branch": v} (null stays bare). */
static uint32_t compile_wrap(cctx_t *c, const sr_node_t *w,
                             const sr_node_t *r)
{
    uint32_t b = match_branch(w, r);
    if (b == SR_OP_NONE) {
        cerr(c, "writer type %s matches no branch of the reader union",
             sr_serde_branch_name(w));
        return SR_OP_NONE;
    }
    const sr_node_t *rb = r->branches[b];
    uint32_t sub = compile(c, w, rb);
    if (sub == SR_OP_NONE)
        return sub;
    uint32_t idx = add_op(c, SR_OP_WRAP, w, r);
    if (idx == SR_OP_NONE)
        return idx;
    sr_op_t *op = &c->plan->ops[idx];
    op->names = calloc(1, sizeof(*op->names));
    if (!op->names) {
        mw_err_set(c->err, MW_ERR_NOMEM, "out of memory compiling plan");
        return SR_OP_NONE;
    }
    op->names[0] = rb->type == SR_NULL ? NULL : sr_serde_branch_name(rb);
    op->child = sub;
    op->min_bytes = c->plan->ops[sub].min_bytes;
    return idx;
}

static const size_t prim_min[SR_TYPE__CNT] = {
    [SR_BOOLEAN] = 1, [SR_INT] = 1,   [SR_LONG] = 1,  [SR_FLOAT] = 4,
    [SR_DOUBLE] = 8,  [SR_BYTES] = 1, [SR_STRING] = 1,
};

static const uint8_t prim_op[SR_TYPE__CNT] = {
    [SR_NULL] = SR_OP_NULL,     [SR_BOOLEAN] = SR_OP_BOOL,
    [SR_INT] = SR_OP_INT,       [SR_LONG] = SR_OP_LONG,
    [SR_FLOAT] = SR_OP_FLOAT,   [SR_DOUBLE] = SR_OP_DOUBLE,
    [SR_BYTES] = SR_OP_BYTES,   [SR_STRING] = SR_OP_STRING,
};

/* Scalars, including promotions (the conversion is set by the reader). */
static uint32_t compile_scalar(cctx_t *c, const sr_node_t *w,
                               const sr_node_t *r)
{
    uint32_t idx = add_op(c, (sr_op_kind_t)prim_op[w->type], w, r);
    if (idx == SR_OP_NONE)
        return idx;
    sr_op_t *op = &c->plan->ops[idx];
    op->min_bytes = prim_min[w->type];
    if (w->type != r->type) {
        if (r->type == SR_FLOAT && w->type != SR_FLOAT)
            op->conv = SR_CONV_F32;
        else if (r->type == SR_DOUBLE || r->type == SR_FLOAT)
            op->conv = SR_CONV_REAL;
        else if (r->type == SR_BYTES)
            op->conv = SR_CONV_BYTES;
        else if (r->type == SR_STRING)
            op->conv = SR_CONV_STRING;
    } else if (w->type == SR_FLOAT || w->type == SR_DOUBLE) {
        op->conv = SR_CONV_REAL;
    }
    if (r->logical == SR_LOGICAL_DECIMAL && w->type == r->type) {
        op->decimal = 1;
        op->scale = (uint8_t)(r->scale > 255 ? 255 : r->scale);
    }
    return idx;
}

static uint32_t compile_same(cctx_t *c, const sr_node_t *w,
                             const sr_node_t *r)
{
    uint32_t idx, sub;
    switch (w->type) {
    case SR_FIXED:
        if (w->size != r->size) {
            cerr(c, "fixed %s has size %zu in the writer, %zu in the reader",
                 r->fullname, w->size, r->size);
            return SR_OP_NONE;
        }
        idx = compile_scalar(c, w, r); /* sets the decimal flags */
        if (idx != SR_OP_NONE) {
            c->plan->ops[idx].kind = SR_OP_FIXED;
            c->plan->ops[idx].cnt = (uint32_t)w->size;
            c->plan->ops[idx].min_bytes = w->size;
        }
        return idx;
    case SR_ENUM:
        return compile_enum(c, w, r);
    case SR_RECORD:
        return compile_record(c, w, r);
    case SR_ARRAY:
    case SR_MAP:
        sub = w->type == SR_ARRAY ? compile(c, w->items, r->items)
                                  : compile(c, w->values, r->values);
        if (sub == SR_OP_NONE)
            return sub;
        idx = add_op(c, w->type == SR_ARRAY ? SR_OP_ARRAY : SR_OP_MAP, w, r);
        if (idx != SR_OP_NONE) {
            c->plan->ops[idx].child = sub;
            c->plan->ops[idx].min_bytes = 1;
        }
        return idx;
    default:
        return compile_scalar(c, w, r);
    }
}

static uint32_t compile(cctx_t *c, const sr_node_t *w, const sr_node_t *r)
{
    if (c->path.depth > SR_SERDE_MAX_DEPTH) {
        cerr(c, "schema nested deeper than %d", SR_SERDE_MAX_DEPTH);
        return SR_OP_NONE;
    }
    if (w->type == SR_UNION)
        return compile_union(c, w, r);
    if (r->type == SR_UNION)
        return compile_wrap(c, w, r);
    if (same_kind(w, r))
        return compile_same(c, w, r);
    if (promotes(w->type, r->type))
        return compile_scalar(c, w, r);
    if (w->type == r->type)
        cerr(c, "writer %s %s does not match reader %s %s",
             sr_type_name(w->type), w->fullname, sr_type_name(r->type),
             r->fullname);
    else
        cerr(c, "writer type %s cannot be read as %s",
             sr_serde_branch_name(w), sr_serde_branch_name(r));
    return SR_OP_NONE;
}

/* ------------------------------------------------------------ plan */

void sr_serde_path_format(const sr_path_t *path, char *buf, size_t len)
{
    size_t n = (size_t)snprintf(buf, len, "$");
    for (int i = 0; i < path->depth && n < len; i++) {
        if (path->seg[i].key)
            n += (size_t)snprintf(buf + n, len - n, ".%s", path->seg[i].key);
        else
            n += (size_t)snprintf(buf + n, len - n, "[%zu]",
                                  path->seg[i].idx);
    }
}

/* Length of the valid UTF-8 sequence at s, 0 when invalid or cut. */
static size_t utf8_seq(const unsigned char *s)
{
    size_t n = s[0] < 0x80 ? 1 : s[0] >= 0xc2 && s[0] < 0xe0 ? 2
               : s[0] >= 0xe0 && s[0] < 0xf0                ? 3
               : s[0] >= 0xf0 && s[0] < 0xf5                ? 4
                                                            : 0;
    for (size_t i = 1; i < n; i++)
        if ((s[i] & 0xc0) != 0x80)
            return 0;
    return n;
}

void sr_serde_utf8_fix(char *s)
{
    unsigned char *p = (unsigned char *)s;
    while (*p) {
        size_t n = *p < 0x20 || *p == 0x7f ? 0 : utf8_seq(p);
        if (n == 0)
            *p++ = '?';
        else
            p += n;
    }
}

sr_serde_plan_t *sr_serde_plan_new(sr_schema_t *writer, sr_schema_t *reader,
                                   mw_err_t *err)
{
    if (!writer) {
        mw_err_set(err, MW_ERR_INVALID, "no writer schema");
        return NULL;
    }
    sr_serde_plan_t *plan = calloc(1, sizeof(*plan));
    if (!plan) {
        mw_err_set(err, MW_ERR_NOMEM, "out of memory compiling plan");
        return NULL;
    }
    if (!reader)
        reader = writer;
    plan->writer = sr_schema_keep(writer);
    plan->reader = sr_schema_keep(reader);
    plan->identity = reader == writer ||
                     strcmp(sr_schema_normalized(writer),
                            sr_schema_normalized(reader)) == 0;
    cctx_t c = {.plan = plan, .err = err};
    plan->root = compile(&c, sr_schema_root(writer), sr_schema_root(reader));
    free(c.memo);
    if (plan->root != SR_OP_NONE && plan->identity &&
        sr_serde_enc_prepare(plan, err) != 0)
        plan->root = SR_OP_NONE;
    if (plan->root == SR_OP_NONE) {
        sr_serde_plan_destroy(plan);
        return NULL;
    }
    return plan;
}

void sr_serde_plan_destroy(sr_serde_plan_t *plan)
{
    if (!plan)
        return;
    for (uint32_t i = 0; i < plan->op_cnt; i++) {
        sr_op_t *op = &plan->ops[i];
        for (uint32_t j = 0; op->flds && j < op->cnt + op->nextra; j++) {
            json_decref(op->flds[j].dflt);
            free(op->flds[j].dflt_bin);
        }
        free(op->fhash);
        for (uint32_t j = 0; op->fail && j < op->cnt; j++)
            free(op->fail[j]);
        free(op->flds);
        free(op->map);
        free(op->names);
        free(op->fail);
    }
    free(plan->ops);
    sr_schema_release(plan->writer);
    sr_schema_release(plan->reader);
    free(plan);
}

sr_schema_t *sr_serde_plan_writer(const sr_serde_plan_t *plan)
{
    return plan->writer;
}

sr_schema_t *sr_serde_plan_reader(const sr_serde_plan_t *plan)
{
    return plan->reader;
}
