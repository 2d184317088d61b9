/*
 * mat_pg_keep: Debezium's unavailable-value placeholder (mat_envelope.h)
 * in the PostgreSQL sink's pending rows (mat_pg_rows.c).  In a text or
 * bytea non-key column of a change event's upsert it means "unchanged",
 * so there the after-image is not the row's state:
 *
 *   a. within the batch, an upsert replacing the key's pending upsert
 *      takes that one's value for each placeholder (an insert with a big
 *      text, then an update holding the placeholder, keeps the text);
 *      replacing a pending delete, it finds nothing stored: NULL when the
 *      column is nullable (a non-nullable one keeps the placeholder,
 *      which b. then resolves against the row the delete removes: a
 *      delete and a re-insert holding the placeholder in one batch,
 *      something Debezium does not send);
 *   b. a flush whose rows hold a placeholder always merges (the direct
 *      COPY, mat_pg_rows.c's 2., would write it into the table), and
 *      between the COPY into staging and the INSERT resolves it there:
 *      counts those whose key has no row (SELECT), sets the others to the
 *      stored value (UPDATE ... FROM the table), and those without a row
 *      to NULL in nullable columns.
 *
 * A flush without a placeholder runs the statements it ran before; the
 * only cost is a length compare per text or bytea column of a change
 * event's upsert in apply.
 *
 * Thread: the materializer's loop thread only.
 */
#include "mat_pg_int.h"

#include <stdint.h>
#include <string.h>

#include "mat_envelope.h"

/* Whether col may hold the placeholder: a text or bytea non-key column
 * (the key is never left out of a change event). */
static bool col_may_keep(const mat_pg_col_t *col)
{
    return !col->is_key &&
           (col->type == MAT_COL_TEXT || col->type == MAT_COL_BYTES);
}

bool mat_pg_keep_has_placeholder(const mat_pg_tab_t *tab,
                                 const mat_change_t *change)
{
    if (!mat_envelope_change_has_placeholders(change))
        return false;
    for (size_t i = tab->key_cnt; i < tab->col_cnt; i++)
        if (col_may_keep(&tab->cols[i]) &&
            mat_envelope_is_unavailable(tab->cols[i].type, &change->values[i]))
            return true;
    return false;
}

static uint32_t rd32(const unsigned char *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 |
           p[3];
}

/* Bytes of a COPY field (length word included). */
static size_t field_size(const unsigned char *f)
{
    uint32_t len = rd32(f);
    return 4 + (len == UINT32_MAX ? 0 : len);
}

static bool field_is_placeholder(const unsigned char *f)
{
    return rd32(f) == MAT_ENVELOPE_UNAVAILABLE_LEN &&
           memcmp(f + 4, MAT_ENVELOPE_UNAVAILABLE,
                  MAT_ENVELOPE_UNAVAILABLE_LEN) == 0;
}

/* Module comment, a.: row's tuple is written again at the end of the
 * rows' buffer, each placeholder field of a column that keeps it taken
 * from old (an upsert), or NULL for a nullable column when old is a
 * delete (counted: nothing is stored; a non-nullable column's stays for
 * b.).  The key fields are the same, so key_len and hash stay. */
int mat_pg_keep_merge(mat_pg_tab_t *tab, const mat_pg_row_t *old,
                      mat_pg_row_t *row)
{
    static const unsigned char null_len[4] = {0xff, 0xff, 0xff, 0xff};
    mw_buf_t *buf = tab->data[MAT_PG_DATA_ROWS];
    mw_buf_t *out =
        mw_buf_new(row->len + (old->op == MAT_OP_UPSERT ? old->len : 0));
    if (!out)
        return MW_ERR_NOMEM;
    const unsigned char *base = (const unsigned char *)mw_buf_data(buf);
    const unsigned char *nf = base + row->off + 2, *of = NULL;
    if (old->op == MAT_OP_UPSERT)
        of = base + old->off + 2;
    uint64_t nulled = 0;
    int rc = mw_buf_append(out, base + row->off, 2);
    for (size_t i = 0; rc == 0 && i < tab->col_cnt; i++) {
        size_t nsize = field_size(nf), osize = of ? field_size(of) : 0;
        const mat_pg_col_t *col = &tab->cols[i];
        if (!col_may_keep(col) || !field_is_placeholder(nf))
            rc = mw_buf_append(out, nf, nsize);
        else if (of)
            rc = mw_buf_append(out, of, osize);
        else if (!col->nullable) /* left to b., which counts it */
            rc = mw_buf_append(out, nf, nsize);
        else {
            rc = mw_buf_append(out, null_len, 4);
            nulled++;
        }
        nf += nsize;
        if (of)
            of += osize;
    }
    /* Appending may move buf's bytes: base is not read past this point. */
    size_t off = mw_buf_len(buf);
    if (rc == 0 && off + mw_buf_len(out) > UINT32_MAX)
        rc = MW_ERR_FULL;
    if (rc == 0)
        rc = mw_buf_append(buf, mw_buf_data(out), mw_buf_len(out));
    if (rc == 0) {
        row->off = (uint32_t)off;
        row->len = (uint32_t)mw_buf_len(out);
        tab->unavailable_pending += nulled;
    }
    mw_buf_destroy(out);
    return rc;
}

/* The placeholder as a constant of col's type. */
static int append_placeholder(mw_buf_t *sql, const mat_pg_col_t *col)
{
    return mw_buf_appendf(sql, "'%s'%s", MAT_ENVELOPE_UNAVAILABLE,
                          col->type == MAT_COL_BYTES ? "::bytea" : "");
}

/* pfx"k1" = t."k1" AND ... (the staging row's key is the table row's). */
/* Whether column i takes part in the resolution (nullable_only: of those,
 * the nullable ones). */
static bool resolves(const mat_pg_tab_t *tab, size_t i, bool nullable_only)
{
    return col_may_keep(&tab->cols[i]) &&
           (!nullable_only || tab->cols[i].nullable);
}

/* s."c" = '<placeholder>' joined by sep over the resolved columns. */
static int append_placeholder_tests(mw_buf_t *sql, const mat_pg_tab_t *tab,
                                    bool nullable_only, const char *sep)
{
    int rc = 0;
    bool first = true;
    for (size_t i = tab->key_cnt; rc == 0 && i < tab->col_cnt; i++) {
        if (!resolves(tab, i, nullable_only))
            continue;
        rc = mw_buf_appendf(sql, "%ss.", first ? "" : sep);
        first = false;
        if (rc == 0)
            rc = mat_pg_ident(sql, tab->cols[i].name);
        if (rc == 0)
            rc = mw_buf_appendf(sql, " = ");
        if (rc == 0)
            rc = append_placeholder(sql, &tab->cols[i]);
    }
    return rc;
}

/* "c" = CASE WHEN s."c" = '<placeholder>' THEN <then>"c" ELSE s."c" END,
 * ... over the resolved columns (then "t." or "NULL" with no column). */
static int append_placeholder_sets(mw_buf_t *sql, const mat_pg_tab_t *tab,
                                   bool nullable_only, const char *then)
{
    int rc = 0;
    bool first = true;
    for (size_t i = tab->key_cnt; rc == 0 && i < tab->col_cnt; i++) {
        const char *name = tab->cols[i].name;
        if (!resolves(tab, i, nullable_only))
            continue;
        rc = mw_buf_appendf(sql, "%s", first ? "" : ", ");
        first = false;
        if (rc == 0)
            rc = mat_pg_ident(sql, name);
        if (rc == 0)
            rc = mw_buf_appendf(sql, " = CASE WHEN s.");
        if (rc == 0)
            rc = mat_pg_ident(sql, name);
        if (rc == 0)
            rc = mw_buf_appendf(sql, " = ");
        if (rc == 0)
            rc = append_placeholder(sql, &tab->cols[i]);
        if (rc == 0)
            rc = mw_buf_appendf(sql, " THEN %s", then);
        if (rc == 0 && strcmp(then, "NULL") != 0)
            rc = mat_pg_ident(sql, name);
        if (rc == 0)
            rc = mw_buf_appendf(sql, " ELSE s.");
        if (rc == 0)
            rc = mat_pg_ident(sql, name);
        if (rc == 0)
            rc = mw_buf_appendf(sql, " END");
    }
    return rc;
}

/* FROM staging s WHERE NOT s._mesh_del AND [NOT] EXISTS (SELECT FROM t
 * WHERE key match) */
static int append_staging_rows(mw_buf_t *sql, const mat_pg_tab_t *tab,
                               bool exists)
{
    int rc = mat_pg_sql_staging_name(sql, tab);
    if (rc == 0)
        rc = mw_buf_appendf(sql,
                            " s WHERE NOT s.\"_mesh_del\" AND %sEXISTS "
                            "(SELECT FROM %s t WHERE ",
                            exists ? "" : "NOT ", tab->qname);
    if (rc == 0)
        rc = mat_pg_sql_key_match(sql, tab);
    return rc ? rc : mw_buf_appendf(sql, ")");
}

/* Module comment, b., between the COPY into staging and the INSERT:
 *
 *   SELECT count of placeholders in rows whose key has no row;
 *   UPDATE staging s SET c = CASE WHEN s.c = P THEN t.c ELSE s.c END, ...
 *     FROM t WHERE NOT s._mesh_del AND keys match AND (s.c = P OR ...);
 *   UPDATE staging s SET c = CASE WHEN s.c = P THEN NULL ELSE s.c END
 *     (nullable columns) WHERE NOT s._mesh_del AND (s.c = P OR ...) AND
 *     NOT EXISTS (the key's row).
 *
 * The SELECT runs first and gives the flush's first one-row result. */
int mat_pg_keep_resolve_sql(mw_buf_t *sql, const mat_pg_tab_t *tab)
{
    bool any_nullable = false;
    for (size_t i = tab->key_cnt; i < tab->col_cnt; i++)
        any_nullable = any_nullable || resolves(tab, i, true);
    int rc = mw_buf_appendf(sql, "SELECT coalesce(sum(0");
    for (size_t i = tab->key_cnt; rc == 0 && i < tab->col_cnt; i++) {
        if (!resolves(tab, i, false))
            continue;
        rc = mw_buf_appendf(sql, " + CASE WHEN s.");
        if (rc == 0)
            rc = mat_pg_ident(sql, tab->cols[i].name);
        if (rc == 0)
            rc = mw_buf_appendf(sql, " = ");
        if (rc == 0)
            rc = append_placeholder(sql, &tab->cols[i]);
        if (rc == 0)
            rc = mw_buf_appendf(sql, " THEN 1 ELSE 0 END");
    }
    if (rc == 0)
        rc = mw_buf_appendf(sql, "), 0) FROM ");
    if (rc == 0)
        rc = append_staging_rows(sql, tab, false);
    if (rc == 0)
        rc = mw_buf_appendf(sql, "; UPDATE ");
    if (rc == 0)
        rc = mat_pg_sql_staging_name(sql, tab);
    if (rc == 0)
        rc = mw_buf_appendf(sql, " s SET ");
    if (rc == 0)
        rc = append_placeholder_sets(sql, tab, false, "t.");
    if (rc == 0)
        rc = mw_buf_appendf(sql, " FROM %s t WHERE NOT s.\"_mesh_del\" AND ",
                            tab->qname);
    if (rc == 0)
        rc = mat_pg_sql_key_match(sql, tab);
    if (rc == 0)
        rc = mw_buf_appendf(sql, " AND (");
    if (rc == 0)
        rc = append_placeholder_tests(sql, tab, false, " OR ");
    if (rc == 0)
        rc = mw_buf_appendf(sql, "); ");
    if (rc != 0 || !any_nullable)
        return rc;
    rc = mw_buf_appendf(sql, "UPDATE ");
    if (rc == 0)
        rc = mat_pg_sql_staging_name(sql, tab);
    if (rc == 0)
        rc = mw_buf_appendf(sql, " s SET ");
    if (rc == 0)
        rc = append_placeholder_sets(sql, tab, true, "NULL");
    if (rc == 0)
        rc = mw_buf_appendf(sql, " WHERE NOT s.\"_mesh_del\" AND (");
    if (rc == 0)
        rc = append_placeholder_tests(sql, tab, true, " OR ");
    if (rc == 0)
        rc = mw_buf_appendf(sql, ") AND NOT EXISTS (SELECT FROM %s t WHERE ",
                            tab->qname);
    if (rc == 0)
        rc = mat_pg_sql_key_match(sql, tab);
    return rc ? rc : mw_buf_appendf(sql, "); ");
}
