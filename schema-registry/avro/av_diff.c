/*
 * av_diff: walks two schema graphs side by side (av_diff.h).
 *
 * Records are matched field by field by name (a renamed field is one
 * removal and one addition: aliases are av_compat's business); union
 * branches by type name (the full name for named types).  A pair of named
 * types already compared is not walked again, which ends the walk on
 * recursive types; depth is bounded as well, like every recursion over a
 * schema in this folder.
 *
 * Any thread; no state outside the call.
 */
#include "av_diff.h"

#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define AV_DIFF_DEPTH_MAX 64
#define AV_DIFF_PATH_MAX 512
#define AV_DIFF_SEEN_MAX 256

typedef struct av_diff_ctx {
    av_diff_cb *cb;
    void *opaque;
    int cnt;
    const av_node_t *seen[AV_DIFF_SEEN_MAX][2];
    size_t seen_cnt;
} av_diff_ctx_t;

const char *av_diff_kind_name(av_diff_kind_t kind)
{
    static const char *const names[] = {"added", "removed", "changed"};

    return (unsigned)kind < 3 ? names[kind] : "unknown";
}

static void av_diff_emit(av_diff_ctx_t *c, av_diff_kind_t kind,
                         const char *path, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static void av_diff_emit(av_diff_ctx_t *c, av_diff_kind_t kind,
                         const char *path, const char *fmt, ...)
{
    char what[1024];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(what, sizeof(what), fmt, ap);
    va_end(ap);
    c->cnt++;
    c->cb(c->opaque, kind, path[0] ? path : "(root)", what);
}

/* A short name of n's type: its full name, or the type's name with its
 * items or values ("array<string>"). */
static void av_diff_type(const av_node_t *n, char *buf, size_t cap)
{
    char inner[256];

    if (n->fullname &&
        (n->type == AV_RECORD || n->type == AV_ENUM || n->type == AV_FIXED)) {
        snprintf(buf, cap, "%s", n->fullname);
    } else if (n->type == AV_ARRAY || n->type == AV_MAP) {
        av_diff_type(n->type == AV_ARRAY ? n->items : n->values, inner,
                     sizeof(inner));
        snprintf(buf, cap, "%s<%s>", av_type_name(n->type), inner);
    } else if (n->type == AV_UNION) {
        size_t off = (size_t)snprintf(buf, cap, "union[");
        for (size_t i = 0; i < n->branch_cnt && off < cap; i++) {
            av_diff_type(n->branches[i], inner, sizeof(inner));
            off += (size_t)snprintf(buf + off, cap - off, "%s%s", i ? ", " : "",
                                    inner);
        }
        if (off < cap)
            snprintf(buf + off, cap - off, "]");
    } else if (n->logical) {
        snprintf(buf, cap, "%s(%s)", av_type_name(n->type),
                 av_logical_name(n->logical));
    } else {
        snprintf(buf, cap, "%s", av_type_name(n->type));
    }
}

/* parent.name for a field ("name" at the root), parent[] or parent{} for
 * the items of an array or the values of a map (name ""). */
static void av_diff_path(char *buf, const char *parent, const char *sep,
                         const char *name)
{
    bool field = !strcmp(sep, ".");
    int n = snprintf(buf, AV_DIFF_PATH_MAX, "%s%s%s", parent,
                     field && !*parent ? "" : sep, name);

    if (n >= AV_DIFF_PATH_MAX)
        memcpy(buf + AV_DIFF_PATH_MAX - 4, "...", 4);
}

/* false when the pair was walked already (a recursive type). */
static bool av_diff_first_visit(av_diff_ctx_t *c, const av_node_t *a,
                                const av_node_t *b)
{
    for (size_t i = 0; i < c->seen_cnt; i++)
        if (c->seen[i][0] == a && c->seen[i][1] == b)
            return false;
    if (c->seen_cnt < AV_DIFF_SEEN_MAX) {
        c->seen[c->seen_cnt][0] = a;
        c->seen[c->seen_cnt++][1] = b;
    }
    return true;
}

static void av_diff_node(av_diff_ctx_t *c, const av_node_t *a,
                         const av_node_t *b, const char *path, int depth);

static char *av_diff_dflt(const av_field_t *f)
{
    return f->dflt ? json_dumps(f->dflt, JSON_COMPACT | JSON_ENCODE_ANY) : NULL;
}

static void av_diff_field_pair(av_diff_ctx_t *c, const av_field_t *fa,
                               const av_field_t *fb, const char *path,
                               int depth)
{
    char *da = av_diff_dflt(fa), *db = av_diff_dflt(fb);

    if (da && !db)
        av_diff_emit(c, AV_DIFF_REMOVED, path, "default %s", da);
    else if (!da && db)
        av_diff_emit(c, AV_DIFF_ADDED, path, "default %s", db);
    else if (da && db && strcmp(da, db))
        av_diff_emit(c, AV_DIFF_CHANGED, path, "default %s -> %s", da, db);
    free(da);
    free(db);
    av_diff_node(c, fa->type, fb->type, path, depth + 1);
}

static const av_field_t *av_diff_field(const av_node_t *rec, const char *name)
{
    for (size_t i = 0; i < rec->field_cnt; i++)
        if (!strcmp(rec->fields[i].name, name))
            return &rec->fields[i];
    return NULL;
}

static void av_diff_record(av_diff_ctx_t *c, const av_node_t *a,
                           const av_node_t *b, const char *parent, int depth)
{
    char path[AV_DIFF_PATH_MAX], type[512];

    for (size_t i = 0; i < a->field_cnt; i++)
        if (!av_diff_field(b, a->fields[i].name)) {
            av_diff_path(path, parent, ".", a->fields[i].name);
            av_diff_type(a->fields[i].type, type, sizeof(type));
            av_diff_emit(c, AV_DIFF_REMOVED, path, "field (type %s)", type);
        }
    for (size_t i = 0; i < b->field_cnt; i++) {
        const av_field_t *fb = &b->fields[i], *fa = av_diff_field(a, fb->name);
        av_diff_path(path, parent, ".", fb->name);
        if (fa) {
            av_diff_field_pair(c, fa, fb, path, depth);
            continue;
        }
        char *d = av_diff_dflt(fb);
        av_diff_type(fb->type, type, sizeof(type));
        av_diff_emit(c, AV_DIFF_ADDED, path, "field (type %s%s%s)", type,
                     d ? ", default " : ", no default", d ? d : "");
        free(d);
    }
}

static bool av_diff_has_symbol(const av_node_t *e, const char *s)
{
    for (size_t i = 0; i < e->symbol_cnt; i++)
        if (!strcmp(e->symbols[i], s))
            return true;
    return false;
}

static void av_diff_enum(av_diff_ctx_t *c, const av_node_t *a,
                         const av_node_t *b, const char *path)
{
    for (size_t i = 0; i < a->symbol_cnt; i++)
        if (!av_diff_has_symbol(b, a->symbols[i]))
            av_diff_emit(c, AV_DIFF_REMOVED, path, "symbol %s", a->symbols[i]);
    for (size_t i = 0; i < b->symbol_cnt; i++)
        if (!av_diff_has_symbol(a, b->symbols[i]))
            av_diff_emit(c, AV_DIFF_ADDED, path, "symbol %s", b->symbols[i]);
}

/* The branch of u with the type name of n, or NULL. */
static const av_node_t *av_diff_branch(const av_node_t *u, const av_node_t *n)
{
    char want[512], have[512];

    av_diff_type(n, want, sizeof(want));
    for (size_t i = 0; i < u->branch_cnt; i++) {
        av_diff_type(u->branches[i], have, sizeof(have));
        if (u->branches[i]->type == n->type && !strcmp(have, want))
            return u->branches[i];
    }
    return NULL;
}

static void av_diff_union(av_diff_ctx_t *c, const av_node_t *a,
                          const av_node_t *b, const char *path, int depth)
{
    char type[512];

    for (size_t i = 0; i < a->branch_cnt; i++)
        if (!av_diff_branch(b, a->branches[i])) {
            av_diff_type(a->branches[i], type, sizeof(type));
            av_diff_emit(c, AV_DIFF_REMOVED, path, "union branch %s", type);
        }
    for (size_t i = 0; i < b->branch_cnt; i++) {
        const av_node_t *m = av_diff_branch(a, b->branches[i]);
        if (m) {
            av_diff_node(c, m, b->branches[i], path, depth + 1);
            continue;
        }
        av_diff_type(b->branches[i], type, sizeof(type));
        av_diff_emit(c, AV_DIFF_ADDED, path, "union branch %s", type);
    }
}

static void av_diff_node(av_diff_ctx_t *c, const av_node_t *a,
                         const av_node_t *b, const char *path, int depth)
{
    char ta[512], tb[512], sub[AV_DIFF_PATH_MAX];

    if (depth > AV_DIFF_DEPTH_MAX || !av_diff_first_visit(c, a, b))
        return;
    av_diff_type(a, ta, sizeof(ta));
    av_diff_type(b, tb, sizeof(tb));
    if (a->type != b->type) {
        av_diff_emit(c, AV_DIFF_CHANGED, path, "type %s -> %s", ta, tb);
        return;
    }
    if (a->fullname && b->fullname && strcmp(a->fullname, b->fullname))
        av_diff_emit(c, AV_DIFF_CHANGED, path, "name %s -> %s", a->fullname,
                     b->fullname);
    if (a->logical != b->logical)
        av_diff_emit(c, AV_DIFF_CHANGED, path, "logical type %s -> %s",
                     a->logical ? av_logical_name(a->logical) : "none",
                     b->logical ? av_logical_name(b->logical) : "none");
    switch (a->type) {
    case AV_RECORD:
        av_diff_record(c, a, b, path, depth);
        break;
    case AV_ENUM:
        av_diff_enum(c, a, b, path);
        break;
    case AV_ARRAY:
        av_diff_path(sub, path, "[]", "");
        av_diff_node(c, a->items, b->items, sub, depth + 1);
        break;
    case AV_MAP:
        av_diff_path(sub, path, "{}", "");
        av_diff_node(c, a->values, b->values, sub, depth + 1);
        break;
    case AV_UNION:
        av_diff_union(c, a, b, path, depth);
        break;
    case AV_FIXED:
        if (a->size != b->size)
            av_diff_emit(c, AV_DIFF_CHANGED, path, "size %zu -> %zu", a->size,
                         b->size);
        break;
    default:
        break;
    }
}

int av_diff(const av_schema_t *old_schema, const av_schema_t *new_schema,
            av_diff_cb *cb, void *opaque)
{
    av_diff_ctx_t *c = calloc(1, sizeof(*c));
    int cnt;

    if (!c)
        return MW_ERR_NOMEM;
    c->cb = cb;
    c->opaque = opaque;
    av_diff_node(c, av_schema_root(old_schema), av_schema_root(new_schema), "",
                 0);
    cnt = c->cnt;
    free(c);
    return cnt;
}
