/*
 * mat_fast: the direct path from a record's Avro binary to a sink change,
 * without a JSON tree.
 *
 * The JSON path (av_serde -> mat_envelope -> mat_map_row) builds a jansson
 * tree of every record and looks each column up in it by name: most of
 * the materializer's cost per record.  The direct path compiles, once per
 * (value plan, key plan, table shape), the paths of everything a change
 * needs (an envelope's op, timestamps, after and before rows; each
 * column's field, in the row and in a record key) into av_proj
 * projections, and reads each record's bytes straight into the column
 * values.
 *
 * It gives the JSON path's answer or none: where a schema or a record
 * needs what only the JSON path does (JSON columns, reader defaults, a
 * record that fails anywhere), it declines and the caller takes the JSON
 * path, which applies the record or says precisely what is wrong with it.
 * tests/unit/test_mat_fast.c holds the two paths to identical changes over
 * random and mutated records.
 *
 * Thread: the materializer's loop thread; one mat_fast_t per topic and
 * schema pair, used by one thread.
 */
#ifndef MAT_FAST_H
#define MAT_FAST_H

#include <stdbool.h>
#include <stddef.h>

#include "mat_envelope.h"
#include "mat_map.h"
#include "mw_err.h"
#include "av_serde.h"

typedef struct mat_fast mat_fast_t;

/* One record's Avro bodies, Confluent framing removed. */
typedef struct mat_fast_rec {
    const void *value;
    size_t value_len;
    const void *key; /* with a key plan only */
    size_t key_len;
} mat_fast_rec_t;

/* Compiles the direct path into map's current shape (the caller compiles
 * again when the table's version changes) for values decoded with
 * value_plan and keys with key_plan (NULL: no framed key, key columns come
 * from the row); append: mode = append.  Plans and map borrowed, outlive
 * it.  NULL with err = MW_ERR_UNSUPPORTED naming what needs the JSON path;
 * MW_ERR_NOMEM. */
mat_fast_t *mat_fast_new(const mat_map_t *map,
                         const av_serde_plan_t *value_plan,
                         const av_serde_plan_t *key_plan, bool append,
                         mw_err_t *err);
void mat_fast_destroy(mat_fast_t *fast);

/* One record into *ev (ev->row stays NULL) and, when the change has
 * something to apply (not ev->skip, not a delete on a table without key
 * columns), values[0 .. col_cnt-1] as mat_map_row fills them.  0, or
 * MW_ERR_INVALID when the direct path declines the record: the caller
 * takes the JSON path.  Values borrow from rec's bytes and map. */
int mat_fast_row(mat_fast_t *fast, mat_map_t *map, const mat_fast_rec_t *rec,
                 mat_envelope_event_t *ev, mat_value_t *values);

#endif /* MAT_FAST_H */
