/*
 * mat_sqlite_int: what the SQLite sink's two modules share.
 *
 * mat_sqlite.c is the sink: the connection and its settings, errors,
 * transactions, the offsets table with its fencing, the ops table and the
 * backend's keys.  mat_sqlite_table.c is what a batch does to the data
 * tables: the cache of table shapes with their prepared statements,
 * CREATE TABLE / ALTER TABLE ADD COLUMN (ensure_table), the SQL form of
 * each value and the row statements (apply).
 *
 * Thread: the materializer's loop thread only (see mat_sqlite.c).
 */
#ifndef MAT_SQLITE_INT_H
#define MAT_SQLITE_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <sqlite3.h>

#include "mat_map.h"
#include "mw_err.h"
#include "mw_metrics.h"

#define SQ_COMP "mat_sqlite"
#define SQ_OFFSETS_TABLE "_mesh_offsets"

/* Statement slots per table, indexed by what they do.  SQ_STMT_KEEP is
 * the UPDATE of an upsert that carries Debezium's unavailable-value
 * placeholder (mat_envelope.h): it keeps the stored value of such a
 * column. */
enum {
    SQ_STMT_UPSERT = 0,
    SQ_STMT_DELETE,
    SQ_STMT_INSERT,
    SQ_STMT_KEEP,
    SQ_STMT__CNT
};

typedef struct sq_table {
    char *name;
    uint32_t version;
    size_t col_cnt, key_cnt;
    sqlite3_stmt *stmt[SQ_STMT__CNT]; /* prepared lazily, NULL until used */
    /* Placeholders that found no stored row in the open batch (counted
     * into unavailable_total at commit), and whether the table logged one
     * yet. */
    uint64_t unavailable_pending;
    bool unavailable_logged;
    mw_counter_t *unavailable_total;
} sq_table_t;

/* What this instance knows of a partition's stored next offset. */
typedef struct sq_offset {
    char *topic;
    int32_t partition;
    int64_t committed; /* as last loaded or committed; -1 none; UNKNOWN */
    int64_t pending;   /* stored in the open batch; UNKNOWN when not */
} sq_offset_t;

typedef struct mat_sqlite {
    sqlite3 *db;
    char *path;
    char *group_id; /* NULL when unset */
    sqlite3_stmt *off_load, *off_insert, *off_update, *off_upsert;
    sqlite3_stmt *table_info;
    sq_table_t *tables;
    size_t table_cnt, table_cap;
    sq_offset_t *offsets;
    size_t offset_cnt, offset_cap;
    bool in_batch;
    char unhealthy[MW_ERR_MSG_MAX]; /* last fatal error; "" if healthy */
    mw_metrics_t *metrics;          /* borrowed; NULL without metrics */
    mw_histogram_t *commit_seconds;
    mw_counter_t *fenced_total;
} mat_sqlite_t;

/* SQLite result code -> MW_ERR_* (lock waits retriable, refusals of the
 * input invalid, the rest fatal). */
int mat_sq_code(int rc);
/* Translates the connection's last error into err, prefixed with the
 * context fmt names; a fatal one also marks the sink unhealthy. */
int mat_sq_fail(mat_sqlite_t *st, mw_err_t *err, int rc, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/* Prepares a persistent statement; what names it in the error. */
int mat_sq_prepare(mat_sqlite_t *st, const char *sql, sqlite3_stmt **stmt,
                   const char *what, mw_err_t *err);
/* Runs one statement without results (DDL, transaction control). */
int mat_sq_exec(mat_sqlite_t *st, const char *sql, const char *what,
                mw_err_t *err);

/* Forgets every cached table shape and its statements (after a rollback
 * the database may no longer have a column the cache believes in). */
void mat_sq_tables_drop(mat_sqlite_t *st);
/* Adds each table's placeholders without a stored row of the batch just
 * committed to its counter. */
void mat_sq_tables_committed(mat_sqlite_t *st);
/* ops.ensure_table and ops.apply (mat_sink.h). */
int mat_sq_ensure_table(void *state, const mat_table_t *table, mw_err_t *err);
int mat_sq_apply(void *state, const mat_table_t *table,
                 const mat_change_t *change, mw_err_t *err);

#endif /* MAT_SQLITE_INT_H */
