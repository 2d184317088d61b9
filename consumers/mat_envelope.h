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

/* Debezium's "unavailable value" placeholder.  Debezium's PostgreSQL
 * connector (and mesh-producer's pg source) cannot read a TOASTed column
 * that an UPDATE left unchanged when the table has REPLICA IDENTITY
 * DEFAULT: the WAL carries no value for it.  The change event then holds
 * this string in the column (a string column), or its ASCII bytes (a
 * bytes column), meaning "unchanged", not a new value.  Written literally
 * it would overwrite the stored value, so the table sinks keep the stored
 * value instead (mat_sqlite_table.c, mat_pg_rows.c); with no stored row
 * they write NULL into a nullable column and the placeholder into a
 * non-nullable one, and count it (mesh_materializer_unavailable_values_
 * total).  The avro sink writes a history and keeps it as it is.  Debezium
 * lets a connector choose another text (unavailable.value.placeholder);
 * only the default one is recognised. */
#define MAT_ENVELOPE_UNAVAILABLE "__debezium_unavailable_value"
#define MAT_ENVELOPE_UNAVAILABLE_LEN (sizeof MAT_ENVELOPE_UNAVAILABLE - 1)

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

/* Which row an envelope's op letter applies (mat_envelope_read's rules,
 * shared with the direct path, mat_fast): sets ev->op and ev->skip, and
 * returns MAT_ENVELOPE_AFTER (c, r, u: the after row, which must be
 * there), MAT_ENVELOPE_BEFORE (d: the before row, if any) or
 * MAT_ENVELOPE_NONE (t, m: nothing to apply); MW_ERR_INVALID for any other
 * letter.  append: mode = append. */
enum { MAT_ENVELOPE_NONE = 0, MAT_ENVELOPE_AFTER, MAT_ENVELOPE_BEFORE };
int mat_envelope_op(char op, bool append, mat_envelope_event_t *ev);

/* True when change may carry the placeholder with its meaning: an upsert
 * of a Debezium change event, whatever its op letter (c, r or u).
 * Debezium only sends it in u events, but a c or r of a row that exists
 * (a snapshot read again, another source writing Debezium's envelope) is
 * the same upsert, and a row that does not exist gets NULL either way.
 * Plain records (src_op 0) and appends (mode = append: a history) keep
 * the text as data.  Any thread. */
bool mat_envelope_change_has_placeholders(const mat_change_t *change);

/* True when a value of a column of type `type` is the placeholder: a
 * non-NULL text or bytes value equal to MAT_ENVELOPE_UNAVAILABLE byte for
 * byte.  Every other type (uuid, json, decimal, ...) is never one.  Any
 * thread. */
bool mat_envelope_is_unavailable(mat_col_type_t type, const mat_value_t *value);

#endif /* MAT_ENVELOPE_H */
