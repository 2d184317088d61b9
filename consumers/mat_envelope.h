/*
 * mat_envelope: what one decoded record means for a table.
 *
 * A value whose schema is a record with `before`, `after` and `op` fields
 * (`source` optional) is a Debezium change event: c / r / u upsert the
 * `after` row, d deletes by key (the `before` row, or the record key), t
 * (truncate) and m (message) carry nothing to apply.  Any other record is a
 * plain row: upserted by key, or appended when there is no key or
 * mode=append.  A tombstone (null value) is skipped: the delete that
 * precedes it in Debezium's stream already removed the row.
 *
 * Thread: any; plain functions over borrowed data.
 */
#ifndef MAT_ENVELOPE_H
#define MAT_ENVELOPE_H

#include <stdbool.h>
#include <stdint.h>

#include <jansson.h>

#include "mat_map.h"
#include "mw_err.h"
#include "av_schema.h"

/* What a value schema looks like (plain data). */
typedef struct mat_envelope_shape {
    bool is_envelope;
    const av_node_t *row; /* the row record: after's record branch, or the
                           * root itself; borrowed from the schema */
    bool after_union;     /* after / before are unions: their JSON values */
    bool before_union;    /* are null or {"<branch>": row} */
} mat_envelope_shape_t;

/* One record's effect. */
typedef struct mat_envelope_event {
    bool skip; /* nothing to apply (tombstone, truncate, ...) */
    mat_op_t op;
    const json_t *row;    /* borrowed from the value; NULL for a delete
                           * without a before image */
    int64_t source_ts_ms; /* source.ts_ms, else the envelope's ts_ms, else
                           * -1 (the caller uses the record timestamp) */
    char op_code;         /* 'c', 'r', 'u', 'd', ... or 0 for plain */
} mat_envelope_event_t;

/* Inspects a value schema's root.  MW_ERR_INVALID when the root is not a
 * record, or an envelope's after/before is not a (nullable) record. */
int mat_envelope_inspect(const av_node_t *root, mat_envelope_shape_t *shape,
                         mw_err_t *err);

/* Reads value (decoded Avro JSON of a value of that shape; NULL for a
 * tombstone) into *ev.  has_key: the table has key columns; append: mode
 * = append (envelopes then append c/r/u rows and skip deletes).
 * MW_ERR_INVALID when an envelope lacks op or its row, or op is unknown. */
int mat_envelope_read(const mat_envelope_shape_t *shape, const json_t *value,
                      bool has_key, bool append, mat_envelope_event_t *ev,
                      mw_err_t *err);

#endif /* MAT_ENVELOPE_H */
