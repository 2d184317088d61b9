/*
 * mat_sqlite_bench: rows/s of the SQLite sink beside its raw limit, in the
 * same run.
 *
 *   mat_sqlite_bench DB_PATH [ROWS] [BATCH] [ROUNDS]
 *
 * The sink: mat_sink_open(sink=sqlite) driven through the front exactly as
 * the materializer's loop drives it (no Kafka, no decoding: the sink
 * alone): per batch begin, ensure_table, BATCH applies (default 5000, the
 * materializer's batch.max.records), store_offset, commit.  ROWS changes
 * (default 1000000, about a second per phase) of the 7-column table of
 * mat_bench_rows.h: first the inserts of new keys, then an update of every
 * key.
 *
 * The raw limit: the same rows through one prepared
 * `INSERT ... ON CONFLICT(id) DO UPDATE` (sqlite3 directly, values bound
 * with SQLITE_STATIC, the timestamp formatted as the same ISO text) in
 * transactions of 10,000 rows, into a table of the same DDL as the sink
 * creates, with the connection settings the sink uses: journal_mode=WAL,
 * synchronous=FULL (an fsync of the WAL per COMMIT), cache_size 32 MiB.
 *
 * Each side writes its own fresh database file (DB_PATH-sink, DB_PATH-raw,
 * removed at the end); ROUNDS rounds (default 3) take turns (raw first in
 * odd rounds), and each column keeps its best, so a burst of other work on
 * the shared cores costs a round, not a side.  After every round the two
 * files must hold the very same rows.  Prints the figures, then one line
 * per phase "result sqlite PHASE SINK_ROWS_S RAW_ROWS_S RAW_NAME GOAL" for
 * bench/mat_bench.sh.  Exit 0 when every step and check succeeded.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <sqlite3.h>

#include "mat_bench_rows.h"
#include "mat_sink.h"
#include "mw_conf.h"
#include "mw_log.h"

#define RAW_TXN_ROWS 10000
#define PATH_MAX_LEN 4096

typedef struct sq_bench {
    const char *path;
    char sink_path[PATH_MAX_LEN], raw_path[PATH_MAX_LEN];
    int64_t rows, batch;
} sq_bench_t;

typedef struct phase_pair {
    double insert, update; /* rows/s */
} phase_pair_t;

static void remove_db(const char *path)
{
    static const char *const suffixes[] = {"", "-wal", "-shm", "-journal"};
    char name[PATH_MAX_LEN + 16];
    for (size_t i = 0; i < sizeof suffixes / sizeof suffixes[0]; i++) {
        snprintf(name, sizeof name, "%s%s", path, suffixes[i]);
        unlink(name);
    }
}

/* ---- the sink ------------------------------------------------------ */

static mw_conf_t *bench_conf(const char *path)
{
    static const mw_conf_key_t keys[] = {
        {.name = "sink", .type = MW_CONF_STR, .doc = "sink"},
        {.name = "sqlite.path", .type = MW_CONF_STR, .doc = "file"},
        {.name = "group.id", .type = MW_CONF_STR, .doc = "group"},
    };
    static const mw_conf_program_t prog = {.name = "mat_sqlite_bench",
                                           .summary = "sink benchmark"};
    mw_err_t err = {0};
    mw_conf_t *conf = mw_conf_new(&prog, keys, 3, &err);
    if (!conf || mw_conf_set(conf, "sink", "sqlite", "argv", &err) ||
        mw_conf_set(conf, "sqlite.path", path, "argv", &err) ||
        mw_conf_set(conf, "group.id", "bench", "argv", &err) ||
        mw_conf_finalize(conf, &err)) {
        fprintf(stderr, "mat_sqlite_bench: %s\n", err.msg);
        mw_conf_destroy(conf);
        return NULL;
    }
    return conf;
}

/* One phase through the sink: rows changes of generation gen in batches,
 * offsets continuing from *offset.  rows/s, or -1 on failure. */
static double sink_phase(mat_sink_t *sink, const mat_table_t *table,
                         const sq_bench_t *b, int gen, int64_t *offset)
{
    mw_err_t err = {0};
    mat_value_t v[BENCH_COL_CNT];
    bench_text_t text;
    double t0 = bench_now_s();
    for (int64_t i = 0; i < b->rows;) {
        int rc = mat_sink_begin(sink, &err);
        if (rc == 0)
            rc = mat_sink_ensure_table(sink, table, &err);
        for (int64_t n = 0; rc == 0 && n < b->batch && i < b->rows; n++, i++) {
            bench_make_row(i, gen, v, &text);
            mat_change_t ch = {.op = MAT_OP_UPSERT,
                               .values = v,
                               .topic = "bench",
                               .offset = (*offset)++};
            rc = mat_sink_apply(sink, table, &ch, &err);
        }
        if (rc == 0)
            rc = mat_sink_store_offset(sink, "bench", 0, *offset, &err);
        if (rc == 0)
            rc = mat_sink_commit(sink, &err);
        if (rc != 0) {
            fprintf(stderr, "mat_sqlite_bench: sink: %s\n", err.msg);
            mat_sink_rollback(sink);
            return -1;
        }
    }
    return (double)b->rows / (bench_now_s() - t0);
}

static int sink_round(const sq_bench_t *b, phase_pair_t *out)
{
    mat_table_t table = bench_table();
    mw_err_t err = {0};
    int64_t offset = 0;
    remove_db(b->sink_path);
    mw_conf_t *conf = bench_conf(b->sink_path);
    mat_sink_t *sink = conf ? mat_sink_open(conf, NULL, &err) : NULL;
    if (!sink) {
        if (conf)
            fprintf(stderr, "mat_sqlite_bench: %s\n", err.msg);
        mw_conf_destroy(conf);
        return -1;
    }
    out->insert = sink_phase(sink, &table, b, 0, &offset);
    out->update =
        out->insert < 0 ? -1 : sink_phase(sink, &table, b, 1, &offset);
    mat_sink_close(sink);
    mw_conf_destroy(conf);
    return out->insert < 0 || out->update < 0 ? -1 : 0;
}

/* ---- the raw limit ------------------------------------------------- */

static int raw_exec(sqlite3 *db, const char *sql)
{
    char *msg = NULL;
    if (sqlite3_exec(db, sql, NULL, NULL, &msg) == SQLITE_OK)
        return 0;
    fprintf(stderr, "mat_sqlite_bench: raw: %s: %s\n", sql,
            msg ? msg : sqlite3_errmsg(db));
    sqlite3_free(msg);
    return -1;
}

/* The sink's timestamp text: 'YYYY-MM-DDTHH:MM:SS.ffffffZ'. */
static int raw_timestamp(int64_t us, char *out, size_t size)
{
    time_t secs = (time_t)(us / 1000000);
    struct tm tm;
    gmtime_r(&secs, &tm);
    return snprintf(out, size, "%04d-%02d-%02dT%02d:%02d:%02d.%06dZ",
                    tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
                    tm.tm_min, tm.tm_sec, (int)(us % 1000000));
}

static int raw_bind_step(sqlite3_stmt *stmt, int64_t i, int gen)
{
    mat_value_t v[BENCH_COL_CNT];
    bench_text_t text;
    char ts[40];
    bench_make_row(i, gen, v, &text);
    int tlen = raw_timestamp(v[4].u.i, ts, sizeof ts);
    sqlite3_bind_int64(stmt, 1, v[0].u.i);
    sqlite3_bind_text(stmt, 2, v[1].u.s.ptr, (int)v[1].u.s.len, SQLITE_STATIC);
    sqlite3_bind_text(stmt, 3, v[2].u.s.ptr, (int)v[2].u.s.len, SQLITE_STATIC);
    sqlite3_bind_int64(stmt, 4, v[3].u.i);
    sqlite3_bind_text(stmt, 5, ts, tlen, SQLITE_STATIC);
    sqlite3_bind_int(stmt, 6, v[5].u.b);
    sqlite3_bind_double(stmt, 7, v[6].u.d);
    int rc = sqlite3_step(stmt);
    sqlite3_reset(stmt);
    return rc == SQLITE_DONE ? 0 : -1;
}

static double raw_phase(sqlite3 *db, sqlite3_stmt *stmt, int64_t rows, int gen)
{
    double t0 = bench_now_s();
    for (int64_t i = 0; i < rows;) {
        if (raw_exec(db, "BEGIN IMMEDIATE"))
            return -1;
        for (int n = 0; n < RAW_TXN_ROWS && i < rows; n++, i++)
            if (raw_bind_step(stmt, i, gen)) {
                fprintf(stderr, "mat_sqlite_bench: raw upsert: %s\n",
                        sqlite3_errmsg(db));
                return -1;
            }
        if (raw_exec(db, "COMMIT"))
            return -1;
    }
    return (double)rows / (bench_now_s() - t0);
}

/* The sink's settings and the sink's DDL for this table (mat_sqlite.c:
 * sq_setup, sq_create_table). */
static const char raw_setup[] =
    "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL; "
    "PRAGMA cache_size=-32768; "
    "CREATE TABLE \"t\"(\"id\" INTEGER NOT NULL, \"name\" TEXT, "
    "\"amount\" TEXT, \"qty\" INTEGER, \"ts\" TEXT, \"flag\" INTEGER, "
    "\"score\" REAL, PRIMARY KEY(\"id\"))";

static const char raw_upsert[] =
    "INSERT INTO \"t\"(\"id\",\"name\",\"amount\",\"qty\",\"ts\",\"flag\","
    "\"score\") VALUES(?1,?2,?3,?4,?5,?6,?7) ON CONFLICT(\"id\") DO UPDATE "
    "SET \"name\"=excluded.\"name\",\"amount\"=excluded.\"amount\","
    "\"qty\"=excluded.\"qty\",\"ts\"=excluded.\"ts\","
    "\"flag\"=excluded.\"flag\",\"score\"=excluded.\"score\"";

static int raw_round(const sq_bench_t *b, phase_pair_t *out)
{
    sqlite3 *db = NULL;
    sqlite3_stmt *stmt = NULL;
    remove_db(b->raw_path);
    int rc = sqlite3_open_v2(
        b->raw_path, &db,
        SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, NULL);
    if (rc != SQLITE_OK || raw_exec(db, raw_setup) ||
        sqlite3_prepare_v3(db, raw_upsert, -1, SQLITE_PREPARE_PERSISTENT, &stmt,
                           NULL) != SQLITE_OK) {
        fprintf(stderr, "mat_sqlite_bench: raw: %s\n", sqlite3_errmsg(db));
        sqlite3_close(db);
        return -1;
    }
    out->insert = raw_phase(db, stmt, b->rows, 0);
    out->update = out->insert < 0 ? -1 : raw_phase(db, stmt, b->rows, 1);
    sqlite3_finalize(stmt);
    sqlite3_close(db);
    return out->insert < 0 || out->update < 0 ? -1 : 0;
}

/* ---- checks and the report ----------------------------------------- */

static long long query_num(sqlite3 *db, const char *sql)
{
    sqlite3_stmt *stmt = NULL;
    long long v = -1;
    if (sqlite3_prepare_v2(db, sql, -1, &stmt, NULL) == SQLITE_OK &&
        sqlite3_step(stmt) == SQLITE_ROW)
        v = sqlite3_column_int64(stmt, 0);
    else
        fprintf(stderr, "mat_sqlite_bench: check: %s: %s\n", sql,
                sqlite3_errmsg(db));
    sqlite3_finalize(stmt);
    return v;
}

/* Both files hold the same rows, every key's generation-1 image, and the
 * sink's stored offset is the number of changes it was given. */
static int check_same(const sq_bench_t *b)
{
    sqlite3 *db = NULL;
    char *attach = sqlite3_mprintf("ATTACH %Q AS s", b->sink_path);
    int rc = sqlite3_open_v2(b->raw_path, &db, SQLITE_OPEN_READWRITE, NULL);
    if (rc != SQLITE_OK || !attach || raw_exec(db, attach)) {
        sqlite3_free(attach);
        sqlite3_close(db);
        return -1;
    }
    sqlite3_free(attach);
    long long raw_cnt = query_num(db, "SELECT count(*) FROM main.t");
    long long sink_cnt = query_num(db, "SELECT count(*) FROM s.t");
    long long diff = query_num(db, "SELECT count(*) FROM (SELECT * FROM "
                                   "main.t EXCEPT SELECT * FROM s.t)");
    long long gen1 = query_num(db, "SELECT count(*) FROM s.t WHERE qty = "
                                   "id % 1000 + 1");
    long long off = query_num(db, "SELECT next_offset FROM "
                                  "s._mesh_offsets WHERE topic = 'bench'");
    sqlite3_close(db);
    if (raw_cnt != b->rows || sink_cnt != b->rows || diff != 0 ||
        gen1 != b->rows || off != 2 * b->rows) {
        fprintf(stderr,
                "mat_sqlite_bench: check failed: raw %lld rows, "
                "sink %lld rows, %lld differ, %lld updated, offset %lld\n",
                raw_cnt, sink_cnt, diff, gen1, off);
        return -1;
    }
    return 0;
}

static void keep_best(phase_pair_t *best, const phase_pair_t *got)
{
    if (got->insert > best->insert)
        best->insert = got->insert;
    if (got->update > best->update)
        best->update = got->update;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: mat_sqlite_bench DB_PATH [ROWS] [BATCH] "
                        "[ROUNDS]\n");
        return 2;
    }
    sq_bench_t b = {.path = argv[1],
                    .rows = argc > 2 ? strtoll(argv[2], NULL, 10) : 1000000,
                    .batch = argc > 3 ? strtoll(argv[3], NULL, 10) : 5000};
    int rounds = argc > 4 ? atoi(argv[4]) : 3;
    mw_log_set_level(MW_LOG_WARN); /* no "table created" per round */
    if (b.rows <= 0 || b.batch <= 0 || rounds <= 0 ||
        strlen(b.path) + 8 > PATH_MAX_LEN) {
        fprintf(stderr, "mat_sqlite_bench: bad arguments\n");
        return 2;
    }
    snprintf(b.sink_path, sizeof b.sink_path, "%s-sink", b.path);
    snprintf(b.raw_path, sizeof b.raw_path, "%s-raw", b.path);
    printf("mat_sqlite: %" PRId64 " rows, sink batch %" PRId64 ", raw "
           "transactions of %d; journal_mode=WAL synchronous=FULL "
           "cache_size=32MiB; SQLite %s\n",
           b.rows, b.batch, RAW_TXN_ROWS, sqlite3_libversion());
    phase_pair_t best_sink = {0}, best_raw = {0};
    int rc = 0;
    for (int r = 0; rc == 0 && r < rounds; r++) {
        phase_pair_t sink = {0}, raw = {0};
        bool raw_first = r % 2 == 0;
        rc = raw_first ? raw_round(&b, &raw) : sink_round(&b, &sink);
        if (rc == 0)
            rc = raw_first ? sink_round(&b, &sink) : raw_round(&b, &raw);
        if (rc == 0)
            rc = check_same(&b);
        if (rc != 0)
            break;
        printf("  round %d: sink insert %8.0f update %8.0f | raw insert "
               "%8.0f update %8.0f rows/s\n",
               r + 1, sink.insert, sink.update, raw.insert, raw.update);
        fflush(stdout);
        keep_best(&best_sink, &sink);
        keep_best(&best_raw, &raw);
    }
    remove_db(b.sink_path);
    remove_db(b.raw_path);
    if (rc != 0)
        return 1;
    printf("result sqlite insert %.0f %.0f raw-upsert 0.7\n", best_sink.insert,
           best_raw.insert);
    printf("result sqlite update %.0f %.0f raw-upsert 0.7\n", best_sink.update,
           best_raw.update);
    return 0;
}
