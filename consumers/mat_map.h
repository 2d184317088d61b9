/*
 * mat_map: from Avro records to typed rows.
 *
 * mat_map_table() derives a table's shape from a record schema (the
 * envelope's row record, or a plain record): one column per field, nested
 * records flattened with '_' (`address_city`) or kept as one JSON column
 * (`nested = flatten | json`), arrays and maps as JSON, unions with null as
 * nullable columns of the other branch, other unions as JSON.  Logical types
 * keep their meaning: decimal, date, time, timestamp-millis/micros, uuid.
 * Each sink turns a mat_col_type_t into its natural SQL or Avro type.
 *
 * mat_map_row() fills a row (one mat_value_t per column, in column order)
 * from the record's decoded value (Avro JSON encoding, as av_serde gives
 * it).  Values are borrowed from the json_t they came from.
 *
 * Thread: any; objects are not shared between threads.
 */
#ifndef MAT_MAP_H
#define MAT_MAP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "mw_err.h"
#include "av_proj.h"
#include "av_schema.h"

typedef enum mat_col_type {
    MAT_COL_BOOL = 0,
    MAT_COL_INT32,
    MAT_COL_INT64,
    MAT_COL_FLOAT,
    MAT_COL_DOUBLE,
    MAT_COL_TEXT,
    MAT_COL_BYTES,
    MAT_COL_DECIMAL,          /* precision, scale; value as decimal text */
    MAT_COL_DATE,             /* days since epoch */
    MAT_COL_TIME_MICROS,      /* microseconds since midnight */
    MAT_COL_TIMESTAMP_MICROS, /* microseconds since epoch, UTC */
    MAT_COL_UUID,             /* text */
    MAT_COL_JSON, /* nested record (nested=json), array, map, union */
    MAT_COL__CNT
} mat_col_type_t;

typedef struct mat_column {
    const char *name; /* flattened name, e.g. "address_city" */
    mat_col_type_t type;
    int precision, scale; /* decimal */
    bool nullable;
    bool is_key; /* part of the primary key */
} mat_column_t;

/* A table's full shape.  Columns only ever grow (schema evolution appends
 * new nullable columns); keys come first in key order. */
typedef struct mat_table {
    const char *name; /* sink table name (table.name or derived) */
    const char *topic;
    const mat_column_t *cols;
    size_t col_cnt;
    size_t key_cnt;   /* 0: no key (append mode) */
    uint32_t version; /* bumps whenever cols change */
} mat_table_t;

/* One typed value; `is_null` set for SQL NULL. */
typedef struct mat_value {
    bool is_null;
    union {
        bool b;
        int64_t i; /* ints, date, time, timestamps */
        double d;  /* float, double */
        struct {
            const char *ptr; /* text, bytes, decimal text, uuid, json */
            size_t len;
        } s;
    } u;
} mat_value_t;

typedef enum mat_op {
    MAT_OP_UPSERT = 0, /* c, r, u and keyed plain records */
    MAT_OP_DELETE,     /* d */
    MAT_OP_APPEND      /* unkeyed plain records, or mode=append */
} mat_op_t;

/* One change for a sink: values has table->col_cnt entries (for DELETE only
 * the key columns are meaningful).  Borrowed for the apply call. */
typedef struct mat_change {
    mat_op_t op;
    const mat_value_t *values;
    const char *topic;
    int32_t partition;
    int64_t offset;
    int64_t source_ts_ms; /* envelope source.ts_ms or record timestamp */
    char src_op;          /* the envelope's op letter c/u/d/r, 0 for a
                           * plain record (history sinks keep it) */
} mat_change_t;

const char *mat_col_type_name(mat_col_type_t type);
const char *mat_op_name(mat_op_t op);

/* ---- Mapping (added by the core helper; sinks need only the types above) */

typedef enum mat_nested {
    MAT_NESTED_FLATTEN = 0, /* record fields become columns a_b */
    MAT_NESTED_JSON         /* a nested record is one JSON column */
} mat_nested_t;

/* One topic's mapping: the table shape plus how each column is read from a
 * decoded row.  Owns every string of its mat_table_t. */
typedef struct mat_map mat_map_t;

/* Builds the mapping of row record `record` (AV_RECORD, borrowed for the
 * call) for table `table_name` fed by `topic` (both copied).  key: the
 * record key's schema root or NULL (no key columns).  A record key gives
 * the key columns by field name (Debezium's key = the primary-key columns,
 * which must be columns of the row); any other key type gives one leading
 * column "key" filled from the record key.  NULL with err: MW_ERR_INVALID
 * (not a record, key field missing from the row, two fields flattening to
 * one name), MW_ERR_NOMEM.  Any thread. */
mat_map_t *mat_map_new(const av_node_t *record, const av_node_t *key,
                       mat_nested_t nested, const char *table_name,
                       const char *topic, mw_err_t *err);
void mat_map_destroy(mat_map_t *map);

/* The current shape; borrowed until the next mat_map_merge or destroy. */
const mat_table_t *mat_map_table(const mat_map_t *map);

/* Schema evolution: merges a new writer's row record (and key) into the
 * shape.  New columns are appended nullable; an existing column keeps its
 * name, type and source encoding, else MW_ERR_INVALID "incompatible change
 * of column X: ..." and the map is unchanged.  Returns 1 when columns were
 * added (table->version bumped), 0 when the shape is unchanged. */
int mat_map_merge(mat_map_t *map, const av_node_t *record, const av_node_t *key,
                  mw_err_t *err);

/* Fills values[0 .. col_cnt-1] from row (the row record's Avro JSON, as
 * av_serde decodes it; NULL for a delete without a before image) and key
 * (the decoded record key, or NULL).  Key columns come from key when given,
 * else from row.  A column missing from row (an older writer) is NULL.
 * Values borrow from row, key and the map's scratch space, valid until the
 * next mat_map_row or destroy.  MW_ERR_INVALID naming the column when a
 * value has the wrong JSON type or a key column is NULL. */
int mat_map_row(mat_map_t *map, const json_t *row, const json_t *key,
                mat_value_t *values, mw_err_t *err);

/* ---- The direct path's view of a column (mat_fast) ----------------------*/

/* Column i's path of field names in the row record: up to max names into
 * names (borrowed from the map); returns how many there are (0: the column
 * is read from the key alone). */
size_t mat_map_col_path(const mat_map_t *map, size_t i, const char **names,
                        size_t max);
/* True when column i is a key column read from the record key when there
 * is one; *field is its field in a record key, or NULL for the whole key. */
bool mat_map_col_from_key(const mat_map_t *map, size_t i, const char **field);
/* False for columns only the JSON path can fill (MAT_COL_JSON: arrays,
 * maps, unions of several types, nested = json). */
bool mat_map_col_direct(const mat_map_t *map, size_t i);

/* Starts a row filled by mat_map_value: the values of the previous row
 * are gone. */
void mat_map_row_begin(mat_map_t *map);
/* Column i's value from a decoded scalar, as mat_map_row would give it
 * from the same value's JSON form (AV_PV_NULL: NULL).  MW_ERR_INVALID when
 * the slot is not the JSON value the column reads (the caller then takes
 * the JSON path, which says what is wrong); MW_ERR_NOMEM.  Values borrow
 * from pv's input and the map's scratch space, as mat_map_row's. */
int mat_map_value(mat_map_t *map, size_t i, const av_pv_t *pv,
                  mat_value_t *out);

#endif /* MAT_MAP_H */
