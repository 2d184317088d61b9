/*
 * mat_avro_int.h: shared inside the avro sink (mat_avro.c, the batch and
 * roll logic; mat_avro_file.c, one Avro object container file and the
 * encoding of rows).  Nothing here is used outside consumers/mat_avro*.c.
 */
#ifndef MAT_AVRO_INT_H
#define MAT_AVRO_INT_H

#include <stddef.h>
#include <stdint.h>

#include "mat_map.h"
#include "mw_buf.h"
#include "mw_err.h"

/* Largest encoded row: also the container's block size, since avro-c
 * refuses a datum larger than one block.  A bigger row is refused by apply
 * (MW_ERR_INVALID, so the loop dead-letters it) rather than by commit. */
#define MAT_AVRO_ROW_MAX ((size_t)1 << 20)

/* Metadata columns written before the table's columns (their order is part
 * of the file format: rows of an older shape are upgraded by appending one
 * null branch per column added since, which only works while the table's
 * columns stay last). */
#define MAT_AVRO_META_CNT 5

/* Avro schema (JSON text, malloc'd, free()) of a table's rows: the
 * metadata columns _topic, _partition, _offset, _op, _ts_ms, then every
 * column as a ["null", T] union with logical types (decimal, date,
 * time-micros, timestamp-micros, uuid).  MW_ERR_INVALID when a column name
 * is not a valid Avro name or clashes with a metadata column. */
char *mat_avro_schema_json(const mat_table_t *table, mw_err_t *err);

/* Appends change's row (Avro binary, schema of mat_avro_schema_json) to
 * out.  For a delete only the key columns are written, the others null.
 * MW_ERR_INVALID for a value that does not fit its column (decimal text),
 * MW_ERR_FULL when out is full. */
int mat_avro_encode_row(mw_buf_t *out, const mat_table_t *table,
                        const mat_change_t *change, mw_err_t *err);

/* One file being written under its temporary name
 * <dir>/.part-<partition>-<start>.avro.tmp. */
typedef struct mat_avro_file mat_avro_file_t;

typedef struct mat_avro_file_spec {
    const char *dir; /* <avro.dir>/<topic>/dt=YYYY-MM-DD, exists */
    const char *topic;
    int32_t partition;
    int64_t start_offset;    /* offset of the file's first row */
    const char *schema_json; /* from mat_avro_schema_json */
} mat_avro_file_spec_t;

/* Creates the temporary file (O_EXCL: a leftover is another writer's or a
 * crash's, which load_offset removes first) with a header carrying the
 * schema, the deflate codec and our metadata (meshwork.topic,
 * meshwork.partition, meshwork.start_offset and a fixed-width
 * meshwork.next_offset patched at finish), then opens avro-c's writer on
 * it.  spec borrowed.  NULL with err (MW_ERR_IO, MW_ERR_EXISTS). */
mat_avro_file_t *mat_avro_file_open(const mat_avro_file_spec_t *spec,
                                    mw_err_t *err);

/* Appends one encoded row.  MW_ERR_IO from avro-c. */
int mat_avro_file_append(mat_avro_file_t *file, const void *row, size_t len,
                         mw_err_t *err);

int64_t mat_avro_file_rows(const mat_avro_file_t *file);

/* Makes the file durable and visible (a file with no row appended is a
 * valid container with no data block: a zero-row tail file): closes the
 * writer, writes
 * next_offset into the header, fsyncs the file, renames it to
 * part-<partition>-<start>.avro without replacing an existing file
 * (MW_ERR_EXISTS: another writer produced it), fsyncs the directory.
 * Destroys file on every path; on failure the temporary file is removed. */
int mat_avro_file_finish(mat_avro_file_t *file, int64_t next_offset,
                         mw_err_t *err);

/* Closes and removes the temporary file (its rows were never durable).
 * Accepts NULL. */
void mat_avro_file_discard(mat_avro_file_t *file);

/* Reads meshwork.next_offset from a finished file's header and, when
 * schema_json is not NULL, its avro.schema (malloc'd, free(); NULL on
 * failure): recovery keeps the table shape of the last file for a zero-row
 * tail file written before any row of this process.
 * MW_ERR_IO, MW_ERR_INVALID (not one of ours). */
int mat_avro_file_read_header(const char *path, int64_t *next_offset,
                              char **schema_json, mw_err_t *err);

/* fsync of a directory (after creating or renaming an entry in it). */
int mat_avro_fsync_dir(const char *dir, mw_err_t *err);

#endif /* MAT_AVRO_INT_H */
