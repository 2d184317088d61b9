/*
 * dp_product: a data product as its descriptor describes it (one YAML file
 * per product, docs/PRODUCTS.md): identity (domain, name, major version),
 * owner, promises (SLA, terms, tags, field classifications), input ports
 * (operational sources or other products) and output ports (topics with
 * their schemas; tables and files that materializers write).
 *
 * A product is built only by dp_product_load (dp_parse.c), which checks
 * the structure and reads and parses every schema, and is read-only
 * afterwards.  Every element keeps its position in the file, so that later
 * checks (dp_validate, governance policies) name file:line:col too.
 *
 * The element structs are plain data meant to be read; the product itself
 * is opaque.  Everything is borrowed from the product until
 * dp_product_destroy.  Any thread; one product is not shared between
 * threads while being built.
 */
#ifndef DP_PRODUCT_H
#define DP_PRODUCT_H

#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>

#include "mw_err.h"
#include "av_schema.h"

typedef struct dp_product dp_product_t;

/* A position in the descriptor: 1-based line and column. */
typedef struct dp_pos {
    int line;
    int col;
} dp_pos_t;

/* A schema of a topic port: from a file (path as written, relative to the
 * descriptor's folder) or inline. */
typedef struct dp_schema {
    const char *file;    /* NULL when inline */
    const char *text;    /* normalised Avro text */
    av_schema_t *parsed; /* the product's reference */
    dp_pos_t pos;        /* of the schema's key */
} dp_schema_t;

/* A field of a topic's value schema that the descriptor says more about
 * (ODCS: a property with its classification). */
typedef struct dp_field {
    const char *name;
    const char *classification; /* "pii", "confidential", ...; NULL */
    const char *description;    /* NULL */
    dp_pos_t pos;
} dp_field_t;

typedef enum dp_input_kind {
    DP_INPUT_SOURCE = 0, /* an operational source: source + location */
    DP_INPUT_PRODUCT,    /* another product: domain/name@version */
} dp_input_kind_t;

typedef struct dp_input {
    const char *name;
    dp_input_kind_t kind;
    const char *source;   /* DP_INPUT_SOURCE: "postgres", "http", "file" */
    const char *location; /* DP_INPUT_SOURCE: table, URL path or file */
    /* DP_INPUT_PRODUCT: the reference as written and its parts */
    const char *ref;
    const char *ref_domain;
    const char *ref_name;
    int ref_version;
    dp_pos_t pos;     /* of the port */
    dp_pos_t ref_pos; /* of the reference's value */
} dp_input_t;

typedef enum dp_output_kind {
    DP_OUTPUT_TOPIC = 0,
    DP_OUTPUT_TABLE, /* rows a materializer keeps (sqlite, postgres) */
    DP_OUTPUT_FILES, /* files a materializer writes (avro) */
} dp_output_kind_t;

typedef struct dp_output {
    const char *name;
    dp_output_kind_t kind;
    /* DP_OUTPUT_TOPIC */
    const char *topic;             /* default "<domain>.<name>.v<version>" */
    int partitions;                /* default 1 */
    int replication;               /* 0: the cluster's default */
    long long retention_ms;        /* -1: infinite, 0: the cluster's default */
    const char *cleanup_policy;    /* NULL: the cluster's default */
    const dp_schema_t *key_schema; /* NULL: no key schema */
    const dp_schema_t *value_schema; /* required for a topic */
    const dp_field_t *fields;
    size_t field_cnt;
    /* DP_OUTPUT_TABLE, DP_OUTPUT_FILES */
    const char *from;     /* the topic port it is materialized from */
    const char *sink;     /* "sqlite", "postgres", "avro" */
    const char *location; /* table name or directory */
    dp_pos_t pos;
    dp_pos_t from_pos;
} dp_output_t;

/* The file the product was loaded from, as given. */
const char *dp_product_file(const dp_product_t *prod);
const char *dp_product_domain(const dp_product_t *prod);
const char *dp_product_name(const dp_product_t *prod);
int dp_product_version(const dp_product_t *prod);
/* "domain/name@version", the product's reference. */
const char *dp_product_ref(const dp_product_t *prod);
/* Optional strings are NULL when absent. */
const char *dp_product_status(const dp_product_t *prod);
const char *dp_product_description(const dp_product_t *prod);
const char *dp_product_owner_team(const dp_product_t *prod);
const char *dp_product_owner_contact(const dp_product_t *prod);
const char *dp_product_terms(const dp_product_t *prod);
const char *dp_product_sla_freshness(const dp_product_t *prod);
long long dp_product_sla_freshness_ms(const dp_product_t *prod); /* 0 */
const char *dp_product_sla_availability(const dp_product_t *prod);
size_t dp_product_tag_cnt(const dp_product_t *prod);
const char *dp_product_tag(const dp_product_t *prod, size_t i);
size_t dp_product_input_cnt(const dp_product_t *prod);
const dp_input_t *dp_product_input(const dp_product_t *prod, size_t i);
size_t dp_product_output_cnt(const dp_product_t *prod);
const dp_output_t *dp_product_output(const dp_product_t *prod, size_t i);
/* The output port named name, or NULL. */
const dp_output_t *dp_product_output_named(const dp_product_t *prod,
                                           const char *name);

/* Subjects of a topic port (TopicNameStrategy): "<topic>-key" and
 * "<topic>-value", into buf (cap bytes); buf is returned. */
const char *dp_output_subject(const dp_output_t *out, bool is_key, char *buf,
                              size_t cap);

/* Sets err to code and "FILE:LINE:COL: " followed by the message, for
 * checks that refuse an element at pos; returns code. */
int dp_product_err(const dp_product_t *prod, dp_pos_t pos, mw_err_t *err,
                   int code, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));

/* The product as the catalog records it (docs/PRODUCTS.md, "The
 * catalog"): identity, owner, promises, ports; each topic port with its
 * subjects, schema texts and every top-level field of its value schema
 * (with the descriptor's classification).  A new reference; NULL on
 * ENOMEM. */
json_t *dp_product_to_json(const dp_product_t *prod);

/* Loads path: YAML structure, types, required keys, schema files (read
 * relative to the descriptor's folder) and their Avro, and field names
 * against the value schema.  The first problem found is the error:
 * MW_ERR_INVALID with "FILE:LINE:COL: what: why", or MW_ERR_IO for an
 * unreadable descriptor.  NULL on failure. */
dp_product_t *dp_product_load(const char *path, mw_err_t *err);

/* dp_product_load on text already in memory (len bytes); path names it
 * in messages and gives the folder that schema files are relative to. */
dp_product_t *dp_product_parse(const char *text, size_t len, const char *path,
                               mw_err_t *err);

void dp_product_destroy(dp_product_t *prod);

#endif /* DP_PRODUCT_H */
