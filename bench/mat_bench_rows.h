/*
 * mat_bench_rows: the rows both materializer benchmarks write
 * (mat_sqlite_bench, mat_pg_bench), so their figures describe the same
 * work.  A 7-column table keyed by a bigint: text, decimal(12,2), int,
 * timestamp, boolean, double, the mix a change-data table typically has.
 * Row i of generation gen (0: the inserts, 1: the updates of every key)
 * is a pure function of (i, gen); generating it (two snprintf calls) is
 * inside every timed window, the sink's and the raw limit's alike.
 */
#ifndef MAT_BENCH_ROWS_H
#define MAT_BENCH_ROWS_H

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "bench_util.h"
#include "mat_map.h"

static const mat_column_t bench_cols[] = {
    {.name = "id", .type = MAT_COL_INT64, .is_key = true},
    {.name = "name", .type = MAT_COL_TEXT, .nullable = true},
    {.name = "amount",
     .type = MAT_COL_DECIMAL,
     .precision = 12,
     .scale = 2,
     .nullable = true},
    {.name = "qty", .type = MAT_COL_INT32, .nullable = true},
    {.name = "ts", .type = MAT_COL_TIMESTAMP_MICROS, .nullable = true},
    {.name = "flag", .type = MAT_COL_BOOL, .nullable = true},
    {.name = "score", .type = MAT_COL_DOUBLE, .nullable = true},
};
#define BENCH_COL_CNT (sizeof bench_cols / sizeof bench_cols[0])
#define BENCH_TS0 INT64_C(1700000000000000) /* 2023-11-14, microseconds */

/* The table both benchmarks write: "t", version 1, keyed by id. */
static inline mat_table_t bench_table(void)
{
    return (mat_table_t){.name = "t",
                         .topic = "bench",
                         .cols = bench_cols,
                         .col_cnt = BENCH_COL_CNT,
                         .key_cnt = 1,
                         .version = 1};
}

/* The text buffers a row's values point into. */
typedef struct bench_text {
    char name[64], amount[32];
} bench_text_t;

/* Row i of generation gen into v[BENCH_COL_CNT] (text borrowed from t). */
static inline void bench_make_row(int64_t i, int gen, mat_value_t *v,
                                  bench_text_t *t)
{
    int nlen =
        snprintf(t->name, sizeof t->name, "customer-%" PRId64 "-g%d", i, gen);
    int alen = snprintf(t->amount, sizeof t->amount, "%" PRId64 ".%02d",
                        i * 3 + gen, (int)(i % 100));
    memset(v, 0, BENCH_COL_CNT * sizeof(*v));
    v[0].u.i = i;
    v[1].u.s.ptr = t->name;
    v[1].u.s.len = (size_t)nlen;
    v[2].u.s.ptr = t->amount;
    v[2].u.s.len = (size_t)alen;
    v[3].u.i = (int64_t)(i % 1000) + gen;
    v[4].u.i = BENCH_TS0 + i * 1000;
    v[5].u.b = (i + gen) % 2 == 0;
    v[6].u.d = (double)i / 7.0;
}

/* What the checks expect in column qty of key i after generation gen. */
static inline int64_t bench_qty(int64_t i, int gen)
{
    return (i % 1000) + gen;
}

#endif /* MAT_BENCH_ROWS_H */
