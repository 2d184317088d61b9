/*
 * sr_schema: Avro schemas parsed, validated and normalised.
 *
 * sr_schema_parse() reads a schema's JSON text, checks it against the Avro
 * 1.11 specification (names and namespaces, defaults type-checked against
 * their field types, unions, enums with defaults, fixed, logical types,
 * recursive types through named references, references to other registered
 * schemas) and builds a graph of read-only nodes.  The graph is what the
 * compatibility checker and the serde walk; it is plain data, public so that
 * walking it costs no calls, and must never be modified.
 *
 * A parsed schema is immutable and reference-counted (sr_schema_keep /
 * sr_schema_release): the registry's caches, the serde's plans and the
 * client share one copy.  Thread-safe once built (the count is atomic).
 */
#ifndef SR_SCHEMA_H
#define SR_SCHEMA_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "mw_err.h"

typedef enum sr_type {
    SR_NULL = 0,
    SR_BOOLEAN,
    SR_INT,
    SR_LONG,
    SR_FLOAT,
    SR_DOUBLE,
    SR_BYTES,
    SR_STRING,
    SR_RECORD,
    SR_ENUM,
    SR_ARRAY,
    SR_MAP,
    SR_UNION,
    SR_FIXED,
    SR_TYPE__CNT
} sr_type_t;

/* Logical types; an invalid logical type is ignored (the spec says to fall
 * back to the underlying type), so nodes only carry valid ones. */
typedef enum sr_logical {
    SR_LOGICAL_NONE = 0,
    SR_LOGICAL_DECIMAL,          /* bytes or fixed; precision, scale */
    SR_LOGICAL_UUID,             /* string */
    SR_LOGICAL_DATE,             /* int */
    SR_LOGICAL_TIME_MILLIS,      /* int */
    SR_LOGICAL_TIME_MICROS,      /* long */
    SR_LOGICAL_TIMESTAMP_MILLIS, /* long */
    SR_LOGICAL_TIMESTAMP_MICROS, /* long */
    SR_LOGICAL_LOCAL_TIMESTAMP_MILLIS,
    SR_LOGICAL_LOCAL_TIMESTAMP_MICROS,
    SR_LOGICAL_DURATION,         /* fixed(12) */
    SR_LOGICAL__CNT
} sr_logical_t;

typedef enum sr_order {
    SR_ORDER_ASCENDING = 0,
    SR_ORDER_DESCENDING,
    SR_ORDER_IGNORE
} sr_order_t;

struct sr_node;

typedef struct sr_field {
    const char *name;
    const char *doc;                  /* NULL when absent */
    const char *const *aliases;       /* alias_cnt names */
    size_t alias_cnt;
    const struct sr_node *type;
    const json_t *dflt;               /* default as JSON, NULL when absent */
    sr_order_t order;
    size_t index;                     /* position in the record */
    /* Attributes the spec does not define ("connect.name", ...), kept as a
     * JSON object; NULL when none.  Borrowed for the schema's lifetime. */
    const json_t *props;
} sr_field_t;

/* One node of the schema graph.  Named types (record, enum, fixed) appear
 * once; every later reference by name points to the same node, so recursive
 * records are cycles. */
typedef struct sr_node {
    sr_type_t type;
    sr_logical_t logical;
    int precision, scale;             /* decimal only */
    /* named types */
    const char *name;                 /* short name */
    const char *space;                /* namespace, "" when none */
    const char *fullname;             /* "space.name" or "name" */
    const char *doc;
    const char *const *aliases;       /* full names */
    size_t alias_cnt;
    /* record */
    const sr_field_t *fields;
    size_t field_cnt;
    /* enum */
    const char *const *symbols;
    size_t symbol_cnt;
    const char *enum_default;         /* NULL when absent */
    /* array / map */
    const struct sr_node *items;      /* array */
    const struct sr_node *values;     /* map */
    /* union */
    const struct sr_node *const *branches;
    size_t branch_cnt;
    /* fixed */
    size_t size;
    /* Added after the first contract (append-only): */
    int is_error;                     /* record declared as "error" */
    /* Attributes other than the ones the spec defines for this type, as a
     * JSON object (NULL when none).  logicalType, precision and scale are
     * kept here as written, so an ignored (invalid) logical type survives
     * normalisation.  Borrowed for the schema's lifetime. */
    const json_t *props;
} sr_node_t;

typedef struct sr_schema sr_schema_t;

/* Parses and validates text (len bytes, need not be NUL-terminated).
 * refs are already-parsed schemas whose named types text may use (schema
 * references); borrowed.  Returns a new schema (release with
 * sr_schema_release) or NULL with err = MW_ERR_INVALID and a message that
 * names the JSON path of the problem, e.g.
 *   "$.fields[2].default: 'abc' is not a valid default for type int". */
sr_schema_t *sr_schema_parse(const char *text, size_t len,
                             sr_schema_t *const *refs, size_t ref_cnt,
                             mw_err_t *err);

sr_schema_t *sr_schema_keep(sr_schema_t *schema);
void sr_schema_release(sr_schema_t *schema);

/* The root node; borrowed for the schema's lifetime. */
const sr_node_t *sr_schema_root(const sr_schema_t *schema);

/* The named type fullname defined in this schema or its references, or
 * NULL. */
const sr_node_t *sr_schema_named(const sr_schema_t *schema,
                                 const char *fullname);

/* Avro's Parsing Canonical Form (the spec's [STRIP], [ORDER], ... rules):
 * what fingerprints are computed over.  Borrowed.  Built on the first call
 * (thread-safe), so it costs nothing for schemas nobody asks it of; NULL
 * only when that build runs out of memory. */
const char *sr_schema_canonical(const sr_schema_t *schema);

/* The registry's normalised text: compact JSON with every attribute kept
 * (doc, defaults, aliases, order, logical types, custom properties) in a
 * fixed key order, so two texts that differ only in whitespace or key order
 * give the same string.  This is what the registry stores, compares and
 * returns.  Borrowed. */
const char *sr_schema_normalized(const sr_schema_t *schema);

/* CRC-64-AVRO (Rabin) fingerprint of the canonical form. */
uint64_t sr_schema_fingerprint(const sr_schema_t *schema);

/* Names for logs and messages: "record", "timestamp-millis", ... */
const char *sr_type_name(sr_type_t type);
const char *sr_logical_name(sr_logical_t logical);

#endif /* SR_SCHEMA_H */
