/*
 * av_schema_int.h: what av_schema.c (parsing, validation) and
 * av_schema_norm.c (canonical form, normalised form, fingerprint) share.
 * Not part of the public contract.
 */
#ifndef AV_SCHEMA_INT_H
#define AV_SCHEMA_INT_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "av_schema.h"
#include "mw_hash.h"

/* String table (keys and values borrowed) over mw_htab, made at the first
 * put so that a zeroed av_strtab_t is an empty table.  Used for the named
 * types of a schema and for the "already written" sets of the emitters;
 * lookups stay O(1) for schemas with thousands of types. */
typedef struct av_strtab {
    mw_htab_t *tab; /* NULL until the first put */
} av_strtab_t;

/* 0 inserted, 1 key already present (value untouched), MW_ERR_NOMEM. */
int av_strtab_put(av_strtab_t *tab, const char *key, const void *val);
const void *av_strtab_get(const av_strtab_t *tab, const char *key);
void av_strtab_free(av_strtab_t *tab);

typedef struct av_arena_blk av_arena_blk_t;

/* A parsed schema keeps only what its graph needs (a registry holds tens
 * of thousands): the struct itself, nodes, fields and strings live in one
 * arena whose first block is sized from the text; the JSON tree of the
 * text is dropped after parsing, except the default values and props
 * objects the graph points to (owned, one reference each).  Primitive
 * types without attributes are shared static nodes.  The normalised text
 * (what the registry stores) is built at parse time, in the arena's spare
 * tail when it fits; the canonical form is rebuilt on first use, since only
 * fingerprints and tests read it. */
struct av_schema {
    atomic_int refcnt;
    av_arena_blk_t *arena; /* this struct, nodes, names: freed at once */
    json_t **owned;        /* defaults and props objects, in arena */
    size_t owned_cnt;
    const av_node_t *root;
    av_strtab_t names;  /* fullname -> node, own definitions */
    av_schema_t **refs; /* kept references, in arena */
    size_t ref_cnt;
    _Atomic(char *) canonical; /* malloc'd on first av_schema_canonical */
    char *normalized;          /* in arena unless normalized_heap */
    int normalized_heap;
    uint64_t fingerprint;
};

#define AV_PATH_MAX 4096

typedef struct av_pending {
    const av_field_t *field;
    char *path; /* JSON path of the field, malloc'd */
} av_pending_t;

/* Parse state: the JSON path of the value being looked at (for messages)
 * and the fields whose defaults are checked once the graph is complete. */
typedef struct av_pctx {
    av_schema_t *sch;
    mw_err_t *err;
    char path[AV_PATH_MAX];
    size_t plen;
    int depth;
    av_pending_t *pend;
    size_t pend_cnt, pend_cap;
    long steps;       /* default checking budget */
    int failed;       /* an error was reported */
    size_t dflt_base; /* path length of the default checked */
    json_t **owned;   /* references the schema keeps, malloc'd */
    size_t owned_cnt, owned_cap;
} av_pctx_t;

/* Appends to the path; returns the mark to give av_path_pop. */
size_t av_path_push(av_pctx_t *p, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
void av_path_pop(av_pctx_t *p, size_t mark);

/* Sets MW_ERR_INVALID "<path>: <message>" and returns -1. */
int av_perr(av_pctx_t *p, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Short JSON text of v for messages; "an object", "a string", ... */
void av_json_brief(const json_t *v, char *out, size_t len);
const char *av_json_kind(const json_t *v);

int av_is_named(av_type_t type);

/* "int", "record 'a.R'", ... */
void av_type_desc(const av_node_t *t, char *out, size_t len);

/* Checks every pending field default; 0 or -1 with the error set. */
int av_schema_check_defaults(av_pctx_t *p);

/* Arena allocation (av_schema_obj.c): len bytes aligned for any node, or
 * a NUL-terminated copy of s[0..len); NULL when out of memory. */
void *av_schema_alloc(av_schema_t *sch, size_t len);
char *av_schema_alloc_chars(av_schema_t *sch, size_t len); /* unaligned */
char *av_schema_strndup(av_schema_t *sch, const char *s, size_t len);

/* Parses one schema value (av_schema.c); NULL with the error set. */
const av_node_t *av_schema_parse_node(av_pctx_t *p, json_t *js,
                                      const char *space);

/* The named type fullname defined in sch or one of its references. */
const av_node_t *av_schema_lookup(const av_schema_t *sch, const char *full);

/* Sets MW_ERR_NOMEM naming the path and returns -1. */
int av_pnomem(av_pctx_t *p);

/* Places a finished text of len bytes (plus its NUL) in the schema's arena
 * when it fits in the spare tail of the current block, else NULL. */
char *av_schema_arena_tail(av_schema_t *sch, size_t len);

/* Fills sch->normalized and sch->fingerprint once the graph is complete
 * (the canonical form is built, fingerprinted and dropped).  0 or -1 with
 * err set. */
int av_schema_forms_build(av_schema_t *sch, mw_err_t *err);

/* The canonical form, malloc'd, or NULL when out of memory. */
char *av_schema_canonical_build(const av_schema_t *sch);

/* CRC-64-AVRO (Rabin) of len bytes. */
uint64_t av_schema_crc64(const char *data, size_t len);

#endif /* AV_SCHEMA_INT_H */
