/*
 * pr_pg_snap: the pg source's snapshot — the tables' existing rows as
 * `op = r` events, read in one REPEATABLE READ transaction.
 *
 * On a slot it has just created, the source imports the slot's exported
 * snapshot (SET TRANSACTION SNAPSHOT), so the rows are exactly the state
 * at the slot's consistent point and streaming from that point adds every
 * later change: no gap, no overlap.
 *
 * Tables with a primary key are read in key order, chunk by chunk
 * (snapshot.chunk.rows, keyset pagination: WHERE (key) > (last key)).
 * A chunk's position is recorded in the state file once every row of it
 * and of the chunks before it was acknowledged by Kafka, so a snapshot
 * interrupted by a crash resumes after its last acknowledged chunk instead
 * of starting over.  The resumed part is read in a new transaction (the
 * exported snapshot died with the crash), while streaming still starts at
 * the slot's consistent point: rows of the resumed chunks may then be
 * followed by changes they already reflect.  Replaying those leaves every
 * row as the database has it (events are upserts and deletes by key); the
 * state in between may step back, which is the price of not reading the
 * whole table again.  A table without a primary key is read through a
 * cursor and, if interrupted, read again from its start.
 *
 * Thread: the daemon's loop thread; one chunk query blocks it at a time.
 */
#include "pr_pg_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#include "mw_log.h"
#include "mw_time.h"
#include "mw_vec.h"

static void free_key(char ***key, size_t *n)
{
    for (size_t i = 0; *key && i < *n; i++)
        free((*key)[i]);
    free(*key);
    *key = NULL;
    *n = 0;
}

static int copy_key(char **src_key, size_t n, char ***out, size_t *nout)
{
    char **k = calloc(n ? n : 1, sizeof(*k));

    if (!k)
        return MW_ERR_NOMEM;
    for (size_t i = 0; i < n; i++) {
        k[i] = strdup(src_key[i]);
        if (!k[i]) {
            free_key(&k, &i);
            return MW_ERR_NOMEM;
        }
    }
    *out = k;
    *nout = n;
    return 0;
}

void pr_pg_snap_clear(pr_pg_src_t *src)
{
    if (src->snap_res) {
        PQclear(src->snap_res);
        src->snap_res = NULL;
    }
    for (size_t i = 0; i < src->nchunks; i++)
        free_key(&src->chunks[i].key, &src->chunks[i].nkey);
    free(src->chunks);
    src->chunks = NULL;
    src->nchunks = src->chunk_cap = 0;
    free_key(&src->rd_key, &src->rd_nkey);
    free(src->snap_cols);
    src->snap_cols = NULL;
    src->snap_cols_cap = 0;
    src->cursor_open = false;
}

static int exec_ok(PGconn *qc, const char *sql, mw_err_t *err)
{
    PGresult *res = PQexec(qc, sql);
    int rc = 0;

    if (PQresultStatus(res) != PGRES_COMMAND_OK)
        rc = mw_err_set(
            err,
            PQstatus(qc) == CONNECTION_OK ? MW_ERR_CONFIG : MW_ERR_TRANSPORT,
            "postgres: snapshot: %s: %s", sql, PQresultErrorMessage(res));
    PQclear(res);
    return rc;
}

int pr_pg_snap_begin(pr_pg_src_t *src, mw_err_t *err)
{
    char sql[128];
    int rc;

    pr_pg_snap_clear(src);
    rc = exec_ok(src->qc, "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY",
                 err);
    if (rc == 0 && src->snap_exported) {
        snprintf(sql, sizeof(sql), "SET TRANSACTION SNAPSHOT '%s'",
                 src->snap_name);
        rc = exec_ok(src->qc, sql, err);
    }
    if (rc != 0)
        return rc;
    src->rd_table = src->snap_table;
    if (src->snap_key && copy_key(src->snap_key, src->snap_nkey, &src->rd_key,
                                  &src->rd_nkey) != 0)
        return mw_err_set(err, MW_ERR_NOMEM, "out of memory");
    src->snap_first = src->snap_table == 0 && !src->snap_key;
    /* The window lives as long as the source: rows of an attempt cut
     * short by a lost connection may still be in flight and acknowledge
     * into it; chunk numbers go on counting, so their acks never pass a
     * new chunk that is not acknowledged yet. */
    mw_log_info(PR_PG_COMP, "snapshot started",
                "tables=%zu resume_table=%zu resume_after_key=%s exported=%s",
                src->ntables, src->snap_table, src->snap_key ? "yes" : "no",
                src->snap_exported ? "yes" : "no");
    return 0;
}

/* SELECT of the next chunk of rel after rd_key (or the cursor's next
 * rows); the result is kept in snap_res. */
static int query_chunk(pr_pg_src_t *src, const pr_pg_rel_t *rel, mw_err_t *err)
{
    mw_buf_t *q = mw_buf_new(0);
    char *nsp = PQescapeIdentifier(src->qc, rel->nspname, strlen(rel->nspname));
    char *tab = PQescapeIdentifier(src->qc, rel->relname, strlen(rel->relname));
    const char **params = NULL;
    PGresult *res;
    int rc = 0;

    if (!q || !nsp || !tab)
        goto nomem;
    if (!rel->nkeys && src->cursor_open) {
        rc =
            mw_buf_appendf(q, "FETCH %lld FROM mesh_snapshot", src->chunk_rows);
    } else {
        rc = mw_buf_appendf(q, "%sSELECT ",
                            rel->nkeys ? ""
                                       : "DECLARE mesh_snapshot NO SCROLL "
                                         "CURSOR FOR ");
        for (size_t i = 0; rc == 0 && i < rel->ncols; i++) {
            char *c = PQescapeIdentifier(src->qc, rel->cols[i].name,
                                         strlen(rel->cols[i].name));

            rc = c ? mw_buf_appendf(q, "%s%s", i ? ", " : "", c) : MW_ERR_NOMEM;
            PQfreemem(c);
        }
        if (rc == 0)
            rc = mw_buf_appendf(q, " FROM %s.%s", nsp, tab);
        if (rc == 0 && rel->nkeys) {
            mw_buf_t *keys = mw_buf_new(0);

            for (size_t k = 0; keys && rc == 0 && k < rel->nkeys; k++) {
                const char *name = rel->cols[rel->keys[k]].name;
                char *c = PQescapeIdentifier(src->qc, name, strlen(name));

                rc = c ? mw_buf_appendf(keys, "%s%s", k ? ", " : "", c)
                       : MW_ERR_NOMEM;
                PQfreemem(c);
            }
            if (!keys)
                rc = MW_ERR_NOMEM;
            if (rc == 0 && src->rd_key) {
                rc = mw_buf_appendf(q, " WHERE (%s) > (", mw_buf_data(keys));
                for (size_t k = 0; rc == 0 && k < rel->nkeys; k++)
                    rc = mw_buf_appendf(q, "%s$%zu", k ? ", " : "", k + 1);
                if (rc == 0)
                    rc = mw_buf_append(q, ")", 1);
            }
            if (rc == 0)
                rc = mw_buf_appendf(q, " ORDER BY %s LIMIT %lld",
                                    mw_buf_data(keys), src->chunk_rows);
            mw_buf_destroy(keys);
        }
    }
    if (rc != 0)
        goto nomem;
    if (!rel->nkeys && !src->cursor_open) {
        res = PQexec(src->qc, mw_buf_data(q));
        if (PQresultStatus(res) != PGRES_COMMAND_OK) {
            rc = mw_err_set(err, MW_ERR_TRANSPORT,
                            "postgres: snapshot of "
                            "%s.%s: %s",
                            rel->nspname, rel->relname,
                            PQresultErrorMessage(res));
            PQclear(res);
            goto out;
        }
        PQclear(res);
        src->cursor_open = true;
        mw_buf_reset(q);
        if (mw_buf_appendf(q, "FETCH %lld FROM mesh_snapshot",
                           src->chunk_rows) != 0)
            goto nomem;
    }
    if (rel->nkeys && src->rd_key) {
        params = calloc(src->rd_nkey, sizeof(*params));
        if (!params)
            goto nomem;
        for (size_t k = 0; k < src->rd_nkey; k++)
            params[k] = src->rd_key[k];
    }
    res = PQexecParams(src->qc, mw_buf_data(q), params ? (int)src->rd_nkey : 0,
                       NULL, params, NULL, NULL, 0);
    if (PQresultStatus(res) != PGRES_TUPLES_OK) {
        rc = mw_err_set(err,
                        PQstatus(src->qc) == CONNECTION_OK ? MW_ERR_CONFIG
                                                           : MW_ERR_TRANSPORT,
                        "postgres: snapshot of %s.%s: %s", rel->nspname,
                        rel->relname, PQresultErrorMessage(res));
        PQclear(res);
        goto out;
    }
    src->snap_res = res;
    src->snap_row = 0;
    goto out;
nomem:
    rc = mw_err_set(err, MW_ERR_NOMEM, "out of memory for a snapshot query");
out:
    free(params);
    PQfreemem(nsp);
    PQfreemem(tab);
    mw_buf_destroy(q);
    return rc;
}

/* The chunk just read ends the table when it is short. */
static bool chunk_ends_table(const pr_pg_src_t *src)
{
    return PQntuples(src->snap_res) < src->chunk_rows;
}

/* Records the chunk (its table, whether it ends it, its last key) and
 * pushes its marker, acknowledged at once: the window's prefix passes it
 * once its rows are acknowledged. */
static int close_chunk(pr_pg_src_t *src, const pr_pg_rel_t *rel, mw_err_t *err)
{
    int n = PQntuples(src->snap_res);
    bool done = chunk_ends_table(src);
    pr_pg_chunk_t *c;
    uint64_t seq;

    if (MW_VEC_RESERVE(&src->chunks, &src->chunk_cap, src->nchunks + 1) != 0)
        return mw_err_set(err, MW_ERR_NOMEM, "out of memory");
    c = &src->chunks[src->nchunks];
    memset(c, 0, sizeof(*c));
    c->seq = ++src->chunk_seq;
    c->table = src->rd_table;
    c->table_done = done;
    free_key(&src->rd_key, &src->rd_nkey);
    if (!done && rel->nkeys && n > 0) {
        src->rd_key = calloc(rel->nkeys, sizeof(char *));
        if (!src->rd_key)
            return mw_err_set(err, MW_ERR_NOMEM, "out of memory");
        src->rd_nkey = rel->nkeys;
        for (size_t k = 0; k < rel->nkeys; k++) {
            src->rd_key[k] =
                strdup(PQgetvalue(src->snap_res, n - 1, (int)rel->keys[k]));
            if (!src->rd_key[k])
                return mw_err_set(err, MW_ERR_NOMEM, "out of memory");
        }
        if (copy_key(src->rd_key, src->rd_nkey, &c->key, &c->nkey) != 0)
            return mw_err_set(err, MW_ERR_NOMEM, "out of memory");
    }
    src->nchunks++;
    if (pr_checkpoint_window_push(src->snap_win, c->seq, &seq) != 0)
        return mw_err_set(err, MW_ERR_NOMEM, "snapshot window full");
    pr_checkpoint_window_ack(src->snap_win, seq);
    pr_pg_snap_acked(src);
    if (done) {
        if (!rel->nkeys && src->cursor_open) {
            PGresult *res = PQexec(src->qc, "CLOSE mesh_snapshot");

            PQclear(res);
            src->cursor_open = false;
        }
        mw_log_info(PR_PG_COMP, "table snapshot read", "table=%s.%s",
                    rel->nspname, rel->relname);
        src->rd_table++;
    }
    PQclear(src->snap_res);
    src->snap_res = NULL;
    return 0;
}

static int send_row(pr_pg_src_t *src, pr_pg_rel_t *rel, int row, bool last,
                    bool table_last, mw_err_t *err)
{
    pr_pg_image_t img;
    pr_pg_origin_t org = {.server = src->prefix,
                          .db = src->db,
                          .snapshot = true,
                          .lsn = src->snap_exported ? src->consistent : 0,
                          .ts_ms = mw_time_wall_ms()};
    int rc;

    if (MW_VEC_RESERVE(&src->snap_cols, &src->snap_cols_cap, rel->ncols) != 0)
        return mw_err_set(err, MW_ERR_NOMEM, "out of memory");
    for (size_t i = 0; i < rel->ncols; i++) {
        pr_pgout_col_t *c = &src->snap_cols[i];

        if (PQgetisnull(src->snap_res, row, (int)i)) {
            *c = (pr_pgout_col_t){.kind = 'n'};
        } else {
            c->kind = 't';
            c->data = PQgetvalue(src->snap_res, row, (int)i);
            c->len = (uint32_t)PQgetlength(src->snap_res, row, (int)i);
        }
    }
    img = (pr_pg_image_t){src->snap_cols, rel->ncols};
    org.snapshot_mark = src->snap_first ? "first"
                        : last          ? "last"
                        : table_last    ? "last_in_data_collection"
                                        : "true";
    rc = pr_pg_event_key(rel, &img, src->kbuf, err);
    if (rc == 0)
        rc = pr_pg_event_value(rel, 'r', NULL, &img, &org, src->vbuf, err);
    if (rc == 0)
        rc = pr_pg_send(src, src->snap_win, src->chunk_seq, rel, rel->topic,
                        rel->key_id, rel->value_id, false, err);
    if (rc == 0) {
        src->snap_first = false;
        mw_counter_inc(src->m_ops[3]);
    }
    return rc;
}

int pr_pg_snap_pump(pr_pg_src_t *src, mw_err_t *err)
{
    int budget = 8192, rc;

    while (budget-- > 0) {
        pr_pg_rel_t *rel;
        int n;

        if (src->stopped)
            return 0;
        if (src->rd_table >= src->ntables) {
            rc = exec_ok(src->qc, "COMMIT", err);
            if (rc != 0)
                return rc;
            mw_log_info(PR_PG_COMP, "snapshot read", "chunks=%llu",
                        (unsigned long long)src->chunk_seq);
            pr_pg_snap_acked(src);
            return 1;
        }
        rel = pr_pg_rels_find_name(src->rels, src->tables[2 * src->rd_table],
                                   src->tables[2 * src->rd_table + 1]);
        if (!rel)
            return mw_err_set(err, MW_ERR_STATE, "table %s.%s not loaded",
                              src->tables[2 * src->rd_table],
                              src->tables[2 * src->rd_table + 1]);
        if (!src->snap_res && (rc = query_chunk(src, rel, err)) != 0)
            return rc;
        n = PQntuples(src->snap_res);
        while (src->snap_row < n && budget-- > 0) {
            bool table_last = src->snap_row == n - 1 && chunk_ends_table(src);
            bool last = table_last && src->rd_table + 1 == src->ntables;

            rc = send_row(src, rel, src->snap_row, last, table_last, err);
            if (rc == MW_ERR_FULL) {
                return 0;
            }
            if (rc != 0)
                return rc;
            src->snap_row++;
        }
        if (src->snap_row < n)
            break;
        if ((rc = close_chunk(src, rel, err)) != 0)
            return rc;
    }
    {
        static const struct timeval zero = {0, 0};

        event_add(src->cont_ev, &zero);
    }
    return 0;
}

void pr_pg_snap_acked(pr_pg_src_t *src)
{
    uint64_t committed = pr_checkpoint_window_committed(src->snap_win);
    size_t popped = 0;
    mw_err_t err = {0};
    bool moved = false;

    while (popped < src->nchunks && src->chunks[popped].seq <= committed) {
        pr_pg_chunk_t *c = &src->chunks[popped];

        free_key(&src->snap_key, &src->snap_nkey);
        if (c->table_done) {
            src->snap_table = c->table + 1;
        } else {
            src->snap_table = c->table;
            src->snap_key = c->key;
            src->snap_nkey = c->nkey;
            c->key = NULL;
            c->nkey = 0;
        }
        free_key(&c->key, &c->nkey);
        src->snap_saved = c->seq;
        popped++;
        moved = true;
    }
    if (popped) {
        memmove(src->chunks, src->chunks + popped,
                (src->nchunks - popped) * sizeof(*src->chunks));
        src->nchunks -= popped;
    }
    if (src->snap_table >= src->ntables && !src->snap_done &&
        src->rd_table >= src->ntables && src->nchunks == 0) {
        src->snap_done = true;
        moved = true;
        mw_log_info(PR_PG_COMP, "snapshot complete", "tables=%zu",
                    src->ntables);
    }
    if (moved && pr_pg_state_save(src, &err) != 0)
        mw_log_error(PR_PG_COMP, "cannot save the snapshot state", "error=%s",
                     mw_log_q(err.msg));
}
