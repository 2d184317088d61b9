/*
 * av_schema_obj: the parsed schema as an object: its arena (one block list
 * holding the struct, nodes, fields and strings), its string table of
 * named types, and its life cycle (av_schema_parse's entry and cleanup,
 * keep, release and the accessors).  The parser proper is av_schema.c,
 * which allocates through av_schema_alloc and av_schema_strndup.
 */
#include "av_schema.h"

#include <stdlib.h>
#include <string.h>

#include "av_schema_int.h"

/* ------------------------------------------------------------- arena */

struct av_arena_blk {
    av_arena_blk_t *next;
    size_t used, cap;
    max_align_t data[];
};

#define ARENA_ALIGN _Alignof(void *)
#define ARENA_FIRST_MAX ((size_t)1 << 20)

_Static_assert(_Alignof(av_node_t) <= ARENA_ALIGN &&
                   _Alignof(av_field_t) <= ARENA_ALIGN &&
                   _Alignof(av_schema_t) <= ARENA_ALIGN,
               "arena alignment covers what it holds");

/* First block: the graph plus the normalised text take about four times
 * the text without its whitespace (measured on records of primitives,
 * unions, enums and containers), so most schemas need exactly one block
 * and little of it stays unused.  Whitespace is left out because pretty
 * printed texts would otherwise reserve twice what they use. */
static size_t arena_first_cap(const char *text, size_t len)
{
    size_t solid = 0;
    for (size_t i = 0; i < len; i++)
        solid += text[i] != ' ' && text[i] != '\n' && text[i] != '\t' &&
                 text[i] != '\r';
    size_t cap = sizeof(av_schema_t) + 4 * solid + 256;
    return cap < ARENA_FIRST_MAX ? cap : ARENA_FIRST_MAX;
}

static av_arena_blk_t *arena_block(size_t cap)
{
    av_arena_blk_t *blk = calloc(1, sizeof(*blk) + cap);
    if (blk)
        blk->cap = cap;
    return blk;
}

/* Size of the block after the full ones: half of all blocks so far (or len
 * when larger).  Geometric growth keeps a large schema at a few blocks,
 * and a schema that just misses its first block wastes half of it at
 * most, not twice. */
static size_t arena_next_cap(const av_arena_blk_t *blk, size_t len)
{
    size_t total = 0;
    for (; blk; blk = blk->next)
        total += blk->cap;
    return total / 2 > len ? total / 2 : len;
}

/* Zeroed memory aligned to align (a power of two). */
static void *arena_alloc_aligned(av_schema_t *sch, size_t len, size_t align)
{
    av_arena_blk_t *blk = sch->arena;
    size_t off = (blk->used + align - 1) & ~(align - 1);
    if (off > blk->cap || blk->cap - off < len) {
        size_t cap = arena_next_cap(blk, len);
        av_arena_blk_t *grown = arena_block(cap);
        if (!grown)
            return NULL;
        grown->next = blk;
        sch->arena = blk = grown;
        off = 0;
    }
    blk->used = off + len;
    return (char *)blk->data + off;
}

char *av_schema_alloc_chars(av_schema_t *sch, size_t len)
{
    return arena_alloc_aligned(sch, len, 1);
}

void *av_schema_alloc(av_schema_t *sch, size_t len)
{
    return arena_alloc_aligned(sch, len, ARENA_ALIGN);
}

char *av_schema_strndup(av_schema_t *sch, const char *s, size_t len)
{
    char *d = arena_alloc_aligned(sch, len + 1, 1);
    if (d) {
        memcpy(d, s, len);
        d[len] = '\0';
    }
    return d;
}

char *av_schema_arena_tail(av_schema_t *sch, size_t len)
{
    av_arena_blk_t *blk = sch->arena;
    if (blk->cap - blk->used < len + 1)
        return NULL;
    char *s = (char *)blk->data + blk->used;
    blk->used += len + 1;
    return s;
}

/* ------------------------------------------------------------- strtab */

int av_strtab_put(av_strtab_t *tab, const char *key, const void *val)
{
    if (!tab->tab && !(tab->tab = mw_htab_new(0)))
        return MW_ERR_NOMEM;
    if (mw_htab_get_str(tab->tab, key))
        return 1;
    /* The table stores void *: the values stay the callers' const data. */
    return mw_htab_put_str(tab->tab, key, (void *)(uintptr_t)val, NULL) == 0
               ? 0
               : MW_ERR_NOMEM;
}

const void *av_strtab_get(const av_strtab_t *tab, const char *key)
{
    return tab->tab ? mw_htab_get_str(tab->tab, key) : NULL;
}

void av_strtab_free(av_strtab_t *tab)
{
    mw_htab_destroy(tab->tab);
    tab->tab = NULL;
}

/* ------------------------------------------------------------- public */

static void schema_free(av_schema_t *sch)
{
    for (size_t i = 0; i < sch->owned_cnt; i++)
        json_decref(sch->owned[i]);
    av_strtab_free(&sch->names);
    for (size_t i = 0; i < sch->ref_cnt; i++)
        av_schema_release(sch->refs[i]);
    free(atomic_load(&sch->canonical));
    if (sch->normalized_heap)
        free(sch->normalized);
    /* sch itself is in the last block of the list. */
    av_arena_blk_t *blk = sch->arena;
    while (blk) {
        av_arena_blk_t *next = blk->next;
        free(blk);
        blk = next;
    }
}

/* The schema struct is the first thing in its own arena. */
static av_schema_t *schema_new(const char *text, size_t len,
                               av_schema_t *const *refs, size_t ref_cnt)
{
    size_t cap = arena_first_cap(text, len);
    av_arena_blk_t *blk = arena_block(cap);
    if (!blk)
        return NULL;
    av_schema_t *sch = (av_schema_t *)blk->data;
    blk->used = sizeof(*sch);
    sch->arena = blk;
    atomic_init(&sch->refcnt, 1);
    atomic_init(&sch->canonical, NULL);
    size_t n = 0;
    for (size_t i = 0; i < ref_cnt; i++)
        n += refs[i] != NULL;
    if (n && !(sch->refs = av_schema_alloc(sch, n * sizeof(*sch->refs)))) {
        schema_free(sch);
        return NULL;
    }
    for (size_t i = 0; i < ref_cnt; i++)
        if (refs[i])
            sch->refs[sch->ref_cnt++] = av_schema_keep(refs[i]);
    return sch;
}

/* Moves the references collected while parsing into the schema, exactly
 * sized in its arena. */
static int keep_owned(av_pctx_t *p)
{
    av_schema_t *sch = p->sch;
    if (!p->owned_cnt)
        return 0;
    sch->owned = av_schema_alloc(sch, p->owned_cnt * sizeof(*sch->owned));
    if (!sch->owned)
        return av_pnomem(p);
    memcpy(sch->owned, p->owned, p->owned_cnt * sizeof(*sch->owned));
    sch->owned_cnt = p->owned_cnt;
    p->owned_cnt = 0;
    return 0;
}

static int parse_text(av_pctx_t *p, const char *text, size_t len)
{
    json_error_t jerr;
    av_schema_t *sch = p->sch;
    json_t *json = json_loadb(text ? text : "", text ? len : 0,
                              JSON_DECODE_ANY | JSON_ALLOW_NUL, &jerr);
    if (!json)
        return mw_err_set(p->err, MW_ERR_INVALID,
                          "$: invalid JSON at line %d column %d: %s", jerr.line,
                          jerr.column, jerr.text);
    memcpy(p->path, "$", 2);
    p->plen = 1;
    sch->root = av_schema_parse_node(p, json, "");
    int ok =
        sch->root && keep_owned(p) == 0 && av_schema_check_defaults(p) == 0;
    /* Everything kept is copied or referenced by now. */
    json_decref(json);
    return ok ? av_schema_forms_build(sch, p->err) : -1;
}

av_schema_t *av_schema_parse(const char *text, size_t len,
                             av_schema_t *const *refs, size_t ref_cnt,
                             mw_err_t *err)
{
    av_pctx_t *p = calloc(1, sizeof(*p));
    av_schema_t *sch =
        schema_new(text, text ? len : 0, refs, refs ? ref_cnt : 0);
    if (!p || !sch) {
        free(p);
        if (sch)
            schema_free(sch);
        mw_err_set(err, MW_ERR_NOMEM, "out of memory parsing a schema");
        return NULL;
    }
    p->sch = sch;
    p->err = err;
    if (parse_text(p, text, len) < 0) {
        schema_free(sch);
        sch = NULL;
    }
    for (size_t i = 0; i < p->owned_cnt; i++)
        json_decref(p->owned[i]);
    for (size_t i = 0; i < p->pend_cnt; i++)
        free(p->pend[i].path);
    free(p->owned);
    free(p->pend);
    free(p);
    return sch;
}

av_schema_t *av_schema_keep(av_schema_t *schema)
{
    if (schema)
        atomic_fetch_add(&schema->refcnt, 1);
    return schema;
}

void av_schema_release(av_schema_t *schema)
{
    if (schema && atomic_fetch_sub(&schema->refcnt, 1) == 1)
        schema_free(schema);
}

const av_node_t *av_schema_root(const av_schema_t *schema)
{
    return schema->root;
}

const av_node_t *av_schema_named(const av_schema_t *schema,
                                 const char *fullname)
{
    return av_schema_lookup(schema, fullname);
}

/* Built on first use and published with a compare-and-swap: two threads
 * racing both build it, one copy wins, the other is freed. */
const char *av_schema_canonical(const av_schema_t *schema)
{
    av_schema_t *sch = (av_schema_t *)schema;
    char *text = atomic_load_explicit(&sch->canonical, memory_order_acquire);
    if (text)
        return text;
    char *built = av_schema_canonical_build(schema);
    if (!built)
        return NULL;
    if (!atomic_compare_exchange_strong(&sch->canonical, &text, built)) {
        free(built);
        return text;
    }
    return built;
}

const char *av_schema_normalized(const av_schema_t *schema)
{
    return schema->normalized;
}

uint64_t av_schema_fingerprint(const av_schema_t *schema)
{
    return schema->fingerprint;
}
