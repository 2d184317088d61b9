/*
 * av_serde_int.h: the compiled plan shared by av_serde_plan.c (compiler),
 * av_serde_dec.c (binary -> JSON) and av_serde_enc.c (JSON -> binary).
 *
 * A plan is a flat array of ops; children are op indexes, so recursive
 * schemas are cycles of indexes and the array may grow while compiling.
 * Each op reads one writer value and, unless the caller only skips it,
 * produces one JSON value in the reader's shape.
 */
#ifndef AV_SERDE_INT_H
#define AV_SERDE_INT_H

#include <stdint.h>

#include "av_serde.h"

#define AV_OP_NONE UINT32_MAX

typedef enum av_op_kind {
    AV_OP_NULL = 0,
    AV_OP_BOOL,
    AV_OP_INT,    /* writer int */
    AV_OP_LONG,   /* writer long */
    AV_OP_FLOAT,  /* writer float */
    AV_OP_DOUBLE, /* writer double */
    AV_OP_BYTES,  /* writer bytes */
    AV_OP_STRING, /* writer string */
    AV_OP_FIXED,  /* size = cnt */
    AV_OP_ENUM,   /* cnt writer symbols, map -> reader symbol index */
    AV_OP_ARRAY,  /* child = items */
    AV_OP_MAP,    /* child = values */
    AV_OP_RECORD, /* cnt writer fields in flds, then nextra defaults */
    AV_OP_UNION,  /* writer union: cnt branches, map -> op, names */
    AV_OP_WRAP,   /* reader union, writer not: child then {name: v} */
    AV_OP__CNT
} av_op_kind_t;

/* How a read value becomes JSON (promotions are conversions here). */
typedef enum av_conv {
    AV_CONV_SAME = 0, /* integer stays integer, string stays string */
    AV_CONV_REAL,     /* int/long/float -> double */
    AV_CONV_F32,      /* int/long -> float (rounded through float) */
    AV_CONV_BYTES,    /* string read, output as a bytes string */
    AV_CONV_STRING    /* bytes read, output as a UTF-8 string */
} av_conv_t;

/* One record entry.  Writer fields (in writer order) have op >= 0 and
 * rfield = the reader field's index or AV_OP_NONE (skipped); default
 * entries have op = AV_OP_NONE and dflt set. */
typedef struct av_fld {
    const char *name; /* reader field name (writer name when skipped) */
    uint32_t op;
    uint32_t rfield;
    json_t *dflt; /* Avro JSON form of the reader default, or NULL */
    /* Encoding plans only (av_serde_enc_prepare), for encoders that work
     * from text (av_jtext) rather than a json_t: */
    uint32_t name_len; /* strlen(name) */
    int dflt_depth;    /* path depth encoding dflt reaches (nested fields,
                          items, values); -1: no default, or one that
                          does not encode */
    uint8_t *dflt_bin; /* dflt's Avro binary, dflt_len bytes (may be 0) */
    size_t dflt_len;
} av_fld_t;

typedef struct av_op {
    uint8_t kind;            /* av_op_kind_t */
    uint8_t conv;            /* av_conv_t */
    uint8_t decimal;         /* encode accepts JSON numbers */
    uint8_t scale;           /* decimal scale (bounded by the parser) */
    uint32_t child;          /* array items, map values, wrap inner */
    uint32_t cnt;            /* fields, branches, symbols, fixed size */
    uint32_t nextra;         /* record: default entries after cnt */
    uint32_t rcnt;           /* record: reader field count */
    size_t min_bytes;        /* smallest encoding; bounds array counts */
    const av_node_t *node;   /* reader node (names, symbols) */
    const av_node_t *wnode;  /* writer node (skip, messages) */
    av_fld_t *flds;          /* record */
    uint32_t *map;           /* enum: writer idx -> reader idx; union: op */
    const char **names;      /* union: output key per writer branch, or
                                NULL (null branch, or reader not a union);
                                wrap: names[0] */
    char **fail;             /* union: message per unreadable branch */
    const char *symbol_dflt; /* enum: reader default symbol or NULL */
    /* record, encoding plans with more than AV_FLD_HASH_MIN fields: field
     * index by name hash (av_serde_fld_hash), open addressing, AV_OP_NONE
     * marks an empty slot; fhash_mask + 1 slots. */
    uint32_t *fhash;
    uint32_t fhash_mask;
} av_op_t;

#define AV_FLD_HASH_MIN 8

struct av_serde_plan {
    av_schema_t *writer, *reader;
    int identity; /* reader is writer: the plan also encodes */
    av_op_t *ops;
    uint32_t op_cnt;
    size_t op_cap;
    uint32_t root;
};

/* Path of the value being processed, for error messages ("$.a[3].b"). */
typedef struct av_path {
    struct {
        const char *key; /* NULL: index */
        size_t idx;
    } seg[AV_SERDE_MAX_DEPTH + 2];
    int depth;
} av_path_t;

/* Writes "$.a[3].b" into buf. */
void av_serde_path_format(const av_path_t *path, char *buf, size_t len);

/* Replaces control characters and the bytes of invalid or truncated UTF-8
 * sequences in s with '?', so an error message quoting input stays one
 * valid line (logs, JSON replies). */
void av_serde_utf8_fix(char *s);

/* Converts a schema default (its JSON in the schema text) into the Avro
 * JSON encoding of a value of node: unions wrapped, missing record fields
 * filled from their own defaults, integers for float/double made reals.
 * NULL when dflt does not fit node. */
json_t *av_serde_default_json(const av_node_t *node, const json_t *dflt,
                              int depth);

/* Output key of a union branch: the type name for unnamed types, the full
 * name for named ones. */
const char *av_serde_branch_name(const av_node_t *node);

/* Precomputes, for an identity (encoding) plan, what encoders working
 * from JSON text need and av_serde_json_to_avro gets from json_t: each
 * record field's default as Avro binary with the depth its encoding
 * reaches, name lengths and the field hash of wide records.  A default
 * that does not encode is not an error (only the messages that need it
 * fail, as in av_serde_json_to_avro).  0 or MW_ERR_NOMEM. */
int av_serde_enc_prepare(av_serde_plan_t *plan, mw_err_t *err);

/* mw_hash_bytes over len bytes, cut to 32 bits: the hash of op->fhash
 * and of av_jtext's map-key set. */
uint32_t av_serde_fld_hash(const char *name, size_t len);

/* The branch of union op named by key ({"key": value}), as
 * av_serde_json_to_avro picks it, or AV_OP_NONE.  key is NUL-terminated. */
uint32_t av_serde_union_pick(const av_op_t *op, const char *key);

/* A decimal's unscaled value x * 10^scale, rounded, as two's complement
 * big-endian: the fewest bytes for bytes, sign-extended to op->cnt for
 * fixed; buf holds at least 8 bytes, or op->cnt for fixed.  0, or 1 when
 * the unscaled value does not fit in 64 bits, 2 when it does not fit in
 * the fixed. */
int av_serde_decimal_be(const av_op_t *op, long double x, uint8_t *buf,
                        size_t *n);

#endif /* AV_SERDE_INT_H */
