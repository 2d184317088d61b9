/*
 * mat_sqlite_table: the SQLite sink's data tables (mat_sqlite_int.h has
 * the split; mat_sqlite.c the sink's guarantees).
 *
 * ensure_table creates a table from its mat_table_t shape (the record key
 * as PRIMARY KEY, key columns NOT NULL, every other column nullable) or
 * adds the shape's new columns (ALTER TABLE ADD COLUMN), comparing with
 * what the open transaction sees in pragma_table_info; a key change or a
 * column whose SQL type would change is refused with MW_ERR_INVALID.
 * apply binds one change's values in place into a statement cached per
 * table, shape version and kind (upsert, delete, append), converting each
 * value to its SQLite form (sq_type_sql; temporal types as ISO 8601 text).
 *
 * Debezium's unavailable-value placeholder (mat_envelope.h): an upsert of
 * a change event holding it in a text or blob column does not take the
 * upsert statement.  It runs the table's KEEP statement, an UPDATE by key
 * that sets such a column to `CASE WHEN ?n IS <placeholder> THEN "c" ELSE
 * ?n END` (its stored value), and when that finds no row, the plain INSERT
 * with NULL for the placeholder of a nullable column (a non-nullable one
 * stores the placeholder: there is nothing else to write).  Every other
 * change, and an upsert without the placeholder, keeps the statement it
 * had; the check costs a length compare per text or blob column of a
 * change event.
 *
 * Thread: the materializer's loop thread only.
 */
#include "mat_sqlite_int.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mat_envelope.h"
#include "mw_log.h"
#include "mw_vec.h"

#define SQ_US_PER_DAY INT64_C(86400000000)

static const char *const sq_type_sql[MAT_COL__CNT] = {
    [MAT_COL_BOOL] = "INTEGER",
    [MAT_COL_INT32] = "INTEGER",
    [MAT_COL_INT64] = "INTEGER",
    [MAT_COL_FLOAT] = "REAL",
    [MAT_COL_DOUBLE] = "REAL",
    [MAT_COL_TEXT] = "TEXT",
    [MAT_COL_BYTES] = "BLOB",
    [MAT_COL_DECIMAL] = "TEXT",
    [MAT_COL_DATE] = "TEXT",
    [MAT_COL_TIME_MICROS] = "TEXT",
    [MAT_COL_TIMESTAMP_MICROS] = "TEXT",
    [MAT_COL_UUID] = "TEXT",
    [MAT_COL_JSON] = "TEXT",
};
_Static_assert(sizeof sq_type_sql / sizeof sq_type_sql[0] == MAT_COL__CNT,
               "sq_type_sql must cover every mat_col_type_t");

/* ---- small SQL helpers ------------------------------------------------ */

/* Appends a quoted identifier: "name" with embedded quotes doubled (%w). */
static void sq_ident(sqlite3_str *sql, const char *name)
{
    sqlite3_str_appendf(sql, "\"%w\"", name);
}

/* Finishes a built statement text into *text (sqlite3_free it); 0, or
 * MW_ERR_NOMEM / MW_ERR_INVALID (statement longer than SQLite allows). */
static int sq_finish(sqlite3_str *sql, const char *table, char **text,
                     mw_err_t *err)
{
    int rc = sqlite3_str_errcode(sql);

    *text = sqlite3_str_finish(sql);
    if (rc == SQLITE_OK && *text)
        return 0;
    sqlite3_free(*text);
    *text = NULL;
    return mw_err_set(err, rc == SQLITE_TOOBIG ? MW_ERR_INVALID : MW_ERR_NOMEM,
                      "table '%s': cannot build SQL text (%s)", table,
                      sqlite3_errstr(rc ? rc : SQLITE_NOMEM));
}

/* ---- values ----------------------------------------------------------- */

/* Proleptic Gregorian date of a day count since 1970-01-01, after Howard
 * Hinnant's days-to-civil derivation (eras of 400 years = 146097 days,
 * years starting in March so that the leap day is last). */
static void sq_civil(int64_t days, int64_t *year, int *month, int *day)
{
    int64_t z = days + 719468;
    int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    int64_t doe = z - era * 146097; /* [0, 146096] */
    int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100); /* [0, 365] */
    int64_t mp = (5 * doy + 2) / 153;                      /* March = 0 */

    *day = (int)(doy - (153 * mp + 2) / 5 + 1);
    *month = (int)(mp < 10 ? mp + 3 : mp - 9);
    *year = yoe + era * 400 + (*month <= 2);
}

/* 'YYYY-MM-DD'; years outside 0..9999 carry a sign (ISO 8601 expanded). */
static int sq_format_date(int64_t days, char *out, size_t out_size)
{
    int64_t year;
    int month, day;

    sq_civil(days, &year, &month, &day);
    if (year >= 0 && year <= 9999)
        return snprintf(out, out_size, "%04" PRId64 "-%02d-%02d", year, month,
                        day);
    return snprintf(out, out_size, "%+05" PRId64 "-%02d-%02d", year, month,
                    day);
}

/* 'HH:MM:SS.ffffff' of microseconds since midnight, [0, 1 day). */
static int sq_format_time(int64_t us, char *out, size_t out_size)
{
    return snprintf(out, out_size, "%02d:%02d:%02d.%06d",
                    (int)(us / INT64_C(3600000000)), (int)(us / 60000000 % 60),
                    (int)(us / 1000000 % 60), (int)(us % 1000000));
}

/* 'YYYY-MM-DDTHH:MM:SS.ffffffZ'; floor division keeps instants before 1970
 * on the right day (-1 us is 1969-12-31T23:59:59.999999Z). */
static int sq_format_timestamp(int64_t us, char *out, size_t out_size)
{
    int64_t days = us / SQ_US_PER_DAY, rem = us % SQ_US_PER_DAY;
    int n;

    if (rem < 0) {
        days--;
        rem += SQ_US_PER_DAY;
    }
    n = sq_format_date(days, out, out_size);
    if (n < 0 || (size_t)n + 1 >= out_size)
        return -1;
    out[n++] = 'T';
    n += sq_format_time(rem, out + n, out_size - (size_t)n);
    if ((size_t)n + 1 >= out_size)
        return -1;
    out[n++] = 'Z';
    out[n] = '\0';
    return n;
}

/* Binds a temporal value as ISO text (SQLITE_TRANSIENT: the text lives on
 * this frame). */
static int sq_bind_temporal(sqlite3_stmt *stmt, int idx,
                            const mat_column_t *col, int64_t v)
{
    char text[64];
    int n;

    if (col->type == MAT_COL_DATE)
        n = sq_format_date(v, text, sizeof text);
    else if (col->type == MAT_COL_TIME_MICROS)
        n = v >= 0 && v < SQ_US_PER_DAY ? sq_format_time(v, text, sizeof text)
                                        : -1;
    else
        n = sq_format_timestamp(v, text, sizeof text);
    if (n < 0 || (size_t)n >= sizeof text)
        return SQLITE_RANGE;
    return sqlite3_bind_text(stmt, idx, text, n, SQLITE_TRANSIENT);
}

/* Binds one value.  Text and blobs are SQLITE_STATIC: the change is
 * borrowed for the apply call and the statement is stepped and reset
 * before apply returns.  An empty blob is bound as a zero-length blob, not
 * NULL (sqlite3_bind_blob binds NULL for a NULL pointer). */
static int sq_bind(sqlite3_stmt *stmt, int idx, const mat_column_t *col,
                   const mat_value_t *val)
{
    if (val->is_null)
        return sqlite3_bind_null(stmt, idx);
    switch (col->type) {
    case MAT_COL_BOOL:
        return sqlite3_bind_int(stmt, idx, val->u.b ? 1 : 0);
    case MAT_COL_INT32:
    case MAT_COL_INT64:
        return sqlite3_bind_int64(stmt, idx, val->u.i);
    case MAT_COL_FLOAT:
    case MAT_COL_DOUBLE:
        return sqlite3_bind_double(stmt, idx, val->u.d);
    case MAT_COL_BYTES:
        if (!val->u.s.ptr || val->u.s.len == 0)
            return sqlite3_bind_zeroblob(stmt, idx, 0);
        return sqlite3_bind_blob64(stmt, idx, val->u.s.ptr, val->u.s.len,
                                   SQLITE_STATIC);
    case MAT_COL_DATE:
    case MAT_COL_TIME_MICROS:
    case MAT_COL_TIMESTAMP_MICROS:
        return sq_bind_temporal(stmt, idx, col, val->u.i);
    case MAT_COL_TEXT:
    case MAT_COL_DECIMAL:
    case MAT_COL_UUID:
    case MAT_COL_JSON:
    default:
        return sqlite3_bind_text64(stmt, idx, val->u.s.ptr ? val->u.s.ptr : "",
                                   val->u.s.len, SQLITE_STATIC, SQLITE_UTF8);
    }
}

/* ---- table cache and statements --------------------------------------- */

static void sq_table_clear_stmts(sq_table_t *t)
{
    for (int i = 0; i < SQ_STMT__CNT; i++) {
        sqlite3_finalize(t->stmt[i]);
        t->stmt[i] = NULL;
    }
}

/* Forgets every cached shape: after a rollback the database may no longer
 * have a column the cache believes in. */
void mat_sq_tables_drop(mat_sqlite_t *st)
{
    for (size_t i = 0; i < st->table_cnt; i++) {
        sq_table_clear_stmts(&st->tables[i]);
        free(st->tables[i].name);
    }
    st->table_cnt = 0;
}

static sq_table_t *sq_table_find(mat_sqlite_t *st, const char *name)
{
    for (size_t i = 0; i < st->table_cnt; i++)
        if (strcmp(st->tables[i].name, name) == 0)
            return &st->tables[i];
    return NULL;
}

/* The table's series of mesh_materializer_unavailable_values_total (NULL
 * without metrics: the counter functions accept it). */
static mw_counter_t *sq_unavailable_counter(mat_sqlite_t *st, const char *name)
{
    char labels[512];

    if (!st->metrics)
        return NULL;
    snprintf(labels, sizeof labels, "table=\"%s\"", name);
    return mw_metrics_counter(
        st->metrics, "mesh_materializer_unavailable_values_total",
        "Debezium unavailable-value placeholders with no stored value to "
        "keep (stored as NULL, or as the placeholder when not nullable).",
        labels);
}

void mat_sq_tables_committed(mat_sqlite_t *st)
{
    for (size_t i = 0; i < st->table_cnt; i++) {
        sq_table_t *t = &st->tables[i];
        mw_counter_add(t->unavailable_total, t->unavailable_pending);
        t->unavailable_pending = 0;
    }
}

/* Records a shape that now exists in the database, replacing the entry's
 * statements when the shape changed. */
static int sq_table_remember(mat_sqlite_t *st, const mat_table_t *table,
                             mw_err_t *err)
{
    sq_table_t *t = sq_table_find(st, table->name);

    if (!t) {
        if (MW_VEC_RESERVE(&st->tables, &st->table_cap, st->table_cnt + 1))
            return mw_err_set(err, MW_ERR_NOMEM,
                              "table '%s': out of "
                              "memory caching its shape",
                              table->name);
        t = &st->tables[st->table_cnt];
        memset(t, 0, sizeof *t);
        if (!(t->name = strdup(table->name)))
            return mw_err_set(err, MW_ERR_NOMEM,
                              "table '%s': out of "
                              "memory caching its shape",
                              table->name);
        st->table_cnt++;
        t->unavailable_total = sq_unavailable_counter(st, table->name);
    }
    sq_table_clear_stmts(t);
    t->version = table->version;
    t->col_cnt = table->col_cnt;
    t->key_cnt = table->key_cnt;
    return 0;
}

/* Appends `"a","b",...` for columns [from, to). */
static void sq_col_list(sqlite3_str *sql, const mat_table_t *table, size_t from,
                        size_t to)
{
    for (size_t i = from; i < to; i++) {
        if (i > from)
            sqlite3_str_appendall(sql, ",");
        sq_ident(sql, table->cols[i].name);
    }
}

/* INSERT INTO "t"(cols) VALUES(?1,...), then for upserts
 * ON CONFLICT(keys) DO UPDATE SET "c"=excluded."c",... (DO NOTHING when
 * every column is a key). */
static int sq_sql_insert(const mat_table_t *table, bool upsert, char **text,
                         mw_err_t *err)
{
    sqlite3_str *sql = sqlite3_str_new(NULL);

    sqlite3_str_appendall(sql, "INSERT INTO ");
    sq_ident(sql, table->name);
    sqlite3_str_appendall(sql, "(");
    sq_col_list(sql, table, 0, table->col_cnt);
    sqlite3_str_appendall(sql, ") VALUES(");
    for (size_t i = 0; i < table->col_cnt; i++)
        sqlite3_str_appendf(sql, "%s?%d", i ? "," : "", (int)i + 1);
    sqlite3_str_appendall(sql, ")");
    if (upsert) {
        sqlite3_str_appendall(sql, " ON CONFLICT(");
        sq_col_list(sql, table, 0, table->key_cnt);
        if (table->key_cnt == table->col_cnt)
            sqlite3_str_appendall(sql, ") DO NOTHING");
        else
            sqlite3_str_appendall(sql, ") DO UPDATE SET ");
        for (size_t i = table->key_cnt; i < table->col_cnt; i++) {
            if (i > table->key_cnt)
                sqlite3_str_appendall(sql, ",");
            sq_ident(sql, table->cols[i].name);
            sqlite3_str_appendall(sql, "=excluded.");
            sq_ident(sql, table->cols[i].name);
        }
    }
    return sq_finish(sql, table->name, text, err);
}

/* Whether a column may hold the placeholder: a text or blob non-key
 * column (the key is never left out of a change event). */
static bool sq_col_may_keep(const mat_column_t *col)
{
    return !col->is_key &&
           (col->type == MAT_COL_TEXT || col->type == MAT_COL_BYTES);
}

/* UPDATE "t" SET "c"=CASE WHEN ?3 IS '<placeholder>' THEN "c" ELSE ?3 END,
 * "d"=?4,... WHERE "k1"=?1 AND ...: the parameters are numbered as in the
 * insert statements, so one binding serves both.  A blob column compares
 * with the placeholder as a blob (a blob never IS a text). */
static int sq_sql_keep(const mat_table_t *table, char **text, mw_err_t *err)
{
    sqlite3_str *sql = sqlite3_str_new(NULL);

    sqlite3_str_appendall(sql, "UPDATE ");
    sq_ident(sql, table->name);
    sqlite3_str_appendall(sql, " SET ");
    for (size_t i = table->key_cnt; i < table->col_cnt; i++) {
        const mat_column_t *col = &table->cols[i];
        int n = (int)i + 1;

        if (i > table->key_cnt)
            sqlite3_str_appendall(sql, ",");
        sq_ident(sql, col->name);
        if (!sq_col_may_keep(col)) {
            sqlite3_str_appendf(sql, "=?%d", n);
            continue;
        }
        sqlite3_str_appendf(sql, "=CASE WHEN ?%d IS %s'%s'%s THEN ", n,
                            col->type == MAT_COL_BYTES ? "CAST(" : "",
                            MAT_ENVELOPE_UNAVAILABLE,
                            col->type == MAT_COL_BYTES ? " AS BLOB)" : "");
        sq_ident(sql, col->name);
        sqlite3_str_appendf(sql, " ELSE ?%d END", n);
    }
    for (size_t i = 0; i < table->key_cnt; i++) {
        sqlite3_str_appendall(sql, i ? " AND " : " WHERE ");
        sq_ident(sql, table->cols[i].name);
        sqlite3_str_appendf(sql, "=?%d", (int)i + 1);
    }
    return sq_finish(sql, table->name, text, err);
}

/* DELETE FROM "t" WHERE "k1"=?1 AND ... */
static int sq_sql_delete(const mat_table_t *table, char **text, mw_err_t *err)
{
    sqlite3_str *sql = sqlite3_str_new(NULL);

    sqlite3_str_appendall(sql, "DELETE FROM ");
    sq_ident(sql, table->name);
    for (size_t i = 0; i < table->key_cnt; i++) {
        sqlite3_str_appendall(sql, i ? " AND " : " WHERE ");
        sq_ident(sql, table->cols[i].name);
        sqlite3_str_appendf(sql, "=?%d", (int)i + 1);
    }
    return sq_finish(sql, table->name, text, err);
}

/* The cached statement for slot, prepared on first use for this shape. */
static int sq_table_stmt(mat_sqlite_t *st, sq_table_t *t,
                         const mat_table_t *table, int slot,
                         sqlite3_stmt **stmt, mw_err_t *err)
{
    char *sql = NULL;
    int rc;

    if (!t->stmt[slot]) {
        if (slot == SQ_STMT_DELETE)
            rc = sq_sql_delete(table, &sql, err);
        else if (slot == SQ_STMT_KEEP)
            rc = sq_sql_keep(table, &sql, err);
        else
            rc = sq_sql_insert(table, slot == SQ_STMT_UPSERT, &sql, err);
        if (rc == 0)
            rc = mat_sq_prepare(st, sql, &t->stmt[slot],
                                "preparing its statement", err);
        sqlite3_free(sql);
        if (rc) {
            mw_err_prefix(err, "table '%s' shape version %" PRIu32, table->name,
                          table->version);
            return rc;
        }
    }
    *stmt = t->stmt[slot];
    return 0;
}

/* ---- ensure_table ----------------------------------------------------- */

/* A column as the database has it (pragma_table_info). */
typedef struct sq_dbcol {
    char *name;
    char *type;
    int pk; /* 1-based position in the primary key, 0 if not part of it */
} sq_dbcol_t;

typedef struct sq_dbcols {
    sq_dbcol_t *cols;
    size_t cnt, cap;
} sq_dbcols_t;

static void sq_dbcols_free(sq_dbcols_t *dc)
{
    for (size_t i = 0; i < dc->cnt; i++) {
        free(dc->cols[i].name);
        free(dc->cols[i].type);
    }
    free(dc->cols);
    memset(dc, 0, sizeof *dc);
}

static int sq_dbcols_add(sq_dbcols_t *dc, sqlite3_stmt *stmt)
{
    const unsigned char *name = sqlite3_column_text(stmt, 0);
    const unsigned char *type = sqlite3_column_text(stmt, 1);
    sq_dbcol_t *c;

    if (MW_VEC_RESERVE(&dc->cols, &dc->cap, dc->cnt + 1))
        return MW_ERR_NOMEM;
    c = &dc->cols[dc->cnt];
    c->name = strdup(name ? (const char *)name : "");
    c->type = strdup(type ? (const char *)type : "");
    c->pk = sqlite3_column_int(stmt, 2);
    if (!c->name || !c->type) {
        free(c->name);
        free(c->type);
        return MW_ERR_NOMEM;
    }
    dc->cnt++;
    return 0;
}

/* Reads the table's columns as the open transaction sees them; none when
 * the table does not exist. */
static int sq_dbcols_load(mat_sqlite_t *st, const char *table, sq_dbcols_t *dc,
                          mw_err_t *err)
{
    int rc;

    sqlite3_bind_text(st->table_info, 1, table, -1, SQLITE_STATIC);
    while ((rc = sqlite3_step(st->table_info)) == SQLITE_ROW) {
        if (sq_dbcols_add(dc, st->table_info)) {
            sqlite3_reset(st->table_info);
            return mw_err_set(err, MW_ERR_NOMEM,
                              "table '%s': out of memory "
                              "reading its columns",
                              table);
        }
    }
    if (rc != SQLITE_DONE)
        rc = mat_sq_fail(st, err, rc, "table '%s': reading its columns", table);
    else
        rc = 0;
    sqlite3_reset(st->table_info);
    return rc;
}

static const sq_dbcol_t *sq_dbcols_find(const sq_dbcols_t *dc, const char *name)
{
    /* SQLite identifiers are case-insensitive. */
    for (size_t i = 0; i < dc->cnt; i++)
        if (sqlite3_stricmp(dc->cols[i].name, name) == 0)
            return &dc->cols[i];
    return NULL;
}

/* CREATE TABLE IF NOT EXISTS "t"("k" INTEGER NOT NULL, "c" TEXT, ...,
 * PRIMARY KEY("k")).  A single INTEGER key becomes the rowid alias, the
 * fastest upsert path SQLite has; no key gives a plain rowid table. */
static int sq_create_table(mat_sqlite_t *st, const mat_table_t *table,
                           mw_err_t *err)
{
    sqlite3_str *sql = sqlite3_str_new(NULL);
    char *text;
    int rc;

    sqlite3_str_appendall(sql, "CREATE TABLE IF NOT EXISTS ");
    sq_ident(sql, table->name);
    sqlite3_str_appendall(sql, "(");
    for (size_t i = 0; i < table->col_cnt; i++) {
        const mat_column_t *col = &table->cols[i];
        sqlite3_str_appendall(sql, i ? ", " : "");
        sq_ident(sql, col->name);
        sqlite3_str_appendf(sql, " %s%s", sq_type_sql[col->type],
                            col->is_key ? " NOT NULL" : "");
    }
    if (table->key_cnt) {
        sqlite3_str_appendall(sql, ", PRIMARY KEY(");
        sq_col_list(sql, table, 0, table->key_cnt);
        sqlite3_str_appendall(sql, ")");
    }
    sqlite3_str_appendall(sql, ")");
    if ((rc = sq_finish(sql, table->name, &text, err)))
        return rc;
    rc = mat_sq_exec(st, text, "creating the table", err);
    sqlite3_free(text);
    if (rc) {
        mw_err_prefix(err, "table '%s'", table->name);
        return rc;
    }
    mw_log_info(SQ_COMP, "table created", "table=%s columns=%zu keys=%zu",
                mw_log_q(table->name), table->col_cnt, table->key_cnt);
    return 0;
}

/* The existing primary key must be the record key, column for column:
 * upserting by another key would merge rows that are different records. */
static int sq_check_keys(const mat_table_t *table, const sq_dbcols_t *dc,
                         mw_err_t *err)
{
    size_t db_keys = 0;

    for (size_t i = 0; i < dc->cnt; i++)
        if (dc->cols[i].pk > 0)
            db_keys++;
    for (size_t i = 0; i < table->key_cnt; i++) {
        const sq_dbcol_t *c = sq_dbcols_find(dc, table->cols[i].name);
        if (!c || c->pk != (int)i + 1)
            db_keys = SIZE_MAX;
    }
    if (db_keys == table->key_cnt)
        return 0;
    return mw_err_set(err, MW_ERR_INVALID,
                      "table '%s': its primary key is not the record key "
                      "of topic '%s' (%zu key column(s) starting with '%s'); "
                      "refusing to write into it",
                      table->name, table->topic ? table->topic : "",
                      table->key_cnt,
                      table->key_cnt ? table->cols[0].name : "(none)");
}

/* ALTER TABLE "t" ADD COLUMN "c" TYPE: nullable, so existing rows read
 * NULL; runs inside the batch's transaction and is undone with it. */
static int sq_add_column(mat_sqlite_t *st, const mat_table_t *table,
                         const mat_column_t *col, mw_err_t *err)
{
    sqlite3_str *sql = sqlite3_str_new(NULL);
    char *text;
    int rc;

    sqlite3_str_appendall(sql, "ALTER TABLE ");
    sq_ident(sql, table->name);
    sqlite3_str_appendall(sql, " ADD COLUMN ");
    sq_ident(sql, col->name);
    sqlite3_str_appendf(sql, " %s", sq_type_sql[col->type]);
    if ((rc = sq_finish(sql, table->name, &text, err)))
        return rc;
    rc = mat_sq_exec(st, text, "adding a column", err);
    sqlite3_free(text);
    if (rc) {
        mw_err_prefix(err, "table '%s' column '%s'", table->name, col->name);
        return rc;
    }
    mw_log_info(SQ_COMP, "column added", "table=%s column=%s type=%s",
                mw_log_q(table->name), mw_log_q(col->name),
                sq_type_sql[col->type]);
    return 0;
}

/* Brings an existing table to the shape: same key, same SQL type for every
 * known column, missing non-key columns added. */
static int sq_evolve_table(mat_sqlite_t *st, const mat_table_t *table,
                           const sq_dbcols_t *dc, mw_err_t *err)
{
    int rc = sq_check_keys(table, dc, err);

    for (size_t i = 0; rc == 0 && i < table->col_cnt; i++) {
        const mat_column_t *col = &table->cols[i];
        const sq_dbcol_t *c = sq_dbcols_find(dc, col->name);
        const char *want = sq_type_sql[col->type];

        if (!c)
            rc = sq_add_column(st, table, col, err);
        else if (sqlite3_stricmp(c->type, want) != 0)
            rc = mw_err_set(err, MW_ERR_INVALID,
                            "table '%s' column '%s': it is %s and the schema "
                            "now makes it %s (%s); refusing to change a "
                            "column's type",
                            table->name, col->name,
                            c->type[0] ? c->type : "untyped", want,
                            mat_col_type_name(col->type));
    }
    return rc;
}

/* ops.ensure_table: a shape already checked under this version costs a
 * lookup; otherwise the table is created or evolved inside the open
 * transaction (which holds the write lock, so another member cannot change
 * it between our check and our ALTER). */
int mat_sq_ensure_table(void *state, const mat_table_t *table, mw_err_t *err)
{
    mat_sqlite_t *st = state;
    sq_table_t *t = sq_table_find(st, table->name);
    sq_dbcols_t dc = {0};
    int rc;

    if (t && t->version == table->version && t->col_cnt == table->col_cnt)
        return 0;
    if (sqlite3_stricmp(table->name, SQ_OFFSETS_TABLE) == 0 ||
        sqlite3_strnicmp(table->name, "sqlite_", 7) == 0)
        return mw_err_set(err, MW_ERR_INVALID,
                          "table '%s': the name is "
                          "reserved; set table.name",
                          table->name);
    for (size_t i = 0; i < table->col_cnt; i++)
        if ((unsigned)table->cols[i].type >= MAT_COL__CNT)
            return mw_err_set(err, MW_ERR_INVALID,
                              "table '%s' column '%s': "
                              "unknown column type %d",
                              table->name, table->cols[i].name,
                              (int)table->cols[i].type);
    rc = sq_dbcols_load(st, table->name, &dc, err);
    if (rc == 0)
        rc = dc.cnt ? sq_evolve_table(st, table, &dc, err)
                    : sq_create_table(st, table, err);
    sq_dbcols_free(&dc);
    if (rc == 0)
        rc = sq_table_remember(st, table, err);
    return rc;
}

/* ---- apply ------------------------------------------------------------ */

/* Binds the change's values: every column for inserts, the key columns
 * (first in the shape) for deletes. */
static int sq_bind_change(const mat_table_t *table, sqlite3_stmt *stmt,
                          size_t cnt, const mat_change_t *change, mw_err_t *err)
{
    for (size_t i = 0; i < cnt; i++) {
        const mat_column_t *col = &table->cols[i];
        int rc;

        /* A NULL into a single INTEGER key (the rowid alias) would not
         * fail NOT NULL: SQLite would invent a rowid and add a row. */
        if (i < table->key_cnt && change->values[i].is_null)
            return mw_err_set(err, MW_ERR_INVALID,
                              "table '%s' key column "
                              "'%s' is null at %s[%" PRId32 "]@%" PRId64,
                              table->name, col->name, change->topic,
                              change->partition, change->offset);
        rc = sq_bind(stmt, (int)i + 1, col, &change->values[i]);

        if (rc != SQLITE_OK)
            return mw_err_set(
                err, mat_sq_code(rc),
                "table '%s' column '%s' (%s) at %s[%" PRId32 "]@%" PRId64
                ": %s",
                table->name, col->name, mat_col_type_name(col->type),
                change->topic, change->partition, change->offset,
                rc == SQLITE_RANGE ? "value out of range" : sqlite3_errstr(rc));
    }
    return 0;
}

/* Whether an upsert carries the placeholder in a column that keeps it. */
static bool sq_has_placeholder(const mat_table_t *table,
                               const mat_change_t *change)
{
    if (!mat_envelope_change_has_placeholders(change))
        return false;
    for (size_t i = table->key_cnt; i < table->col_cnt; i++)
        if (sq_col_may_keep(&table->cols[i]) &&
            mat_envelope_is_unavailable(table->cols[i].type,
                                        &change->values[i]))
            return true;
    return false;
}

/* Steps a bound statement once and resets it; *changes gets the rows it
 * changed. */
static int sq_step(mat_sqlite_t *st, sqlite3_stmt *stmt,
                   const mat_table_t *table, const mat_change_t *change,
                   int *changes, mw_err_t *err)
{
    int rc = sqlite3_step(stmt);

    if (rc != SQLITE_DONE)
        rc = mat_sq_fail(st, err, rc,
                         "table '%s': %s at %s[%" PRId32 "]@%" PRId64,
                         table->name, mat_op_name(change->op), change->topic,
                         change->partition, change->offset);
    else
        rc = 0;
    if (changes)
        *changes = sqlite3_changes(st->db);
    sqlite3_reset(stmt);
    return rc;
}

/* With no stored row: NULL instead of each placeholder of a nullable
 * column (the INSERT is bound already); *cnt gets the placeholders and
 * *first the column of the first. */
static int sq_unbind_placeholders(const mat_table_t *table, sqlite3_stmt *stmt,
                                  const mat_change_t *change, uint64_t *cnt,
                                  const mat_column_t **first)
{
    *cnt = 0;
    for (size_t i = table->key_cnt; i < table->col_cnt; i++) {
        const mat_column_t *col = &table->cols[i];
        int rc;

        if (!sq_col_may_keep(col) ||
            !mat_envelope_is_unavailable(col->type, &change->values[i]))
            continue;
        if ((*cnt)++ == 0)
            *first = col;
        if (col->nullable && (rc = sqlite3_bind_null(stmt, (int)i + 1)))
            return rc;
    }
    return SQLITE_OK;
}

/* An upsert holding the placeholder: the KEEP update, else an insert with
 * the placeholders unbound (module comment), counted once it is written
 * and the table's first logged. */
static int sq_apply_keep(mat_sqlite_t *st, sq_table_t *t,
                         const mat_table_t *table, const mat_change_t *change,
                         mw_err_t *err)
{
    const mat_column_t *first = NULL;
    sqlite3_stmt *stmt;
    uint64_t cnt = 0;
    int changes = 0, rc;

    if ((rc = sq_table_stmt(st, t, table, SQ_STMT_KEEP, &stmt, err)) ||
        (rc = sq_bind_change(table, stmt, table->col_cnt, change, err)) ||
        (rc = sq_step(st, stmt, table, change, &changes, err)) || changes > 0)
        return rc;
    if ((rc = sq_table_stmt(st, t, table, SQ_STMT_INSERT, &stmt, err)) ||
        (rc = sq_bind_change(table, stmt, table->col_cnt, change, err)))
        return rc;
    rc = sq_unbind_placeholders(table, stmt, change, &cnt, &first);
    if (rc != SQLITE_OK) {
        sqlite3_reset(stmt);
        return mw_err_set(err, mat_sq_code(rc), "table '%s': binding: %s",
                          table->name, sqlite3_errstr(rc));
    }
    if ((rc = sq_step(st, stmt, table, change, NULL, err)))
        return rc;
    t->unavailable_pending += cnt;
    if (cnt && !t->unavailable_logged) {
        t->unavailable_logged = true;
        mw_log_warn(SQ_COMP, "unavailable value without a stored row",
                    "table=%s column=%s stored=%s topic=%s "
                    "partition=%" PRId32 " offset=%" PRId64,
                    mw_log_q(table->name), mw_log_q(first->name),
                    first->nullable ? "null" : "placeholder",
                    mw_log_q(change->topic), change->partition, change->offset);
    }
    return 0;
}

/* ops.apply: one upsert, delete or append through the shape's cached
 * statement.  A failing statement (a NULL key, say) is undone by SQLite on
 * its own; the batch stays usable and the caller decides (dead letter or
 * stop). */
int mat_sq_apply(void *state, const mat_table_t *table,
                 const mat_change_t *change, mw_err_t *err)
{
    mat_sqlite_t *st = state;
    sq_table_t *t = sq_table_find(st, table->name);
    sqlite3_stmt *stmt;
    size_t cnt = table->col_cnt;
    int slot, rc;

    if (!t || t->version != table->version || t->col_cnt != table->col_cnt)
        return mw_err_set(err, MW_ERR_STATE,
                          "table '%s': apply before "
                          "ensure_table for shape version %" PRIu32,
                          table->name, table->version);
    /* 1. delete by key; 2. upsert by key; 3. append, also for upserts into
     * a table without a key (nothing to conflict on). */
    if (change->op == MAT_OP_DELETE) {
        if (table->key_cnt == 0)
            return mw_err_set(err, MW_ERR_INVALID,
                              "table '%s': a delete at "
                              "%s[%" PRId32 "]@%" PRId64 " but the table "
                              "has no key",
                              table->name, change->topic, change->partition,
                              change->offset);
        slot = SQ_STMT_DELETE;
        cnt = table->key_cnt;
    } else if (change->op == MAT_OP_UPSERT && table->key_cnt) {
        if (sq_has_placeholder(table, change))
            return sq_apply_keep(st, t, table, change, err);
        slot = SQ_STMT_UPSERT;
    } else {
        slot = SQ_STMT_INSERT;
    }
    if ((rc = sq_table_stmt(st, t, table, slot, &stmt, err)) ||
        (rc = sq_bind_change(table, stmt, cnt, change, err)))
        return rc;
    return sq_step(st, stmt, table, change, NULL, err);
}
