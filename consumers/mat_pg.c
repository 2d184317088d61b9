/*
 * mat_pg: the PostgreSQL sink (libpq), ops table mat_sink_pg_ops, `sink =
 * postgres`.
 *
 * One connection, one transaction per batch: BEGIN at begin(), the rows and
 * the `_mesh_offsets` upsert in between, COMMIT at commit(), so rows and
 * consumed offsets become durable together and a crash at any instant
 * leaves every event applied exactly once.  apply() only files the change
 * (mat_pg_rows.c: encoded, deduplicated by key, last change wins); the
 * writes happen at commit, or earlier when a table's shape changes or its
 * pending rows pass MAT_PG_ROWS_MAX rows or MAT_PG_BYTES_MAX bytes.
 * Tables live in `postgres.schema`; DDL (CREATE TABLE, ALTER TABLE ADD
 * COLUMN) runs inside the batch's transaction too, so a new column and the
 * rows that fill it commit together.
 *
 * Writing (mat_pg_rows.c, statements in mat_pg_sql.c): per table per
 * batch, binary COPY straight into the table while its batches bring only
 * new keys; UPDATE ... FROM a temporary staging table while the last flush
 * found every key stored; one INSERT ... ON CONFLICT from staging
 * otherwise (MAT_PG_ADAPTIVE, the default).  bench/mat_pg_bench.c (500,000
 * rows of 7 columns, 5,000-row batches, release build, this 2-core
 * machine, PostgreSQL 15 on a unix socket) compares new keys with a raw
 * text COPY into an empty table (0.87-1.10) and updates with the fastest
 * of PostgreSQL's bulk update paths for a client, each one transaction:
 * text or binary COPY into a temporary table then INSERT ... ON CONFLICT,
 * MERGE or UPDATE ... FROM (the sink: 0.73-0.84 of it, 0.96-1.12 of the
 * text COPY + upsert).  Timing commit() inside the benchmark's update
 * phase: 2.4-2.8 s of a 2.5-3.0 s phase wait on the server, the client's
 * own work (encoding, deduplication) is ~0.16 s, so overlapping it with
 * the server (streaming the COPY, committing asynchronously) could win
 * at most ~6 %; the gap is server time of 100 batches against the raw
 * path's one statement per phase.
 * mat_pg_set_strategy() selects MAT_PG_MERGE for the benchmark.  Figures and
 * what else was tried: bench/README.md.
 *
 * synchronous_commit stays as the server has it.  `SET LOCAL
 * synchronous_commit = off` in the batch would save the WAL flush of each
 * COMMIT (0.4-1 ms here, at most ~6 % of the benchmark's phases, not
 * visible beyond the noise), but it is sound only if the materializer
 * re-reads from the stored offsets after the server lost acknowledged
 * batches (rows and offsets are lost together, atomically); mat_loop
 * resumes a failed batch from its own position instead, so those batches'
 * records would be skipped.
 *
 * Errors: a lost connection (or SQLSTATE class 08, 40, 53, 57, 55P03) is
 * MW_ERR_TRANSPORT, retriable: the front rolls the batch back, the loop
 * re-reads the batch, and the next begin() reconnects.  If the connection
 * drops during COMMIT the outcome is unknown to us: a keyed table absorbs
 * the batch applied again (upserts and deletes by key are idempotent), an
 * append table would hold its rows twice; on a restart the loop starts
 * from load_offset.  Data errors (22, 23, 42) are
 * MW_ERR_INVALID, authentication (28) MW_ERR_FATAL.  Messages name the
 * server as host/port/dbname/user, never the password.
 *
 * Thread: the materializer's loop thread; every call blocks on the server.
 */
#include "mat_pg_int.h"

#include <assert.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "mw_log.h"
#include "mw_time.h"
#include "mw_vec.h"

#define LOG_COMP "mat_pg"

typedef struct pg_offset {
    char *topic;
    int32_t partition;
    int64_t next_offset;
} pg_offset_t;

typedef struct mat_pg {
    PGconn *conn;
    char *conninfo;   /* as configured (may hold a password) */
    char server[256]; /* host/port/dbname/user for messages */
    char *schema;     /* unquoted */
    char *group_id;   /* may be NULL */
    mat_pg_strategy_t strategy;
    bool in_tx, broken;
    mat_pg_tab_t **tabs;
    size_t tab_cnt, tab_cap;
    pg_offset_t *offs; /* offsets stored in the open batch */
    size_t off_cnt, off_cap;
    mw_metrics_t *metrics; /* borrowed; NULL without metrics */
    mw_counter_t *reconnects;
    mw_histogram_t *flush_seconds;
} mat_pg_t;

/* ---- helpers shared with mat_pg_rows.c ----------------------------- */

int mat_pg_ident(mw_buf_t *buf, const char *name)
{
    int rc = mw_buf_append(buf, "\"", 1);
    for (const char *p = name; rc == 0 && *p; p++) {
        rc = mw_buf_append(buf, p, 1);
        if (rc == 0 && *p == '"')
            rc = mw_buf_append(buf, "\"", 1); /* "" inside quotes */
    }
    return rc ? rc : mw_buf_append(buf, "\"", 1);
}

const char *mat_pg_col_sql_type(const mat_pg_col_t *col, char *buf, size_t size)
{
    static const char *const types[] = {
        [MAT_COL_BOOL] = "boolean",
        [MAT_COL_INT32] = "integer",
        [MAT_COL_INT64] = "bigint",
        [MAT_COL_FLOAT] = "real",
        [MAT_COL_DOUBLE] = "double precision",
        [MAT_COL_TEXT] = "text",
        [MAT_COL_BYTES] = "bytea",
        [MAT_COL_DECIMAL] = "numeric",
        [MAT_COL_DATE] = "date",
        [MAT_COL_TIME_MICROS] = "time without time zone",
        [MAT_COL_TIMESTAMP_MICROS] = "timestamp with time zone",
        [MAT_COL_UUID] = "uuid",
        [MAT_COL_JSON] = "jsonb",
    };
    _Static_assert(sizeof(types) / sizeof(types[0]) == MAT_COL__CNT,
                   "one SQL type per column type");
    /* numeric's precision is 1..1000 and 0 <= scale <= precision here;
     * outside that the column is unconstrained numeric. */
    if (col->type == MAT_COL_DECIMAL && col->precision >= 1 &&
        col->precision <= 1000 && col->scale >= 0 &&
        col->scale <= col->precision) {
        snprintf(buf, size, "numeric(%d,%d)", col->precision, col->scale);
        return buf;
    }
    return types[col->type];
}

/* libpq messages span lines ("server closed the connection...\n\tThis
 * probably means..."); ours are one line. */
static void trim(char *s)
{
    for (char *p = s; *p; p++)
        if (*p == '\n' || *p == '\t')
            *p = ' ';
    size_t n = strlen(s);
    while (n > 0 && (s[n - 1] == '\n' || s[n - 1] == ' '))
        s[--n] = '\0';
}

static int code_of_sqlstate(const char *state)
{
    if (!state)
        return MW_ERR_TRANSPORT; /* client-side: connection lost */
    if (strncmp(state, "08", 2) == 0 || strncmp(state, "40", 2) == 0 ||
        strncmp(state, "53", 2) == 0 || strncmp(state, "57", 2) == 0 ||
        strcmp(state, "55P03") == 0)
        return MW_ERR_TRANSPORT;
    if (strncmp(state, "22", 2) == 0 || strncmp(state, "23", 2) == 0 ||
        strncmp(state, "42", 2) == 0)
        return MW_ERR_INVALID;
    if (strncmp(state, "28", 2) == 0)
        return MW_ERR_FATAL;
    return MW_ERR_IO;
}

int mat_pg_error(PGconn *conn, const PGresult *res, const char *what,
                 mw_err_t *err)
{
    const char *state = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
    const char *primary =
        res ? PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY) : NULL;
    char msg[MW_ERR_MSG_MAX];
    snprintf(msg, sizeof msg, "%s", primary ? primary : PQerrorMessage(conn));
    trim(msg);
    int code = PQstatus(conn) == CONNECTION_BAD ? MW_ERR_TRANSPORT
                                                : code_of_sqlstate(state);
    if (!state && code == MW_ERR_TRANSPORT && PQstatus(conn) == CONNECTION_OK &&
        res && PQresultStatus(res) != PGRES_FATAL_ERROR)
        code = MW_ERR_IO; /* an unexpected result, not an error report */
    return mw_err_set(err, code, "postgres: %s failed: %s%s%s%s", what,
                      msg[0] ? msg : "unknown error",
                      state ? " (SQLSTATE " : "", state ? state : "",
                      state ? ")" : "");
}

int mat_pg_exec(PGconn *conn, const char *sql, const char *what, mw_err_t *err)
{
    PGresult *res = PQexec(conn, sql);
    ExecStatusType st = PQresultStatus(res);
    int rc = 0;
    if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK)
        rc = mat_pg_error(conn, res, what, err);
    PQclear(res);
    return rc;
}

void mat_pg_set_strategy(void *state, mat_pg_strategy_t strategy)
{
    ((mat_pg_t *)state)->strategy = strategy;
}

/* ---- connection ---------------------------------------------------- */

/* "host=h port=p dbname=d user=u" from conninfo, password left out. */
static int describe_server(const char *conninfo, char *out, size_t size,
                           mw_err_t *err)
{
    static const char *const shown[] = {"host", "hostaddr", "port", "dbname",
                                        "user"};
    char *perr = NULL;
    PQconninfoOption *opts = PQconninfoParse(conninfo, &perr);
    if (!opts) {
        char msg[MW_ERR_MSG_MAX];
        snprintf(msg, sizeof msg, "%s", perr ? perr : "out of memory");
        trim(msg);
        PQfreemem(perr);
        return mw_err_set(err, MW_ERR_CONFIG, "key 'postgres.conninfo': %s",
                          msg);
    }
    size_t len = 0;
    out[0] = '\0';
    for (size_t i = 0; i < sizeof shown / sizeof shown[0]; i++)
        for (PQconninfoOption *o = opts; o->keyword; o++)
            if (strcmp(o->keyword, shown[i]) == 0 && o->val && *o->val &&
                len < size)
                len += (size_t)snprintf(out + len, size - len, "%s%s=%s",
                                        len ? " " : "", o->keyword, o->val);
    PQconninfoFree(opts);
    if (!out[0])
        snprintf(out, size, "(libpq defaults)");
    return 0;
}

static void notice_ignore(void *arg, const char *message)
{
    (void)arg;
    (void)message; /* "relation already exists, skipping" and the like */
}

/* Connects: our defaults (connect timeout, TCP keepalives so a dead server
 * is noticed) come first, so the configured conninfo overrides them. */
static int pg_connect(mat_pg_t *pg, mw_err_t *err)
{
    const char *const keys[] = {"connect_timeout",
                                "keepalives_idle",
                                "keepalives_interval",
                                "keepalives_count",
                                "application_name",
                                "dbname",
                                NULL};
    const char *const vals[] = {
        "10", "10", "5", "3", "mesh-materializer", pg->conninfo, NULL};
    PQfinish(pg->conn);
    pg->conn = PQconnectdbParams(keys, vals, 1);
    if (!pg->conn)
        return mw_err_set(err, MW_ERR_NOMEM, "postgres: out of memory");
    if (PQstatus(pg->conn) != CONNECTION_OK) {
        char msg[MW_ERR_MSG_MAX];
        snprintf(msg, sizeof msg, "%s", PQerrorMessage(pg->conn));
        trim(msg);
        return mw_err_set(err, MW_ERR_TRANSPORT,
                          "postgres: cannot connect "
                          "to %s: %s",
                          pg->server, msg);
    }
    PQsetNoticeProcessor(pg->conn, notice_ignore, NULL);
    pg->broken = false;
    return 0;
}

/* Begin-time repair of a connection an earlier failure left broken.
 * Temp staging tables died with the old session; they are created again
 * (IF NOT EXISTS) at the next flush. */
static int pg_reconnect(mat_pg_t *pg, mw_err_t *err)
{
    if (!pg->broken && PQstatus(pg->conn) == CONNECTION_OK)
        return 0;
    mw_counter_inc(pg->reconnects);
    int rc = pg_connect(pg, err);
    if (rc == 0)
        mw_log_info(LOG_COMP, "reconnected", "server=%s", mw_log_q(pg->server));
    return rc;
}

/* Remembers a lost connection so that the next begin() reconnects. */
static int note_failure(mat_pg_t *pg, int rc)
{
    if (rc != 0 && PQstatus(pg->conn) != CONNECTION_OK)
        pg->broken = true;
    return rc;
}

/* ---- DDL ----------------------------------------------------------- */

/* Runs DDL.  Two instances creating the same schema, table or column at
 * once collide on a catalog unique index even with IF NOT EXISTS; that
 * is retriable (the next attempt sees the committed object). */
static int exec_ddl(mat_pg_t *pg, const char *sql, const char *what,
                    mw_err_t *err)
{
    PGresult *res = PQexec(pg->conn, sql);
    int rc = 0;
    if (PQresultStatus(res) != PGRES_COMMAND_OK) {
        const char *st = PQresultErrorField(res, PG_DIAG_SQLSTATE);
        rc = mat_pg_error(pg->conn, res, what, err);
        if (st && (strcmp(st, "23505") == 0 || strcmp(st, "42P07") == 0 ||
                   strcmp(st, "42P06") == 0 || strcmp(st, "42701") == 0)) {
            rc = MW_ERR_TRANSPORT;
            if (err)
                err->code = rc;
        }
    }
    PQclear(res);
    return note_failure(pg, rc);
}

static char *qualified(const mat_pg_t *pg, const char *name)
{
    mw_buf_t *buf = mw_buf_new(0);
    if (!buf || mat_pg_ident(buf, pg->schema) || mw_buf_append(buf, ".", 1) ||
        mat_pg_ident(buf, name)) {
        mw_buf_destroy(buf);
        return NULL;
    }
    char *s = mw_buf_steal(buf, NULL);
    mw_buf_destroy(buf);
    return s;
}

/* Other instances may run the same DDL at the same moment: a collision is
 * retried a few times (each attempt is its own autocommit statement). */
static int exec_ddl_retry(mat_pg_t *pg, const char *sql, const char *what,
                          mw_err_t *err)
{
    int rc = MW_ERR_TRANSPORT;
    for (int attempt = 0; attempt < 3 && rc == MW_ERR_TRANSPORT && !pg->broken;
         attempt++)
        rc = exec_ddl(pg, sql, what, err);
    return rc;
}

/* Schema and offsets table, each committed on its own (autocommit). */
static int setup_schema(mat_pg_t *pg, mw_err_t *err)
{
    char *qoff = qualified(pg, "_mesh_offsets");
    mw_buf_t *sql = mw_buf_new(0);
    int rc = qoff && sql ? 0 : MW_ERR_NOMEM;
    if (rc == 0 && (mw_buf_appendf(sql, "CREATE SCHEMA IF NOT EXISTS ") ||
                    mat_pg_ident(sql, pg->schema)))
        rc = MW_ERR_NOMEM;
    if (rc == MW_ERR_NOMEM)
        mw_err_set(err, rc, "postgres: out of memory");
    if (rc == 0)
        rc = exec_ddl_retry(pg, mw_buf_data(sql), "CREATE SCHEMA", err);
    if (rc == 0) {
        mw_buf_reset(sql);
        rc = mw_buf_appendf(
            sql,
            "CREATE TABLE IF NOT EXISTS %s (topic text NOT NULL, "
            "\"partition\" integer NOT NULL, next_offset bigint NOT NULL, "
            "group_id text, updated_at timestamptz NOT NULL DEFAULT now(), "
            "PRIMARY KEY (topic, \"partition\"))",
            qoff);
        if (rc == 0)
            rc = exec_ddl_retry(pg, mw_buf_data(sql),
                                "CREATE TABLE _mesh_offsets", err);
    }
    mw_buf_destroy(sql);
    free(qoff);
    return rc;
}

/* ---- tables -------------------------------------------------------- */

static void tab_free_shape(mat_pg_tab_t *tab)
{
    for (size_t i = 0; i < tab->col_cnt; i++)
        free(tab->cols[i].name);
    free(tab->cols);
    tab->cols = NULL;
    tab->col_cnt = tab->key_cnt = 0;
    tab->has_shape = false;
}

static void tab_destroy(mat_pg_tab_t *tab)
{
    if (!tab)
        return;
    mat_pg_rows_free(tab);
    tab_free_shape(tab);
    free(tab->name);
    free(tab->qname);
    free(tab);
}

/* Copies table's shape into tab (the loop's shape is borrowed). */
static int tab_set_shape(mat_pg_tab_t *tab, const mat_table_t *table)
{
    tab_free_shape(tab);
    tab->cols = calloc(table->col_cnt ? table->col_cnt : 1, sizeof(*tab->cols));
    if (!tab->cols)
        return MW_ERR_NOMEM;
    for (size_t i = 0; i < table->col_cnt; i++) {
        const mat_column_t *c = &table->cols[i];
        tab->cols[i] = (mat_pg_col_t){.name = strdup(c->name),
                                      .type = c->type,
                                      .precision = c->precision,
                                      .scale = c->scale,
                                      .is_key = c->is_key,
                                      .nullable = c->nullable};
        tab->col_cnt = i + 1;
        tab->key_cnt += c->is_key;
        if (!tab->cols[i].name || (unsigned)c->type >= MAT_COL__CNT) {
            tab_free_shape(tab);
            return MW_ERR_NOMEM;
        }
    }
    /* mat_map puts the key columns first; the pending rows' key bytes
     * (mat_pg_rows.c) rely on it. */
    for (size_t i = 0; i < tab->key_cnt; i++)
        assert(tab->cols[i].is_key);
    tab->version = table->version;
    tab->has_shape = true;
    tab->verified = tab->pending = false;
    return 0;
}

static mat_pg_tab_t *tab_get(mat_pg_t *pg, const char *name)
{
    for (size_t i = 0; i < pg->tab_cnt; i++)
        if (strcmp(pg->tabs[i]->name, name) == 0)
            return pg->tabs[i];
    if (MW_VEC_RESERVE(&pg->tabs, &pg->tab_cap, pg->tab_cnt + 1))
        return NULL;
    mat_pg_tab_t *tab = calloc(1, sizeof(*tab));
    if (!tab)
        return NULL;
    tab->name = strdup(name);
    tab->qname = qualified(pg, name);
    tab->idx = (int)pg->tab_cnt;
    tab->direct = true; /* a new table, or catching up: try COPY first */
    if (pg->metrics) {
        char labels[512];
        snprintf(labels, sizeof labels, "table=\"%s\"", name);
        tab->unavailable_total = mw_metrics_counter(
            pg->metrics, "mesh_materializer_unavailable_values_total",
            "Debezium unavailable-value placeholders with no stored value to "
            "keep (stored as NULL, or as the placeholder when not nullable).",
            labels);
    }
    if (!tab->name || !tab->qname) {
        tab_destroy(tab);
        return NULL;
    }
    pg->tabs[pg->tab_cnt++] = tab;
    return tab;
}

/* Times a flush of tab's pending rows (no-op when none). */
static int tab_flush(mat_pg_t *pg, mat_pg_tab_t *tab, mw_err_t *err)
{
    if (tab->row_cnt == 0)
        return 0;
    int64_t t0 = mw_time_mono_ns();
    size_t rows = tab->row_cnt;
    int rc = mat_pg_rows_flush(pg->conn, tab, pg->strategy, err);
    double s = (double)(mw_time_mono_ns() - t0) / 1e9;
    mw_histogram_observe(pg->flush_seconds, s);
    mw_log_debug(LOG_COMP, "table flushed",
                 "table=%s rows=%zu seconds=%.4f "
                 "strategy=%s rc=%d",
                 mw_log_q(tab->name), rows, s,
                 mat_pg_strategy_name(pg->strategy), rc);
    return note_failure(pg, rc);
}

/* Columns of tab's table in the catalog: name -> format_type().  An empty
 * result means the table does not exist (to_regclass gives NULL). */
static PGresult *catalog_columns(mat_pg_t *pg, const mat_pg_tab_t *tab,
                                 mw_err_t *err)
{
    const char *sql = "SELECT a.attname, format_type(a.atttypid, a.atttypmod) "
                      "FROM pg_attribute a WHERE a.attrelid = to_regclass($1) "
                      "AND a.attnum > 0 AND NOT a.attisdropped";
    const char *params[] = {tab->qname};
    PGresult *res = PQexecParams(pg->conn, sql, 1, NULL, params, NULL, NULL, 0);
    if (PQresultStatus(res) != PGRES_TUPLES_OK) {
        note_failure(pg,
                     mat_pg_error(pg->conn, res, "reading the catalog", err));
        PQclear(res);
        return NULL;
    }
    return res;
}

static int create_table_sql(mw_buf_t *sql, const mat_pg_tab_t *tab)
{
    char type[64];
    int rc = mw_buf_appendf(sql, "CREATE TABLE IF NOT EXISTS %s (", tab->qname);
    for (size_t i = 0; rc == 0 && i < tab->col_cnt; i++) {
        if (i > 0)
            rc = mw_buf_appendf(sql, ", ");
        if (rc == 0)
            rc = mat_pg_ident(sql, tab->cols[i].name);
        if (rc == 0)
            rc = mw_buf_appendf(
                sql, " %s",
                mat_pg_col_sql_type(&tab->cols[i], type, sizeof type));
    }
    bool first = true;
    for (size_t i = 0; rc == 0 && i < tab->col_cnt; i++) {
        if (!tab->cols[i].is_key)
            continue;
        rc = mw_buf_appendf(sql, "%s", first ? ", PRIMARY KEY (" : ", ");
        if (rc == 0)
            rc = mat_pg_ident(sql, tab->cols[i].name);
        first = false;
    }
    if (rc == 0 && !first)
        rc = mw_buf_append(sql, ")", 1);
    return rc ? rc : mw_buf_append(sql, ")", 1);
}

/* Checks one column against the catalog: 1 when present with the right
 * type, 0 when missing (to be added), or an error for a type change or a
 * missing key column (the key of an existing table cannot grow). */
static int check_column(const mat_pg_tab_t *tab, const mat_pg_col_t *col,
                        PGresult *res, mw_err_t *err)
{
    char type[64];
    const char *want = mat_pg_col_sql_type(col, type, sizeof type);
    for (int r = 0; r < PQntuples(res); r++) {
        if (strcmp(PQgetvalue(res, r, 0), col->name) != 0)
            continue;
        const char *have = PQgetvalue(res, r, 1);
        if (strcmp(have, want) == 0)
            return 1;
        return mw_err_set(err, MW_ERR_INVALID,
                          "postgres: column %s.%s is "
                          "%s but the record's schema needs %s: refusing to "
                          "change a column's type",
                          tab->qname, col->name, have, want);
    }
    if (col->is_key)
        return mw_err_set(err, MW_ERR_INVALID,
                          "postgres: table %s exists "
                          "without key column '%s': refusing to change its "
                          "primary key",
                          tab->qname, col->name);
    return 0;
}

/* ALTER TABLE t ADD COLUMN IF NOT EXISTS ... for the missing columns, in
 * one statement (new columns are nullable: old rows read NULL). */
static int add_columns(mat_pg_t *pg, const mat_pg_tab_t *tab, PGresult *res,
                       mw_err_t *err)
{
    char type[64];
    mw_buf_t *sql = mw_buf_new(0);
    int rc = sql ? 0 : mw_err_set(err, MW_ERR_NOMEM, "out of memory");
    size_t added = 0;
    for (size_t i = 0; rc == 0 && i < tab->col_cnt; i++) {
        const mat_pg_col_t *col = &tab->cols[i];
        rc = check_column(tab, col, res, err);
        if (rc != 0) {
            rc = rc > 0 ? 0 : rc;
            continue;
        }
        if (added++ == 0)
            rc = mw_buf_appendf(sql, "ALTER TABLE %s", tab->qname);
        if (rc == 0)
            rc = mw_buf_appendf(sql, "%s ADD COLUMN IF NOT EXISTS ",
                                added > 1 ? "," : "");
        if (rc == 0)
            rc = mat_pg_ident(sql, col->name);
        if (rc == 0)
            rc = mw_buf_appendf(sql, " %s",
                                mat_pg_col_sql_type(col, type, sizeof type));
    }
    if (rc == 0 && added > 0) {
        rc = exec_ddl(pg, mw_buf_data(sql), "ALTER TABLE ADD COLUMN", err);
        if (rc == 0)
            mw_log_info(LOG_COMP, "column added",
                        "table=%s count=%zu "
                        "version=%" PRIu32,
                        mw_log_q(tab->qname), added, tab->version);
    }
    mw_buf_destroy(sql);
    return rc;
}

/* Makes the catalog match tab's shape inside the open transaction. */
static int sync_catalog(mat_pg_t *pg, mat_pg_tab_t *tab, mw_err_t *err)
{
    PGresult *res = catalog_columns(pg, tab, err);
    if (!res)
        return err ? err->code : MW_ERR_IO;
    int rc = 0;
    if (PQntuples(res) == 0) {
        mw_buf_t *sql = mw_buf_new(0);
        rc = sql && create_table_sql(sql, tab) == 0
                 ? exec_ddl(pg, mw_buf_data(sql), "CREATE TABLE", err)
                 : mw_err_set(err, MW_ERR_NOMEM, "out of memory");
        if (rc == 0)
            mw_log_info(LOG_COMP, "table created",
                        "table=%s columns=%zu "
                        "keys=%zu",
                        mw_log_q(tab->qname), tab->col_cnt, tab->key_cnt);
        mw_buf_destroy(sql);
    } else {
        rc = add_columns(pg, tab, res, err);
    }
    PQclear(res);
    return rc;
}

/* ---- ops ----------------------------------------------------------- */

static void pg_close(void *state);

static void *pg_open(const mw_conf_t *conf, mw_metrics_t *metrics,
                     mw_err_t *err)
{
    const char *conninfo = mw_conf_get_str(conf, "postgres.conninfo");
    const char *schema = mw_conf_get_str(conf, "postgres.schema");
    const char *group = mw_conf_get_str(conf, "group.id");
    mat_pg_t *pg = calloc(1, sizeof *pg);
    if (!pg || !(pg->conninfo = strdup(conninfo)) ||
        !(pg->schema = strdup(schema && *schema ? schema : "public")) ||
        (group && !(pg->group_id = strdup(group)))) {
        mw_err_set(err, MW_ERR_NOMEM, "postgres: out of memory");
        pg_close(pg);
        return NULL;
    }
    pg->strategy = MAT_PG_ADAPTIVE;
    pg->metrics = metrics;
    if (metrics) {
        pg->reconnects = mw_metrics_counter(
            metrics, "mesh_materializer_pg_reconnects_total",
            "Connections to PostgreSQL made again after a failure.", NULL);
        pg->flush_seconds = mw_metrics_histogram(
            metrics, "mesh_materializer_pg_flush_seconds",
            "Time to write one table's batch into PostgreSQL.", NULL, NULL, 0);
    }
    if (describe_server(conninfo, pg->server, sizeof pg->server, err) ||
        pg_connect(pg, err) || setup_schema(pg, err)) {
        pg_close(pg);
        return NULL;
    }
    mw_log_info(LOG_COMP, "connected", "server=%s schema=%s strategy=%s",
                mw_log_q(pg->server), mw_log_q(pg->schema),
                mat_pg_strategy_name(pg->strategy));
    return pg;
}

static int pg_load_offset(void *state, const char *topic, int32_t partition,
                          int64_t *next_offset, mw_err_t *err)
{
    mat_pg_t *pg = state;
    *next_offset = -1;
    if (!pg->in_tx && pg_reconnect(pg, err) != 0)
        return MW_ERR_TRANSPORT;
    char *qoff = qualified(pg, "_mesh_offsets");
    mw_buf_t *sql = mw_buf_new(0);
    char part[16];
    snprintf(part, sizeof part, "%" PRId32, partition);
    const char *params[] = {topic, part};
    int rc = qoff && sql &&
                     mw_buf_appendf(sql,
                                    "SELECT next_offset FROM %s "
                                    "WHERE topic = $1 AND \"partition\" = $2",
                                    qoff) == 0
                 ? 0
                 : mw_err_set(err, MW_ERR_NOMEM, "out of memory");
    if (rc == 0) {
        PGresult *res = PQexecParams(pg->conn, mw_buf_data(sql), 2, NULL,
                                     params, NULL, NULL, 0);
        if (PQresultStatus(res) != PGRES_TUPLES_OK)
            rc = note_failure(
                pg, mat_pg_error(pg->conn, res, "reading _mesh_offsets", err));
        else if (PQntuples(res) == 1)
            *next_offset = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
        PQclear(res);
    }
    mw_buf_destroy(sql);
    free(qoff);
    return rc;
}

static void reset_batch(mat_pg_t *pg)
{
    for (size_t i = 0; i < pg->tab_cnt; i++) {
        mat_pg_rows_clear(pg->tabs[i]);
        pg->tabs[i]->flushed_in_tx = false;
        pg->tabs[i]->unavailable_pending = 0;
    }
    for (size_t i = 0; i < pg->off_cnt; i++)
        free(pg->offs[i].topic);
    pg->off_cnt = 0;
}

static int pg_begin(void *state, mw_err_t *err)
{
    mat_pg_t *pg = state;
    if (pg->in_tx)
        return mw_err_set(err, MW_ERR_STATE, "postgres: batch already open");
    int rc = pg_reconnect(pg, err);
    if (rc == 0)
        rc = note_failure(pg, mat_pg_exec(pg->conn, "BEGIN", "BEGIN", err));
    pg->in_tx = rc == 0;
    reset_batch(pg);
    return rc;
}

/* Called once per batch per table (cheap when the shape was already
 * verified in an earlier committed batch) and whenever the shape grows:
 * the rows filed under the old shape are written first. */
static int pg_ensure_table(void *state, const mat_table_t *table, mw_err_t *err)
{
    mat_pg_t *pg = state;
    if (!pg->in_tx)
        return mw_err_set(err, MW_ERR_STATE, "postgres: no batch open");
    mat_pg_tab_t *tab = tab_get(pg, table->name);
    if (!tab)
        return mw_err_set(err, MW_ERR_NOMEM, "postgres: out of memory");
    if (tab->has_shape && tab->version == table->version &&
        tab->col_cnt == table->col_cnt && (tab->verified || tab->pending))
        return 0;
    int rc = tab_flush(pg, tab, err);
    if (rc == 0 && tab_set_shape(tab, table) != 0)
        rc = mw_err_set(err, MW_ERR_NOMEM, "postgres: out of memory");
    if (rc == 0)
        rc = sync_catalog(pg, tab, err);
    tab->pending = rc == 0; /* a failed sync is redone next time */
    return rc;
}

static int pg_apply(void *state, const mat_table_t *table,
                    const mat_change_t *change, mw_err_t *err)
{
    mat_pg_t *pg = state;
    int rc = pg_ensure_table(pg, table, err);
    if (rc != 0)
        return rc;
    mat_pg_tab_t *tab = tab_get(pg, table->name);
    rc = mat_pg_rows_add(tab, change, err);
    if (rc == MW_ERR_FULL && tab->row_cnt > 0) {
        /* The pending bytes are full: write them, then file the row. */
        mw_err_clear(err);
        rc = tab_flush(pg, tab, err);
        if (rc == 0)
            rc = mat_pg_rows_add(tab, change, err);
    }
    if (rc == 0 && (tab->row_cnt >= MAT_PG_ROWS_MAX ||
                    mat_pg_rows_bytes(tab) >= MAT_PG_BYTES_MAX))
        rc = tab_flush(pg, tab, err);
    return rc;
}

static int pg_store_offset(void *state, const char *topic, int32_t partition,
                           int64_t next_offset, mw_err_t *err)
{
    mat_pg_t *pg = state;
    for (size_t i = 0; i < pg->off_cnt; i++)
        if (pg->offs[i].partition == partition &&
            strcmp(pg->offs[i].topic, topic) == 0) {
            pg->offs[i].next_offset = next_offset;
            return 0;
        }
    if (MW_VEC_RESERVE(&pg->offs, &pg->off_cap, pg->off_cnt + 1))
        return mw_err_set(err, MW_ERR_NOMEM, "postgres: out of memory");
    char *copy = strdup(topic);
    if (!copy)
        return mw_err_set(err, MW_ERR_NOMEM, "postgres: out of memory");
    pg->offs[pg->off_cnt++] = (pg_offset_t){copy, partition, next_offset};
    return 0;
}

/* One multi-row upsert of the batch's offsets into _mesh_offsets. */
static int write_offsets(mat_pg_t *pg, mw_err_t *err)
{
    if (pg->off_cnt == 0)
        return 0;
    size_t n = pg->off_cnt;
    char *qoff = qualified(pg, "_mesh_offsets");
    mw_buf_t *sql = mw_buf_new(0);
    const char **params = calloc(4 * n, sizeof(*params));
    char(*nums)[2][24] = calloc(n, sizeof(*nums));
    int rc = qoff && sql && params && nums ? 0 : MW_ERR_NOMEM;
    if (rc == 0)
        rc = mw_buf_appendf(sql,
                            "INSERT INTO %s (topic, \"partition\", "
                            "next_offset, group_id) VALUES ",
                            qoff);
    for (size_t i = 0; rc == 0 && i < n; i++) {
        snprintf(nums[i][0], sizeof nums[i][0], "%" PRId32,
                 pg->offs[i].partition);
        snprintf(nums[i][1], sizeof nums[i][1], "%" PRId64,
                 pg->offs[i].next_offset);
        params[4 * i] = pg->offs[i].topic;
        params[4 * i + 1] = nums[i][0];
        params[4 * i + 2] = nums[i][1];
        params[4 * i + 3] = pg->group_id;
        rc = mw_buf_appendf(sql, "%s($%zu, $%zu, $%zu, $%zu)", i ? ", " : "",
                            4 * i + 1, 4 * i + 2, 4 * i + 3, 4 * i + 4);
    }
    if (rc == 0)
        rc = mw_buf_appendf(sql,
                            " ON CONFLICT (topic, \"partition\") DO "
                            "UPDATE SET next_offset = EXCLUDED.next_offset, "
                            "group_id = EXCLUDED.group_id, updated_at = now()");
    if (rc != 0) {
        rc = mw_err_set(err, MW_ERR_NOMEM, "postgres: out of memory");
    } else {
        PGresult *res = PQexecParams(pg->conn, mw_buf_data(sql), (int)(4 * n),
                                     NULL, params, NULL, NULL, 0);
        if (PQresultStatus(res) != PGRES_COMMAND_OK)
            rc = note_failure(
                pg, mat_pg_error(pg->conn, res, "storing offsets", err));
        PQclear(res);
    }
    free(nums);
    free(params);
    mw_buf_destroy(sql);
    free(qoff);
    return rc;
}

/* Writes every table's pending rows, the offsets, then COMMIT.  On failure
 * the transaction stays open for rollback() (the front calls it). */
/* After a commit: counts the table's placeholders that found no stored
 * value (mat_pg_rows.c), logging the first of the table. */
static void note_unavailable(mat_pg_tab_t *tab)
{
    if (tab->unavailable_pending == 0)
        return;
    mw_counter_add(tab->unavailable_total, tab->unavailable_pending);
    if (!tab->unavailable_logged) {
        tab->unavailable_logged = true;
        mw_log_warn(LOG_COMP, "unavailable value without a stored row",
                    "table=%s values=%" PRIu64 " stored=null_when_nullable",
                    mw_log_q(tab->name), tab->unavailable_pending);
    }
}

static int pg_commit(void *state, mw_err_t *err)
{
    mat_pg_t *pg = state;
    if (!pg->in_tx)
        return mw_err_set(err, MW_ERR_STATE, "postgres: no batch open");
    int rc = 0;
    for (size_t i = 0; rc == 0 && i < pg->tab_cnt; i++)
        rc = tab_flush(pg, pg->tabs[i], err);
    if (rc == 0)
        rc = write_offsets(pg, err);
    if (rc != 0)
        return rc;
    PGresult *res = PQexec(pg->conn, "COMMIT");
    /* COMMIT of a failed transaction answers ROLLBACK without an error. */
    if (PQresultStatus(res) != PGRES_COMMAND_OK)
        rc = note_failure(pg, mat_pg_error(pg->conn, res, "COMMIT", err));
    else if (strcmp(PQcmdStatus(res), "COMMIT") != 0)
        rc = mw_err_set(err, MW_ERR_IO, "postgres: COMMIT answered '%s'",
                        PQcmdStatus(res));
    PQclear(res);
    if (rc != 0)
        return rc;
    pg->in_tx = false;
    for (size_t i = 0; i < pg->tab_cnt; i++) {
        mat_pg_tab_t *tab = pg->tabs[i];
        tab->verified = tab->verified || tab->pending;
        tab->pending = false;
        note_unavailable(tab);
    }
    reset_batch(pg);
    return 0;
}

/* Abandons the batch: DDL of the transaction is gone too, so shapes
 * verified only inside it are checked again next time.  After a COMMIT that
 * failed with an error the transaction is already closed on the server; the
 * ROLLBACK then only draws a warning. */
static void pg_rollback(void *state)
{
    mat_pg_t *pg = state;
    if (!pg || !pg->in_tx)
        return;
    if (!pg->broken && PQstatus(pg->conn) == CONNECTION_OK)
        note_failure(pg, mat_pg_exec(pg->conn, "ROLLBACK", "ROLLBACK", NULL));
    for (size_t i = 0; i < pg->tab_cnt; i++)
        pg->tabs[i]->pending = false;
    pg->in_tx = false;
    reset_batch(pg);
}

static bool pg_health(void *state, char *reason, size_t reason_size)
{
    mat_pg_t *pg = state;
    if (!pg->broken && PQstatus(pg->conn) == CONNECTION_OK)
        return true;
    snprintf(reason, reason_size, "postgres connection to %s lost", pg->server);
    return false;
}

static void pg_close(void *state)
{
    mat_pg_t *pg = state;
    if (!pg)
        return;
    pg_rollback(pg);
    PQfinish(pg->conn);
    for (size_t i = 0; i < pg->tab_cnt; i++)
        tab_destroy(pg->tabs[i]);
    free(pg->tabs);
    free(pg->offs);
    free(pg->group_id);
    free(pg->schema);
    free(pg->conninfo);
    free(pg);
}

/* ---- configuration ------------------------------------------------- */

#define PG_SINK "postgres"

static const mw_conf_key_t pg_keys[] = {
    {.name = "postgres.conninfo",
     .type = MW_CONF_STR,
     .secret = true,
     .doc = "sink=" PG_SINK ": libpq connection string."},
    {.name = "postgres.schema",
     .type = MW_CONF_STR,
     .dflt = "public",
     .doc = "sink=" PG_SINK ": schema the tables are created in."},
};

/* mw_conf_backend_t.check: runs at configuration time (exit 2). */
static int pg_check(const mw_conf_t *conf, mw_err_t *err)
{
    const char *conninfo = mw_conf_get_str(conf, "postgres.conninfo");

    if (!conninfo || !*conninfo)
        return mw_err_set(err, MW_ERR_CONFIG,
                          "key 'postgres.conninfo' is "
                          "required with sink=" PG_SINK);
    return 0;
}

const mat_sink_ops_t mat_sink_pg_ops = {
    .conf = {.name = PG_SINK,
             .doc = "a table per topic in postgres.schema",
             .keys = pg_keys,
             .key_cnt = sizeof pg_keys / sizeof pg_keys[0],
             .check = pg_check},
    .open = pg_open,
    .load_offset = pg_load_offset,
    .begin = pg_begin,
    .ensure_table = pg_ensure_table,
    .apply = pg_apply,
    .store_offset = pg_store_offset,
    .commit = pg_commit,
    .rollback = pg_rollback,
    .health = pg_health,
    .close = pg_close,
};
