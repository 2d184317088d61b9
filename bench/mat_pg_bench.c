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
 * The raw limits, with libpq directly, on a table of the same shape:
 * insert, one COPY (text format, PostgreSQL's default) of the same rows
 * into the empty table in one transaction (the limit); update, one
 * COPY of the updates into a temporary table and one INSERT ... ON
 * CONFLICT DO UPDATE of them all, in one transaction: the least work
 * PostgreSQL does to update rows by key from a client, whatever the
 * batching.
 *
 * ROUNDS rounds (default 3) take turns (raw first in odd rounds) and each
 * column keeps its best, so a burst of other work on the shared cores
 * costs a round, not a side.  Checks: before timing, small batches check
 * the semantics the sink's deduplication and its direct/merge switch rely
 * on; after each phase every row of the sink's table must be of that
 * phase's generation, and after the updates the table must equal the raw
 * path's row for row.  Prints the figures, then "result postgres PHASE
 * SINK_ROWS_S RAW_ROWS_S RAW_NAME GOAL" lines (the default strategy) for
 * bench/mat_bench.sh.
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
 *   4. a delete and an update together (direct COPY refused again). */
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
    static const struct {
        const check_change_t *ch;
        size_t n;
        const char *want;
    } steps[] = {{b1, 5, "1:10"},
                 {b2, 2, "1:4,3:3"},
                 {b3, 2, "1:4,3:3,4:4,5:5"},
                 {b4, 2, "1:4,4:9,5:5"}};
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
    ok = PQputCopyEnd(conn, ok ? NULL : "bench failed") == 1 && ok;
    PGresult *res;
    while ((res = PQgetResult(conn)) != NULL) {
        ok = ok && PQresultStatus(res) == PGRES_COMMAND_OK;
        PQclear(res);
    }
    if (!ok)
        fprintf(stderr, "mat_pg_bench: raw COPY: %s", PQerrorMessage(conn));
    return ok ? 0 : -1;
}

/* COPY (text) of generation gen's rows into table; 0 or -1. */
static int raw_copy_into(PGconn *conn, const char *table, int64_t rows, int gen)
{
    char sql[128];
    snprintf(sql, sizeof sql, "COPY %s FROM STDIN", table);
    PGresult *res = PQexec(conn, sql);
    int ok = PQresultStatus(res) == PGRES_COPY_IN;
    PQclear(res);
    if (!ok) {
        fprintf(stderr, "mat_pg_bench: %s: %s", sql, PQerrorMessage(conn));
        return -1;
    }
    return raw_copy_rows(conn, rows, gen);
}

/* The raw limits, on the table `raw`:
 *   insert: one text COPY of generation 0 into the empty table, in one
 *           transaction;
 *   update: the best PostgreSQL offers for updating those rows by key
 *           from a client: one text COPY of generation 1 into a temporary
 *           table and one INSERT ... ON CONFLICT DO UPDATE of them all, in
 *           one transaction. */
static int raw_round(PGconn *conn, int64_t rows, phase_pair_t *out)
{
    if (run_sql(conn, "DROP TABLE IF EXISTS " SCHEMA ".raw") ||
        run_sql(conn, "CREATE TABLE " SCHEMA ".raw (id bigint PRIMARY KEY, "
                      "name text, amount numeric(12,2), qty integer, "
                      "ts timestamp with time zone, flag boolean, "
                      "score double precision)"))
        return -1;
    double t0 = bench_now_s();
    if (run_sql(conn, "BEGIN") || raw_copy_into(conn, SCHEMA ".raw", rows, 0) ||
        run_sql(conn, "COMMIT"))
        return -1;
    double t1 = bench_now_s();
    if (run_sql(conn, "BEGIN") ||
        run_sql(conn, "CREATE TEMP TABLE raw_stg (LIKE " SCHEMA ".raw) "
                      "ON COMMIT DROP") ||
        raw_copy_into(conn, "raw_stg", rows, 1) ||
        run_sql(conn, "INSERT INTO " SCHEMA ".raw SELECT * FROM raw_stg "
                      "ON CONFLICT (id) DO UPDATE SET name = EXCLUDED.name, "
                      "amount = EXCLUDED.amount, qty = EXCLUDED.qty, "
                      "ts = EXCLUDED.ts, flag = EXCLUDED.flag, "
                      "score = EXCLUDED.score") ||
        run_sql(conn, "COMMIT"))
        return -1;
    double t2 = bench_now_s();
    out->insert = (double)rows / (t1 - t0);
    out->update = (double)rows / (t2 - t1);
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

/* One round: the raw limits (before or after the sink) and each
 * strategy. */
static int bench_round(const pg_bench_t *b, int round, phase_pair_t *raw_best,
                       phase_pair_t *best)
{
    phase_pair_t got[MAT_PG__STRATEGY_CNT] = {{0}}, raw = {0};
    bool raw_first = round % 2 == 0;
    if (raw_first && raw_round(b->conn, b->rows, &raw) != 0)
        return -1;
    for (int s = 0; s < MAT_PG__STRATEGY_CNT; s++)
        if (sink_round(b, (mat_pg_strategy_t)s, &got[s]) != 0)
            return -1;
    if (!raw_first && raw_round(b->conn, b->rows, &raw) != 0)
        return -1;
    printf("  round %d: raw COPY %8.0f upsert %8.0f |", round + 1, raw.insert,
           raw.update);
    for (int s = 0; s < MAT_PG__STRATEGY_CNT; s++)
        printf(" %s %8.0f %8.0f%s", mat_pg_strategy_name((mat_pg_strategy_t)s),
               got[s].insert, got[s].update,
               s + 1 < MAT_PG__STRATEGY_CNT ? " |" : "");
    printf(" rows/s\n");
    fflush(stdout);
    keep_best(raw_best, &raw);
    for (int s = 0; s < MAT_PG__STRATEGY_CNT; s++)
        keep_best(&best[s], &got[s]);
    return 0;
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
               "text COPY in one transaction; PostgreSQL %d\n",
               b.rows, b.batch, PQserverVersion(b.conn));
    phase_pair_t raw = {0}, best[MAT_PG__STRATEGY_CNT] = {{0}};
    for (int r = 0; rc == 0 && r < rounds; r++)
        rc = bench_round(&b, r, &raw, best) ? 1 : 0;
    if (rc == 0) {
        for (int s = 0; s < MAT_PG__STRATEGY_CNT; s++)
            printf("mat_pg %-8s insert %8.0f rows/s (%.2f of raw COPY)  "
                   "update %8.0f rows/s (%.2f of raw COPY, %.2f of raw "
                   "upsert)%s\n",
                   mat_pg_strategy_name((mat_pg_strategy_t)s), best[s].insert,
                   best[s].insert / raw.insert, best[s].update,
                   best[s].update / raw.insert, best[s].update / raw.update,
                   s == MAT_PG_ADAPTIVE ? "  (default)" : "");
        printf("result postgres insert %.0f %.0f raw-COPY 0.5\n",
               best[MAT_PG_ADAPTIVE].insert, raw.insert);
        printf("result postgres update %.0f %.0f raw-COPY 0.5\n",
               best[MAT_PG_ADAPTIVE].update, raw.insert);
        printf("result postgres update %.0f %.0f raw-upsert -\n",
               best[MAT_PG_ADAPTIVE].update, raw.update);
        run_sql(b.conn, "DROP SCHEMA " SCHEMA " CASCADE");
    }
    PQfinish(b.conn);
    mw_conf_destroy(b.conf);
    return rc;
}
