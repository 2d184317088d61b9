/*
 * mat_pg_sql: the statements of a PostgreSQL table's flush, as text
 * (mat_pg_rows.c sends them, mat_pg_keep.c adds the placeholders'
 * resolution): the staging table, the COPY statements, and the three ways
 * the staged rows reach the table (DELETE ... USING, INSERT ... ON
 * CONFLICT, UPDATE ... FROM).  Identifiers are quoted by mat_pg_ident;
 * values never appear in the text (they travel by COPY).  Each function
 * appends to sql and returns 0 or MW_ERR_NOMEM / MW_ERR_FULL from mw_buf.
 *
 * Thread: the materializer's loop thread only.
 */
#include "mat_pg_int.h"

#include <inttypes.h>

/* "c1", "c2", ... (keys only when keys_only); prefix each with pfx. */
static int append_col_list(mw_buf_t *sql, const mat_pg_tab_t *tab,
                           bool keys_only, const char *pfx)
{
    int rc = 0;
    size_t n = keys_only ? tab->key_cnt : tab->col_cnt;
    for (size_t i = 0; rc == 0 && i < n; i++) {
        rc = mw_buf_appendf(sql, "%s%s", i ? ", " : "", pfx);
        if (rc == 0)
            rc = mat_pg_ident(sql, tab->cols[i].name);
    }
    return rc;
}

/* c = <pfx>c, ... over the non-key columns. */
static int append_sets(mw_buf_t *sql, const mat_pg_tab_t *tab, const char *pfx)
{
    int rc = 0;
    for (size_t i = tab->key_cnt; rc == 0 && i < tab->col_cnt; i++) {
        rc = mw_buf_appendf(sql, "%s", i > tab->key_cnt ? ", " : "");
        if (rc == 0)
            rc = mat_pg_ident(sql, tab->cols[i].name);
        if (rc == 0)
            rc = mw_buf_appendf(sql, " = %s", pfx);
        if (rc == 0)
            rc = mat_pg_ident(sql, tab->cols[i].name);
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
        rc = mw_buf_appendf(sql, ") DO %s",
                            tab->key_cnt == tab->col_cnt ? "NOTHING"
                                                         : "UPDATE SET ");
    return rc ? rc : append_sets(sql, tab, "EXCLUDED.");
}

int mat_pg_sql_staging_name(mw_buf_t *sql, const mat_pg_tab_t *tab)
{
    return mw_buf_appendf(sql, "pg_temp.\"_mesh_stg_%d_%" PRIu32 "\"", tab->idx,
                          tab->version);
}

/* SET LOCAL (join plans); CREATE TEMP TABLE IF NOT EXISTS staging (...);
 * [DELETE FROM staging;]
 *
 * Every statement that joins staging with the table (DELETE ... USING,
 * UPDATE ... FROM, the placeholders' resolution) should probe the table's
 * primary key once per staged row.  The staging table has no statistics
 * and the planner prices a random page at 4 sequential ones, so it picks
 * a hash join that reads the whole table for each batch: 2.5 times slower
 * than the probes with 200,000 rows stored, and worse as the table grows.
 * Hash and merge joins are therefore off until the batch's COMMIT (SET
 * LOCAL), on the sink's own connection, which runs nothing else. */
int mat_pg_sql_staging(mw_buf_t *sql, const mat_pg_tab_t *tab)
{
    char type[64];
    int rc = mw_buf_appendf(sql, "SET LOCAL enable_hashjoin = off; "
                                 "SET LOCAL enable_mergejoin = off; "
                                 "CREATE TEMP TABLE IF NOT EXISTS ");
    if (rc == 0)
        rc = mat_pg_sql_staging_name(sql, tab);
    for (size_t i = 0; rc == 0 && i < tab->col_cnt; i++) {
        rc = mw_buf_appendf(sql, "%s", i ? ", " : " (");
        if (rc == 0)
            rc = mat_pg_ident(sql, tab->cols[i].name);
        if (rc == 0)
            rc = mw_buf_appendf(
                sql, " %s",
                mat_pg_col_sql_type(&tab->cols[i], type, sizeof(type)));
    }
    if (rc == 0)
        rc = mw_buf_appendf(sql, ", \"_mesh_del\" boolean NOT NULL DEFAULT "
                                 "false) ON COMMIT DELETE ROWS; ");
    if (rc == 0 && tab->flushed_in_tx) {
        rc = mw_buf_appendf(sql, "DELETE FROM ");
        if (rc == 0)
            rc = mat_pg_sql_staging_name(sql, tab);
        if (rc == 0)
            rc = mw_buf_appendf(sql, "; ");
    }
    return rc;
}

/* COPY target (cols) or COPY staging (keys, _mesh_del) FROM STDIN. */
int mat_pg_sql_copy(mw_buf_t *sql, const mat_pg_tab_t *tab, bool staging,
                    bool deletes)
{
    int rc = mw_buf_appendf(sql, "COPY ");
    if (rc == 0)
        rc = staging ? mat_pg_sql_staging_name(sql, tab)
                     : mw_buf_appendf(sql, "%s", tab->qname);
    if (rc == 0)
        rc = mw_buf_appendf(sql, " (");
    if (rc == 0)
        rc = append_col_list(sql, tab, deletes, "");
    if (rc == 0 && deletes)
        rc = mw_buf_appendf(sql, ", \"_mesh_del\"");
    return rc ? rc : mw_buf_appendf(sql, ") FROM STDIN (FORMAT binary); ");
}

int mat_pg_sql_key_match(mw_buf_t *sql, const mat_pg_tab_t *tab)
{
    int rc = 0;
    for (size_t i = 0; rc == 0 && i < tab->key_cnt; i++) {
        rc = mw_buf_appendf(sql, "%ss.", i ? " AND " : "");
        if (rc == 0)
            rc = mat_pg_ident(sql, tab->cols[i].name);
        if (rc == 0)
            rc = mw_buf_appendf(sql, " = t.");
        if (rc == 0)
            rc = mat_pg_ident(sql, tab->cols[i].name);
    }
    return rc;
}

/* DELETE FROM t USING staging s WHERE s._mesh_del AND s.k = t.k ...; */
int mat_pg_sql_delete(mw_buf_t *sql, const mat_pg_tab_t *tab)
{
    int rc = mw_buf_appendf(sql, "DELETE FROM %s t USING ", tab->qname);
    if (rc == 0)
        rc = mat_pg_sql_staging_name(sql, tab);
    if (rc == 0)
        rc = mw_buf_appendf(sql, " s WHERE s.\"_mesh_del\" AND ");
    if (rc == 0)
        rc = mat_pg_sql_key_match(sql, tab);
    return rc ? rc : mw_buf_appendf(sql, "; ");
}

/* [WITH m AS (]INSERT INTO t (cols) SELECT cols FROM staging s WHERE NOT
 * s._mesh_del [AND NOT EXISTS (SELECT 1 FROM t WHERE s.k = t.k)] ON
 * CONFLICT ...[ RETURNING xmax = 0 AS ins) SELECT count(*) FILTER (WHERE
 * ins) FROM m]; */
int mat_pg_sql_upsert(mw_buf_t *sql, const mat_pg_tab_t *tab, bool count_new,
                      bool missing_only)
{
    int rc = mw_buf_appendf(sql, "%sINSERT INTO %s (",
                            count_new ? "WITH m AS (" : "", tab->qname);
    if (rc == 0)
        rc = append_col_list(sql, tab, false, "");
    if (rc == 0)
        rc = mw_buf_appendf(sql, ") SELECT ");
    if (rc == 0)
        rc = append_col_list(sql, tab, false, "s.");
    if (rc == 0)
        rc = mw_buf_appendf(sql, " FROM ");
    if (rc == 0)
        rc = mat_pg_sql_staging_name(sql, tab);
    if (rc == 0)
        rc = mw_buf_appendf(sql, " s WHERE NOT s.\"_mesh_del\"");
    if (rc == 0 && missing_only)
        rc = mw_buf_appendf(sql, " AND NOT EXISTS (SELECT 1 FROM %s t WHERE ",
                            tab->qname);
    if (rc == 0 && missing_only)
        rc = mat_pg_sql_key_match(sql, tab);
    if (rc == 0 && missing_only)
        rc = mw_buf_append(sql, ")", 1);
    if (rc == 0)
        rc = append_on_conflict(sql, tab);
    if (rc == 0 && count_new)
        rc = mw_buf_appendf(sql, " RETURNING xmax = 0 AS ins) SELECT "
                                 "count(*) FILTER (WHERE ins) FROM m");
    return rc ? rc : mw_buf_appendf(sql, "; ");
}

/* WITH u AS (UPDATE t SET c = s.c, ... FROM staging s WHERE NOT
 * s._mesh_del AND s.k = t.k RETURNING 1) SELECT count(*) FROM u; */
int mat_pg_sql_update(mw_buf_t *sql, const mat_pg_tab_t *tab)
{
    int rc = mw_buf_appendf(sql, "WITH u AS (UPDATE %s t SET ", tab->qname);
    if (rc == 0)
        rc = append_sets(sql, tab, "s.");
    if (rc == 0)
        rc = mw_buf_appendf(sql, " FROM ");
    if (rc == 0)
        rc = mat_pg_sql_staging_name(sql, tab);
    if (rc == 0)
        rc = mw_buf_appendf(sql, " s WHERE NOT s.\"_mesh_del\" AND ");
    if (rc == 0)
        rc = mat_pg_sql_key_match(sql, tab);
    return rc ? rc
              : mw_buf_appendf(sql, " RETURNING 1) SELECT count(*) FROM u; ");
}
