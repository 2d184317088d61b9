/*
 * mat_pg_rows: a PostgreSQL table's pending changes within one batch, and
 * the two ways of writing them.
 *
 * apply() formats each change's values into PostgreSQL's text input syntax
 * right away (the change is only borrowed) and files it under its key in a
 * small open-addressing hash: a later change of the same key replaces the
 * earlier one in place.  That is exact because every upsert carries the
 * whole after-image: within one batch only a key's last change decides its
 * final state (insert-delete ends absent, delete-insert ends as the insert),
 * and it also satisfies INSERT ... ON CONFLICT, which refuses to touch one
 * row twice in a statement.  Rows without a key (append) are kept in order.
 *
 * flush() writes the pending rows inside the batch's open transaction:
 *
 *   COPY_MERGE  one round trip: CREATE TEMP TABLE IF NOT EXISTS staging
 *               (ON COMMIT DELETE ROWS), COPY staging FROM STDIN, DELETE
 *               ... USING staging, INSERT ... SELECT FROM staging ON
 *               CONFLICT DO UPDATE.  The staging table has a `_mesh_del`
 *               flag column and no constraints; it is named after the
 *               table's index and shape version, so a new column gets a new
 *               staging table.
 *   UPSERT      multi-row INSERT ... VALUES (...),(...) ON CONFLICT DO
 *               UPDATE and DELETE ... WHERE (key) IN (...), text parameters,
 *               as many rows per statement as the 65535-parameter limit
 *               allows.
 *
 * The faster one (measured, see mat_pg.c) is the default.
 */
#include "mat_pg_int.h"

#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PG_PARAMS_MAX 65535
#define COPY_CHUNK_BYTES (1u << 20)

/* A formatted change: lens[i] is -1 for NULL, else the byte length of
 * column i's text at text + offs[i] (NUL-terminated, for PQexecParams). */
struct mat_pg_row {
    mat_op_t op;
    uint32_t hash;
    int32_t data[]; /* lens[col_cnt], offs[col_cnt], then the text */
};

static int32_t *row_lens(mat_pg_row_t *row) { return row->data; }

static int32_t *row_offs(mat_pg_row_t *row, size_t col_cnt)
{
    return row->data + col_cnt;
}

static char *row_text(mat_pg_row_t *row, size_t col_cnt)
{
    return (char *)(row->data + 2 * col_cnt);
}

static const char *row_val(mat_pg_row_t *row, size_t col_cnt, size_t i)
{
    if (row_lens(row)[i] < 0)
        return NULL;
    return row_text(row, col_cnt) + row_offs(row, col_cnt)[i];
}

const char *mat_pg_strategy_name(mat_pg_strategy_t strategy)
{
    static const char *const names[] = {
        [MAT_PG_COPY_MERGE] = "copy_merge",
        [MAT_PG_UPSERT] = "upsert",
    };
    _Static_assert(sizeof(names) / sizeof(names[0]) == MAT_PG__STRATEGY_CNT,
                   "strategy names match the enum");
    if ((unsigned)strategy >= MAT_PG__STRATEGY_CNT)
        return "unknown";
    return names[strategy];
}

/* ---- text formatting ---------------------------------------------- */

/* Proleptic Gregorian civil date of a day count since 1970-01-01, by the
 * 400-year era decomposition (eras of 146097 days starting on March 1st, so
 * the leap day is the era year's last day). */
static void civil_from_days(int64_t days, int64_t *year, int *month, int *day)
{
    int64_t z = days + 719468;
    int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    int64_t doe = z - era * 146097;                         /* [0, 146096] */
    int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);  /* [0, 365] */
    int64_t mp = (5 * doy + 2) / 153;                       /* March = 0 */
    *day = (int)(doy - (153 * mp + 2) / 5 + 1);
    *month = (int)(mp < 10 ? mp + 3 : mp - 9);
    *year = yoe + era * 400 + (*month <= 2);
}

/* PostgreSQL has no year 0: astronomical year 0 is 1 BC. */
static int append_date(mw_buf_t *buf, int64_t days, const char **era)
{
    int64_t y;
    int m, d;
    civil_from_days(days, &y, &m, &d);
    *era = y <= 0 ? " BC" : "";
    if (y <= 0)
        y = 1 - y;
    return mw_buf_appendf(buf, "%04" PRId64 "-%02d-%02d", y, m, d);
}

static int append_time(mw_buf_t *buf, int64_t us)
{
    int64_t s = us / 1000000;
    return mw_buf_appendf(buf, "%02d:%02d:%02d.%06d", (int)(s / 3600),
                          (int)(s / 60 % 60), (int)(s % 60),
                          (int)(us % 1000000));
}

static int append_timestamp(mw_buf_t *buf, int64_t us)
{
    /* Floor division: -1 us is 1969-12-31 23:59:59.999999. */
    int64_t day_us = INT64_C(86400000000);
    int64_t days = us / day_us, rem = us % day_us;
    const char *era;
    if (rem < 0) {
        rem += day_us;
        days--;
    }
    int rc = append_date(buf, days, &era);
    if (rc == 0)
        rc = mw_buf_append(buf, " ", 1);
    if (rc == 0)
        rc = append_time(buf, rem);
    if (rc == 0)
        rc = mw_buf_appendf(buf, "+00%s", era);
    return rc;
}

static int append_double(mw_buf_t *buf, double v, bool is_float)
{
    if (isnan(v))
        return mw_buf_appendf(buf, "NaN");
    if (isinf(v))
        return mw_buf_appendf(buf, "%sInfinity", v < 0 ? "-" : "");
    /* 9 and 17 significant digits round-trip float and double exactly. */
    return mw_buf_appendf(buf, "%.*g", is_float ? 9 : 17, v);
}

static int append_hex(mw_buf_t *buf, const char *ptr, size_t len)
{
    static const char hex[] = "0123456789abcdef";
    int rc = mw_buf_append(buf, "\\x", 2);
    for (size_t i = 0; rc == 0 && i < len; i++) {
        unsigned char c = (unsigned char)ptr[i];
        char two[2] = {hex[c >> 4], hex[c & 15]};
        rc = mw_buf_append(buf, two, 2);
    }
    return rc;
}

/* Appends v in PostgreSQL's text input syntax for col's type. */
static int append_value(mw_buf_t *buf, const mat_pg_col_t *col,
                        const mat_value_t *v, mw_err_t *err)
{
    const char *era;
    int rc;
    switch (col->type) {
    case MAT_COL_BOOL:
        return mw_buf_append(buf, v->u.b ? "t" : "f", 1);
    case MAT_COL_INT32:
    case MAT_COL_INT64:
        return mw_buf_appendf(buf, "%" PRId64, v->u.i);
    case MAT_COL_FLOAT:
    case MAT_COL_DOUBLE:
        return append_double(buf, v->u.d, col->type == MAT_COL_FLOAT);
    case MAT_COL_BYTES:
        return append_hex(buf, v->u.s.ptr, v->u.s.len);
    case MAT_COL_DATE:
        rc = append_date(buf, v->u.i, &era);
        return rc ? rc : mw_buf_appendf(buf, "%s", era);
    case MAT_COL_TIME_MICROS:
        if (v->u.i < 0 || v->u.i > INT64_C(86400000000))
            return mw_err_set(err, MW_ERR_INVALID,
                              "column '%s': time %" PRId64
                              " us is outside one day", col->name, v->u.i);
        return append_time(buf, v->u.i);
    case MAT_COL_TIMESTAMP_MICROS:
        return append_timestamp(buf, v->u.i);
    default: /* TEXT, DECIMAL, UUID, JSON: text as given */
        if (memchr(v->u.s.ptr, '\0', v->u.s.len))
            return mw_err_set(err, MW_ERR_INVALID,
                              "column '%s': text holds a NUL byte, which "
                              "PostgreSQL cannot store", col->name);
        return mw_buf_append(buf, v->u.s.ptr, v->u.s.len);
    }
}

/* ---- pending rows ------------------------------------------------- */

static uint32_t key_hash(const mat_pg_tab_t *tab, mat_pg_row_t *row)
{
    uint32_t h = 2166136261u; /* FNV-1a over each key's length and text */
    for (size_t i = 0; i < tab->col_cnt; i++) {
        if (!tab->cols[i].is_key)
            continue;
        int32_t len = row_lens(row)[i];
        const unsigned char *p =
            (const unsigned char *)row_val(row, tab->col_cnt, i);
        for (int k = 0; k < 4; k++)
            h = (h ^ (uint8_t)(len >> (8 * k))) * 16777619u;
        for (int32_t j = 0; j < len; j++)
            h = (h ^ p[j]) * 16777619u;
    }
    return h;
}

static bool key_equal(const mat_pg_tab_t *tab, mat_pg_row_t *a,
                      mat_pg_row_t *b)
{
    for (size_t i = 0; i < tab->col_cnt; i++) {
        if (!tab->cols[i].is_key)
            continue;
        int32_t len = row_lens(a)[i];
        if (len != row_lens(b)[i] ||
            memcmp(row_val(a, tab->col_cnt, i), row_val(b, tab->col_cnt, i),
                   (size_t)len) != 0)
            return false;
    }
    return true;
}

/* Formats change into a new row (caller frees), NULL with err set. */
static mat_pg_row_t *row_new(const mat_pg_tab_t *tab,
                             const mat_change_t *change, mw_err_t *err)
{
    size_t n = tab->col_cnt, hdr = sizeof(mat_pg_row_t) + 2 * n * 4;
    mw_buf_t *text = mw_buf_new(0);
    mat_pg_row_t *row = calloc(1, hdr);
    int rc = text && row ? 0 : MW_ERR_NOMEM;
    for (size_t i = 0; rc == 0 && i < n; i++) {
        const mat_value_t *v = &change->values[i];
        bool skip = change->op == MAT_OP_DELETE && !tab->cols[i].is_key;
        size_t start = mw_buf_len(text);
        row_lens(row)[i] = -1;
        if (tab->cols[i].is_key && v->is_null)
            rc = mw_err_set(err, MW_ERR_INVALID, "table '%s': key column "
                            "'%s' is null", tab->name, tab->cols[i].name);
        if (rc || skip || v->is_null)
            continue;
        rc = append_value(text, &tab->cols[i], v, err);
        if (rc == 0)
            rc = mw_buf_append(text, "", 1); /* the NUL */
        row_offs(row, n)[i] = (int32_t)start;
        row_lens(row)[i] = (int32_t)(mw_buf_len(text) - start - 1);
    }
    mat_pg_row_t *grown = rc ? NULL : realloc(row, hdr + mw_buf_len(text));
    if (grown) {
        row = grown;
        memcpy(row_text(row, n), mw_buf_data(text), mw_buf_len(text));
        row->op = change->op;
    } else if (rc == 0) {
        rc = mw_err_set(err, MW_ERR_NOMEM, "out of memory for a row");
    }
    mw_buf_destroy(text);
    if (rc) {
        if (rc == MW_ERR_NOMEM || rc == MW_ERR_FULL)
            mw_err_set(err, rc, "table '%s': row too large", tab->name);
        free(row);
        return NULL;
    }
    return row;
}

static int slots_grow(mat_pg_tab_t *tab)
{
    size_t cap = tab->slot_cap ? tab->slot_cap * 2 : 1024;
    int32_t *slots = malloc(cap * sizeof(*slots));
    if (!slots)
        return MW_ERR_NOMEM;
    memset(slots, 0xff, cap * sizeof(*slots)); /* -1 everywhere */
    for (size_t r = 0; r < tab->row_cnt; r++) {
        if (tab->rows[r]->op == MAT_OP_APPEND)
            continue;
        size_t s = tab->rows[r]->hash & (cap - 1);
        while (slots[s] >= 0)
            s = (s + 1) & (cap - 1);
        slots[s] = (int32_t)r;
    }
    free(tab->slots);
    tab->slots = slots;
    tab->slot_cap = cap;
    return 0;
}

static int rows_push(mat_pg_tab_t *tab, mat_pg_row_t *row)
{
    if (tab->row_cnt == tab->row_cap) {
        size_t cap = tab->row_cap ? tab->row_cap * 2 : 256;
        mat_pg_row_t **rows = realloc(tab->rows, cap * sizeof(*rows));
        if (!rows)
            return MW_ERR_NOMEM;
        tab->rows = rows;
        tab->row_cap = cap;
    }
    tab->rows[tab->row_cnt++] = row;
    return 0;
}

/* Files a keyed row: replaces the pending change of its key if any. */
static int rows_put_keyed(mat_pg_tab_t *tab, mat_pg_row_t *row)
{
    if (2 * (tab->row_cnt + 1) > tab->slot_cap && slots_grow(tab) != 0)
        return MW_ERR_NOMEM;
    row->hash = key_hash(tab, row);
    size_t s = row->hash & (tab->slot_cap - 1);
    for (; tab->slots[s] >= 0; s = (s + 1) & (tab->slot_cap - 1)) {
        mat_pg_row_t **old = &tab->rows[tab->slots[s]];
        if ((*old)->hash != row->hash || !key_equal(tab, *old, row))
            continue;
        tab->del_cnt -= (*old)->op == MAT_OP_DELETE;
        tab->del_cnt += row->op == MAT_OP_DELETE;
        free(*old);
        *old = row;
        return 0;
    }
    if (rows_push(tab, row) != 0)
        return MW_ERR_NOMEM;
    tab->slots[s] = (int32_t)(tab->row_cnt - 1);
    tab->del_cnt += row->op == MAT_OP_DELETE;
    return 0;
}

int mat_pg_rows_add(mat_pg_tab_t *tab, const mat_change_t *change,
                    mw_err_t *err)
{
    mat_pg_row_t *row = row_new(tab, change, err);
    if (!row)
        return err ? err->code : MW_ERR_INVALID;
    /* A keyed table takes appends as upserts (its key must stay unique);
     * an unkeyed one only appends. */
    bool keyed = tab->key_cnt > 0;
    if (!keyed && change->op == MAT_OP_DELETE) {
        free(row);
        return mw_err_set(err, MW_ERR_INVALID, "table '%s' has no key: "
                          "cannot delete", tab->name);
    }
    row->op = keyed ? (change->op == MAT_OP_DELETE ? MAT_OP_DELETE
                                                   : MAT_OP_UPSERT)
                    : MAT_OP_APPEND;
    int rc = keyed ? rows_put_keyed(tab, row) : rows_push(tab, row);
    if (rc != 0) {
        free(row);
        return mw_err_set(err, rc, "table '%s': out of memory for pending "
                          "rows", tab->name);
    }
    return 0;
}

void mat_pg_rows_clear(mat_pg_tab_t *tab)
{
    for (size_t r = 0; r < tab->row_cnt; r++)
        free(tab->rows[r]);
    tab->row_cnt = 0;
    tab->del_cnt = 0;
    if (tab->slots)
        memset(tab->slots, 0xff, tab->slot_cap * sizeof(*tab->slots));
}

void mat_pg_rows_free(mat_pg_tab_t *tab)
{
    mat_pg_rows_clear(tab);
    free(tab->rows);
    free(tab->slots);
    tab->rows = NULL;
    tab->slots = NULL;
    tab->row_cap = tab->slot_cap = 0;
}

/* ---- SQL pieces ---------------------------------------------------- */

/* "c1", "c2", ... (keys only when keys_only); prefix each with pfx. */
static int append_col_list(mw_buf_t *sql, const mat_pg_tab_t *tab,
                           bool keys_only, const char *pfx)
{
    int rc = 0;
    bool first = true;
    for (size_t i = 0; rc == 0 && i < tab->col_cnt; i++) {
        if (keys_only && !tab->cols[i].is_key)
            continue;
        rc = mw_buf_appendf(sql, "%s%s", first ? "" : ", ", pfx);
        if (rc == 0)
            rc = mat_pg_ident(sql, tab->cols[i].name);
        first = false;
    }
    return rc;
}

/* ON CONFLICT (keys) DO UPDATE SET c = EXCLUDED.c, ... (DO NOTHING when
 * every column is a key). */
static int append_on_conflict(mw_buf_t *sql, const mat_pg_tab_t *tab)
{
    int rc = mw_buf_appendf(sql, " ON CONFLICT (");
    if (rc == 0)
        rc = append_col_list(sql, tab, true, "");
    if (rc == 0)
        rc = mw_buf_appendf(sql, ") DO %s", tab->key_cnt == tab->col_cnt
                                                ? "NOTHING" : "UPDATE SET ");
    bool first = true;
    for (size_t i = 0; rc == 0 && i < tab->col_cnt; i++) {
        if (tab->cols[i].is_key)
            continue;
        rc = mw_buf_appendf(sql, "%s", first ? "" : ", ");
        if (rc == 0)
            rc = mat_pg_ident(sql, tab->cols[i].name);
        if (rc == 0)
            rc = mw_buf_appendf(sql, " = EXCLUDED.");
        if (rc == 0)
            rc = mat_pg_ident(sql, tab->cols[i].name);
        first = false;
    }
    return rc;
}

/* ---- COPY into staging, then merge -------------------------------- */

/* Appends one COPY text-format field: \N for NULL, else the text with
 * backslash, tab, newline and carriage return escaped. */
static int copy_field(mw_buf_t *buf, const char *val, int32_t len)
{
    if (!val)
        return mw_buf_append(buf, "\\N", 2);
    int rc = 0;
    const char *run = val;
    for (int32_t i = 0; rc == 0 && i < len; i++) {
        char c = val[i], esc;
        if (c == '\\')
            esc = '\\';
        else if (c == '\t')
            esc = 't';
        else if (c == '\n')
            esc = 'n';
        else if (c == '\r')
            esc = 'r';
        else
            continue;
        rc = mw_buf_append(buf, run, (size_t)(val + i - run));
        char two[2] = {'\\', esc};
        if (rc == 0)
            rc = mw_buf_append(buf, two, 2);
        run = val + i + 1;
    }
    return rc ? rc : mw_buf_append(buf, run, (size_t)(val + len - run));
}

/* Streams the rows as COPY text data; with_flag prefixes each line with
 * the staging table's _mesh_del column. */
static int copy_rows(PGconn *conn, const mat_pg_tab_t *tab, bool with_flag,
                     mw_buf_t *buf)
{
    int rc = 0;
    for (size_t r = 0; rc == 0 && r < tab->row_cnt; r++) {
        mat_pg_row_t *row = tab->rows[r];
        if (with_flag)
            rc = mw_buf_append(buf, row->op == MAT_OP_DELETE ? "t\t" : "f\t",
                               2);
        for (size_t i = 0; rc == 0 && i < tab->col_cnt; i++) {
            if (i > 0)
                rc = mw_buf_append(buf, "\t", 1);
            if (rc == 0)
                rc = copy_field(buf, row_val(row, tab->col_cnt, i),
                                row_lens(row)[i]);
        }
        if (rc == 0)
            rc = mw_buf_append(buf, "\n", 1);
        if (rc == 0 && (mw_buf_len(buf) >= COPY_CHUNK_BYTES ||
                        r + 1 == tab->row_cnt)) {
            if (PQputCopyData(conn, mw_buf_data(buf),
                              (int)mw_buf_len(buf)) != 1)
                rc = MW_ERR_TRANSPORT;
            mw_buf_reset(buf);
        }
    }
    return rc;
}

/* Sends sql (several statements, at most one COPY FROM STDIN, fed with
 * tab's rows) and collects every result; the first error wins. */
static int run_with_copy(PGconn *conn, const mat_pg_tab_t *tab,
                         bool with_flag, const char *sql, mw_err_t *err)
{
    if (!PQsendQuery(conn, sql))
        return mat_pg_error(conn, NULL, "sending a COPY", err);
    mw_buf_t *buf = mw_buf_new(0);
    int rc = buf ? 0 : mw_err_set(err, MW_ERR_NOMEM, "out of memory");
    PGresult *res;
    while ((res = PQgetResult(conn)) != NULL) {
        ExecStatusType st = PQresultStatus(res);
        if (st == PGRES_COPY_IN) {
            int crc = rc ? rc : copy_rows(conn, tab, with_flag, buf);
            PQputCopyEnd(conn, crc ? "mesh-materializer gave up" : NULL);
            if (crc && rc == 0)
                rc = mat_pg_error(conn, NULL, "COPY", err);
        } else if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK &&
                   rc == 0) {
            rc = mat_pg_error(conn, res, "merge", err);
        }
        PQclear(res);
        if (PQstatus(conn) == CONNECTION_BAD && rc == 0)
            rc = mat_pg_error(conn, NULL, "COPY", err);
        if (PQstatus(conn) == CONNECTION_BAD)
            break;
    }
    mw_buf_destroy(buf);
    return rc;
}

static int append_staging_name(mw_buf_t *sql, const mat_pg_tab_t *tab)
{
    return mw_buf_appendf(sql, "pg_temp.\"_mesh_stg_%d_%" PRIu32 "\"",
                          tab->idx, tab->version);
}

/* CREATE TEMP TABLE IF NOT EXISTS staging (...); [DELETE FROM staging;]
 * COPY staging FROM STDIN; */
static int staging_sql(mw_buf_t *sql, const mat_pg_tab_t *tab)
{
    char type[64];
    int rc = mw_buf_appendf(sql, "CREATE TEMP TABLE IF NOT EXISTS ");
    if (rc == 0)
        rc = append_staging_name(sql, tab);
    if (rc == 0)
        rc = mw_buf_appendf(sql, " (\"_mesh_del\" boolean");
    for (size_t i = 0; rc == 0 && i < tab->col_cnt; i++) {
        rc = mw_buf_appendf(sql, ", ");
        if (rc == 0)
            rc = mat_pg_ident(sql, tab->cols[i].name);
        if (rc == 0)
            rc = mw_buf_appendf(sql, " %s", mat_pg_col_sql_type(
                                                &tab->cols[i], type,
                                                sizeof(type)));
    }
    if (rc == 0)
        rc = mw_buf_appendf(sql, ") ON COMMIT DELETE ROWS; ");
    if (rc == 0 && tab->flushed_in_tx) {
        rc = mw_buf_appendf(sql, "DELETE FROM ");
        if (rc == 0)
            rc = append_staging_name(sql, tab);
        if (rc == 0)
            rc = mw_buf_appendf(sql, "; ");
    }
    if (rc == 0)
        rc = mw_buf_appendf(sql, "COPY ");
    if (rc == 0)
        rc = append_staging_name(sql, tab);
    return rc ? rc : mw_buf_appendf(sql, " FROM STDIN; ");
}

/* DELETE FROM t USING staging s WHERE s._mesh_del AND t.k = s.k ...; */
static int merge_delete_sql(mw_buf_t *sql, const mat_pg_tab_t *tab)
{
    int rc = mw_buf_appendf(sql, "DELETE FROM %s t USING ", tab->qname);
    if (rc == 0)
        rc = append_staging_name(sql, tab);
    if (rc == 0)
        rc = mw_buf_appendf(sql, " s WHERE s.\"_mesh_del\"");
    for (size_t i = 0; rc == 0 && i < tab->col_cnt; i++) {
        if (!tab->cols[i].is_key)
            continue;
        rc = mw_buf_appendf(sql, " AND t.");
        if (rc == 0)
            rc = mat_pg_ident(sql, tab->cols[i].name);
        if (rc == 0)
            rc = mw_buf_appendf(sql, " = s.");
        if (rc == 0)
            rc = mat_pg_ident(sql, tab->cols[i].name);
    }
    return rc ? rc : mw_buf_appendf(sql, "; ");
}

/* INSERT INTO t (cols) SELECT cols FROM staging WHERE NOT _mesh_del
 * ON CONFLICT ...; */
static int merge_upsert_sql(mw_buf_t *sql, const mat_pg_tab_t *tab)
{
    int rc = mw_buf_appendf(sql, "INSERT INTO %s (", tab->qname);
    if (rc == 0)
        rc = append_col_list(sql, tab, false, "");
    if (rc == 0)
        rc = mw_buf_appendf(sql, ") SELECT ");
    if (rc == 0)
        rc = append_col_list(sql, tab, false, "");
    if (rc == 0)
        rc = mw_buf_appendf(sql, " FROM ");
    if (rc == 0)
        rc = append_staging_name(sql, tab);
    if (rc == 0)
        rc = mw_buf_appendf(sql, " WHERE NOT \"_mesh_del\"");
    if (rc == 0)
        rc = append_on_conflict(sql, tab);
    return rc ? rc : mw_buf_appendf(sql, "; ");
}

static int flush_copy_merge(PGconn *conn, mat_pg_tab_t *tab, mw_err_t *err)
{
    bool append = tab->key_cnt == 0;
    mw_buf_t *sql = mw_buf_new(0);
    int rc = sql ? 0 : MW_ERR_NOMEM;
    if (rc == 0 && append) {
        /* Appends need no merge: straight into the table. */
        rc = mw_buf_appendf(sql, "COPY %s (", tab->qname);
        if (rc == 0)
            rc = append_col_list(sql, tab, false, "");
        if (rc == 0)
            rc = mw_buf_appendf(sql, ") FROM STDIN");
    } else if (rc == 0) {
        rc = staging_sql(sql, tab);
        if (rc == 0 && tab->del_cnt > 0)
            rc = merge_delete_sql(sql, tab);
        if (rc == 0 && tab->del_cnt < tab->row_cnt)
            rc = merge_upsert_sql(sql, tab);
    }
    if (rc != 0) {
        mw_buf_destroy(sql);
        return mw_err_set(err, MW_ERR_NOMEM, "table '%s': statement too "
                          "large", tab->name);
    }
    rc = run_with_copy(conn, tab, !append, mw_buf_data(sql), err);
    tab->flushed_in_tx = tab->flushed_in_tx || !append;
    mw_buf_destroy(sql);
    return rc;
}

/* ---- multi-row INSERT ... ON CONFLICT / DELETE ... IN -------------- */

/* Runs one built multi-row statement with its text parameters. */
static int exec_chunk(PGconn *conn, const mat_pg_tab_t *tab, mw_buf_t *sql,
                      const char **params, size_t nparams, mw_err_t *err)
{
    PGresult *res = PQexecParams(conn, mw_buf_data(sql), (int)nparams, NULL,
                                 params, NULL, NULL, 0);
    int rc = 0;
    if (PQresultStatus(res) != PGRES_COMMAND_OK)
        rc = mat_pg_error(conn, res, "upsert", err);
    PQclear(res);
    if (rc)
        mw_err_prefix(err, "table '%s'", tab->name);
    return rc;
}

/* Appends "($1, $2), " style tuples for one row and fills params. */
static int bind_row(mw_buf_t *sql, const mat_pg_tab_t *tab,
                    mat_pg_row_t *row, bool keys_only, const char **params,
                    size_t *nparams)
{
    int rc = mw_buf_appendf(sql, "%s(", *nparams ? ", " : "");
    bool first = true;
    for (size_t i = 0; rc == 0 && i < tab->col_cnt; i++) {
        if (keys_only && !tab->cols[i].is_key)
            continue;
        params[*nparams] = row_val(row, tab->col_cnt, i);
        rc = mw_buf_appendf(sql, "%s$%zu", first ? "" : ", ", ++*nparams);
        first = false;
    }
    return rc ? rc : mw_buf_append(sql, ")", 1);
}

static int chunk_head(mw_buf_t *sql, const mat_pg_tab_t *tab, bool del)
{
    mw_buf_reset(sql);
    if (del) {
        int rc = mw_buf_appendf(sql, "DELETE FROM %s WHERE (", tab->qname);
        if (rc == 0)
            rc = append_col_list(sql, tab, true, "");
        return rc ? rc : mw_buf_appendf(sql, ") IN (");
    }
    int rc = mw_buf_appendf(sql, "INSERT INTO %s (", tab->qname);
    if (rc == 0)
        rc = append_col_list(sql, tab, false, "");
    return rc ? rc : mw_buf_appendf(sql, ") VALUES ");
}

/* One pass over the rows with op `want`, one statement per chunk. */
static int upsert_pass(PGconn *conn, const mat_pg_tab_t *tab, mat_op_t want,
                       mw_buf_t *sql, const char **params, mw_err_t *err)
{
    bool del = want == MAT_OP_DELETE;
    size_t width = del ? tab->key_cnt : tab->col_cnt, nparams = 0;
    int rc = 0;
    for (size_t r = 0; rc == 0 && r <= tab->row_cnt; r++) {
        bool last = r == tab->row_cnt;
        if (nparams > 0 && (last || nparams + width > PG_PARAMS_MAX)) {
            if (want == MAT_OP_UPSERT)
                rc = append_on_conflict(sql, tab);
            if (rc == 0 && del)
                rc = mw_buf_append(sql, ")", 1);
            if (rc == 0)
                rc = exec_chunk(conn, tab, sql, params, nparams, err);
            nparams = 0;
        }
        if (rc || last || tab->rows[r]->op != want)
            continue;
        if (nparams == 0)
            rc = chunk_head(sql, tab, del);
        if (rc == 0)
            rc = bind_row(sql, tab, tab->rows[r], del, params, &nparams);
    }
    return rc;
}

static int flush_upsert(PGconn *conn, mat_pg_tab_t *tab, mw_err_t *err)
{
    mw_buf_t *sql = mw_buf_new(0);
    const char **params = malloc(PG_PARAMS_MAX * sizeof(*params));
    int rc = sql && params ? 0 : mw_err_set(err, MW_ERR_NOMEM,
                                            "out of memory");
    /* After dedup each key is in one pass only, so order does not matter. */
    if (rc == 0 && tab->del_cnt > 0)
        rc = upsert_pass(conn, tab, MAT_OP_DELETE, sql, params, err);
    if (rc == 0)
        rc = upsert_pass(conn, tab, MAT_OP_UPSERT, sql, params, err);
    if (rc == 0)
        rc = upsert_pass(conn, tab, MAT_OP_APPEND, sql, params, err);
    free(params);
    mw_buf_destroy(sql);
    return rc;
}

int mat_pg_rows_flush(PGconn *conn, mat_pg_tab_t *tab,
                      mat_pg_strategy_t strategy, mw_err_t *err)
{
    if (tab->row_cnt == 0)
        return 0;
    int rc = strategy == MAT_PG_UPSERT ? flush_upsert(conn, tab, err)
                                       : flush_copy_merge(conn, tab, err);
    mat_pg_rows_clear(tab);
    return rc;
}
