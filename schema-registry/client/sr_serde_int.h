/*
 * sr_serde_int.h: the compiled plan shared by sr_serde_plan.c (compiler),
 * sr_serde_dec.c (binary -> JSON) and sr_serde_enc.c (JSON -> binary).
 *
 * A plan is a flat array of ops; children are op indexes, so recursive
 * schemas are cycles of indexes and the array may grow while compiling.
 * Each op reads one writer value and, unless the caller only skips it,
 * produces one JSON value in the reader's shape.
 */
#ifndef SR_SERDE_INT_H
#define SR_SERDE_INT_H

#include <stdint.h>

#include "sr_serde.h"

#define SR_OP_NONE UINT32_MAX

typedef enum sr_op_kind {
    SR_OP_NULL = 0,
    SR_OP_BOOL,
    SR_OP_INT,     /* writer int */
    SR_OP_LONG,    /* writer long */
    SR_OP_FLOAT,   /* writer float */
    SR_OP_DOUBLE,  /* writer double */
    SR_OP_BYTES,   /* writer bytes */
    SR_OP_STRING,  /* writer string */
    SR_OP_FIXED,   /* size = cnt */
    SR_OP_ENUM,    /* cnt writer symbols, map -> reader symbol index */
    SR_OP_ARRAY,   /* child = items */
    SR_OP_MAP,     /* child = values */
    SR_OP_RECORD,  /* cnt writer fields in flds, then nextra defaults */
    SR_OP_UNION,   /* writer union: cnt branches, map -> op, names */
    SR_OP_WRAP,    /* reader union, writer not: child then {name: v} */
    SR_OP__CNT
} sr_op_kind_t;

/* How a read value becomes JSON (promotions are conversions here). */
typedef enum sr_conv {
    SR_CONV_SAME = 0,  /* integer stays integer, string stays string */
    SR_CONV_REAL,      /* int/long/float -> double */
    SR_CONV_F32,       /* int/long -> float (rounded through float) */
    SR_CONV_BYTES,     /* string read, output as a bytes string */
    SR_CONV_STRING     /* bytes read, output as a UTF-8 string */
} sr_conv_t;

/* One record entry.  Writer fields (in writer order) have op >= 0 and
 * rfield = the reader field's index or SR_OP_NONE (skipped); default
 * entries have op = SR_OP_NONE and dflt set. */
typedef struct sr_fld {
    const char *name;   /* reader field name (writer name when skipped) */
    uint32_t op;
    uint32_t rfield;
    json_t *dflt;       /* Avro JSON form of the reader default, or NULL */
    /* Encoding plans only (sr_serde_enc_prepare), for encoders that work
     * from text (sr_jtext) rather than a json_t: */
    uint32_t name_len;  /* strlen(name) */
    int dflt_depth;     /* path depth encoding dflt reaches (nested fields,
                           items, values); -1: no default, or one that
                           does not encode */
    uint8_t *dflt_bin;  /* dflt's Avro binary, dflt_len bytes (may be 0) */
    size_t dflt_len;
} sr_fld_t;

typedef struct sr_op {
    uint8_t kind;            /* sr_op_kind_t */
    uint8_t conv;            /* sr_conv_t */
    uint8_t decimal;         /* encode accepts JSON numbers */
    uint8_t scale;           /* decimal scale (bounded by the parser) */
    uint32_t child;          /* array items, map values, wrap inner */
    uint32_t cnt;            /* fields, branches, symbols, fixed size */
    uint32_t nextra;         /* record: default entries after cnt */
    uint32_t rcnt;           /* record: reader field count */
    size_t min_bytes;        /* smallest encoding; bounds array counts */
    const sr_node_t *node;   /* reader node (names, symbols) */
    const sr_node_t *wnode;  /* writer node (skip, messages) */
    sr_fld_t *flds;          /* record */
    uint32_t *map;           /* enum: writer idx -> reader idx; union: op */
    const char **names;      /* union: output key per writer branch, or
                                NULL (null branch, or reader not a union);
                                wrap: names[0] */
    char **fail;             /* union: message per unreadable branch */
    const char *symbol_dflt; /* enum: reader default symbol or NULL */
    /* record, encoding plans with more than SR_FLD_HASH_MIN fields: field
     * index by name hash (sr_serde_fld_hash), open addressing, SR_OP_NONE
     * marks an empty slot; fhash_mask + 1 slots. */
    uint32_t *fhash;
    uint32_t fhash_mask;
} sr_op_t;

#define SR_FLD_HASH_MIN 8

struct sr_serde_plan {
    sr_schema_t *writer, *reader;
    int identity;            /* reader is writer: the plan also encodes */
    sr_op_t *ops;
    uint32_t op_cnt, op_cap;
    uint32_t root;
};

/* Path of the value being processed, for error messages ("$.a[3].b"). */
typedef struct sr_path {
    struct {
        const char *key;     /* NULL: index */
        size_t idx;
    } seg[SR_SERDE_MAX_DEPTH + 2];
    int depth;
} sr_path_t;

/* Writes "$.a[3].b" into buf. */
void sr_serde_path_format(const sr_path_t *path, char *buf, size_t len);

/* Replaces control characters and the bytes of invalid or truncated UTF-8
 * sequences in s with '?', so an error message quoting input stays one
 * valid line (logs, JSON replies). */
void sr_serde_utf8_fix(char *s);

/* Converts a schema default (its JSON in the schema text) into the Avro
 * JSON encoding of a value of node: unions wrapped, missing record fields
 * filled from their own defaults, integers for float/double made reals.
 * NULL when dflt does not fit node. */
json_t *sr_serde_default_json(const sr_node_t *node, const json_t *dflt,
                              int depth);

/* Output key of a union branch: the type name for unnamed types, the full
 * name for named ones. */
const char *sr_serde_branch_name(const sr_node_t *node);

/* Precomputes, for an identity (encoding) plan, what encoders working
 * from JSON text need and sr_serde_json_to_avro gets from json_t: each
 * record field's default as Avro binary with the depth its encoding
 * reaches, name lengths and the field hash of wide records.  A default
 * that does not encode is not an error (only the messages that need it
 * fail, as in sr_serde_json_to_avro).  0 or MW_ERR_NOMEM. */
int sr_serde_enc_prepare(sr_serde_plan_t *plan, mw_err_t *err);

/* FNV-1a over len bytes: the hash of op->fhash. */
uint32_t sr_serde_fld_hash(const char *name, size_t len);

/* The branch of union op named by key ({"key": value}), as
 * sr_serde_json_to_avro picks it, or SR_OP_NONE.  key is NUL-terminated. */
uint32_t sr_serde_union_pick(const sr_op_t *op, const char *key);

/* A decimal's unscaled value x * 10^scale, rounded, as two's complement
 * big-endian: the fewest bytes for bytes, sign-extended to op->cnt for
 * fixed; buf holds at least 8 bytes, or op->cnt for fixed.  0, or 1 when
 * the unscaled value does not fit in 64 bits, 2 when it does not fit in
 * the fixed. */
int sr_serde_decimal_be(const sr_op_t *op, long double x, uint8_t *buf,
                        size_t *n);

#endif /* SR_SERDE_INT_H */
