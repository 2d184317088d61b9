/*
 * av_serde_plan: compiles a (writer, reader) schema pair into the flat op
 * array that av_serde_dec.c and av_serde_enc.c run per message.
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
#include "av_serde.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "av_serde_int.h"
#include "mw_vec.h"

typedef struct memo {
    const av_node_t *w, *r;
    uint32_t op;
} memo_t;

typedef struct cctx {
    av_serde_plan_t *plan;
    memo_t *memo;
    size_t memo_cnt, memo_cap;
    av_path_t path;
    mw_err_t *err;
} cctx_t;

static uint32_t compile(cctx_t *c, const av_node_t *w, const av_node_t *r);

/* ------------------------------------------------------------ helpers */

const char *av_serde_branch_name(const av_node_t *node)
{
    if (node->type == AV_RECORD || node->type == AV_ENUM ||
        node->type == AV_FIXED)
        return node->fullname;
    return av_type_name(node->type);
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
    av_serde_path_format(&c->path, path, sizeof(path));
    return mw_err_set(c->err, MW_ERR_INVALID, "%s: %s", path, msg);
}

static uint32_t add_op(cctx_t *c, av_op_kind_t kind, const av_node_t *w,
                       const av_node_t *r)
{
    av_serde_plan_t *plan = c->plan;
    if (MW_VEC_RESERVE(&plan->ops, &plan->op_cap, (size_t)plan->op_cnt + 1) !=
        0) {
        mw_err_set(c->err, MW_ERR_NOMEM, "out of memory compiling plan");
        return AV_OP_NONE;
    }
    av_op_t *op = &plan->ops[plan->op_cnt];
    memset(op, 0, sizeof(*op));
    op->kind = (uint8_t)kind;
    op->wnode = w;
    op->node = r;
    op->child = AV_OP_NONE;
    return plan->op_cnt++;
}

/* Named types match on their unqualified name, or when the reader lists
 * the writer's full name among its aliases (Avro 1.11 resolution). */
static int names_match(const av_node_t *w, const av_node_t *r)
{
    if (strcmp(w->name, r->name) == 0)
        return 1;
    for (size_t i = 0; i < r->alias_cnt; i++)
        if (strcmp(r->aliases[i], w->fullname) == 0)
            return 1;
    return 0;
}

/* Reader types a writer primitive may be promoted to. */
static int promotes(av_type_t w, av_type_t r)
{
    switch (w) {
    case AV_INT:
        return r == AV_LONG || r == AV_FLOAT || r == AV_DOUBLE;
    case AV_LONG:
        return r == AV_FLOAT || r == AV_DOUBLE;
    case AV_FLOAT:
        return r == AV_DOUBLE;
    case AV_STRING:
        return r == AV_BYTES;
    case AV_BYTES:
        return r == AV_STRING;
    default:
        return 0;
    }
}

static int same_kind(const av_node_t *w, const av_node_t *r)
{
    if (w->type != r->type)
        return 0;
    if (w->type == AV_RECORD || w->type == AV_ENUM || w->type == AV_FIXED)
        return names_match(w, r);
    return 1;
}

/* The reader union branch a writer (non-union) type resolves to: the
 * first exact match, else the first promotion, else AV_OP_NONE. */
static uint32_t match_branch(const av_node_t *w, const av_node_t *ru)
{
    /* 1. the same type (same full name): identity plans map i -> i even
     *    when two branches share a short name in different namespaces;
     * 2. the same type by resolution's name rules;
     * 3. a promotion. */
    for (size_t i = 0; i < ru->branch_cnt; i++) {
        const av_node_t *b = ru->branches[i];
        if (b->type == w->type && (!w->fullname || !b->fullname ||
                                   strcmp(w->fullname, b->fullname) == 0))
            return (uint32_t)i;
    }
    for (size_t i = 0; i < ru->branch_cnt; i++)
        if (same_kind(w, ru->branches[i]))
            return (uint32_t)i;
    for (size_t i = 0; i < ru->branch_cnt; i++)
        if (promotes(w->type, ru->branches[i]->type))
            return (uint32_t)i;
    return AV_OP_NONE;
}

/* ------------------------------------------------------------ defaults */

static json_t *default_record(const av_node_t *node, const json_t *dflt,
                              int depth)
{
    if (!json_is_object(dflt))
        return NULL;
    json_t *obj = json_object();
    for (size_t i = 0; obj && i < node->field_cnt; i++) {
        const av_field_t *f = &node->fields[i];
        const json_t *v = json_object_get(dflt, f->name);
        json_t *conv =
            av_serde_default_json(f->type, v ? v : f->dflt, depth + 1);
        if (!conv || json_object_set_new(obj, f->name, conv) != 0) {
            json_decref(obj);
            obj = NULL;
        }
    }
    return obj;
}

static json_t *default_container(const av_node_t *node, const json_t *dflt,
                                 int depth)
{
    json_t *out = node->type == AV_ARRAY ? json_array() : json_object();
    if (node->type == AV_ARRAY ? !json_is_array(dflt) : !json_is_object(dflt))
        goto fail;
    if (node->type == AV_ARRAY) {
        size_t i;
        const json_t *v;
        json_array_foreach(dflt, i, v)
        {
            json_t *e = av_serde_default_json(node->items, v, depth + 1);
            if (!e || json_array_append_new(out, e) != 0)
                goto fail;
        }
        return out;
    }
    const char *k;
    const json_t *v;
    json_object_foreach((json_t *)dflt, k, v)
    {
        json_t *e = av_serde_default_json(node->values, v, depth + 1);
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
static json_t *default_union(const av_node_t *node, const json_t *dflt,
                             int depth)
{
    for (size_t i = 0; i < node->branch_cnt; i++) {
        const av_node_t *b = node->branches[i];
        json_t *v = av_serde_default_json(b, dflt, depth + 1);
        if (!v)
            continue;
        if (b->type == AV_NULL)
            return v;
        json_t *w = json_object();
        if (w && json_object_set_new(w, av_serde_branch_name(b), v) == 0)
            return w;
        json_decref(w);
        return NULL;
    }
    return NULL;
}

json_t *av_serde_default_json(const av_node_t *node, const json_t *dflt,
                              int depth)
{
    if (!dflt || depth > AV_SERDE_MAX_DEPTH)
        return NULL;
    switch (node->type) {
    case AV_NULL:
        return json_is_null(dflt) ? json_null() : NULL;
    case AV_BOOLEAN:
        return json_is_boolean(dflt) ? json_deep_copy(dflt) : NULL;
    case AV_INT:
    case AV_LONG:
        return json_is_integer(dflt) ? json_deep_copy(dflt) : NULL;
    case AV_FLOAT:
    case AV_DOUBLE:
        return json_is_number(dflt) ? json_real(json_number_value(dflt)) : NULL;
    case AV_BYTES:
    case AV_STRING:
    case AV_FIXED:
    case AV_ENUM:
        return json_is_string(dflt) ? json_deep_copy(dflt) : NULL;
    case AV_RECORD:
        return default_record(node, dflt, depth);
    case AV_ARRAY:
    case AV_MAP:
        return default_container(node, dflt, depth);
    case AV_UNION:
        return default_union(node, dflt, depth);
    default:
        return NULL;
    }
}

/* ------------------------------------------------------------ compile */

static uint32_t compile_enum(cctx_t *c, const av_node_t *w, const av_node_t *r)
{
    uint32_t idx = add_op(c, AV_OP_ENUM, w, r);
    if (idx == AV_OP_NONE)
        return idx;
    uint32_t *map = calloc(w->symbol_cnt ? w->symbol_cnt : 1, sizeof(*map));
    if (!map) {
        mw_err_set(c->err, MW_ERR_NOMEM, "out of memory compiling plan");
        return AV_OP_NONE;
    }
    uint32_t dflt = AV_OP_NONE;
    for (size_t j = 0; r->enum_default && j < r->symbol_cnt; j++)
        if (strcmp(r->symbols[j], r->enum_default) == 0)
            dflt = (uint32_t)j;
    for (size_t i = 0; i < w->symbol_cnt; i++) {
        map[i] = dflt;
        for (size_t j = 0; j < r->symbol_cnt; j++)
            if (strcmp(w->symbols[i], r->symbols[j]) == 0)
                map[i] = (uint32_t)j;
    }
    av_op_t *op = &c->plan->ops[idx];
    op->map = map;
    op->cnt = (uint32_t)w->symbol_cnt;
    op->min_bytes = 1;
    op->symbol_dflt = r->enum_default;
    return idx;
}

static const av_field_t *reader_field(const av_node_t *r, const char *name)
{
    for (size_t i = 0; i < r->field_cnt; i++) {
        const av_field_t *f = &r->fields[i];
        if (strcmp(f->name, name) == 0)
            return f;
    }
    for (size_t i = 0; i < r->field_cnt; i++) {
        const av_field_t *f = &r->fields[i];
        for (size_t a = 0; a < f->alias_cnt; a++)
            if (strcmp(f->aliases[a], name) == 0)
                return f;
    }
    return NULL;
}

/* Writer fields in writer order: read into their reader field or only
 * skipped (compiled against themselves). */
static int compile_writer_fields(cctx_t *c, uint32_t idx, const av_node_t *w,
                                 const av_node_t *r, char *seen)
{
    for (size_t i = 0; i < w->field_cnt; i++) {
        const av_field_t *wf = &w->fields[i];
        const av_field_t *rf = reader_field(r, wf->name);
        if (rf && seen[rf->index])
            rf = NULL; /* two writer fields aliasing one reader field */
        c->path.seg[c->path.depth].key = wf->name;
        c->path.depth++;
        uint32_t sub = compile(c, wf->type, rf ? rf->type : wf->type);
        c->path.depth--;
        if (sub == AV_OP_NONE)
            return -1;
        av_fld_t *e = &c->plan->ops[idx].flds[i];
        e->op = sub;
        e->rfield = rf ? (uint32_t)rf->index : AV_OP_NONE;
        e->name = rf ? rf->name : wf->name;
        if (rf) {
            seen[rf->index] = 1;
            e->dflt = av_serde_default_json(rf->type, rf->dflt, 0);
        }
        c->plan->ops[idx].min_bytes += c->plan->ops[sub].min_bytes;
    }
    return 0;
}

static int compile_defaults(cctx_t *c, uint32_t idx, const av_node_t *w,
                            const av_node_t *r, const char *seen)
{
    uint32_t n = (uint32_t)w->field_cnt;
    for (size_t j = 0; j < r->field_cnt; j++) {
        const av_field_t *rf = &r->fields[j];
        if (seen[j])
            continue;
        json_t *d = av_serde_default_json(rf->type, rf->dflt, 0);
        if (!d)
            return cerr(c,
                        "reader field '%s' of %s has no %sdefault and is "
                        "missing in the writer",
                        rf->name, r->fullname, rf->dflt ? "usable " : "");
        av_fld_t *e = &c->plan->ops[idx].flds[n++];
        e->name = rf->name;
        e->op = AV_OP_NONE;
        e->rfield = (uint32_t)j;
        e->dflt = d;
        c->plan->ops[idx].nextra++;
    }
    return 0;
}

static uint32_t compile_record(cctx_t *c, const av_node_t *w,
                               const av_node_t *r)
{
    for (size_t i = 0; i < c->memo_cnt; i++)
        if (c->memo[i].w == w && c->memo[i].r == r)
            return c->memo[i].op;
    uint32_t idx = add_op(c, AV_OP_RECORD, w, r);
    if (idx == AV_OP_NONE)
        return idx;
    if (MW_VEC_RESERVE(&c->memo, &c->memo_cap, c->memo_cnt + 1) != 0)
        goto nomem;
    c->memo[c->memo_cnt++] = (memo_t){w, r, idx};
    av_fld_t *flds = calloc(w->field_cnt + r->field_cnt + 1, sizeof(*flds));
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
    return rc == 0 ? idx : AV_OP_NONE;
nomem:
    mw_err_set(c->err, MW_ERR_NOMEM, "out of memory compiling plan");
    return AV_OP_NONE;
}

/* A writer union: each branch resolved on its own.  A branch the reader
 * cannot take keeps its reason for the message that uses it. */
static int union_branch(cctx_t *c, uint32_t idx, size_t i, const av_node_t *wb,
                        const av_node_t *r)
{
    const av_node_t *rb = r;
    uint32_t sub = AV_OP_NONE;
    char why[MW_ERR_MSG_MAX];
    mw_err_t sub_err = {0};
    mw_err_t *saved = c->err;

    if (r->type == AV_UNION) {
        uint32_t b = match_branch(wb, r);
        rb = b == AV_OP_NONE ? NULL : r->branches[b];
    }
    if (rb) {
        c->err = &sub_err;
        sub = compile(c, wb, rb);
        c->err = saved;
        if (sub == AV_OP_NONE && sub_err.code == MW_ERR_NOMEM)
            return mw_err_set(saved, MW_ERR_NOMEM, "%s", sub_err.msg);
    }
    av_op_t *op = &c->plan->ops[idx];
    op->map[i] = sub;
    if (sub == AV_OP_NONE) {
        snprintf(why, sizeof(why), "writer union branch %zu (%.80s) %.400s", i,
                 av_serde_branch_name(wb),
                 rb ? sub_err.msg : "matches no branch of the reader");
        op->fail[i] = strdup(why);
        return op->fail[i] ? 0 : mw_err_set(saved, MW_ERR_NOMEM, "nomem");
    }
    if (r->type == AV_UNION && rb->type != AV_NULL)
        op->names[i] = av_serde_branch_name(rb);
    return 0;
}

static uint32_t compile_union(cctx_t *c, const av_node_t *w, const av_node_t *r)
{
    uint32_t idx = add_op(c, AV_OP_UNION, w, r);
    if (idx == AV_OP_NONE)
        return idx;
    size_t n = w->branch_cnt ? w->branch_cnt : 1;
    av_op_t *op = &c->plan->ops[idx];
    op->map = calloc(n, sizeof(*op->map));
    op->names = calloc(n, sizeof(*op->names));
    op->fail = calloc(n, sizeof(*op->fail));
    op->cnt = (uint32_t)w->branch_cnt;
    op->min_bytes = 1;
    if (!op->map || !op->names || !op->fail) {
        mw_err_set(c->err, MW_ERR_NOMEM, "out of memory compiling plan");
        return AV_OP_NONE;
    }
    for (size_t i = 0; i < w->branch_cnt; i++)
        if (union_branch(c, idx, i, w->branches[i], r) != 0)
            return AV_OP_NONE;
    return idx;
}

/* Reader union, writer not: resolve against the matching branch, then wrap
 * the value in {"branch": v} (null stays bare). */
static uint32_t compile_wrap(cctx_t *c, const av_node_t *w, const av_node_t *r)
{
    uint32_t b = match_branch(w, r);
    if (b == AV_OP_NONE) {
        cerr(c, "writer type %s matches no branch of the reader union",
             av_serde_branch_name(w));
        return AV_OP_NONE;
    }
    const av_node_t *rb = r->branches[b];
    uint32_t sub = compile(c, w, rb);
    if (sub == AV_OP_NONE)
        return sub;
    uint32_t idx = add_op(c, AV_OP_WRAP, w, r);
    if (idx == AV_OP_NONE)
        return idx;
    av_op_t *op = &c->plan->ops[idx];
    op->names = calloc(1, sizeof(*op->names));
    if (!op->names) {
        mw_err_set(c->err, MW_ERR_NOMEM, "out of memory compiling plan");
        return AV_OP_NONE;
    }
    op->names[0] = rb->type == AV_NULL ? NULL : av_serde_branch_name(rb);
    op->child = sub;
    op->min_bytes = c->plan->ops[sub].min_bytes;
    return idx;
}

static const size_t prim_min[AV_TYPE__CNT] = {
    [AV_BOOLEAN] = 1, [AV_INT] = 1,   [AV_LONG] = 1,   [AV_FLOAT] = 4,
    [AV_DOUBLE] = 8,  [AV_BYTES] = 1, [AV_STRING] = 1,
};

static const uint8_t prim_op[AV_TYPE__CNT] = {
    [AV_NULL] = AV_OP_NULL,   [AV_BOOLEAN] = AV_OP_BOOL,
    [AV_INT] = AV_OP_INT,     [AV_LONG] = AV_OP_LONG,
    [AV_FLOAT] = AV_OP_FLOAT, [AV_DOUBLE] = AV_OP_DOUBLE,
    [AV_BYTES] = AV_OP_BYTES, [AV_STRING] = AV_OP_STRING,
};

/* Scalars, including promotions (the conversion is set by the reader). */
static uint32_t compile_scalar(cctx_t *c, const av_node_t *w,
                               const av_node_t *r)
{
    uint32_t idx = add_op(c, (av_op_kind_t)prim_op[w->type], w, r);
    if (idx == AV_OP_NONE)
        return idx;
    av_op_t *op = &c->plan->ops[idx];
    op->min_bytes = prim_min[w->type];
    if (w->type != r->type) {
        if (r->type == AV_FLOAT && w->type != AV_FLOAT)
            op->conv = AV_CONV_F32;
        else if (r->type == AV_DOUBLE || r->type == AV_FLOAT)
            op->conv = AV_CONV_REAL;
        else if (r->type == AV_BYTES)
            op->conv = AV_CONV_BYTES;
        else if (r->type == AV_STRING)
            op->conv = AV_CONV_STRING;
    } else if (w->type == AV_FLOAT || w->type == AV_DOUBLE) {
        op->conv = AV_CONV_REAL;
    }
    if (r->logical == AV_LOGICAL_DECIMAL && w->type == r->type) {
        op->decimal = 1;
        op->scale = (uint8_t)(r->scale > 255 ? 255 : r->scale);
    }
    return idx;
}

static uint32_t compile_same(cctx_t *c, const av_node_t *w, const av_node_t *r)
{
    uint32_t idx, sub;
    switch (w->type) {
    case AV_FIXED:
        if (w->size != r->size) {
            cerr(c, "fixed %s has size %zu in the writer, %zu in the reader",
                 r->fullname, w->size, r->size);
            return AV_OP_NONE;
        }
        idx = compile_scalar(c, w, r); /* sets the decimal flags */
        if (idx != AV_OP_NONE) {
            c->plan->ops[idx].kind = AV_OP_FIXED;
            c->plan->ops[idx].cnt = (uint32_t)w->size;
            c->plan->ops[idx].min_bytes = w->size;
        }
        return idx;
    case AV_ENUM:
        return compile_enum(c, w, r);
    case AV_RECORD:
        return compile_record(c, w, r);
    case AV_ARRAY:
    case AV_MAP:
        sub = w->type == AV_ARRAY ? compile(c, w->items, r->items)
                                  : compile(c, w->values, r->values);
        if (sub == AV_OP_NONE)
            return sub;
        idx = add_op(c, w->type == AV_ARRAY ? AV_OP_ARRAY : AV_OP_MAP, w, r);
        if (idx != AV_OP_NONE) {
            c->plan->ops[idx].child = sub;
            c->plan->ops[idx].min_bytes = 1;
        }
        return idx;
    default:
        return compile_scalar(c, w, r);
    }
}

static uint32_t compile(cctx_t *c, const av_node_t *w, const av_node_t *r)
{
    if (c->path.depth > AV_SERDE_MAX_DEPTH) {
        cerr(c, "schema nested deeper than %d", AV_SERDE_MAX_DEPTH);
        return AV_OP_NONE;
    }
    if (w->type == AV_UNION)
        return compile_union(c, w, r);
    if (r->type == AV_UNION)
        return compile_wrap(c, w, r);
    if (same_kind(w, r))
        return compile_same(c, w, r);
    if (promotes(w->type, r->type))
        return compile_scalar(c, w, r);
    if (w->type == r->type)
        cerr(c, "writer %s %s does not match reader %s %s",
             av_type_name(w->type), w->fullname, av_type_name(r->type),
             r->fullname);
    else
        cerr(c, "writer type %s cannot be read as %s", av_serde_branch_name(w),
             av_serde_branch_name(r));
    return AV_OP_NONE;
}

/* ------------------------------------------------------------ plan */

void av_serde_path_format(const av_path_t *path, char *buf, size_t len)
{
    size_t n = (size_t)snprintf(buf, len, "$");
    for (int i = 0; i < path->depth && n < len; i++) {
        if (path->seg[i].key)
            n += (size_t)snprintf(buf + n, len - n, ".%s", path->seg[i].key);
        else
            n += (size_t)snprintf(buf + n, len - n, "[%zu]", path->seg[i].idx);
    }
}

/* Length of the valid UTF-8 sequence at s, 0 when invalid or cut. */
static size_t utf8_seq(const unsigned char *s)
{
    size_t n = s[0] < 0x80                   ? 1
               : s[0] >= 0xc2 && s[0] < 0xe0 ? 2
               : s[0] >= 0xe0 && s[0] < 0xf0 ? 3
               : s[0] >= 0xf0 && s[0] < 0xf5 ? 4
                                             : 0;
    for (size_t i = 1; i < n; i++)
        if ((s[i] & 0xc0) != 0x80)
            return 0;
    return n;
}

void av_serde_utf8_fix(char *s)
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

av_serde_plan_t *av_serde_plan_new(av_schema_t *writer, av_schema_t *reader,
                                   mw_err_t *err)
{
    if (!writer) {
        mw_err_set(err, MW_ERR_INVALID, "no writer schema");
        return NULL;
    }
    av_serde_plan_t *plan = calloc(1, sizeof(*plan));
    if (!plan) {
        mw_err_set(err, MW_ERR_NOMEM, "out of memory compiling plan");
        return NULL;
    }
    if (!reader)
        reader = writer;
    plan->writer = av_schema_keep(writer);
    plan->reader = av_schema_keep(reader);
    plan->identity =
        reader == writer ||
        strcmp(av_schema_normalized(writer), av_schema_normalized(reader)) == 0;
    cctx_t c = {.plan = plan, .err = err};
    plan->root = compile(&c, av_schema_root(writer), av_schema_root(reader));
    free(c.memo);
    if (plan->root != AV_OP_NONE && plan->identity &&
        av_serde_enc_prepare(plan, err) != 0)
        plan->root = AV_OP_NONE;
    if (plan->root == AV_OP_NONE) {
        av_serde_plan_destroy(plan);
        return NULL;
    }
    return plan;
}

void av_serde_plan_destroy(av_serde_plan_t *plan)
{
    if (!plan)
        return;
    for (uint32_t i = 0; i < plan->op_cnt; i++) {
        av_op_t *op = &plan->ops[i];
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
    av_schema_release(plan->writer);
    av_schema_release(plan->reader);
    free(plan);
}

av_schema_t *av_serde_plan_writer(const av_serde_plan_t *plan)
{
    return plan->writer;
}

av_schema_t *av_serde_plan_reader(const av_serde_plan_t *plan)
{
    return plan->reader;
}
