/*
 * mat_pg_int: declarations shared by the PostgreSQL sink's files.
 *
 * mat_pg.c owns the connection, the transaction, DDL (tables, columns,
 * _mesh_offsets) and the error translation; mat_pg_rows.c owns a table's
 * pending changes (binary COPY tuples, deduplicated by key) and writes
 * them: by COPY straight into the table while batches bring only new keys,
 * else by COPY into a temporary staging table and one merge; mat_pg_keep.c
 * resolves Debezium's unavailable-value placeholder in those rows.
 *
 * Thread: the materializer's loop thread only.
 */
#ifndef MAT_PG_INT_H
#define MAT_PG_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <libpq-fe.h>

#include "mat_map.h"
#include "mat_sink.h"
#include "mw_buf.h"
#include "mw_err.h"
#include "mw_metrics.h"

extern const mat_sink_ops_t mat_sink_pg_ops;

/* How a table's pending changes reach PostgreSQL (see mat_pg_rows.c). */
typedef enum mat_pg_strategy {
    MAT_PG_ADAPTIVE = 0, /* COPY into the table while keys are new, else
                          * COPY into staging and merge (the default) */
    MAT_PG_MERGE,        /* always COPY into staging and merge */
    MAT_PG__STRATEGY_CNT
} mat_pg_strategy_t;

const char *mat_pg_strategy_name(mat_pg_strategy_t strategy);

/* One column as the sink keeps it (copied from a mat_column_t: the loop's
 * shapes are only borrowed for the call). */
typedef struct mat_pg_col {
    char *name;
    mat_col_type_t type;
    int precision, scale;
    bool is_key;
    bool nullable; /* the Avro field's nullability (the SQL column is
                    * nullable either way, except keys) */
} mat_pg_col_t;

/* One pending change: where its binary COPY tuple is. */
typedef struct mat_pg_row {
    uint32_t off, len; /* in the table's data[kind] buffer */
    uint32_t hash;     /* of the key fields' bytes */
    uint32_t key_len;  /* bytes of the key fields after the field count */
    uint8_t op;        /* mat_op_t: UPSERT, DELETE (keyed) or APPEND */
} mat_pg_row_t;

/* The pending rows' two buffers of binary COPY tuples. */
enum { MAT_PG_DATA_ROWS = 0, MAT_PG_DATA_DELETES, MAT_PG_DATA__CNT };

/* A table known to the sink: its shape and its pending changes. */
typedef struct mat_pg_tab {
    char *name;         /* table name as given (unquoted) */
    char *qname;        /* "schema"."table", quoted */
    int idx;            /* unique per sink: names the staging table */
    mat_pg_col_t *cols; /* key columns first (mat_map's order) */
    size_t col_cnt, key_cnt;
    uint32_t version; /* version of the shape in cols */
    bool has_shape;
    /* The catalog matches `version` as of the last commit (verified) or
     * inside the open transaction only (pending: lost on rollback). */
    bool verified, pending;
    bool flushed_in_tx; /* staging holds rows from an earlier flush */
    /* MAT_PG_ADAPTIVE: the next flush tries COPY straight into the table
     * (the last one found no existing key). */
    bool direct;
    /* MAT_PG_ADAPTIVE: the next flush updates by UPDATE ... FROM staging
     * (the last merge found every key stored). */
    bool existing;
    /* Pending changes, in first-seen order; one per key (the last one).
     * data[MAT_PG_DATA_ROWS] holds upserted and appended rows (every
     * column), data[MAT_PG_DATA_DELETES] deleted keys (key columns, then
     * true for the staging table's _mesh_del); a replaced change leaves
     * its bytes behind until the flush. */
    mw_buf_t *data[MAT_PG_DATA__CNT];
    mat_pg_row_t *rows;
    size_t row_cnt, row_cap;
    int32_t *slots;  /* open addressing: row index or -1 */
    size_t slot_cap; /* power of two, >= 2 * row_cnt */
    size_t del_cnt;  /* rows whose op is DELETE */
    /* Some pending upsert holds Debezium's unavailable-value placeholder
     * (mat_envelope.h): the flush merges, and resolves it first. */
    bool has_placeholders;
    /* Placeholders that found no stored value in the open transaction
     * (added to unavailable_total at commit), and whether the table logged
     * one yet. */
    uint64_t unavailable_pending;
    bool unavailable_logged;
    mw_counter_t *unavailable_total;
} mat_pg_tab_t;

/* Rows, and bytes of pending tuples, kept per table before an early
 * flush inside the batch. */
#define MAT_PG_ROWS_MAX 50000
#define MAT_PG_BYTES_MAX (32u << 20)

/* SQL type of a column ("numeric(12,2)", "timestamp with time zone") as
 * format_type() spells it, so the catalog can be compared by string. */
const char *mat_pg_col_sql_type(const mat_pg_col_t *col, char *buf,
                                size_t size);

/* Appends name as a quoted identifier ("a""b"). */
int mat_pg_ident(mw_buf_t *buf, const char *name);

/* Translates a failed libpq call into an MW_ERR_* (see mat_pg.c for the
 * SQLSTATE classes) and sets err to "postgres: <what> failed: <message>".
 * res may be NULL (the connection's error message is used).  Returns the
 * code. */
int mat_pg_error(PGconn *conn, const PGresult *res, const char *what,
                 mw_err_t *err);

/* Runs sql (simple protocol, may hold several statements) and checks every
 * result is OK; 0 or the code of mat_pg_error(). */
int mat_pg_exec(PGconn *conn, const char *sql, const char *what, mw_err_t *err);

/* Adds a change to tab's pending rows (values encoded now: the change is
 * borrowed for the call only).  A second change for a key replaces the
 * first, so a delete then an insert of one key ends as the insert.
 * MW_ERR_INVALID names the column when a value cannot be stored;
 * MW_ERR_FULL when the pending bytes cannot take the row (flush, retry). */
int mat_pg_rows_add(mat_pg_tab_t *tab, const mat_change_t *change,
                    mw_err_t *err);

/* Bytes of pending tuples (live and replaced). */
size_t mat_pg_rows_bytes(const mat_pg_tab_t *tab);

/* Writes tab's pending rows with the strategy and empties them (also on
 * failure: the transaction is lost then anyway). */
int mat_pg_rows_flush(PGconn *conn, mat_pg_tab_t *tab,
                      mat_pg_strategy_t strategy, mw_err_t *err);

/* ---- mat_pg_sql.c: the flush's statements (each appends to sql; 0 or
 * the mw_buf error) */

/* The name of tab's staging table (pg_temp."_mesh_stg_<idx>_<v>"). */
int mat_pg_sql_staging_name(mw_buf_t *sql, const mat_pg_tab_t *tab);

/* "s.k1 = t.k1 AND s.k2 = t.k2 ..." over tab's key columns (s: the
 * staging table, t: the table). */
int mat_pg_sql_key_match(mw_buf_t *sql, const mat_pg_tab_t *tab);

/* The batch's join settings, then CREATE TEMP TABLE IF NOT EXISTS staging
 * (and DELETE FROM it when an earlier flush of the batch filled it). */
int mat_pg_sql_staging(mw_buf_t *sql, const mat_pg_tab_t *tab);

/* COPY the table, or the staging table (staging), FROM STDIN in binary:
 * every column, or the keys and _mesh_del (deletes). */
int mat_pg_sql_copy(mw_buf_t *sql, const mat_pg_tab_t *tab, bool staging,
                    bool deletes);

/* DELETE the staged deletes' keys from the table. */
int mat_pg_sql_delete(mw_buf_t *sql, const mat_pg_tab_t *tab);

/* INSERT the staged upserts ... ON CONFLICT DO UPDATE; count_new: as a
 * one-row result counting the rows inserted; missing_only: only those
 * whose key has no row. */
int mat_pg_sql_upsert(mw_buf_t *sql, const mat_pg_tab_t *tab, bool count_new,
                      bool missing_only);

/* UPDATE the table FROM the staged upserts, as a one-row result counting
 * the rows updated. */
int mat_pg_sql_update(mw_buf_t *sql, const mat_pg_tab_t *tab);

/* ---- mat_pg_keep.c: Debezium's unavailable-value placeholder */

/* Whether change, an upsert, holds the placeholder in a text or bytea
 * non-key column (mat_envelope.h). */
bool mat_pg_keep_has_placeholder(const mat_pg_tab_t *tab,
                                 const mat_change_t *change);

/* row, a pending upsert holding a placeholder, replaces old, the key's
 * pending change: rewrites row's tuple at the end of the rows' buffer with
 * old's value for each placeholder (NULL when old is a delete and the
 * column nullable).  MW_ERR_NOMEM, MW_ERR_FULL (row unchanged). */
int mat_pg_keep_merge(mat_pg_tab_t *tab, const mat_pg_row_t *old,
                      mat_pg_row_t *row);

/* Appends the statements that resolve the placeholders in tab's staging
 * table (the first one returns the count of those without a row). */
int mat_pg_keep_resolve_sql(mw_buf_t *sql, const mat_pg_tab_t *tab);

/* Drops tab's pending rows. */
void mat_pg_rows_clear(mat_pg_tab_t *tab);

/* Frees everything rows_add allocated (buffers, rows, slots). */
void mat_pg_rows_free(mat_pg_tab_t *tab);

/* Selects the flush strategy of an open sink (state from open); the
 * default is the measured faster one (see mat_pg.c).  For benchmarks. */
void mat_pg_set_strategy(void *state, mat_pg_strategy_t strategy);

#endif /* MAT_PG_INT_H */
