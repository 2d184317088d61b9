/*
 * mat_pg_bench: rows/s of the PostgreSQL sink beside its raw limit, in the
 * same run.
 *
 *   mat_pg_bench CONNINFO [ROWS] [BATCH] [ROUNDS]
 *
 * The sink: mat_sink_pg_ops driven directly, as the materializer's loop
 * drives it (no Kafka, no decoding: the sink alone): per batch begin,
 * ensure_table, BATCH applies (default 5000, the materializer's
 * batch.max.records), store_offset, commit.  ROWS changes (default
 * 500000) of the 7-column table of mat_bench_rows.h into a fresh table:
 * first the inserts of new keys, then an update of every key.  Both
 * strategies are measured: adaptive (the default: COPY straight into the
 * table while batches bring only new keys) and merge (always COPY into a
 * staging table, then INSERT ... ON CONFLICT).
 *
 * The raw limits, with libpq directly, on a table of the same definition
 * (the sink sets no storage option on the tables it creates):
 * insert, one COPY (text format, PostgreSQL's default) of the same rows
 * into the empty table in one transaction (the limit); update, the
 * fastest of the bulk paths PostgreSQL offers a client for updating those
 * rows by key, each in one transaction on a table of its own loaded the
 * same way: a text or a binary COPY of the updates into a temporary
 * table, then one INSERT ... ON CONFLICT DO UPDATE, or one MERGE, or one
 * UPDATE ... FROM (every key exists), whatever plan the server picks for
 * the whole table.  Each statement must report every row; the output
 * names the fastest.
 *
 * ROUNDS rounds (default 3) take turns (raw first in odd rounds) and each
 * column keeps its best, so a burst of other work on the shared cores
 * costs a round, not a side.  Checks: before timing, small batches check
 * the semantics the sink's deduplication and its direct/merge switch rely
 * on; after each phase every row of the sink's table must be of that
 * phase's generation, and after the updates the table must equal the raw
 * path's row for row.  Prints the figures, then "result postgres PHASE
 * SINK_ROWS_S RAW_ROWS_S RAW_NAME GOAL" lines (the default strategy) for
 * bench/mat_bench.sh: inserts against the raw COPY (goal 0.8), updates
 * against the fastest raw update (goal 1.0) and, for reference with
 * earlier figures, against the text COPY and upsert.
 * Exit 0 when every step and check succeeded.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <libpq-fe.h>

#include "mat_bench_rows.h"
#include "mat_pg_int.h"
#include "mw_conf.h"
#include "mw_log.h"

#define SCHEMA "mat_bench"

typedef struct pg_bench {
    PGconn *conn;
    mw_conf_t *conf;
    int64_t rows, batch;
} pg_bench_t;

typedef struct phase_pair {
    double insert, update; /* rows/s */
} phase_pair_t;

static int run_sql(PGconn *conn, const char *sql)
{
    PGresult *res = PQexec(conn, sql);
    int ok = PQresultStatus(res) == PGRES_COMMAND_OK ||
             PQresultStatus(res) == PGRES_TUPLES_OK;
    if (!ok)
        fprintf(stderr, "mat_pg_bench: %s: %s", sql, PQerrorMessage(conn));
    PQclear(res);
    return ok ? 0 : -1;
}

static long long query_num(PGconn *conn, const char *sql)
{
    PGresult *res = PQexec(conn, sql);
    long long v = -1;
    if (PQresultStatus(res) == PGRES_TUPLES_OK && PQntuples(res) == 1)
        v = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
    else
        fprintf(stderr, "mat_pg_bench: %s: %s", sql, PQerrorMessage(conn));
    PQclear(res);
    return v;
}

static int apply_one(void *pg, const mat_table_t *table, mat_op_t op, int64_t i,
                     int gen, mw_err_t *err)
{
    mat_value_t v[BENCH_COL_CNT];
    bench_text_t text;
    bench_make_row(i, gen, v, &text);
    mat_change_t ch = {.op = op, .values = v, .topic = "bench"};
    return mat_sink_pg_ops.apply(pg, table, &ch, err);
}

/* One phase: rows changes (generation gen) in batches; returns rows/s or
 * a negative value on failure. */
static double phase(void *pg, const mat_table_t *table, const pg_bench_t *b,
                    int gen, int64_t *offset)
{
    mw_err_t err = {0};
    double t0 = bench_now_s();
    for (int64_t i = 0; i < b->rows;) {
        int rc = mat_sink_pg_ops.begin(pg, &err);
        if (rc == 0)
            rc = mat_sink_pg_ops.ensure_table(pg, table, &err);
        for (int64_t n = 0; rc == 0 && n < b->batch && i < b->rows;
             n++, i++, (*offset)++)
            rc = apply_one(pg, table, MAT_OP_UPSERT, i, gen, &err);
        if (rc == 0)
            rc = mat_sink_pg_ops.store_offset(pg, "bench", 0, *offset, &err);
        if (rc == 0)
            rc = mat_sink_pg_ops.commit(pg, &err);
        if (rc != 0) {
            fprintf(stderr, "mat_pg_bench: %s\n", err.msg);
            mat_sink_pg_ops.rollback(pg);
            return -1;
        }
    }
    return (double)b->rows / (bench_now_s() - t0);
}

/* One batch of (op, key, generation) changes, committed. */
typedef struct check_change {
    mat_op_t op;
    int64_t key;
    int gen;
} check_change_t;

static int check_batch(void *pg, const mat_table_t *table,
                       const check_change_t *ch, size_t n)
{
    mw_err_t err = {0};
    int rc = mat_sink_pg_ops.begin(pg, &err);
    if (rc == 0)
        rc = mat_sink_pg_ops.ensure_table(pg, table, &err);
    for (size_t i = 0; rc == 0 && i < n; i++)
        rc = apply_one(pg, table, ch[i].op, ch[i].key, ch[i].gen, &err);
    if (rc == 0)
        rc = mat_sink_pg_ops.commit(pg, &err);
    if (rc != 0) {
        fprintf(stderr, "mat_pg_bench: check: %s\n", err.msg);
        mat_sink_pg_ops.rollback(pg);
    }
    return rc;
}

/* The table's content as "key:qty,..." in key order. */
static int table_state(PGconn *conn, char *out, size_t size)
{
    PGresult *res =
        PQexec(conn, "SELECT coalesce(string_agg(id || ':' || "
                     "qty, ',' ORDER BY id), '') FROM " SCHEMA ".t");
    int ok = PQresultStatus(res) == PGRES_TUPLES_OK && PQntuples(res) == 1;
    snprintf(out, size, "%s", ok ? PQgetvalue(res, 0, 0) : "?");
    PQclear(res);
    return ok ? 0 : -1;
}

/* The semantics the sink's pending rows rely on, batch by batch (qty of
 * key k in generation g is k % 1000 + g):
 *   1. delete+insert of a key ends present, insert+delete ends absent;
 *   2. an existing key and a new one (the direct COPY meets the existing
 *      key, so the sink falls back to the merge);
 *   3. only new keys again (merge, which finds them all new);
 *   4. a delete and an update together (direct COPY refused again; the
 *      merge finds every key stored);
 *   5. updates of stored keys only (UPDATE ... FROM);
 *   6. an update, a new key and a delete (the UPDATE finds one of the two
 *      upserts; the new key is inserted after it). */
static int check_semantics(void *pg, PGconn *conn, const mat_table_t *table)
{
    static const check_change_t b1[] = {{MAT_OP_UPSERT, 1, 0},
                                        {MAT_OP_DELETE, 1, 0},
                                        {MAT_OP_UPSERT, 1, 9},
                                        {MAT_OP_UPSERT, 2, 0},
                                        {MAT_OP_DELETE, 2, 0}};
    static const check_change_t b2[] = {{MAT_OP_UPSERT, 1, 3},
                                        {MAT_OP_UPSERT, 3, 0}};
    static const check_change_t b3[] = {{MAT_OP_UPSERT, 4, 0},
                                        {MAT_OP_UPSERT, 5, 0}};
    static const check_change_t b4[] = {{MAT_OP_DELETE, 3, 0},
                                        {MAT_OP_UPSERT, 4, 5}};
    static const check_change_t b5[] = {{MAT_OP_UPSERT, 4, 7},
                                        {MAT_OP_UPSERT, 5, 2}};
    static const check_change_t b6[] = {
        {MAT_OP_UPSERT, 5, 1}, {MAT_OP_UPSERT, 6, 0}, {MAT_OP_DELETE, 1, 0}};
    static const struct {
        const check_change_t *ch;
        size_t n;
        const char *want;
    } steps[] = {{b1, 5, "1:10"},
                 {b2, 2, "1:4,3:3"},
                 {b3, 2, "1:4,3:3,4:4,5:5"},
                 {b4, 2, "1:4,4:9,5:5"},
                 {b5, 2, "1:4,4:11,5:7"},
                 {b6, 3, "4:11,5:6,6:6"}};
    char got[256];
    for (size_t s = 0; s < sizeof steps / sizeof steps[0]; s++) {
        if (check_batch(pg, table, steps[s].ch, steps[s].n) ||
            table_state(conn, got, sizeof got))
            return -1;
        if (strcmp(got, steps[s].want) != 0) {
            fprintf(stderr,
                    "mat_pg_bench: semantic check %zu failed: table "
                    "holds %s, expected %s\n",
                    s + 1, got, steps[s].want);
            return -1;
        }
    }
    return run_sql(conn, "TRUNCATE " SCHEMA ".t");
}

/* Ends the COPY in progress (ok: every row went out) and reads its
 * result; 0 or -1. */
static int copy_end(PGconn *conn, int ok, const char *what)
{
    ok = PQputCopyEnd(conn, ok ? NULL : "bench failed") == 1 && ok;
    PGresult *res;
    while ((res = PQgetResult(conn)) != NULL) {
        ok = ok && PQresultStatus(res) == PGRES_COMMAND_OK;
        PQclear(res);
    }
    if (!ok)
        fprintf(stderr, "mat_pg_bench: %s: %s", what, PQerrorMessage(conn));
    return ok ? 0 : -1;
}

/* Streams the rows of generation gen as COPY text into the COPY in
 * progress; 0 or -1. */
static int raw_copy_rows(PGconn *conn, int64_t rows, int gen)
{
    char line[256];
    int ok = 1;
    for (int64_t i = 0; ok && i < rows; i++) {
        mat_value_t v[BENCH_COL_CNT];
        bench_text_t text;
        bench_make_row(i, gen, v, &text);
        /* The timestamp as PostgreSQL prints it: plain text columns. */
        time_t secs = (time_t)(v[4].u.i / 1000000);
        struct tm tm;
        gmtime_r(&secs, &tm);
        int len = snprintf(
            line, sizeof line,
            "%" PRId64 "\t%s\t%s\t%" PRId64 "\t"
            "%04d-%02d-%02d %02d:%02d:%02d.%06d+00\t"
            "%s\t%.17g\n",
            v[0].u.i, text.name, text.amount, v[3].u.i, tm.tm_year + 1900,
            tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
            (int)(v[4].u.i % 1000000), v[5].u.b ? "t" : "f", v[6].u.d);
        ok = PQputCopyData(conn, line, len) == 1;
    }
    return copy_end(conn, ok, "raw COPY");
}

/* Starts the COPY FROM STDIN in sql; 0 or -1. */
static int run_copy_in(PGconn *conn, const char *sql)
{
    PGresult *res = PQexec(conn, sql);
    int ok = PQresultStatus(res) == PGRES_COPY_IN;
    PQclear(res);
    if (!ok)
        fprintf(stderr, "mat_pg_bench: %s: %s", sql, PQerrorMessage(conn));
    return ok ? 0 : -1;
}

/* Runs one statement; the rows it reports, or -1. */
static long long run_count(PGconn *conn, const char *sql)
{
    PGresult *res = PQexec(conn, sql);
    long long n = PQresultStatus(res) == PGRES_COMMAND_OK
                      ? strtoll(PQcmdTuples(res), NULL, 10)
                      : -1;
    if (n < 0)
        fprintf(stderr, "mat_pg_bench: %s: %s", sql, PQerrorMessage(conn));
    PQclear(res);
    return n;
}

/* COPY (text) of generation gen's rows into table; 0 or -1. */
static int raw_copy_into(PGconn *conn, const char *table, int64_t rows, int gen)
{
    char sql[128];
    snprintf(sql, sizeof sql, "COPY %s FROM STDIN", table);
    return run_copy_in(conn, sql) ? -1 : raw_copy_rows(conn, rows, gen);
}

/* Big-endian stores for the binary COPY tuples below. */
static char *raw_be(char *p, uint64_t v, int bytes)
{
    for (int k = 0; k < bytes; k++)
        p[k] = (char)(v >> (8 * (bytes - 1 - k)));
    return p + bytes;
}

static char *raw_field(char *p, uint64_t v, int bytes)
{
    return raw_be(raw_be(p, (uint64_t)bytes, 4), v, bytes);
}

/* Row i of generation gen as one binary COPY tuple, straight from the
 * values (the raw side's own encoder, independent of the sink's): the
 * amount N.ff is numeric's base-10000 digits of N, then ff * 100. */
static int raw_binary_row(char *out, int64_t i, int gen)
{
    mat_value_t v[BENCH_COL_CNT];
    bench_text_t text;
    bench_make_row(i, gen, v, &text);
    int64_t whole = i * 3 + gen, frac = i % 100;
    uint16_t digits[4];
    int nd = 0;
    for (int64_t w = whole; w > 0; w /= 10000)
        nd++;
    for (int64_t w = whole, k = nd - 1; k >= 0; w /= 10000, k--)
        digits[k] = (uint16_t)(w % 10000);
    digits[nd++] = (uint16_t)(frac * 100);
    char *p = raw_be(out, BENCH_COL_CNT, 2);
    p = raw_field(p, (uint64_t)v[0].u.i, 8);
    p = raw_be(p, v[1].u.s.len, 4);
    memcpy(p, v[1].u.s.ptr, v[1].u.s.len);
    p += v[1].u.s.len;
    p = raw_be(p, (uint64_t)(8 + 2 * nd), 4);
    p = raw_be(p, (uint64_t)nd, 2);
    p = raw_be(p, (uint64_t)(nd - 2), 2); /* weight of the first digit */
    p = raw_be(p, 0, 2);                  /* sign: positive */
    p = raw_be(p, 2, 2);                  /* display scale */
    for (int k = 0; k < nd; k++)
        p = raw_be(p, digits[k], 2);
    p = raw_field(p, (uint64_t)v[3].u.i, 4);
    p = raw_field(p, (uint64_t)(v[4].u.i - INT64_C(946684800000000)), 8);
    p = raw_field(p, v[5].u.b, 1);
    union {
        double d;
        uint64_t u;
    } f8 = {.d = v[6].u.d};
    p = raw_field(p, f8.u, 8);
    return (int)(p - out);
}

/* Streams generation gen's rows as binary COPY into the COPY in
 * progress; 0 or -1. */
static int raw_copy_binary(PGconn *conn, int64_t rows, int gen)
{
    static const char header[19] = "PGCOPY\n\377\r\n\0\0\0\0\0\0\0\0\0";
    char chunk[65536];
    int len = (int)sizeof header, ok = 1;
    memcpy(chunk, header, sizeof header);
    for (int64_t i = 0; ok && i < rows; i++) {
        if (len > (int)sizeof chunk - 256) {
            ok = PQputCopyData(conn, chunk, len) == 1;
            len = 0;
        }
        len += raw_binary_row(chunk + len, i, gen);
    }
    raw_be(chunk + len, 0xffff, 2);
    ok = ok && PQputCopyData(conn, chunk, len + 2) == 1;
    return copy_end(conn, ok, "raw binary COPY");
}

/* The raw ways of updating every row by key: PostgreSQL's bulk paths for
 * a client, each from a COPY of the updates into a temporary table. */
typedef enum raw_way {
    RAW_TEXT_UPSERT, /* text COPY, INSERT ... ON CONFLICT DO UPDATE */
    RAW_BIN_UPSERT,  /* binary COPY, INSERT ... ON CONFLICT DO UPDATE */
    RAW_BIN_MERGE,   /* binary COPY, MERGE */
    RAW_BIN_UPDATE,  /* binary COPY, UPDATE ... FROM (every key exists) */
    RAW__WAY_CNT
} raw_way_t;

static const char *const raw_way_names[] = {
    [RAW_TEXT_UPSERT] = "text+upsert",
    [RAW_BIN_UPSERT] = "binary+upsert",
    [RAW_BIN_MERGE] = "binary+MERGE",
    [RAW_BIN_UPDATE] = "binary+UPDATE",
};
_Static_assert(sizeof raw_way_names / sizeof raw_way_names[0] == RAW__WAY_CNT,
               "a name per raw way");

/* Each way's table: "raw" (the one the sink's table is compared with), or
 * raw<suffix>, dropped once measured. */
static const char *const raw_way_suffix[] = {"", "_b", "_m", "_u"};
_Static_assert(sizeof raw_way_suffix / sizeof raw_way_suffix[0] == RAW__WAY_CNT,
               "a table per raw way");

#define RAW_SETS                                                               \
    "name = s.name, amount = s.amount, qty = s.qty, ts = s.ts, "               \
    "flag = s.flag, score = s.score"

#define RAW_UPSERT                                                             \
    " SELECT * FROM raw_stg s ON CONFLICT (id) DO UPDATE SET name = "          \
    "EXCLUDED.name, amount = EXCLUDED.amount, qty = EXCLUDED.qty, ts = "       \
    "EXCLUDED.ts, flag = EXCLUDED.flag, score = EXCLUDED.score"

/* Each way's statement, around its table's name. */
static const char *const raw_way_sql[][2] = {
    [RAW_TEXT_UPSERT] = {"INSERT INTO ", RAW_UPSERT},
    [RAW_BIN_UPSERT] = {"INSERT INTO ", RAW_UPSERT},
    [RAW_BIN_MERGE] = {"MERGE INTO ",
                       " r USING raw_stg s ON r.id = s.id WHEN MATCHED THEN "
                       "UPDATE SET " RAW_SETS " WHEN NOT MATCHED THEN INSERT "
                       "VALUES (s.id, s.name, s.amount, s.qty, s.ts, s.flag, "
                       "s.score)"},
    [RAW_BIN_UPDATE] = {"UPDATE ", " r SET " RAW_SETS " FROM raw_stg s WHERE "
                                   "r.id = s.id"},
};

#define RAW_DDL                                                                \
    " (id bigint PRIMARY KEY, name text, amount numeric(12,2), "               \
    "qty integer, ts timestamp with time zone, flag boolean, "                 \
    "score double precision)"

/* The raw limits:
 *   insert: one text COPY of generation 0 into the empty table `raw`, in
 *           one transaction;
 *   update: each raw way in turn updates a table of its own, loaded the
 *           same way (untimed), to generation 1 in one transaction: COPY
 *           into a temporary table, then the way's one statement.  The
 *           fastest is the limit; the statement must report every row. */
static int raw_round(PGconn *conn, int64_t rows, double *insert,
                     double way_rows_s[RAW__WAY_CNT])
{
    char sql[640], table[64];
    for (int w = 0; w < RAW__WAY_CNT; w++) {
        snprintf(table, sizeof table, SCHEMA ".raw%s", raw_way_suffix[w]);
        snprintf(sql, sizeof sql, "DROP TABLE IF EXISTS %s", table);
        if (run_sql(conn, sql))
            return -1;
        snprintf(sql, sizeof sql, "CREATE TABLE %s" RAW_DDL, table);
        double t0 = bench_now_s();
        if (run_sql(conn, sql) || run_sql(conn, "BEGIN") ||
            raw_copy_into(conn, table, rows, 0) || run_sql(conn, "COMMIT"))
            return -1;
        double t1 = bench_now_s();
        if (w == 0)
            *insert = (double)rows / (t1 - t0);
        snprintf(sql, sizeof sql, "%s%s%s", raw_way_sql[w][0], table,
                 raw_way_sql[w][1]);
        if (run_sql(conn, "BEGIN") ||
            run_sql(conn, "CREATE TEMP TABLE raw_stg (LIKE " SCHEMA
                          ".raw) ON COMMIT DROP"))
            return -1;
        t1 = bench_now_s();
        int rc = w == RAW_TEXT_UPSERT
                     ? raw_copy_into(conn, "raw_stg", rows, 1)
                     : run_copy_in(conn, "COPY raw_stg FROM STDIN "
                                         "(FORMAT binary)") ||
                           raw_copy_binary(conn, rows, 1);
        if (rc || run_count(conn, sql) != rows || run_sql(conn, "COMMIT"))
            return -1;
        way_rows_s[w] = (double)rows / (bench_now_s() - t1);
        if (w > 0) {
            snprintf(sql, sizeof sql, "DROP TABLE %s", table);
            if (run_sql(conn, sql))
                return -1;
        }
    }
    return 0;
}

static mw_conf_t *bench_conf(const char *conninfo)
{
    static const mw_conf_key_t keys[] = {
        {.name = "postgres.conninfo", .type = MW_CONF_STR, .doc = "server"},
        {.name = "postgres.schema",
         .type = MW_CONF_STR,
         .dflt = SCHEMA,
         .doc = "schema"},
        {.name = "group.id",
         .type = MW_CONF_STR,
         .dflt = "bench",
         .doc = "group"},
    };
    static const mw_conf_program_t prog = {.name = "mat_pg_bench",
                                           .summary = "sink benchmark"};
    mw_err_t err = {0};
    mw_conf_t *conf = mw_conf_new(&prog, keys, 3, &err);
    if (!conf ||
        mw_conf_set(conf, "postgres.conninfo", conninfo, "argv", &err) ||
        mw_conf_finalize(conf, &err)) {
        fprintf(stderr, "mat_pg_bench: %s\n", err.msg);
        mw_conf_destroy(conf);
        return NULL;
    }
    return conf;
}

/* The sink's table holds rows rows, every one of generation gen (qty and
 * name say which). */
static int check_generation(const pg_bench_t *b, int gen)
{
    char sql[200];
    long long cnt = query_num(b->conn, "SELECT count(*) FROM " SCHEMA ".t");
    snprintf(sql, sizeof sql,
             "SELECT count(*) FROM " SCHEMA ".t WHERE "
             "qty = id %% 1000 + %d AND name LIKE '%%-g%d'",
             gen, gen);
    long long ok = query_num(b->conn, sql);
    if (cnt == b->rows && ok == b->rows)
        return 0;
    fprintf(stderr,
            "mat_pg_bench: after generation %d the table holds %lld "
            "rows, %lld of them of that generation\n",
            gen, cnt, ok);
    return -1;
}

/* After the updates the sink's table must equal the raw one (which holds
 * generation 1 by then, whichever side ran first). */
static int check_same_as_raw(const pg_bench_t *b)
{
    long long diff = query_num(
        b->conn, "SELECT count(*) FROM (SELECT * "
                 "FROM " SCHEMA ".t EXCEPT SELECT * FROM " SCHEMA ".raw) d");
    long long raw = query_num(b->conn, "SELECT count(*) FROM " SCHEMA ".raw");
    if (diff == 0 && raw == b->rows)
        return 0;
    fprintf(stderr,
            "mat_pg_bench: %lld rows of the sink's table differ from "
            "the raw path's (%lld rows)\n",
            diff, raw);
    return -1;
}

/* Both phases of one strategy on a fresh table; 0 or -1.  Needs the raw
 * table of the same round for the check. */
static int sink_round(const pg_bench_t *b, mat_pg_strategy_t strategy,
                      phase_pair_t *out)
{
    mat_table_t table = bench_table();
    mw_err_t err = {0};
    int64_t offset = 0;
    if (run_sql(b->conn, "DROP TABLE IF EXISTS " SCHEMA ".t"))
        return -1;
    void *pg = mat_sink_pg_ops.open(b->conf, NULL, &err);
    if (!pg) {
        fprintf(stderr, "mat_pg_bench: %s\n", err.msg);
        return -1;
    }
    mat_pg_set_strategy(pg, strategy);
    int rc = check_semantics(pg, b->conn, &table);
    out->insert = rc ? -1 : phase(pg, &table, b, 0, &offset);
    rc = out->insert < 0 ? -1 : check_generation(b, 0);
    out->update = rc ? -1 : phase(pg, &table, b, 1, &offset);
    rc = out->update < 0 ? -1 : check_generation(b, 1);
    if (rc == 0)
        rc = check_same_as_raw(b);
    mat_sink_pg_ops.close(pg);
    if (rc != 0)
        fprintf(stderr, "mat_pg_bench: strategy %s failed\n",
                mat_pg_strategy_name(strategy));
    return rc;
}

static void keep_best(phase_pair_t *best, const phase_pair_t *got)
{
    if (got->insert > best->insert)
        best->insert = got->insert;
    if (got->update > best->update)
        best->update = got->update;
}

/* The raw side's best figures: the insert, and each way's update. */
typedef struct raw_best {
    double insert, way[RAW__WAY_CNT];
} raw_best_t;

/* One round: the raw limits (before or after the sink) and each
 * strategy. */
static int bench_round(const pg_bench_t *b, int round, raw_best_t *raw_best,
                       phase_pair_t *best)
{
    phase_pair_t got[MAT_PG__STRATEGY_CNT] = {{0}};
    raw_best_t raw = {0};
    bool raw_first = round % 2 == 0;
    if (raw_first && raw_round(b->conn, b->rows, &raw.insert, raw.way) != 0)
        return -1;
    for (int s = 0; s < MAT_PG__STRATEGY_CNT; s++)
        if (sink_round(b, (mat_pg_strategy_t)s, &got[s]) != 0)
            return -1;
    if (!raw_first && raw_round(b->conn, b->rows, &raw.insert, raw.way) != 0)
        return -1;
    printf("  round %d: raw COPY %8.0f, update", round + 1, raw.insert);
    for (int w = 0; w < RAW__WAY_CNT; w++)
        printf(" %s %.0f", raw_way_names[w], raw.way[w]);
    printf(" |");
    for (int s = 0; s < MAT_PG__STRATEGY_CNT; s++)
        printf(" %s %8.0f %8.0f%s", mat_pg_strategy_name((mat_pg_strategy_t)s),
               got[s].insert, got[s].update,
               s + 1 < MAT_PG__STRATEGY_CNT ? " |" : "");
    printf(" rows/s\n");
    fflush(stdout);
    if (raw.insert > raw_best->insert)
        raw_best->insert = raw.insert;
    for (int w = 0; w < RAW__WAY_CNT; w++)
        if (raw.way[w] > raw_best->way[w])
            raw_best->way[w] = raw.way[w];
    for (int s = 0; s < MAT_PG__STRATEGY_CNT; s++)
        keep_best(&best[s], &got[s]);
    return 0;
}

/* The figures and bench/mat_bench.sh's result lines. */
static void report(const raw_best_t *raw, const phase_pair_t *best)
{
    int top = 0;
    for (int w = 0; w < RAW__WAY_CNT; w++) {
        printf("raw update %-14s %8.0f rows/s\n", raw_way_names[w],
               raw->way[w]);
        if (raw->way[w] > raw->way[top])
            top = w;
    }
    printf("raw update limit: %s\n", raw_way_names[top]);
    for (int s = 0; s < MAT_PG__STRATEGY_CNT; s++)
        printf("mat_pg %-8s insert %8.0f rows/s (%.2f of raw COPY)  "
               "update %8.0f rows/s (%.2f of the best raw update, %s)%s\n",
               mat_pg_strategy_name((mat_pg_strategy_t)s), best[s].insert,
               best[s].insert / raw->insert, best[s].update,
               best[s].update / raw->way[top], raw_way_names[top],
               s == MAT_PG_ADAPTIVE ? "  (default)" : "");
    const phase_pair_t *d = &best[MAT_PG_ADAPTIVE];
    printf("result postgres insert %.0f %.0f raw-COPY 0.8\n", d->insert,
           raw->insert);
    printf("result postgres update %.0f %.0f raw-%s 1.0\n", d->update,
           raw->way[top], raw_way_names[top]);
    printf("result postgres update %.0f %.0f raw-%s -\n", d->update,
           raw->way[RAW_TEXT_UPSERT], raw_way_names[RAW_TEXT_UPSERT]);
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: mat_pg_bench CONNINFO [ROWS] [BATCH] "
                        "[ROUNDS]\n");
        return 2;
    }
    pg_bench_t b = {.rows = argc > 2 ? strtoll(argv[2], NULL, 10) : 500000,
                    .batch = argc > 3 ? strtoll(argv[3], NULL, 10) : 5000};
    int rounds = argc > 4 ? atoi(argv[4]) : 3;
    if (b.rows <= 0 || b.batch <= 0 || rounds <= 0) {
        fprintf(stderr, "mat_pg_bench: bad arguments\n");
        return 2;
    }
    mw_log_set_level(MW_LOG_WARN); /* no "table created" per round */
    b.conf = bench_conf(argv[1]);
    b.conn = b.conf ? PQconnectdb(argv[1]) : NULL;
    int rc = b.conn && PQstatus(b.conn) == CONNECTION_OK ? 0 : 1;
    if (rc && b.conn)
        fprintf(stderr, "mat_pg_bench: %s", PQerrorMessage(b.conn));
    if (rc == 0)
        rc = run_sql(b.conn, "SET client_min_messages = warning") ||
                     run_sql(b.conn,
                             "DROP SCHEMA IF EXISTS " SCHEMA " CASCADE") ||
                     run_sql(b.conn, "CREATE SCHEMA " SCHEMA)
                 ? 1
                 : 0;
    if (rc == 0)
        printf("mat_pg: %" PRId64 " rows, sink batch %" PRId64 ", raw: one "
               "transaction per phase; PostgreSQL %d\n",
               b.rows, b.batch, PQserverVersion(b.conn));
    raw_best_t raw = {0};
    phase_pair_t best[MAT_PG__STRATEGY_CNT] = {{0}};
    for (int r = 0; rc == 0 && r < rounds; r++)
        rc = bench_round(&b, r, &raw, best) ? 1 : 0;
    if (rc == 0) {
        report(&raw, best);
        run_sql(b.conn, "DROP SCHEMA " SCHEMA " CASCADE");
    }
    PQfinish(b.conn);
    mw_conf_destroy(b.conf);
    return rc;
}
