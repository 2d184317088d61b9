/*
 * av_compat: Avro reader/writer compatibility and the registry's levels.
 *
 * Sits between reg_api (registration and POST /compatibility) and av_schema
 * (the parsed graph it walks).  The pair check reproduces Java's
 * SchemaCompatibility.ReaderWriterCompatibilityChecker, because Confluent's
 * registry answers with it and clients compare against those answers:
 *   - the same decisions (promotions int->long->float->double, string<->bytes;
 *     records, enums and fixed matched by unqualified name or a reader alias
 *     equal to the writer's full name; fields by name or reader field alias;
 *     enum defaults; unions both ways; logical types ignored),
 *   - the same incompatibilities in the same order with the same messages and
 *     locations, including Java's quirks: a reader union is checked against
 *     each writer branch with a fresh location, a missing enum-typed field
 *     with an enum default is compared against the writer *record*, and a
 *     reader field matching several writer fields aborts the check.
 * Invariants: a reader/writer pair of complex nodes is computed once; while
 * it is in progress it counts as compatible (that is what ends recursion on
 * recursive records), and a finished pair's incompatibilities are reused as
 * they are, locations included, exactly as Java's memo map does.  Primitive
 * nodes are never memoised: Java creates a new object for each primitive
 * occurrence, so its memo never hits them, whereas the C graph may share them.
 */
#include "av_compat.h"

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "mw_hash.h"
#include "mw_vec.h"

#define CC_TOK_MAX 24
/* Java appends a memoised pair's whole list at every later visit, so a named
 * type referenced twice per level doubles the list at each level: a small
 * hostile schema could ask for 2^40 entries.  Lists stop growing here; a
 * non-empty list stays non-empty, so verdicts and the first messages do not
 * change, only the tail of an absurdly long list is dropped. */
#define CC_LIST_MAX 1000
#define CC_SCHEMA_TEXT_MAX 10240 /* Confluent's MAX_SCHEMA_SIZE_FOR_LOGGING */

static const char *const level_names[] = {
    [AV_COMPAT_BACKWARD] = "BACKWARD",
    [AV_COMPAT_BACKWARD_TRANSITIVE] = "BACKWARD_TRANSITIVE",
    [AV_COMPAT_FORWARD] = "FORWARD",
    [AV_COMPAT_FORWARD_TRANSITIVE] = "FORWARD_TRANSITIVE",
    [AV_COMPAT_FULL] = "FULL",
    [AV_COMPAT_FULL_TRANSITIVE] = "FULL_TRANSITIVE",
    [AV_COMPAT_NONE] = "NONE",
};
_Static_assert(sizeof(level_names) / sizeof(level_names[0]) ==
                   AV_COMPAT_LEVEL__CNT,
               "level_names must match av_compat_level_t");

static const char *const err_names[] = {
    [AV_COMPAT_NAME_MISMATCH] = "NAME_MISMATCH",
    [AV_COMPAT_FIXED_SIZE_MISMATCH] = "FIXED_SIZE_MISMATCH",
    [AV_COMPAT_MISSING_ENUM_SYMBOLS] = "MISSING_ENUM_SYMBOLS",
    [AV_COMPAT_READER_FIELD_MISSING_DEFAULT_VALUE] =
        "READER_FIELD_MISSING_DEFAULT_VALUE",
    [AV_COMPAT_TYPE_MISMATCH] = "TYPE_MISMATCH",
    [AV_COMPAT_MISSING_UNION_BRANCH] = "MISSING_UNION_BRANCH",
    [AV_COMPAT_AMBIGUOUS_FIELD] = "AMBIGUOUS_FIELD",
};
_Static_assert(sizeof(err_names) / sizeof(err_names[0]) == AV_COMPAT_ERR__CNT,
               "err_names must match av_compat_err_t");

/* Java's Schema.Type names, which its messages print. */
static const char *const java_type_names[] = {
    [AV_NULL] = "NULL",   [AV_BOOLEAN] = "BOOLEAN", [AV_INT] = "INT",
    [AV_LONG] = "LONG",   [AV_FLOAT] = "FLOAT",     [AV_DOUBLE] = "DOUBLE",
    [AV_BYTES] = "BYTES", [AV_STRING] = "STRING",   [AV_RECORD] = "RECORD",
    [AV_ENUM] = "ENUM",   [AV_ARRAY] = "ARRAY",     [AV_MAP] = "MAP",
    [AV_UNION] = "UNION", [AV_FIXED] = "FIXED",
};
_Static_assert(sizeof(java_type_names) / sizeof(java_type_names[0]) ==
                   AV_TYPE__CNT,
               "java_type_names must match av_type_t");

const char *av_compat_level_name(av_compat_level_t level)
{
    if ((unsigned)level >= AV_COMPAT_LEVEL__CNT)
        return "UNKNOWN";
    return level_names[level];
}

int av_compat_level_parse(const char *name, av_compat_level_t *level,
                          mw_err_t *err)
{
    for (int i = 0; name && i < AV_COMPAT_LEVEL__CNT; i++) {
        if (strcasecmp(name, level_names[i]) == 0) {
            *level = (av_compat_level_t)i;
            return 0;
        }
    }
    return mw_err_set(err, MW_ERR_INVALID,
                      "compatibility level '%s' is not one of BACKWARD, "
                      "BACKWARD_TRANSITIVE, FORWARD, FORWARD_TRANSITIVE, "
                      "FULL, FULL_TRANSITIVE, NONE",
                      name ? name : "(null)");
}

const char *av_compat_err_name(av_compat_err_t type)
{
    if ((unsigned)type >= AV_COMPAT_ERR__CNT)
        return "UNKNOWN";
    return err_names[type];
}

/* ------------------------------------------------------------ results */

struct av_compat_result {
    av_compat_msg_t *msgs;
    size_t cnt, cap;
};

av_compat_result_t *av_compat_result_new(void)
{
    return calloc(1, sizeof(av_compat_result_t));
}

static void result_clear(av_compat_result_t *res)
{
    for (size_t i = 0; i < res->cnt; i++) {
        free((char *)res->msgs[i].location);
        free((char *)res->msgs[i].info);
    }
    res->cnt = 0;
}

void av_compat_result_destroy(av_compat_result_t *res)
{
    if (!res)
        return;
    result_clear(res);
    free(res->msgs);
    free(res);
}

int av_compat_result_is_compatible(const av_compat_result_t *res)
{
    return res->cnt == 0;
}

size_t av_compat_result_cnt(const av_compat_result_t *res)
{
    return res->cnt;
}

const av_compat_msg_t *av_compat_result_get(const av_compat_result_t *res,
                                            size_t i)
{
    return i < res->cnt ? &res->msgs[i] : NULL;
}

/* Appends a copy of msg (its strings duplicated).  Returns 0 or
 * MW_ERR_NOMEM. */
static int result_add(av_compat_result_t *res, const av_compat_msg_t *msg)
{
    if (MW_VEC_RESERVE(&res->msgs, &res->cap, res->cnt + 1) != 0)
        return MW_ERR_NOMEM;
    av_compat_msg_t *dst = &res->msgs[res->cnt];
    *dst = *msg;
    dst->location = strdup(msg->location);
    dst->info = strdup(msg->info);
    if (!dst->location || !dst->info) {
        free((char *)dst->location);
        free((char *)dst->info);
        return MW_ERR_NOMEM;
    }
    res->cnt++;
    return 0;
}

/* ------------------------------------------------------ checker state */

/* One incompatibility found while checking a pair.  Immutable once made and
 * shared by pointer between result lists, as Java shares its objects. */
typedef struct cc_inc {
    av_compat_err_t type;
    char *location;
    char *info;
} cc_inc_t;

typedef struct cc_list {
    cc_inc_t **v;
    size_t n, cap;
} cc_list_t;

/* A location: a stack of JSON-pointer reference tokens whose bottom is the
 * root token "". */
typedef struct cc_loc {
    char (*tok)[CC_TOK_MAX];
    size_t n, cap;
} cc_loc_t;

enum { MEMO_IN_PROGRESS = 1, MEMO_DONE };

typedef struct cc_memo {
    const av_node_t *r, *w; /* the table's key: both pointers, adjacent */
    int state;
    cc_list_t res;
} cc_memo_t;

typedef struct cc {
    mw_htab_t *memo; /* (r, w) -> cc_memo_t, made at the first pair */
    cc_list_t all;   /* every cc_inc_t made, for freeing */
    int nomem;
    cc_inc_t *abort; /* set when Java would have thrown: ends the check */
} cc_t;

static void list_push(cc_t *cc, cc_list_t *list, cc_inc_t *inc)
{
    if (list != &cc->all && list->n >= CC_LIST_MAX)
        return;
    if (MW_VEC_RESERVE(&list->v, &list->cap, list->n + 1) != 0) {
        cc->nomem = 1;
        return;
    }
    list->v[list->n++] = inc;
}

static void list_extend(cc_t *cc, cc_list_t *dst, const cc_list_t *src)
{
    for (size_t i = 0; i < src->n; i++)
        list_push(cc, dst, src->v[i]);
}

static void list_free(cc_list_t *list)
{
    free(list->v);
    list->v = NULL;
    list->n = list->cap = 0;
}

static int loc_push(cc_t *cc, cc_loc_t *loc, const char *token)
{
    if (MW_VEC_RESERVE(&loc->tok, &loc->cap, loc->n + 1) != 0) {
        cc->nomem = 1;
        return -1;
    }
    snprintf(loc->tok[loc->n++], CC_TOK_MAX, "%s", token);
    return 0;
}

static int loc_push_index(cc_t *cc, cc_loc_t *loc, size_t index)
{
    char buf[CC_TOK_MAX];
    snprintf(buf, sizeof(buf), "%zu", index);
    return loc_push(cc, loc, buf);
}

static void loc_pop(cc_loc_t *loc)
{
    loc->n--;
}

/* Java's Incompatibility.getLocation(): "/" then the tokens after the root
 * joined by "/".  Tokens are literals and numbers, so JSON-pointer escaping
 * never applies. */
static char *loc_string(const cc_loc_t *loc)
{
    size_t len = 2;
    for (size_t i = 1; i < loc->n; i++)
        len += strlen(loc->tok[i]) + 1;
    char *s = malloc(len);
    if (!s)
        return NULL;
    char *p = s;
    *p++ = '/';
    for (size_t i = 1; i < loc->n; i++) {
        size_t l = strlen(loc->tok[i]);
        if (i > 1)
            *p++ = '/';
        memcpy(p, loc->tok[i], l);
        p += l;
    }
    *p = '\0';
    return s;
}

/* Makes an incompatibility at loc, registers it for freeing and returns it,
 * or NULL (cc->nomem set). */
static cc_inc_t *inc_new(cc_t *cc, av_compat_err_t type, const cc_loc_t *loc,
                         const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static cc_inc_t *inc_new(cc_t *cc, av_compat_err_t type, const cc_loc_t *loc,
                         const char *fmt, ...)
{
    cc_inc_t *inc = calloc(1, sizeof(*inc));
    va_list ap;
    if (!inc) {
        cc->nomem = 1;
        return NULL;
    }
    inc->type = type;
    inc->location = loc_string(loc);
    va_start(ap, fmt);
    if (vasprintf(&inc->info, fmt, ap) < 0)
        inc->info = NULL;
    va_end(ap);
    size_t before = cc->all.n;
    list_push(cc, &cc->all, inc);
    if (!inc->location || !inc->info || cc->all.n == before) {
        if (cc->all.n != before)
            cc->all.n--;
        free(inc->location);
        free(inc->info);
        free(inc);
        cc->nomem = 1;
        return NULL;
    }
    return inc;
}

static void cc_destroy(cc_t *cc)
{
    size_t pos = 0;
    void *val;

    while (cc->memo && mw_htab_next(cc->memo, &pos, NULL, NULL, &val)) {
        list_free(&((cc_memo_t *)val)->res);
        free(val);
    }
    mw_htab_destroy(cc->memo);
    for (size_t i = 0; i < cc->all.n; i++) {
        free(cc->all.v[i]->location);
        free(cc->all.v[i]->info);
        free(cc->all.v[i]);
    }
    list_free(&cc->all);
}

/* ------------------------------------------------------------- memo */

static cc_memo_t *memo_find(cc_t *cc, const av_node_t *r, const av_node_t *w)
{
    const av_node_t *key[2] = {r, w};

    return cc->memo ? mw_htab_get(cc->memo, key, sizeof(key)) : NULL;
}

/* Marks (r, w) in progress.  Returns 0 or -1 (cc->nomem set). */
static int memo_start(cc_t *cc, const av_node_t *r, const av_node_t *w)
{
    cc_memo_t *e = calloc(1, sizeof(*e));

    _Static_assert(offsetof(cc_memo_t, w) ==
                       offsetof(cc_memo_t, r) + sizeof(const av_node_t *),
                   "the memo key is r and w, adjacent");
    if (e) {
        e->r = r;
        e->w = w;
        e->state = MEMO_IN_PROGRESS;
    }
    if (e && !cc->memo)
        cc->memo = mw_htab_new(0);
    if (!e || !cc->memo ||
        mw_htab_put(cc->memo, &e->r, 2 * sizeof(e->r), e, NULL) != 0) {
        free(e);
        cc->nomem = 1;
        return -1;
    }
    return 0;
}

static int is_memoised(const av_node_t *node)
{
    return node->type >= AV_RECORD;
}

/* ------------------------------------------------------------ checker */

static void cc_get(cc_t *cc, const char *token, const av_node_t *r,
                   const av_node_t *w, cc_loc_t *loc, cc_list_t *out);

/* Java calls the two-argument getCompatibility() in the union cases, which
 * starts a new location stack: reproduce that. */
static void cc_get_fresh(cc_t *cc, const av_node_t *r, const av_node_t *w,
                         cc_list_t *out)
{
    cc_loc_t loc = {0};
    cc_get(cc, "", r, w, &loc, out);
    free(loc.tok);
}

static void cc_add(cc_t *cc, cc_list_t *out, cc_inc_t *inc)
{
    if (inc)
        list_push(cc, out, inc);
}

static void cc_type_mismatch(cc_t *cc, const av_node_t *r, const av_node_t *w,
                             const cc_loc_t *loc, cc_list_t *out)
{
    cc_add(cc, out,
           inc_new(cc, AV_COMPAT_TYPE_MISMATCH, loc,
                   "reader type: %s not compatible with writer type: %s",
                   java_type_names[r->type], java_type_names[w->type]));
}

/* Java's schemaNameEquals: unqualified names, or a reader alias (a full
 * name) equal to the writer's full name. */
static int names_match(const av_node_t *r, const av_node_t *w)
{
    if (strcmp(r->name, w->name) == 0)
        return 1;
    for (size_t i = 0; i < r->alias_cnt; i++) {
        if (strcmp(r->aliases[i], w->fullname) == 0)
            return 1;
    }
    return 0;
}

static void cc_names(cc_t *cc, const av_node_t *r, const av_node_t *w,
                     cc_loc_t *loc, cc_list_t *out)
{
    if (names_match(r, w) || loc_push(cc, loc, "name") < 0)
        return;
    cc_add(
        cc, out,
        inc_new(cc, AV_COMPAT_NAME_MISMATCH, loc, "expected: %s", w->fullname));
    loc_pop(loc);
}

static void cc_fixed_size(cc_t *cc, const av_node_t *r, const av_node_t *w,
                          cc_loc_t *loc, cc_list_t *out)
{
    if (r->size == w->size || loc_push(cc, loc, "size") < 0)
        return;
    cc_add(cc, out,
           inc_new(cc, AV_COMPAT_FIXED_SIZE_MISMATCH, loc,
                   "expected: %zu, found: %zu", w->size, r->size));
    loc_pop(loc);
}

static int has_symbol(const av_node_t *e, const char *symbol)
{
    for (size_t i = 0; i < e->symbol_cnt; i++) {
        if (strcmp(e->symbols[i], symbol) == 0)
            return 1;
    }
    return 0;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* Writer symbols the reader lacks, as Java prints its TreeSet: sorted,
 * "[A, B]".  Symbols are ASCII names, so strcmp orders them as Java's
 * String.compareTo does.  Returns NULL when out of memory. */
static char *missing_symbols(const av_node_t *r, const av_node_t *w,
                             size_t *cnt)
{
    const char **miss = calloc(w->symbol_cnt + 1, sizeof(*miss));
    size_t n = 0, len = 3;
    if (!miss)
        return NULL;
    for (size_t i = 0; i < w->symbol_cnt; i++) {
        if (!has_symbol(r, w->symbols[i])) {
            miss[n++] = w->symbols[i];
            len += strlen(w->symbols[i]) + 2;
        }
    }
    qsort(miss, n, sizeof(*miss), cmp_str);
    char *s = malloc(len);
    if (s) {
        char *p = s;
        *p++ = '[';
        for (size_t i = 0; i < n; i++)
            p += sprintf(p, "%s%s", i ? ", " : "", miss[i]);
        strcpy(p, "]");
    }
    free(miss);
    *cnt = n;
    return s;
}

/* A reader enum default covers every unknown writer symbol. */
static void cc_enum_symbols(cc_t *cc, const av_node_t *r, const av_node_t *w,
                            cc_loc_t *loc, cc_list_t *out)
{
    size_t cnt = 0;
    char *miss = missing_symbols(r, w, &cnt);
    if (!miss) {
        cc->nomem = 1;
        return;
    }
    if (cnt > 0 && !(r->enum_default && has_symbol(r, r->enum_default)) &&
        loc_push(cc, loc, "symbols") == 0) {
        cc_add(cc, out,
               inc_new(cc, AV_COMPAT_MISSING_ENUM_SYMBOLS, loc, "%s", miss));
        loc_pop(loc);
    }
    free(miss);
}

static const av_field_t *writer_field(const av_node_t *w, const char *name)
{
    for (size_t i = 0; i < w->field_cnt; i++) {
        if (strcmp(w->fields[i].name, name) == 0)
            return &w->fields[i];
    }
    return NULL;
}

/* Java's lookupWriterField: the writer field named like the reader field
 * plus one per reader alias (a set, so a repeated alias counts once) that
 * names a writer field.  Returns how many matched; *found is the first. */
static size_t lookup_writer_field(const av_node_t *w, const av_field_t *rf,
                                  const av_field_t **found)
{
    const av_field_t *wf = writer_field(w, rf->name);
    size_t cnt = wf ? 1 : 0;
    *found = wf;
    for (size_t i = 0; i < rf->alias_cnt; i++) {
        int repeated = 0;
        for (size_t j = 0; j < i && !repeated; j++)
            repeated = strcmp(rf->aliases[i], rf->aliases[j]) == 0;
        if (repeated || !(wf = writer_field(w, rf->aliases[i])))
            continue;
        if (!*found)
            *found = wf;
        cnt++;
    }
    return cnt;
}

/* Where Java throws AvroRuntimeException, Confluent answers with the
 * exception's message alone: record it and stop the whole check. */
static void cc_abort_ambiguous(cc_t *cc, const av_field_t *rf,
                               const av_node_t *w, const cc_loc_t *loc)
{
    cc->abort = inc_new(cc, AV_COMPAT_AMBIGUOUS_FIELD, loc,
                        "Reader record field %s matches multiple fields in "
                        "writer record schema %s",
                        rf->name, w->fullname);
    if (!cc->abort)
        cc->nomem = 1;
}

/* One reader field: read from its writer field, or from its default.
 * Java's quirk kept: a missing field without default whose type is an enum
 * with an enum default is checked against the writer record itself. */
static void cc_field(cc_t *cc, const av_field_t *rf, const av_node_t *w,
                     cc_loc_t *loc, cc_list_t *out)
{
    const av_field_t *wf = NULL;
    size_t matches = lookup_writer_field(w, rf, &wf);
    if (matches > 1) {
        cc_abort_ambiguous(cc, rf, w, loc);
    } else if (wf) {
        cc_get(cc, "type", rf->type, wf->type, loc, out);
    } else if (rf->dflt) {
        return;
    } else if (rf->type->type == AV_ENUM && rf->type->enum_default) {
        cc_get(cc, "type", rf->type, w, loc, out);
    } else {
        cc_add(cc, out,
               inc_new(cc, AV_COMPAT_READER_FIELD_MISSING_DEFAULT_VALUE, loc,
                       "%s", rf->name));
    }
}

static void cc_fields(cc_t *cc, const av_node_t *r, const av_node_t *w,
                      cc_loc_t *loc, cc_list_t *out)
{
    if (loc_push(cc, loc, "fields") < 0)
        return;
    for (size_t i = 0; i < r->field_cnt && !cc->abort; i++) {
        if (loc_push_index(cc, loc, i) < 0)
            break;
        cc_field(cc, &r->fields[i], w, loc, out);
        loc_pop(loc);
    }
    loc_pop(loc);
}

/* Both unions: every writer branch must be readable by the reader union. */
static void cc_union_union(cc_t *cc, const av_node_t *r, const av_node_t *w,
                           cc_loc_t *loc, cc_list_t *out)
{
    for (size_t i = 0; i < w->branch_cnt && !cc->abort; i++) {
        cc_list_t branch = {0};
        if (loc_push_index(cc, loc, i) < 0)
            return;
        cc_get_fresh(cc, r, w->branches[i], &branch);
        if (branch.n > 0) {
            cc_add(cc, out,
                   inc_new(cc, AV_COMPAT_MISSING_UNION_BRANCH, loc,
                           "reader union lacking writer type: %s",
                           java_type_names[w->branches[i]->type]));
        }
        list_free(&branch);
        loc_pop(loc);
    }
}

/* Reader union, writer not a union: the first branch that reads the writer
 * type wins (Java's resolution picks it the same way). */
static void cc_reader_union(cc_t *cc, const av_node_t *r, const av_node_t *w,
                            cc_loc_t *loc, cc_list_t *out)
{
    for (size_t i = 0; i < r->branch_cnt && !cc->abort; i++) {
        cc_list_t branch = {0};
        cc_get_fresh(cc, r->branches[i], w, &branch);
        size_t n = branch.n;
        list_free(&branch);
        if (n == 0)
            return;
    }
    cc_add(cc, out,
           inc_new(cc, AV_COMPAT_MISSING_UNION_BRANCH, loc,
                   "reader union lacking writer type: %s",
                   java_type_names[w->type]));
}

/* The spec's promotions: int -> long, float, double; long -> float,
 * double; float -> double; string <-> bytes. */
static int is_promotion(av_type_t r, av_type_t w)
{
    switch (r) {
    case AV_LONG:
        return w == AV_INT;
    case AV_FLOAT:
        return w == AV_INT || w == AV_LONG;
    case AV_DOUBLE:
        return w == AV_INT || w == AV_LONG || w == AV_FLOAT;
    case AV_BYTES:
        return w == AV_STRING;
    case AV_STRING:
        return w == AV_BYTES;
    default:
        return 0;
    }
}

static void cc_same_type(cc_t *cc, const av_node_t *r, const av_node_t *w,
                         cc_loc_t *loc, cc_list_t *out)
{
    switch (r->type) {
    case AV_ARRAY:
        cc_get(cc, "items", r->items, w->items, loc, out);
        break;
    case AV_MAP:
        cc_get(cc, "values", r->values, w->values, loc, out);
        break;
    case AV_FIXED:
        cc_names(cc, r, w, loc, out);
        cc_fixed_size(cc, r, w, loc, out);
        break;
    case AV_ENUM:
        cc_names(cc, r, w, loc, out);
        cc_enum_symbols(cc, r, w, loc, out);
        break;
    case AV_RECORD:
        cc_names(cc, r, w, loc, out);
        cc_fields(cc, r, w, loc, out);
        break;
    case AV_UNION:
        cc_union_union(cc, r, w, loc, out);
        break;
    default: /* primitives: identical types always read */
        break;
    }
}

/* Java's calculateCompatibility. */
static void cc_calc(cc_t *cc, const av_node_t *r, const av_node_t *w,
                    cc_loc_t *loc, cc_list_t *out)
{
    if (r->type == w->type) {
        cc_same_type(cc, r, w, loc, out);
    } else if (w->type == AV_UNION) {
        /* Every writer branch must be readable by the (non-union) reader. */
        for (size_t i = 0; i < w->branch_cnt && !cc->abort; i++) {
            char token[CC_TOK_MAX];
            snprintf(token, sizeof(token), "%zu", i);
            cc_get(cc, token, r, w->branches[i], loc, out);
        }
    } else if (r->type == AV_UNION) {
        cc_reader_union(cc, r, w, loc, out);
    } else if (!is_promotion(r->type, w->type)) {
        cc_type_mismatch(cc, r, w, loc, out);
    }
}

/* Java's getCompatibility(token, reader, writer, location): memoised. */
static void cc_get(cc_t *cc, const char *token, const av_node_t *r,
                   const av_node_t *w, cc_loc_t *loc, cc_list_t *out)
{
    int memo = is_memoised(r) && is_memoised(w);
    cc_list_t res = {0};
    if (cc->abort || loc_push(cc, loc, token) < 0)
        return;
    if (memo) {
        cc_memo_t *e = memo_find(cc, r, w);
        if (e) {
            /* In progress = a cycle: compatible unless proven otherwise. */
            if (e->state == MEMO_DONE)
                list_extend(cc, out, &e->res);
            loc_pop(loc);
            return;
        }
        if (memo_start(cc, r, w) < 0) {
            loc_pop(loc);
            return;
        }
    }
    cc_calc(cc, r, w, loc, &res);
    list_extend(cc, out, &res);
    if (memo) {
        cc_memo_t *e = memo_find(cc, r, w);
        e->state = MEMO_DONE;
        e->res = res;
    } else {
        list_free(&res);
    }
    loc_pop(loc);
}

/* ------------------------------------------------------ public checks */

/* One strategy run of Confluent's validator: how the messages of one pair
 * check are labelled. */
typedef struct run_tag {
    size_t previous_index;
    int reader_is_new;
    int append_schema;
} run_tag_t;

/* Checks one pair and appends its incompatibilities to res under tag.
 * Returns 0 or MW_ERR_NOMEM. */
static int check_pair(const av_node_t *r, const av_node_t *w,
                      const run_tag_t *tag, av_compat_result_t *res)
{
    cc_t cc = {0};
    cc_loc_t loc = {0};
    cc_list_t found = {0};
    int rc = 0;
    cc_get(&cc, "", r, w, &loc, &found);
    if (cc.abort) {
        found.n = 0;
        list_push(&cc, &found, cc.abort);
    }
    for (size_t i = 0; i < found.n && rc == 0; i++) {
        av_compat_msg_t msg = {
            .type = found.v[i]->type,
            .location = found.v[i]->location,
            .info = found.v[i]->info,
            .previous_index = tag->previous_index,
            .reader_is_new = tag->reader_is_new,
            .append_schema = tag->append_schema,
        };
        rc = result_add(res, &msg);
    }
    if (cc.nomem)
        rc = MW_ERR_NOMEM;
    list_free(&found);
    free(loc.tok);
    cc_destroy(&cc);
    return rc;
}

int av_compat_check_nodes(const av_node_t *reader, const av_node_t *writer,
                          av_compat_result_t *res)
{
    static const run_tag_t tag = {.reader_is_new = 1, .append_schema = 1};
    result_clear(res);
    return check_pair(reader, writer, &tag, res);
}

int av_compat_check(const av_schema_t *reader, const av_schema_t *writer,
                    av_compat_result_t *res)
{
    return av_compat_check_nodes(av_schema_root(reader), av_schema_root(writer),
                                 res);
}

/* Confluent's strategies against one existing version, in its order:
 *   1. backward (canRead): the candidate reads the old data;
 *   2. forward (canBeRead): the old schema reads the candidate's data;
 *   3. full (mutualRead): forward without the schema annotation, then
 *      backward with it. */
static int check_strategy(av_compat_level_t level, const av_node_t *cand,
                          const av_node_t *old, size_t idx,
                          av_compat_result_t *res)
{
    run_tag_t back = {
        .previous_index = idx, .reader_is_new = 1, .append_schema = 1};
    run_tag_t fwd = {
        .previous_index = idx, .reader_is_new = 0, .append_schema = 1};
    int rc;
    switch (level) {
    case AV_COMPAT_BACKWARD:
    case AV_COMPAT_BACKWARD_TRANSITIVE:
        return check_pair(cand, old, &back, res);
    case AV_COMPAT_FORWARD:
    case AV_COMPAT_FORWARD_TRANSITIVE:
        return check_pair(old, cand, &fwd, res);
    case AV_COMPAT_FULL:
    case AV_COMPAT_FULL_TRANSITIVE:
        fwd.append_schema = 0;
        rc = check_pair(old, cand, &fwd, res);
        return rc ? rc : check_pair(cand, old, &back, res);
    default:
        return 0;
    }
}

int av_compat_check_mode(av_compat_level_t level, const av_schema_t *candidate,
                         av_schema_t *const *previous, size_t n,
                         av_compat_result_t *res)
{
    int transitive = level == AV_COMPAT_BACKWARD_TRANSITIVE ||
                     level == AV_COMPAT_FORWARD_TRANSITIVE ||
                     level == AV_COMPAT_FULL_TRANSITIVE;
    result_clear(res);
    if (level == AV_COMPAT_NONE)
        return 0;
    /* Newest first; the plain levels look at the newest only, the
     * transitive ones stop at the first version with complaints. */
    for (size_t k = n; k > 0; k--) {
        int rc = check_strategy(level, av_schema_root(candidate),
                                av_schema_root(previous[k - 1]), k - 1, res);
        if (rc < 0)
            return rc;
        if (!transitive || res->cnt > 0)
            break;
    }
    return 0;
}

/* ---------------------------------------------------------- formatting */

size_t av_compat_msg_format(const av_compat_msg_t *msg, char *buf, size_t cap)
{
    const char *rd = msg->reader_is_new ? "new" : "old";
    const char *wr = msg->reader_is_new ? "old" : "new";
    const char *p = msg->location, *i = msg->info;
    const char *name = av_compat_err_name(msg->type);
    char desc[1024];
    int n;
    switch (msg->type) {
    case AV_COMPAT_FIXED_SIZE_MISMATCH:
        snprintf(desc, sizeof(desc),
                 "The size of FIXED type field at path "
                 "'%s' in the %s schema does not match with the %s schema",
                 p, rd, wr);
        break;
    case AV_COMPAT_TYPE_MISMATCH:
        snprintf(desc, sizeof(desc),
                 "The type (path '%s') of a field in the "
                 "%s schema does not match with the %s schema",
                 p, rd, wr);
        break;
    case AV_COMPAT_NAME_MISMATCH:
        snprintf(desc, sizeof(desc),
                 "The name of the schema has changed (path '%s')", p);
        break;
    case AV_COMPAT_MISSING_ENUM_SYMBOLS:
        snprintf(desc, sizeof(desc),
                 "The %s schema is missing enum symbols "
                 "'%s' at path '%s' in the %s schema",
                 rd, i, p, wr);
        break;
    case AV_COMPAT_MISSING_UNION_BRANCH:
        snprintf(desc, sizeof(desc),
                 "The %s schema is missing a type inside "
                 "a union field at path '%s' in the %s schema",
                 rd, p, wr);
        break;
    case AV_COMPAT_READER_FIELD_MISSING_DEFAULT_VALUE:
        snprintf(desc, sizeof(desc),
                 "The field '%s' at path '%s' in the %s "
                 "schema has no default value and is missing in the %s "
                 "schema",
                 i, p, rd, wr);
        break;
    default:
        n = snprintf(buf, cap,
                     "Unexpected exception during compatibility check: %s", i);
        return n < 0 ? 0 : (size_t)n;
    }
    n = snprintf(buf, cap,
                 "{errorType:'%s', description:'%s', additionalInfo:'%s'}",
                 name, desc, i);
    return n < 0 ? 0 : (size_t)n;
}

static int append_owned(json_t *out, char *s)
{
    json_t *str = s ? json_string(s) : NULL;
    free(s);
    if (!str || json_array_append_new(out, str) < 0)
        return MW_ERR_NOMEM;
    return 0;
}

static int append_msg(json_t *out, const av_compat_msg_t *msg)
{
    size_t len = av_compat_msg_format(msg, NULL, 0);
    char *s = malloc(len + 1);
    if (s)
        av_compat_msg_format(msg, s, len + 1);
    return append_owned(out, s);
}

/* Confluent's formatErrorMessages tail: the old version and its text. */
static int append_schema_notes(json_t *out, size_t idx, const int *versions,
                               const char *const *texts, size_t n)
{
    char *s = NULL;
    int rc = 0;
    if (idx >= n)
        return 0;
    if (versions && versions[idx] > 0) {
        if (asprintf(&s, "{oldSchemaVersion: %d}", versions[idx]) < 0)
            s = NULL;
        rc = append_owned(out, s);
    }
    if (rc == 0 && texts && texts[idx]) {
        size_t len = strlen(texts[idx]);
        int cut = len > CC_SCHEMA_TEXT_MAX;
        if (asprintf(&s, "{oldSchema: %s'%.*s'}",
                     cut ? "<truncated to 10240 characters> " : "",
                     (int)(cut ? CC_SCHEMA_TEXT_MAX : len), texts[idx]) < 0)
            s = NULL;
        rc = append_owned(out, s);
    }
    return rc;
}

int av_compat_format_messages(const av_compat_result_t *res,
                              const int *versions, const char *const *texts,
                              size_t n, json_t *out)
{
    for (size_t i = 0; i < res->cnt; i++) {
        const av_compat_msg_t *m = &res->msgs[i];
        const av_compat_msg_t *next = i + 1 < res->cnt ? m + 1 : NULL;
        int rc = append_msg(out, m);
        if (rc < 0)
            return rc;
        int run_ends = !next || next->previous_index != m->previous_index ||
                       next->reader_is_new != m->reader_is_new;
        if (run_ends && m->append_schema) {
            rc =
                append_schema_notes(out, m->previous_index, versions, texts, n);
            if (rc < 0)
                return rc;
        }
    }
    return 0;
}
