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
 * Modules: this file is the sink (connection, errors, transactions,
 * offsets, keys, ops table); mat_sqlite_table.c creates and evolves the
 * data tables and applies rows (mat_sqlite_int.h).
 *
 * Thread: the materializer's loop thread only (the connection is opened
 * without SQLite's mutexes).
 */
#include "mat_sink.h"
#include "mat_sqlite_int.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mw_log.h"
#include "mw_time.h"
#include "mw_vec.h"

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

/* ---- errors ----------------------------------------------------------- */

/* Class of a SQLite result code: lock waits are retriable, statement-level
 * refusals (constraint, type, size, SQL on a table we do not understand)
 * reject the input, the rest (I/O, disk full, corruption, read-only) stop
 * the daemon. */
int mat_sq_code(int rc)
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
int mat_sq_fail(mat_sqlite_t *st, mw_err_t *err, int rc, const char *fmt, ...)
{
    char ctx[320], msg[MW_ERR_MSG_MAX];
    const char *why = st->db ? sqlite3_errmsg(st->db) : sqlite3_errstr(rc);
    va_list ap;
    int code = mat_sq_code(rc);

    va_start(ap, fmt);
    vsnprintf(ctx, sizeof ctx, fmt, ap);
    va_end(ap);
    if (snprintf(msg, sizeof msg, "%s: %s (sqlite code %d)", ctx, why, rc) < 0)
        msg[0] = '\0';
    if (mw_err_class(code) == MW_ERR_CLASS_FATAL)
        memcpy(st->unhealthy, msg, sizeof st->unhealthy);
    return mw_err_set(err, code, "%s", msg);
}

/* SQLite's own log (WAL recovery after a crash, auto-index warnings,
 * statement errors we also report) through mw_log.  Errors are debug: each
 * one reaches the caller through mat_sq_fail already. */
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

int mat_sq_prepare(mat_sqlite_t *st, const char *sql, sqlite3_stmt **stmt,
                   const char *what, mw_err_t *err)
{
    int rc = sqlite3_prepare_v3(st->db, sql, -1, SQLITE_PREPARE_PERSISTENT,
                                stmt, NULL);

    if (rc != SQLITE_OK) {
        *stmt = NULL;
        return mat_sq_fail(st, err, rc, "%s", what);
    }
    return 0;
}

/* Runs one statement without results (DDL, transaction control). */
int mat_sq_exec(mat_sqlite_t *st, const char *sql, const char *what,
                mw_err_t *err)
{
    int rc = sqlite3_exec(st->db, sql, NULL, NULL, NULL);

    return rc == SQLITE_OK ? 0 : mat_sq_fail(st, err, rc, "%s", what);
}

/* Runs a PRAGMA that answers one text value (journal_mode). */
static int sq_pragma_text(mat_sqlite_t *st, const char *sql, char *out,
                          size_t out_size, mw_err_t *err)
{
    sqlite3_stmt *stmt = NULL;
    int rc = mat_sq_prepare(st, sql, &stmt, sql, err);

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
        rc = mat_sq_fail(st, err, rc, "sqlite.path='%s': %s", st->path, sql);
    sqlite3_finalize(stmt);
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
    if (MW_VEC_RESERVE(&st->offsets, &st->offset_cap, st->offset_cnt + 1))
        return NULL;
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
        rc = mat_sq_fail(st, err, rc,
                         "%s[%" PRId32 "]: reading the stored "
                         "offset",
                         topic, partition);
    sqlite3_reset(stmt);
    if (rc)
        return rc;
    if (!(o = sq_offset_get(st, topic, partition, true)))
        return mw_err_set(err, MW_ERR_NOMEM,
                          "%s[%" PRId32 "]: out of "
                          "memory",
                          topic, partition);
    o->committed = *next_offset;
    return 0;
}

/* Another member moved the partition's offset under us: this batch's
 * events for it were (or will be) applied by that member. */
static int sq_fenced(mat_sqlite_t *st, const char *topic, int32_t partition,
                     int64_t expected, mw_err_t *err)
{
    mw_counter_inc(st->fenced_total);
    return mw_err_set(err, MW_ERR_STATE,
                      "%s[%" PRId32 "]: the stored next "
                      "offset is no longer %" PRId64 ": another group member "
                      "committed this partition; the batch must be rolled "
                      "back",
                      topic, partition, expected);
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
        return mw_err_set(err, MW_ERR_NOMEM,
                          "%s[%" PRId32 "]: out of "
                          "memory",
                          topic, partition);
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
        rc = mat_sq_fail(st, err, rc,
                         "%s[%" PRId32 "]: storing next offset "
                         "%" PRId64,
                         topic, partition, next_offset);
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
        return mw_err_set(err, MW_ERR_STATE,
                          "sqlite.path='%s': begin while "
                          "a batch is open",
                          st->path);
    rc = mat_sq_exec(st, "BEGIN IMMEDIATE", "beginning a batch", err);
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
    int64_t t0;
    int rc;

    if (!st->in_batch)
        return mw_err_set(err, MW_ERR_STATE,
                          "sqlite.path='%s': commit "
                          "without a batch",
                          st->path);
    t0 = mw_time_mono_ns();
    rc = mat_sq_exec(st, "COMMIT", "committing a batch", err);
    if (rc)
        return rc; /* the caller rolls back */
    mw_histogram_observe(st->commit_seconds,
                         (double)(mw_time_mono_ns() - t0) / 1e9);
    for (size_t i = 0; i < st->offset_cnt; i++) {
        sq_offset_t *o = &st->offsets[i];
        if (o->pending != SQ_OFFSET_UNKNOWN)
            o->committed = o->pending;
        o->pending = SQ_OFFSET_UNKNOWN;
    }
    mat_sq_tables_committed(st);
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
            mw_log_warn(SQ_COMP, "rollback failed",
                        "path=%s code=%d "
                        "detail=%s",
                        mw_log_q(st->path), rc,
                        mw_log_q(sqlite3_errmsg(st->db)));
    }
    for (size_t i = 0; i < st->offset_cnt; i++)
        st->offsets[i].pending = SQ_OFFSET_UNKNOWN;
    mat_sq_tables_drop(st);
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

#define SQ_OFFSETS_COLS                                                        \
    "INSERT INTO " SQ_OFFSETS_TABLE "(topic, partition, next_offset, "         \
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
        return mw_err_set(err, MW_ERR_CONFIG,
                          "sqlite.path='%s': cannot "
                          "switch to WAL mode (journal_mode is '%s')",
                          st->path, mode);
    if ((rc = mat_sq_exec(st, "PRAGMA synchronous=FULL", "sqlite.path", err)) ||
        (rc = mat_sq_exec(st, "PRAGMA cache_size=-" SQ_STR(SQ_CACHE_KIB),
                          "sqlite.path", err)) ||
        (rc = mat_sq_exec(st, sq_offsets_ddl, "creating " SQ_OFFSETS_TABLE,
                          err)))
        return rc;
    if ((rc = mat_sq_prepare(st,
                             "SELECT next_offset FROM " SQ_OFFSETS_TABLE
                             " WHERE topic = ?1 AND partition = ?2",
                             &st->off_load, "preparing", err)) ||
        (rc = mat_sq_prepare(st, SQ_OFFSETS_COLS, &st->off_insert, "preparing",
                             err)) ||
        (rc =
             mat_sq_prepare(st,
                            SQ_OFFSETS_COLS
                            " ON CONFLICT(topic, partition)"
                            " DO UPDATE SET next_offset = excluded.next_offset,"
                            " group_id = excluded.group_id,"
                            " updated_at = excluded.updated_at",
                            &st->off_upsert, "preparing", err)) ||
        (rc = mat_sq_prepare(
             st,
             "UPDATE " SQ_OFFSETS_TABLE " SET next_offset = "
             "?3, group_id = ?4, updated_at = " SQ_NOW " WHERE "
             "topic = ?1 AND partition = ?2 AND next_offset = ?5",
             &st->off_update, "preparing", err)) ||
        (rc = mat_sq_prepare(st,
                             "SELECT name, type, pk FROM "
                             "pragma_table_info(?1)",
                             &st->table_info, "preparing", err)))
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
static int sq_conf_group(mat_sqlite_t *st, const mw_conf_t *conf, mw_err_t *err)
{
    const char *group = NULL;

    if (mw_conf_origin(conf, "group.id"))
        group = mw_conf_get_str(conf, "group.id");
    if (group && !(st->group_id = strdup(group)))
        return mw_err_set(err, MW_ERR_NOMEM, "sqlite sink: out of memory");
    return 0;
}

/* ops.open: sqlite.path (checked by sq_check) is created if missing (its
 * directory must exist). */
static void *sq_open(const mw_conf_t *conf, mw_metrics_t *metrics,
                     mw_err_t *err)
{
    const char *path = mw_conf_get_str(conf, "sqlite.path");
    mat_sqlite_t *st;
    int rc;

    if (!(st = calloc(1, sizeof *st)) || !(st->path = strdup(path))) {
        free(st);
        mw_err_set(err, MW_ERR_NOMEM, "sqlite sink: out of memory");
        return NULL;
    }
    sq_log_hook();
    rc = sqlite3_open_v2(
        path, &st->db,
        SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, NULL);
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
    st->metrics = metrics;
    if (metrics) {
        st->commit_seconds = mw_metrics_histogram(
            metrics, "mesh_materializer_sqlite_commit_seconds",
            "Duration of SQLite batch commits (WAL append and fsync).", NULL,
            NULL, 0);
        st->fenced_total = mw_metrics_counter(
            metrics, "mesh_materializer_sqlite_fenced_total",
            "Batches refused because another group member moved a stored "
            "offset.",
            NULL);
    }
    mw_log_info(SQ_COMP, "sqlite opened",
                "path=%s journal_mode=wal "
                "synchronous=full busy_timeout_ms=%d",
                mw_log_q(path), SQ_BUSY_TIMEOUT_MS);
    return st;
}

/* ---- configuration ---------------------------------------------------- */

#define SQ_SINK "sqlite"

static const mw_conf_key_t sq_keys[] = {
    {.name = "sqlite.path",
     .type = MW_CONF_STR,
     .doc = "sink=" SQ_SINK ": the database file (created when missing)."},
};

/* mw_conf_backend_t.check: runs at configuration time (exit 2). */
static int sq_check(const mw_conf_t *conf, mw_err_t *err)
{
    const char *path = mw_conf_get_str(conf, "sqlite.path");

    if (!path || !path[0])
        return mw_err_set(err, MW_ERR_CONFIG,
                          "sqlite.path: required with "
                          "sink=" SQ_SINK " (the database file to write)");
    return 0;
}

const mat_sink_ops_t mat_sink_sqlite_ops = {
    .conf = {.name = SQ_SINK,
             .doc = "a table per topic",
             .keys = sq_keys,
             .key_cnt = sizeof sq_keys / sizeof sq_keys[0],
             .check = sq_check},
    .open = sq_open,
    .load_offset = sq_load_offset,
    .begin = sq_begin,
    .ensure_table = mat_sq_ensure_table,
    .apply = mat_sq_apply,
    .store_offset = sq_store_offset,
    .commit = sq_commit,
    .rollback = sq_rollback,
    .health = sq_health,
    .close = sq_close,
};
