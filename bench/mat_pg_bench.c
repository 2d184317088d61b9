/*
 * mat_pg_bench: rows/s of the PostgreSQL sink, each strategy beside the raw
 * limit in the same run.
 *
 *   mat_pg_bench CONNINFO [ROWS] [BATCH]
 *
 * Drives mat_sink_pg_ops directly (no Kafka, no decoding: the sink alone)
 * with ROWS changes (default 200000) of a 7-column table in transactions of
 * BATCH changes (default 5000, the materializer's batch.max.records):
 * first inserts of new keys, then updates of every key.  For each strategy
 * (copy_merge, upsert) it prints rows/s of both phases; then the raw limit:
 * one COPY of the same rows into an empty table in one transaction, done
 * with libpq directly.  Before timing, a small batch checks the semantics
 * the dedup relies on (delete+insert of a key ends present, insert+delete
 * ends absent).  Exit 0 when every step and check succeeded.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <libpq-fe.h>

#include "mat_pg_int.h"
#include "mw_conf.h"

#define SCHEMA "mat_bench"

static const mat_column_t bench_cols[] = {
    {.name = "id", .type = MAT_COL_INT64, .is_key = true},
    {.name = "name", .type = MAT_COL_TEXT, .nullable = true},
    {.name = "amount", .type = MAT_COL_DECIMAL, .precision = 12, .scale = 2,
     .nullable = true},
    {.name = "qty", .type = MAT_COL_INT32, .nullable = true},
    {.name = "ts", .type = MAT_COL_TIMESTAMP_MICROS, .nullable = true},
    {.name = "flag", .type = MAT_COL_BOOL, .nullable = true},
    {.name = "score", .type = MAT_COL_DOUBLE, .nullable = true},
};
#define COL_CNT (sizeof bench_cols / sizeof bench_cols[0])

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Row i of generation gen: values borrow name/amount from the buffers. */
static void make_row(int64_t i, int gen, mat_value_t *v, char *name,
                     char *amount)
{
    int nlen = snprintf(name, 64, "customer-%" PRId64 "-g%d", i, gen);
    int alen = snprintf(amount, 32, "%" PRId64 ".%02d", i * 3 + gen,
                        (int)(i % 100));
    memset(v, 0, COL_CNT * sizeof(*v));
    v[0].u.i = i;
    v[1].u.s.ptr = name;
    v[1].u.s.len = (size_t)nlen;
    v[2].u.s.ptr = amount;
    v[2].u.s.len = (size_t)alen;
    v[3].u.i = (int64_t)(i % 1000) + gen;
    v[4].u.i = INT64_C(1700000000000000) + i * 1000;
    v[5].u.b = (i + gen) % 2 == 0;
    v[6].u.d = (double)i / 7.0;
}

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
    PQclear(res);
    return v;
}

static int apply_one(void *pg, const mat_table_t *table, mat_op_t op,
                     int64_t i, int gen, mw_err_t *err)
{
    mat_value_t v[COL_CNT];
    char name[64], amount[32];
    make_row(i, gen, v, name, amount);
    mat_change_t ch = {.op = op, .values = v, .topic = "bench"};
    return mat_sink_pg_ops.apply(pg, table, &ch, err);
}

/* One phase: rows changes (generation gen) in batches; returns rows/s or
 * a negative value on failure. */
static double phase(void *pg, const mat_table_t *table, int64_t rows,
                    int64_t batch, int gen)
{
    mw_err_t err = {0};
    double t0 = now_s();
    for (int64_t i = 0; i < rows;) {
        int rc = mat_sink_pg_ops.begin(pg, &err);
        if (rc == 0)
            rc = mat_sink_pg_ops.ensure_table(pg, table, &err);
        for (int64_t n = 0; rc == 0 && n < batch && i < rows; n++, i++)
            rc = apply_one(pg, table, MAT_OP_UPSERT, i, gen, &err);
        if (rc == 0)
            rc = mat_sink_pg_ops.store_offset(pg, "bench", 0, i, &err);
        if (rc == 0)
            rc = mat_sink_pg_ops.commit(pg, &err);
        if (rc != 0) {
            fprintf(stderr, "mat_pg_bench: %s\n", err.msg);
            mat_sink_pg_ops.rollback(pg);
            return -1;
        }
    }
    return (double)rows / (now_s() - t0);
}

/* delete+insert of key 1 must end present, insert+delete of key 2 absent,
 * both in one batch. */
static int check_dedup(void *pg, PGconn *conn, const mat_table_t *table)
{
    mw_err_t err = {0};
    int rc = mat_sink_pg_ops.begin(pg, &err);
    if (rc == 0)
        rc = mat_sink_pg_ops.ensure_table(pg, table, &err);
    if (rc == 0)
        rc = apply_one(pg, table, MAT_OP_UPSERT, 1, 0, &err);
    if (rc == 0)
        rc = apply_one(pg, table, MAT_OP_DELETE, 1, 0, &err);
    if (rc == 0)
        rc = apply_one(pg, table, MAT_OP_UPSERT, 1, 9, &err);
    if (rc == 0)
        rc = apply_one(pg, table, MAT_OP_UPSERT, 2, 0, &err);
    if (rc == 0)
        rc = apply_one(pg, table, MAT_OP_DELETE, 2, 0, &err);
    if (rc == 0)
        rc = mat_sink_pg_ops.commit(pg, &err);
    if (rc != 0) {
        fprintf(stderr, "mat_pg_bench: check: %s\n", err.msg);
        mat_sink_pg_ops.rollback(pg);
        return -1;
    }
    long long n1 = query_num(conn, "SELECT qty FROM " SCHEMA ".t WHERE id=1");
    long long n2 = query_num(conn, "SELECT count(*) FROM " SCHEMA ".t "
                                   "WHERE id=2");
    if (n1 != 10 || n2 != 0) {
        fprintf(stderr, "mat_pg_bench: dedup check failed (qty %lld, "
                "count %lld)\n", n1, n2);
        return -1;
    }
    return run_sql(conn, "TRUNCATE " SCHEMA ".t");
}

/* The raw limit: one COPY of the same rows into an empty table. */
static double raw_copy(PGconn *conn, int64_t rows)
{
    if (run_sql(conn, "DROP TABLE IF EXISTS " SCHEMA ".raw") ||
        run_sql(conn, "CREATE TABLE " SCHEMA ".raw (id bigint PRIMARY KEY, "
                      "name text, amount numeric(12,2), qty integer, "
                      "ts timestamptz, flag boolean, score double precision)"))
        return -1;
    double t0 = now_s();
    if (run_sql(conn, "BEGIN"))
        return -1;
    PGresult *res = PQexec(conn, "COPY " SCHEMA ".raw FROM STDIN");
    int ok = PQresultStatus(res) == PGRES_COPY_IN;
    PQclear(res);
    char line[256];
    for (int64_t i = 0; ok && i < rows; i++) {
        mat_value_t v[COL_CNT];
        char name[64], amount[32];
        make_row(i, 0, v, name, amount);
        /* The timestamp as PostgreSQL prints it, epoch arithmetic done by
         * the server is not part of the raw path: plain text columns. */
        time_t secs = (time_t)(v[4].u.i / 1000000);
        struct tm tm;
        gmtime_r(&secs, &tm);
        int len = snprintf(line, sizeof line,
                           "%" PRId64 "\t%s\t%s\t%" PRId64 "\t"
                           "%04d-%02d-%02d %02d:%02d:%02d.%06d+00\t%s\t%.17g\n",
                           v[0].u.i, name, amount, v[3].u.i, tm.tm_year + 1900,
                           tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min,
                           tm.tm_sec, (int)(v[4].u.i % 1000000),
                           v[5].u.b ? "t" : "f", v[6].u.d);
        ok = PQputCopyData(conn, line, len) == 1;
    }
    ok = PQputCopyEnd(conn, ok ? NULL : "bench failed") == 1 && ok;
    while ((res = PQgetResult(conn)) != NULL) {
        ok = ok && PQresultStatus(res) == PGRES_COMMAND_OK;
        PQclear(res);
    }
    if (!ok || run_sql(conn, "COMMIT"))
        return -1;
    return (double)rows / (now_s() - t0);
}

static mw_conf_t *bench_conf(const char *conninfo)
{
    static const mw_conf_key_t keys[] = {
        {.name = "postgres.conninfo", .type = MW_CONF_STR, .doc = "server"},
        {.name = "postgres.schema", .type = MW_CONF_STR, .dflt = SCHEMA,
         .doc = "schema"},
        {.name = "group.id", .type = MW_CONF_STR, .dflt = "bench",
         .doc = "group"},
    };
    static const mw_conf_program_t prog = {.name = "mat_pg_bench",
                                           .summary = "sink benchmark"};
    mw_err_t err = {0};
    mw_conf_t *conf = mw_conf_new(&prog, keys, 3, &err);
    if (!conf || mw_conf_set(conf, "postgres.conninfo", conninfo, "argv",
                             &err) || mw_conf_finalize(conf, &err)) {
        fprintf(stderr, "mat_pg_bench: %s\n", err.msg);
        mw_conf_destroy(conf);
        return NULL;
    }
    return conf;
}

/* Both phases of one strategy on a fresh table; 0 or -1. */
static int bench_strategy(mat_pg_strategy_t strategy, mw_conf_t *conf,
                          PGconn *conn, int64_t rows, int64_t batch,
                          double raw)
{
    mat_table_t table = {.name = "t", .topic = "bench", .cols = bench_cols,
                         .col_cnt = COL_CNT, .key_cnt = 1, .version = 1};
    mw_err_t err = {0};
    if (run_sql(conn, "DROP TABLE IF EXISTS " SCHEMA ".t"))
        return -1;
    void *pg = mat_sink_pg_ops.open(conf, NULL, &err);
    if (!pg) {
        fprintf(stderr, "mat_pg_bench: %s\n", err.msg);
        return -1;
    }
    mat_pg_set_strategy(pg, strategy);
    int rc = check_dedup(pg, conn, &table);
    double ins = rc ? -1 : phase(pg, &table, rows, batch, 0);
    double upd = ins < 0 ? -1 : phase(pg, &table, rows, batch, 1);
    long long cnt = query_num(conn, "SELECT count(*) FROM " SCHEMA ".t");
    mat_sink_pg_ops.close(pg);
    if (ins < 0 || upd < 0 || cnt != rows) {
        fprintf(stderr, "mat_pg_bench: %s failed (rows %lld)\n",
                mat_pg_strategy_name(strategy), cnt);
        return -1;
    }
    printf("mat_pg %-10s insert %8.0f rows/s (%.2f of raw COPY)  update "
           "%8.0f rows/s (%.2f)  batch=%" PRId64 "\n",
           mat_pg_strategy_name(strategy), ins, ins / raw, upd, upd / raw,
           batch);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: mat_pg_bench CONNINFO [ROWS] [BATCH]\n");
        return 2;
    }
    int64_t rows = argc > 2 ? strtoll(argv[2], NULL, 10) : 200000;
    int64_t batch = argc > 3 ? strtoll(argv[3], NULL, 10) : 5000;
    mw_conf_t *conf = bench_conf(argv[1]);
    PGconn *conn = conf ? PQconnectdb(argv[1]) : NULL;
    int rc = conn && PQstatus(conn) == CONNECTION_OK ? 0 : 1;
    if (rc == 0)
        rc = run_sql(conn, "CREATE SCHEMA IF NOT EXISTS " SCHEMA) ? 1 : 0;
    double raw = rc ? -1 : raw_copy(conn, rows);
    if (raw < 0)
        rc = 1;
    else
        printf("mat_pg raw COPY   %8.0f rows/s  rows=%" PRId64 "\n", raw,
               rows);
    for (int s = 0; rc == 0 && s < MAT_PG__STRATEGY_CNT; s++)
        rc = bench_strategy((mat_pg_strategy_t)s, conf, conn, rows, batch,
                            raw) ? 1 : 0;
    if (rc == 0)
        run_sql(conn, "DROP SCHEMA " SCHEMA " CASCADE");
    PQfinish(conn);
    mw_conf_destroy(conf);
    return rc;
}
