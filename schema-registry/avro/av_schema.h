/*
 * av_schema: Avro schemas parsed, validated and normalised.
 *
 * av_schema_parse() reads a schema's JSON text, checks it against the Avro
 * 1.11 specification (names and namespaces, defaults type-checked against
 * their field types, unions, enums with defaults, fixed, logical types,
 * recursive types through named references, references to other registered
 * schemas) and builds a graph of read-only nodes.  The graph is what the
 * compatibility checker and the serde walk; it is plain data, public so that
 * walking it costs no calls, and must never be modified.
 *
 * A parsed schema is immutable and reference-counted (av_schema_keep /
 * av_schema_release): the registry's caches, the serde's plans and the
 * client share one copy.  Thread-safe once built (the count is atomic).
 */
#ifndef AV_SCHEMA_H
#define AV_SCHEMA_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "mw_err.h"

typedef enum av_type {
    AV_NULL = 0,
    AV_BOOLEAN,
    AV_INT,
    AV_LONG,
    AV_FLOAT,
    AV_DOUBLE,
    AV_BYTES,
    AV_STRING,
    AV_RECORD,
    AV_ENUM,
    AV_ARRAY,
    AV_MAP,
    AV_UNION,
    AV_FIXED,
    AV_TYPE__CNT
} av_type_t;

/* Logical types; an invalid logical type is ignored (the spec says to fall
 * back to the underlying type), so nodes only carry valid ones. */
typedef enum av_logical {
    AV_LOGICAL_NONE = 0,
    AV_LOGICAL_DECIMAL,          /* bytes or fixed; precision, scale */
    AV_LOGICAL_UUID,             /* string */
    AV_LOGICAL_DATE,             /* int */
    AV_LOGICAL_TIME_MILLIS,      /* int */
    AV_LOGICAL_TIME_MICROS,      /* long */
    AV_LOGICAL_TIMESTAMP_MILLIS, /* long */
    AV_LOGICAL_TIMESTAMP_MICROS, /* long */
    AV_LOGICAL_LOCAL_TIMESTAMP_MILLIS,
    AV_LOGICAL_LOCAL_TIMESTAMP_MICROS,
    AV_LOGICAL_DURATION, /* fixed(12) */
    AV_LOGICAL__CNT
} av_logical_t;

typedef enum av_order {
    AV_ORDER_ASCENDING = 0,
    AV_ORDER_DESCENDING,
    AV_ORDER_IGNORE
} av_order_t;

struct av_node;

typedef struct av_field {
    const char *name;
    const char *doc;            /* NULL when absent */
    const char *const *aliases; /* alias_cnt names */
    size_t alias_cnt;
    const struct av_node *type;
    const json_t *dflt; /* default as JSON, NULL when absent */
    av_order_t order;
    size_t index; /* position in the record */
    /* Attributes the spec does not define ("connect.name", ...), kept as a
     * JSON object; NULL when none.  Borrowed for the schema's lifetime. */
    const json_t *props;
} av_field_t;

/* One node of the schema graph.  Named types (record, enum, fixed) appear
 * once; every later reference by name points to the same node, so recursive
 * records are cycles. */
typedef struct av_node {
    av_type_t type;
    av_logical_t logical;
    int precision, scale; /* decimal only */
    /* named types */
    const char *name;     /* short name */
    const char *space;    /* namespace, "" when none */
    const char *fullname; /* "space.name" or "name" */
    const char *doc;
    const char *const *aliases; /* full names */
    size_t alias_cnt;
    /* record */
    const av_field_t *fields;
    size_t field_cnt;
    /* enum */
    const char *const *symbols;
    size_t symbol_cnt;
    const char *enum_default; /* NULL when absent */
    /* array / map */
    const struct av_node *items;  /* array */
    const struct av_node *values; /* map */
    /* union */
    const struct av_node *const *branches;
    size_t branch_cnt;
    /* fixed */
    size_t size;
    /* Added after the first contract (append-only): */
    int is_error; /* record declared as "error" */
    /* Attributes other than the ones the spec defines for this type, as a
     * JSON object (NULL when none).  logicalType, precision and scale are
     * kept here as written, so an ignored (invalid) logical type survives
     * normalisation.  Borrowed for the schema's lifetime. */
    const json_t *props;
} av_node_t;

typedef struct av_schema av_schema_t;

/* Parses and validates text (len bytes, need not be NUL-terminated).
 * refs are already-parsed schemas whose named types text may use (schema
 * references); borrowed.  Returns a new schema (release with
 * av_schema_release) or NULL with err = MW_ERR_INVALID and a message that
 * names the JSON path of the problem, e.g.
 *   "$.fields[2].default: 'abc' is not a valid default for type int". */
av_schema_t *av_schema_parse(const char *text, size_t len,
                             av_schema_t *const *refs, size_t ref_cnt,
                             mw_err_t *err);

av_schema_t *av_schema_keep(av_schema_t *schema);
void av_schema_release(av_schema_t *schema);

/* The root node; borrowed for the schema's lifetime. */
const av_node_t *av_schema_root(const av_schema_t *schema);

/* The named type fullname defined in this schema or its references, or
 * NULL. */
const av_node_t *av_schema_named(const av_schema_t *schema,
                                 const char *fullname);

/* Avro's Parsing Canonical Form (the spec's [STRIP], [ORDER], ... rules):
 * what fingerprints are computed over.  Borrowed.  Built on the first call
 * (thread-safe), so it costs nothing for schemas nobody asks it of; NULL
 * only when that build runs out of memory. */
const char *av_schema_canonical(const av_schema_t *schema);

/* The registry's normalised text: compact JSON with every attribute kept
 * (doc, defaults, aliases, order, logical types, custom properties) in a
 * fixed key order, so two texts that differ only in whitespace or key order
 * give the same string.  This is what the registry stores, compares and
 * returns.  Borrowed. */
const char *av_schema_normalized(const av_schema_t *schema);

/* CRC-64-AVRO (Rabin) fingerprint of the canonical form. */
uint64_t av_schema_fingerprint(const av_schema_t *schema);

/* Names for logs and messages: "record", "timestamp-millis", ... */
const char *av_type_name(av_type_t type);
const char *av_logical_name(av_logical_t logical);

#endif /* AV_SCHEMA_H */
