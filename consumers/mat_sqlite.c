/*
 * mat_sqlite: the SQLite output port of mesh-materializer (sink = sqlite).
 *
 * The loop hands us typed changes in batches; each batch is one SQLite
 * transaction (BEGIN IMMEDIATE ... COMMIT) holding the rows and the next
 * offset of every partition it consumed (_mesh_offsets), so after a crash
 * at any instant the database holds exactly the batches whose COMMIT
 * reached the WAL, and the loop resumes from the offsets stored with them:
 * no event is applied twice or skipped.
 *
 * Durability: WAL mode (readers never block the writer, and a batch costs
 * one sequential WAL append) with synchronous = FULL, so COMMIT fsyncs the
 * WAL.  With NORMAL a committed batch survives a process crash but not a
 * power cut; the table would still be consistent, yet it would go back in
 * time under the feet of readers who saw it, and the events to replay may
 * already be gone from Kafka by retention.  One fsync per batch (thousands
 * of rows) is cheap, so every COMMIT we report is durable.
 *
 * Fencing: two members of a group may share one database file.  A member
 * that stalls past the session timeout loses its partitions while it still
 * holds a batch; its COMMIT would apply those events a second time.  So
 * store_offset is a compare-and-set on the next offset this instance last
 * read or wrote for the partition (the write lock of BEGIN IMMEDIATE makes
 * it atomic): when another member moved it, the batch fails with
 * MW_ERR_STATE and is rolled back.
 *
 * Tables: one per mat_table_t name, created with the record key as PRIMARY
 * KEY (key columns NOT NULL), or as a plain rowid table when there is no
 * key (append).  Non-key columns are always nullable, so that a compatible
 * schema change making a field optional never breaks the table.  Columns
 * are only added (ALTER TABLE ADD COLUMN, inside the batch's transaction);
 * a key change or a column whose SQL type would change is refused with
 * MW_ERR_INVALID.  Type mapping (sq_type_sql): booleans and integers
 * INTEGER, float and double REAL, bytes BLOB, and TEXT for everything whose
 * exact text is the natural SQLite form: strings, uuid, JSON (nested,
 * arrays, maps), decimal (the exact decimal text; REAL would round), and the
 * temporal types as ISO 8601 text, which SQLite's date functions read and
 * which sorts chronologically: date 'YYYY-MM-DD', time 'HH:MM:SS.ffffff',
 * timestamp 'YYYY-MM-DDTHH:MM:SS.ffffffZ' (UTC; years outside 0..9999 get
 * an explicit sign, '+10000-01-01').  NaN doubles are stored as NULL
 * (SQLite has no NaN).
 *
 * Invariants: statements are cached per table and shape version and are
 * always reset after a step; the table cache only holds shapes that exist
 * in the database as committed or inside the open transaction, so a
 * rollback drops the whole cache (an ALTER may have been undone).  SQLite
 * errors are translated here, once, naming the table, column or partition.
 *
 * Thread: the materializer's loop thread only (the connection is opened
 * without SQLite's mutexes).
 */
#include "mat_sink.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <sqlite3.h>

#include "mw_log.h"

#define SQ_COMP "mat_sqlite"
#define SQ_OFFSETS_TABLE "_mesh_offsets"
/* How long BEGIN IMMEDIATE waits for another writer on the same file
 * (a second group member, a checkpointing reader) before the batch fails
 * as retriable. */
#define SQ_BUSY_TIMEOUT_MS 10000
/* Page cache per connection, in KiB (negative for PRAGMA cache_size):
 * upserts by key touch random pages of large tables. */
#define SQ_CACHE_KIB 32768
#define SQ_STR_(x) #x
#define SQ_STR(x) SQ_STR_(x)
/* Offset this instance has never read or written for a partition. */
#define SQ_OFFSET_UNKNOWN INT64_MIN
#define SQ_US_PER_DAY INT64_C(86400000000)

/* Statement slots per table, indexed by what they do. */
enum { SQ_STMT_UPSERT = 0, SQ_STMT_DELETE, SQ_STMT_INSERT, SQ_STMT__CNT };

typedef struct sq_table {
    char *name;
    uint32_t version;
    size_t col_cnt, key_cnt;
    sqlite3_stmt *stmt[SQ_STMT__CNT]; /* prepared lazily, NULL until used */
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
    mw_histogram_t *commit_seconds;
    mw_counter_t *fenced_total;
} mat_sqlite_t;

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

/* ---- errors ----------------------------------------------------------- */

/* Class of a SQLite result code: lock waits are retriable, statement-level
 * refusals (constraint, type, size, SQL on a table we do not understand)
 * reject the input, the rest (I/O, disk full, corruption, read-only) stop
 * the daemon. */
static int sq_code(int rc)
{
    switch (rc & 0xff) {
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
        return MW_ERR_TIMEOUT;
    case SQLITE_NOMEM:
        return MW_ERR_NOMEM;
    case SQLITE_CONSTRAINT:
    case SQLITE_MISMATCH:
    case SQLITE_TOOBIG:
    case SQLITE_RANGE:
    case SQLITE_ERROR:
        return MW_ERR_INVALID;
    default:
        return MW_ERR_IO;
    }
}

/* Translates the connection's last error (taken first, before any other
 * call can replace it) into err, prefixed with the context fmt names. */
static int sq_fail(mat_sqlite_t *st, mw_err_t *err, int rc, const char *fmt,
                   ...) __attribute__((format(printf, 4, 5)));
static int sq_fail(mat_sqlite_t *st, mw_err_t *err, int rc, const char *fmt,
                   ...)
{
    char ctx[320], msg[MW_ERR_MSG_MAX];
    const char *why = st->db ? sqlite3_errmsg(st->db) : sqlite3_errstr(rc);
    va_list ap;
    int code = sq_code(rc);

    va_start(ap, fmt);
    vsnprintf(ctx, sizeof ctx, fmt, ap);
    va_end(ap);
    if (snprintf(msg, sizeof msg, "%s: %s (sqlite code %d)", ctx, why, rc) <
        0)
        msg[0] = '\0';
    if (mw_err_class(code) == MW_ERR_CLASS_FATAL)
        memcpy(st->unhealthy, msg, sizeof st->unhealthy);
    return mw_err_set(err, code, "%s", msg);
}

/* SQLite's own log (WAL recovery after a crash, auto-index warnings,
 * statement errors we also report) through mw_log.  Errors are debug: each
 * one reaches the caller through sq_fail already. */
static void sq_log_cb(void *opaque, int rc, const char *msg)
{
    (void)opaque;
    switch (rc & 0xff) {
    case SQLITE_NOTICE:
        mw_log_info(SQ_COMP, "sqlite notice", "code=%d detail=%s", rc,
                    mw_log_q(msg));
        break;
    case SQLITE_WARNING:
        mw_log_warn(SQ_COMP, "sqlite warning", "code=%d detail=%s", rc,
                    mw_log_q(msg));
        break;
    default:
        mw_log_debug(SQ_COMP, "sqlite error", "code=%d detail=%s", rc,
                     mw_log_q(msg));
        break;
    }
}

/* The log hook is library-global and must be set before SQLite initialises;
 * once per process (a second sink, or a test opening many, skips it). */
static void sq_log_hook(void)
{
    static bool hooked;

    if (hooked)
        return;
    hooked = true;
    if (sqlite3_config(SQLITE_CONFIG_LOG, sq_log_cb, NULL) != SQLITE_OK)
        mw_log_debug(SQ_COMP, "sqlite log hook not installed",
                     "reason=\"library already initialised\"");
}

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

static int sq_prepare(mat_sqlite_t *st, const char *sql, sqlite3_stmt **stmt,
                      const char *what, mw_err_t *err)
{
    int rc = sqlite3_prepare_v3(st->db, sql, -1, SQLITE_PREPARE_PERSISTENT,
                                stmt, NULL);

    if (rc != SQLITE_OK) {
        *stmt = NULL;
        return sq_fail(st, err, rc, "%s", what);
    }
    return 0;
}

/* Runs one statement without results (DDL, transaction control). */
static int sq_exec(mat_sqlite_t *st, const char *sql, const char *what,
                   mw_err_t *err)
{
    int rc = sqlite3_exec(st->db, sql, NULL, NULL, NULL);

    return rc == SQLITE_OK ? 0 : sq_fail(st, err, rc, "%s", what);
}

/* Runs a PRAGMA that answers one text value (journal_mode). */
static int sq_pragma_text(mat_sqlite_t *st, const char *sql, char *out,
                          size_t out_size, mw_err_t *err)
{
    sqlite3_stmt *stmt = NULL;
    int rc = sq_prepare(st, sql, &stmt, sql, err);

    if (rc)
        return rc;
    rc = sqlite3_step(stmt);
    if (rc == SQLITE_ROW) {
        const unsigned char *text = sqlite3_column_text(stmt, 0);
        snprintf(out, out_size, "%s", text ? (const char *)text : "");
        rc = SQLITE_OK;
    } else if (rc == SQLITE_DONE) {
        out[0] = '\0';
        rc = SQLITE_OK;
    }
    if (rc != SQLITE_OK)
        rc = sq_fail(st, err, rc, "sqlite.path='%s': %s", st->path, sql);
    sqlite3_finalize(stmt);
    return rc;
}

/* ---- values ----------------------------------------------------------- */

/* Proleptic Gregorian date of a day count since 1970-01-01, after Howard
 * Hinnant's days-to-civil derivation (eras of 400 years = 146097 days,
 * years starting in March so that the leap day is last). */
static void sq_civil(int64_t days, int64_t *year, int *month, int *day)
{
    int64_t z = days + 719468;
    int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    int64_t doe = z - era * 146097;                     /* [0, 146096] */
    int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100); /* [0, 365] */
    int64_t mp = (5 * doy + 2) / 153;                   /* March = 0 */

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
        return snprintf(out, out_size, "%04" PRId64 "-%02d-%02d", year,
                        month, day);
    return snprintf(out, out_size, "%+05" PRId64 "-%02d-%02d", year, month,
                    day);
}

/* 'HH:MM:SS.ffffff' of microseconds since midnight, [0, 1 day). */
static int sq_format_time(int64_t us, char *out, size_t out_size)
{
    return snprintf(out, out_size, "%02d:%02d:%02d.%06d",
                    (int)(us / INT64_C(3600000000)),
                    (int)(us / 60000000 % 60), (int)(us / 1000000 % 60),
                    (int)(us % 1000000));
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
        n = v >= 0 && v < SQ_US_PER_DAY
                ? sq_format_time(v, text, sizeof text) : -1;
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
static void sq_tables_drop(mat_sqlite_t *st)
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

/* Records a shape that now exists in the database, replacing the entry's
 * statements when the shape changed. */
static int sq_table_remember(mat_sqlite_t *st, const mat_table_t *table,
                             mw_err_t *err)
{
    sq_table_t *t = sq_table_find(st, table->name);

    if (!t) {
        if (st->table_cnt == st->table_cap) {
            size_t cap = st->table_cap ? st->table_cap * 2 : 4;
            sq_table_t *grown = realloc(st->tables, cap * sizeof *grown);
            if (!grown)
                return mw_err_set(err, MW_ERR_NOMEM, "table '%s': out of "
                                  "memory caching its shape", table->name);
            st->tables = grown;
            st->table_cap = cap;
        }
        t = &st->tables[st->table_cnt];
        memset(t, 0, sizeof *t);
        if (!(t->name = strdup(table->name)))
            return mw_err_set(err, MW_ERR_NOMEM, "table '%s': out of "
                              "memory caching its shape", table->name);
        st->table_cnt++;
    }
    sq_table_clear_stmts(t);
    t->version = table->version;
    t->col_cnt = table->col_cnt;
    t->key_cnt = table->key_cnt;
    return 0;
}

/* Appends `"a","b",...` for columns [from, to). */
static void sq_col_list(sqlite3_str *sql, const mat_table_t *table,
                        size_t from, size_t to)
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

/* DELETE FROM "t" WHERE "k1"=?1 AND ... */
static int sq_sql_delete(const mat_table_t *table, char **text,
                         mw_err_t *err)
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
        else
            rc = sq_sql_insert(table, slot == SQ_STMT_UPSERT, &sql, err);
        if (rc == 0)
            rc = sq_prepare(st, sql, &t->stmt[slot],
                            "preparing its statement", err);
        sqlite3_free(sql);
        if (rc) {
            mw_err_prefix(err, "table '%s' shape version %" PRIu32,
                          table->name, table->version);
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

    if (dc->cnt == dc->cap) {
        size_t cap = dc->cap ? dc->cap * 2 : 16;
        sq_dbcol_t *grown = realloc(dc->cols, cap * sizeof *grown);
        if (!grown)
            return MW_ERR_NOMEM;
        dc->cols = grown;
        dc->cap = cap;
    }
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
static int sq_dbcols_load(mat_sqlite_t *st, const char *table,
                          sq_dbcols_t *dc, mw_err_t *err)
{
    int rc;

    sqlite3_bind_text(st->table_info, 1, table, -1, SQLITE_STATIC);
    while ((rc = sqlite3_step(st->table_info)) == SQLITE_ROW) {
        if (sq_dbcols_add(dc, st->table_info)) {
            sqlite3_reset(st->table_info);
            return mw_err_set(err, MW_ERR_NOMEM, "table '%s': out of memory "
                              "reading its columns", table);
        }
    }
    if (rc != SQLITE_DONE)
        rc = sq_fail(st, err, rc, "table '%s': reading its columns", table);
    else
        rc = 0;
    sqlite3_reset(st->table_info);
    return rc;
}

static const sq_dbcol_t *sq_dbcols_find(const sq_dbcols_t *dc,
                                        const char *name)
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
    rc = sq_exec(st, text, "creating the table", err);
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
    rc = sq_exec(st, text, "adding a column", err);
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
                            "column's type", table->name, col->name,
                            c->type[0] ? c->type : "untyped", want,
                            mat_col_type_name(col->type));
    }
    return rc;
}

/* ops.ensure_table: a shape already checked under this version costs a
 * lookup; otherwise the table is created or evolved inside the open
 * transaction (which holds the write lock, so another member cannot change
 * it between our check and our ALTER). */
static int sq_ensure_table(void *state, const mat_table_t *table,
                           mw_err_t *err)
{
    mat_sqlite_t *st = state;
    sq_table_t *t = sq_table_find(st, table->name);
    sq_dbcols_t dc = {0};
    int rc;

    if (t && t->version == table->version && t->col_cnt == table->col_cnt)
        return 0;
    if (sqlite3_stricmp(table->name, SQ_OFFSETS_TABLE) == 0 ||
        sqlite3_strnicmp(table->name, "sqlite_", 7) == 0)
        return mw_err_set(err, MW_ERR_INVALID, "table '%s': the name is "
                          "reserved; set table.name", table->name);
    for (size_t i = 0; i < table->col_cnt; i++)
        if ((unsigned)table->cols[i].type >= MAT_COL__CNT)
            return mw_err_set(err, MW_ERR_INVALID, "table '%s' column '%s': "
                              "unknown column type %d", table->name,
                              table->cols[i].name, (int)table->cols[i].type);
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
                          size_t cnt, const mat_change_t *change,
                          mw_err_t *err)
{
    for (size_t i = 0; i < cnt; i++) {
        const mat_column_t *col = &table->cols[i];
        int rc;

        /* A NULL into a single INTEGER key (the rowid alias) would not
         * fail NOT NULL: SQLite would invent a rowid and add a row. */
        if (i < table->key_cnt && change->values[i].is_null)
            return mw_err_set(err, MW_ERR_INVALID, "table '%s' key column "
                              "'%s' is null at %s[%" PRId32 "]@%" PRId64,
                              table->name, col->name, change->topic,
                              change->partition, change->offset);
        rc = sq_bind(stmt, (int)i + 1, col, &change->values[i]);

        if (rc != SQLITE_OK)
            return mw_err_set(err, sq_code(rc),
                              "table '%s' column '%s' (%s) at %s[%" PRId32
                              "]@%" PRId64 ": %s", table->name, col->name,
                              mat_col_type_name(col->type), change->topic,
                              change->partition, change->offset,
                              rc == SQLITE_RANGE ? "value out of range"
                                                 : sqlite3_errstr(rc));
    }
    return 0;
}

/* ops.apply: one upsert, delete or append through the shape's cached
 * statement.  A failing statement (a NULL key, say) is undone by SQLite on
 * its own; the batch stays usable and the caller decides (dead letter or
 * stop). */
static int sq_apply(void *state, const mat_table_t *table,
                    const mat_change_t *change, mw_err_t *err)
{
    mat_sqlite_t *st = state;
    sq_table_t *t = sq_table_find(st, table->name);
    sqlite3_stmt *stmt;
    size_t cnt = table->col_cnt;
    int slot, rc;

    if (!t || t->version != table->version || t->col_cnt != table->col_cnt)
        return mw_err_set(err, MW_ERR_STATE, "table '%s': apply before "
                          "ensure_table for shape version %" PRIu32,
                          table->name, table->version);
    /* 1. delete by key; 2. upsert by key; 3. append, also for upserts into
     * a table without a key (nothing to conflict on). */
    if (change->op == MAT_OP_DELETE) {
        if (table->key_cnt == 0)
            return mw_err_set(err, MW_ERR_INVALID, "table '%s': a delete at "
                              "%s[%" PRId32 "]@%" PRId64 " but the table "
                              "has no key", table->name, change->topic,
                              change->partition, change->offset);
        slot = SQ_STMT_DELETE;
        cnt = table->key_cnt;
    } else if (change->op == MAT_OP_UPSERT && table->key_cnt) {
        slot = SQ_STMT_UPSERT;
    } else {
        slot = SQ_STMT_INSERT;
    }
    if ((rc = sq_table_stmt(st, t, table, slot, &stmt, err)) ||
        (rc = sq_bind_change(table, stmt, cnt, change, err)))
        return rc;
    rc = sqlite3_step(stmt);
    if (rc != SQLITE_DONE)
        rc = sq_fail(st, err, rc, "table '%s': %s at %s[%" PRId32
                     "]@%" PRId64, table->name, mat_op_name(change->op),
                     change->topic, change->partition, change->offset);
    else
        rc = 0;
    sqlite3_reset(stmt);
    return rc;
}

/* ---- offsets ---------------------------------------------------------- */

static sq_offset_t *sq_offset_get(mat_sqlite_t *st, const char *topic,
                                  int32_t partition, bool create)
{
    sq_offset_t *o;

    for (size_t i = 0; i < st->offset_cnt; i++)
        if (st->offsets[i].partition == partition &&
            strcmp(st->offsets[i].topic, topic) == 0)
            return &st->offsets[i];
    if (!create)
        return NULL;
    if (st->offset_cnt == st->offset_cap) {
        size_t cap = st->offset_cap ? st->offset_cap * 2 : 32;
        sq_offset_t *grown = realloc(st->offsets, cap * sizeof *grown);
        if (!grown)
            return NULL;
        st->offsets = grown;
        st->offset_cap = cap;
    }
    o = &st->offsets[st->offset_cnt];
    if (!(o->topic = strdup(topic)))
        return NULL;
    o->partition = partition;
    o->committed = o->pending = SQ_OFFSET_UNKNOWN;
    st->offset_cnt++;
    return o;
}

/* ops.load_offset: the stored next offset, remembered as the value our
 * next store_offset for the partition must find (fencing). */
static int sq_load_offset(void *state, const char *topic, int32_t partition,
                          int64_t *next_offset, mw_err_t *err)
{
    mat_sqlite_t *st = state;
    sqlite3_stmt *stmt = st->off_load;
    sq_offset_t *o;
    int rc;

    sqlite3_bind_text(stmt, 1, topic, -1, SQLITE_STATIC);
    sqlite3_bind_int(stmt, 2, partition);
    rc = sqlite3_step(stmt);
    *next_offset = rc == SQLITE_ROW ? sqlite3_column_int64(stmt, 0) : -1;
    if (rc == SQLITE_ROW || rc == SQLITE_DONE)
        rc = 0;
    else
        rc = sq_fail(st, err, rc, "%s[%" PRId32 "]: reading the stored "
                     "offset", topic, partition);
    sqlite3_reset(stmt);
    if (rc)
        return rc;
    if (!(o = sq_offset_get(st, topic, partition, true)))
        return mw_err_set(err, MW_ERR_NOMEM, "%s[%" PRId32 "]: out of "
                          "memory", topic, partition);
    o->committed = *next_offset;
    return 0;
}

/* Another member moved the partition's offset under us: this batch's
 * events for it were (or will be) applied by that member. */
static int sq_fenced(mat_sqlite_t *st, const char *topic, int32_t partition,
                     int64_t expected, mw_err_t *err)
{
    mw_counter_inc(st->fenced_total);
    return mw_err_set(err, MW_ERR_STATE, "%s[%" PRId32 "]: the stored next "
                      "offset is no longer %" PRId64 ": another group member "
                      "committed this partition; the batch must be rolled "
                      "back", topic, partition, expected);
}

/* ops.store_offset, a compare-and-set inside the batch (see the module
 * comment): 1. never loaded: plain upsert; 2. loaded as absent: insert,
 * which fails if another member inserted meanwhile; 3. update only where
 * the value is still the one we last saw or stored. */
static int sq_store_offset(void *state, const char *topic, int32_t partition,
                           int64_t next_offset, mw_err_t *err)
{
    mat_sqlite_t *st = state;
    sq_offset_t *o = sq_offset_get(st, topic, partition, true);
    sqlite3_stmt *stmt;
    int64_t expected;
    int rc;

    if (!o)
        return mw_err_set(err, MW_ERR_NOMEM, "%s[%" PRId32 "]: out of "
                          "memory", topic, partition);
    expected = o->pending != SQ_OFFSET_UNKNOWN ? o->pending : o->committed;
    stmt = expected == SQ_OFFSET_UNKNOWN ? st->off_upsert
           : expected < 0                ? st->off_insert
                                         : st->off_update;
    sqlite3_bind_text(stmt, 1, topic, -1, SQLITE_STATIC);
    sqlite3_bind_int(stmt, 2, partition);
    sqlite3_bind_int64(stmt, 3, next_offset);
    sqlite3_bind_text(stmt, 4, st->group_id, -1, SQLITE_STATIC);
    if (stmt == st->off_update)
        sqlite3_bind_int64(stmt, 5, expected);
    rc = sqlite3_step(stmt);
    if ((rc & 0xff) == SQLITE_CONSTRAINT && stmt == st->off_insert)
        rc = sq_fenced(st, topic, partition, expected, err);
    else if (rc != SQLITE_DONE)
        rc = sq_fail(st, err, rc, "%s[%" PRId32 "]: storing next offset "
                     "%" PRId64, topic, partition, next_offset);
    else if (stmt == st->off_update && sqlite3_changes(st->db) == 0)
        rc = sq_fenced(st, topic, partition, expected, err);
    else
        rc = 0;
    sqlite3_reset(stmt);
    if (rc == 0)
        o->pending = next_offset;
    return rc;
}

/* ---- transactions ----------------------------------------------------- */

/* ops.begin: BEGIN IMMEDIATE takes the write lock now, waiting up to the
 * busy timeout for another writer, so no statement of the batch can fail
 * later on a lock upgrade (SQLITE_BUSY in the middle of a batch). */
static int sq_begin(void *state, mw_err_t *err)
{
    mat_sqlite_t *st = state;
    int rc;

    if (st->in_batch)
        return mw_err_set(err, MW_ERR_STATE, "sqlite.path='%s': begin while "
                          "a batch is open", st->path);
    rc = sq_exec(st, "BEGIN IMMEDIATE", "beginning a batch", err);
    if (rc == 0)
        st->in_batch = true;
    return rc;
}

/* ops.commit: one fsync of the WAL (synchronous=FULL) makes rows and
 * offsets durable together; only then do stored offsets become what the
 * next batch compares against. */
static int sq_commit(void *state, mw_err_t *err)
{
    mat_sqlite_t *st = state;
    struct timespec t0, t1;
    int rc;

    if (!st->in_batch)
        return mw_err_set(err, MW_ERR_STATE, "sqlite.path='%s': commit "
                          "without a batch", st->path);
    clock_gettime(CLOCK_MONOTONIC, &t0);
    rc = sq_exec(st, "COMMIT", "committing a batch", err);
    if (rc)
        return rc; /* the caller rolls back */
    clock_gettime(CLOCK_MONOTONIC, &t1);
    mw_histogram_observe(st->commit_seconds,
                         (double)(t1.tv_sec - t0.tv_sec) +
                             (double)(t1.tv_nsec - t0.tv_nsec) / 1e9);
    for (size_t i = 0; i < st->offset_cnt; i++) {
        sq_offset_t *o = &st->offsets[i];
        if (o->pending != SQ_OFFSET_UNKNOWN)
            o->committed = o->pending;
        o->pending = SQ_OFFSET_UNKNOWN;
    }
    st->in_batch = false;
    st->unhealthy[0] = '\0'; /* a durable batch: the disk works again */
    return 0;
}

/* ops.rollback: undoes rows, offsets and any ALTER of the batch; the shape
 * cache goes too, so the next ensure_table looks at the database again. */
static void sq_rollback(void *state)
{
    mat_sqlite_t *st = state;

    if (!sqlite3_get_autocommit(st->db)) {
        int rc = sqlite3_exec(st->db, "ROLLBACK", NULL, NULL, NULL);
        if (rc != SQLITE_OK)
            mw_log_warn(SQ_COMP, "rollback failed", "path=%s code=%d "
                        "detail=%s", mw_log_q(st->path), rc,
                        mw_log_q(sqlite3_errmsg(st->db)));
    }
    for (size_t i = 0; i < st->offset_cnt; i++)
        st->offsets[i].pending = SQ_OFFSET_UNKNOWN;
    sq_tables_drop(st);
    st->in_batch = false;
}

static bool sq_health(void *state, char *reason, size_t reason_size)
{
    mat_sqlite_t *st = state;

    if (!st->unhealthy[0])
        return true;
    snprintf(reason, reason_size, "%s", st->unhealthy);
    return false;
}

/* ---- open and close --------------------------------------------------- */

#define SQ_OFFSETS_COLS \
    "INSERT INTO " SQ_OFFSETS_TABLE "(topic, partition, next_offset, " \
    "group_id, updated_at) VALUES(?1, ?2, ?3, ?4, " SQ_NOW ")"
#define SQ_NOW "strftime('%Y-%m-%dT%H:%M:%fZ', 'now')"

static const char sq_offsets_ddl[] =
    "CREATE TABLE IF NOT EXISTS " SQ_OFFSETS_TABLE "("
    "topic TEXT NOT NULL, partition INTEGER NOT NULL, "
    "next_offset INTEGER NOT NULL, group_id TEXT, updated_at TEXT NOT NULL, "
    "PRIMARY KEY (topic, partition))";

/* Connection settings, then the offsets table and its statements. */
static int sq_setup(mat_sqlite_t *st, mw_err_t *err)
{
    char mode[32];
    int rc;

    sqlite3_extended_result_codes(st->db, 1);
    sqlite3_busy_timeout(st->db, SQ_BUSY_TIMEOUT_MS);
    if ((rc = sq_pragma_text(st, "PRAGMA journal_mode=WAL", mode, sizeof mode,
                             err)))
        return rc;
    if (sqlite3_stricmp(mode, "wal") != 0)
        return mw_err_set(err, MW_ERR_CONFIG, "sqlite.path='%s': cannot "
                          "switch to WAL mode (journal_mode is '%s')",
                          st->path, mode);
    if ((rc = sq_exec(st, "PRAGMA synchronous=FULL", "sqlite.path", err)) ||
        (rc = sq_exec(st, "PRAGMA cache_size=-" SQ_STR(SQ_CACHE_KIB),
                      "sqlite.path", err)) ||
        (rc = sq_exec(st, sq_offsets_ddl, "creating " SQ_OFFSETS_TABLE, err)))
        return rc;
    if ((rc = sq_prepare(st, "SELECT next_offset FROM " SQ_OFFSETS_TABLE
                         " WHERE topic = ?1 AND partition = ?2",
                         &st->off_load, "preparing", err)) ||
        (rc = sq_prepare(st, SQ_OFFSETS_COLS, &st->off_insert, "preparing",
                         err)) ||
        (rc = sq_prepare(st, SQ_OFFSETS_COLS " ON CONFLICT(topic, partition)"
                         " DO UPDATE SET next_offset = excluded.next_offset,"
                         " group_id = excluded.group_id,"
                         " updated_at = excluded.updated_at",
                         &st->off_upsert, "preparing", err)) ||
        (rc = sq_prepare(st, "UPDATE " SQ_OFFSETS_TABLE " SET next_offset = "
                         "?3, group_id = ?4, updated_at = " SQ_NOW " WHERE "
                         "topic = ?1 AND partition = ?2 AND next_offset = ?5",
                         &st->off_update, "preparing", err)) ||
        (rc = sq_prepare(st, "SELECT name, type, pk FROM "
                         "pragma_table_info(?1)", &st->table_info,
                         "preparing", err)))
        return rc;
    return 0;
}

static void sq_close(void *state)
{
    mat_sqlite_t *st = state;
    int rc;

    if (!st)
        return;
    if (st->db)
        sq_rollback(st);
    sqlite3_finalize(st->off_load);
    sqlite3_finalize(st->off_insert);
    sqlite3_finalize(st->off_upsert);
    sqlite3_finalize(st->off_update);
    sqlite3_finalize(st->table_info);
    if (st->db && (rc = sqlite3_close(st->db)) != SQLITE_OK)
        mw_log_warn(SQ_COMP, "close failed", "path=%s code=%d",
                    mw_log_q(st->path), rc);
    for (size_t i = 0; i < st->offset_cnt; i++)
        free(st->offsets[i].topic);
    free(st->offsets);
    free(st->tables);
    free(st->group_id);
    free(st->path);
    free(st);
}

/* Group id for the offsets table's group_id column: informative only (the
 * key is topic and partition), and only read when the program declares it. */
static int sq_conf_group(mat_sqlite_t *st, const mw_conf_t *conf,
                         mw_err_t *err)
{
    const char *group = NULL;

    if (mw_conf_origin(conf, "group.id"))
        group = mw_conf_get_str(conf, "group.id");
    if (group && !(st->group_id = strdup(group)))
        return mw_err_set(err, MW_ERR_NOMEM, "sqlite sink: out of memory");
    return 0;
}

/* ops.open: sqlite.path is created if missing (its directory must exist). */
static void *sq_open(const mw_conf_t *conf, mw_metrics_t *metrics,
                     mw_err_t *err)
{
    const char *path = mw_conf_get_str(conf, "sqlite.path");
    mat_sqlite_t *st;
    int rc;

    if (!path || !path[0]) {
        mw_err_set(err, MW_ERR_CONFIG, "sqlite.path: required with "
                   "sink=sqlite (the database file to write)");
        return NULL;
    }
    if (!(st = calloc(1, sizeof *st)) || !(st->path = strdup(path))) {
        free(st);
        mw_err_set(err, MW_ERR_NOMEM, "sqlite sink: out of memory");
        return NULL;
    }
    sq_log_hook();
    rc = sqlite3_open_v2(path, &st->db, SQLITE_OPEN_READWRITE |
                         SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, NULL);
    if (rc != SQLITE_OK) {
        mw_err_set(err, MW_ERR_CONFIG, "sqlite.path='%s': cannot open: %s",
                   path, st->db ? sqlite3_errmsg(st->db) : sqlite3_errstr(rc));
        sq_close(st);
        return NULL;
    }
    if (sq_conf_group(st, conf, err) || sq_setup(st, err)) {
        sq_close(st);
        return NULL;
    }
    if (metrics) {
        st->commit_seconds = mw_metrics_histogram(
        metrics, "mesh_materializer_sqlite_commit_seconds",
            "Duration of SQLite batch commits (WAL append and fsync).", NULL,
            NULL, 0);
        st->fenced_total = mw_metrics_counter(
            metrics, "mesh_materializer_sqlite_fenced_total",
            "Batches refused because another group member moved a stored "
            "offset.", NULL);
    }
    mw_log_info(SQ_COMP, "sqlite opened", "path=%s journal_mode=wal "
                "synchronous=full busy_timeout_ms=%d", mw_log_q(path),
                SQ_BUSY_TIMEOUT_MS);
    return st;
}

const mat_sink_ops_t mat_sink_sqlite_ops = {
    .name = "sqlite",
    .open = sq_open,
    .load_offset = sq_load_offset,
    .begin = sq_begin,
    .ensure_table = sq_ensure_table,
    .apply = sq_apply,
    .store_offset = sq_store_offset,
    .commit = sq_commit,
    .rollback = sq_rollback,
    .health = sq_health,
    .close = sq_close,
};
