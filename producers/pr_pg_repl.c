/*
 * pr_pg_repl: the pg source's two connections and the replication stream.
 *
 *   query connection (qc)   the catalog, the publication, the snapshot,
 *                           read-backs, heartbeats, slot statistics
 *   replication (repl)      replication=database: IDENTIFY_SYSTEM,
 *                           CREATE_REPLICATION_SLOT, START_REPLICATION,
 *                           then CopyBoth: XLogData and keepalives in,
 *                           standby status updates out
 *
 * Both use the same session settings, so values have one text form:
 * DateStyle ISO, TimeZone UTC, IntervalStyle iso_8601, extra_float_digits
 * 3, UTF-8, bytea as hex.
 *
 * Streaming turns each pgoutput message into records (pr_pg_event.c) and
 * sends them; a message whose records the emitter cannot take yet
 * (MW_ERR_FULL) stays pending and is resumed at the record where it
 * stopped, so nothing is skipped or sent twice by the pause.
 *
 * Thread: the daemon's loop thread.  The query connection blocks it for
 * one catalog query at a time; the replication connection never blocks.
 */
#include "pr_pg_int.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#include "mw_log.h"
#include "mw_time.h"
#include "mw_vec.h"

#define PR_PG_BUDGET 4096             /* messages per loop callback */
#define PR_PG_EPOCH_MS 946684800000LL /* 2000-01-01 in Unix ms */
#define PR_PG_STATS_MS 5000

static const char session_options[] =
    "-c DateStyle=ISO -c TimeZone=UTC -c IntervalStyle=iso_8601 "
    "-c extra_float_digits=3 -c client_encoding=UTF8 -c bytea_output=hex";

static uint64_t be64(const char *p)
{
    const unsigned char *u = (const unsigned char *)p;
    uint64_t v = 0;

    for (int i = 0; i < 8; i++)
        v = v << 8 | u[i];
    return v;
}

static void put_be64(char *p, uint64_t v)
{
    for (int i = 7; i >= 0; i--) {
        p[i] = (char)(v & 0xff);
        v >>= 8;
    }
}

static pr_lsn_t parse_lsn(const char *s)
{
    unsigned hi = 0, lo = 0;

    if (!s || sscanf(s, "%X/%X", &hi, &lo) != 2)
        return 0;
    return (pr_lsn_t)hi << 32 | lo;
}

static PGconn *pg_connect(const char *conninfo, bool replication, mw_err_t *err)
{
    const char *keys[] = {"dbname", "options", "application_name",
                          replication ? "replication" : NULL, NULL};
    const char *vals[] = {conninfo, session_options, "mesh-producer",
                          replication ? "database" : NULL, NULL};
    PGconn *c = PQconnectdbParams(keys, vals, 1);

    if (c && PQstatus(c) == CONNECTION_OK)
        return c;
    mw_err_set(err, MW_ERR_TRANSPORT, "postgres: cannot connect%s: %s",
               replication ? " for replication" : "",
               c ? PQerrorMessage(c) : "out of memory");
    /* libpq's messages end with a newline */
    for (char *e = err->msg + strlen(err->msg); e > err->msg && e[-1] == '\n';)
        *--e = 0;
    PQfinish(c);
    return NULL;
}

/* The server's message without its trailing newline. */
static const char *pq_msg(PGconn *c)
{
    static char buf[512];
    size_t n;

    snprintf(buf, sizeof(buf), "%s", c ? PQerrorMessage(c) : "no connection");
    n = strlen(buf);
    while (n && buf[n - 1] == '\n')
        buf[--n] = 0;
    return buf;
}

/* A lost connection is retriable; anything else the server refused is
 * for configuration to fix. */
static int q_fail(PGconn *c, mw_err_t *err, const char *what)
{
    int code = PQstatus(c) == CONNECTION_OK ? MW_ERR_CONFIG : MW_ERR_TRANSPORT;

    return mw_err_set(err, code, "postgres: %s: %s", what, pq_msg(c));
}

static PGresult *q_exec(PGconn *c, const char *sql, int n,
                        const char *const *params, ExecStatusType want,
                        const char *what, mw_err_t *err)
{
    PGresult *res = PQexecParams(c, sql, n, NULL, params, NULL, NULL, 0);

    if (PQresultStatus(res) == want)
        return res;
    if (res && PQresultErrorMessage(res)[0])
        mw_err_set(err,
                   PQstatus(c) == CONNECTION_OK ? MW_ERR_CONFIG
                                                : MW_ERR_TRANSPORT,
                   "postgres: %s: %s", what, PQresultErrorMessage(res));
    else
        q_fail(c, err, what);
    for (char *e = err->msg + strlen(err->msg); e > err->msg && e[-1] == '\n';)
        *--e = 0;
    PQclear(res);
    return NULL;
}

/* ----------------------------------------------------------- connect */

static int check_server(pr_pg_src_t *src, mw_err_t *err)
{
    static const char sql[] =
        "SELECT current_setting('wal_level'), current_database(), "
        "current_user, (SELECT rolreplication OR rolsuper FROM pg_roles "
        "WHERE rolname = current_user), "
        "current_setting('server_version_num')";
    PGresult *res = q_exec(src->qc, sql, 0, NULL, PGRES_TUPLES_OK,
                           "checking the server", err);
    int rc = 0;

    if (!res)
        return err->code;
    snprintf(src->db, sizeof(src->db), "%s", PQgetvalue(res, 0, 1));
    src->server_version = atoi(PQgetvalue(res, 0, 4));
    if (strcmp(PQgetvalue(res, 0, 0), "logical") != 0)
        rc = mw_err_set(err, MW_ERR_CONFIG,
                        "postgres: wal_level is '%s'; logical replication "
                        "needs wal_level = logical (postgresql.conf, then "
                        "restart the server)",
                        PQgetvalue(res, 0, 0));
    else if (PQgetvalue(res, 0, 3)[0] != 't')
        rc = mw_err_set(err, MW_ERR_CONFIG,
                        "postgres: role '%s' lacks the REPLICATION "
                        "attribute (ALTER ROLE %s REPLICATION)",
                        PQgetvalue(res, 0, 2), PQgetvalue(res, 0, 2));
    else if (src->server_version < 100000)
        rc = mw_err_set(err, MW_ERR_CONFIG,
                        "postgres: server version %d has no pgoutput "
                        "(10 or later needed)",
                        src->server_version);
    PQclear(res);
    return rc;
}

/* Every configured table exists; with load, its shape is read and its
 * schemas registered (for the snapshot, which has no Relation
 * messages). */
static int check_tables(pr_pg_src_t *src, bool load, mw_err_t *err)
{
    for (size_t i = 0; i < src->ntables; i++) {
        const char *nsp = src->tables[2 * i], *rel = src->tables[2 * i + 1];
        int rc;

        if (load) {
            rc = pr_pg_rels_load(src->rels, src->qc, nsp, rel, NULL, err);
        } else {
            static const char sql[] =
                "SELECT 1 FROM pg_class c JOIN pg_namespace n ON n.oid = "
                "c.relnamespace WHERE n.nspname = $1 AND c.relname = $2 "
                "AND c.relkind IN ('r', 'p')";
            const char *params[2] = {nsp, rel};
            PGresult *res = q_exec(src->qc, sql, 2, params, PGRES_TUPLES_OK,
                                   "reading the catalog", err);

            if (!res)
                return err->code;
            rc = PQntuples(res) ? 0 : MW_ERR_NOT_FOUND;
            PQclear(res);
        }
        if (rc == MW_ERR_NOT_FOUND)
            return mw_err_set(err, MW_ERR_CONFIG,
                              "key 'pg.tables': table %s.%s does not exist",
                              nsp, rel);
        if (rc != 0)
            return rc;
    }
    return 0;
}

static char *quote_ident(PGconn *c, const char *s)
{
    return PQescapeIdentifier(c, s, strlen(s));
}

/* The publication exists and holds every configured table (created, or
 * extended with ALTER PUBLICATION ... ADD TABLE). */
static int ensure_publication(pr_pg_src_t *src, mw_err_t *err)
{
    static const char have_sql[] =
        "SELECT 1 FROM pg_publication WHERE pubname = $1";
    static const char tab_sql[] =
        "SELECT 1 FROM pg_publication_tables WHERE pubname = $1 AND "
        "schemaname = $2 AND tablename = $3";
    const char *p1[1] = {src->publication};
    PGresult *res = q_exec(src->qc, have_sql, 1, p1, PGRES_TUPLES_OK,
                           "reading pg_publication", err);
    char *pub = quote_ident(src->qc, src->publication);
    bool exists;
    int rc = 0;

    if (!res || !pub) {
        PQfreemem(pub);
        PQclear(res);
        return err->code ? err->code : MW_ERR_NOMEM;
    }
    exists = PQntuples(res) > 0;
    PQclear(res);
    for (size_t i = 0; rc == 0 && i < src->ntables; i++) {
        const char *p3[3] = {src->publication, src->tables[2 * i],
                             src->tables[2 * i + 1]};
        char *nsp = quote_ident(src->qc, src->tables[2 * i]);
        char *rel = quote_ident(src->qc, src->tables[2 * i + 1]);
        char sql[1024];
        bool has = false;

        if (exists) {
            res = q_exec(src->qc, tab_sql, 3, p3, PGRES_TUPLES_OK,
                         "reading pg_publication_tables", err);
            if (!res)
                rc = err->code;
            has = res && PQntuples(res) > 0;
            PQclear(res);
        }
        if (rc == 0 && !has && nsp && rel) {
            snprintf(sql, sizeof(sql), "%s PUBLICATION %s %s TABLE %s.%s",
                     exists ? "ALTER" : "CREATE", pub, exists ? "ADD" : "FOR",
                     nsp, rel);
            res = q_exec(src->qc, sql, 0, NULL, PGRES_COMMAND_OK,
                         exists ? "adding a table to the publication"
                                : "creating the publication",
                         err);
            if (!res)
                rc = err->code;
            else
                mw_log_info(PR_PG_COMP,
                            exists ? "table added to publication"
                                   : "publication created",
                            "publication=%s table=%s.%s", src->publication,
                            src->tables[2 * i], src->tables[2 * i + 1]);
            PQclear(res);
            exists = true;
        }
        PQfreemem(nsp);
        PQfreemem(rel);
    }
    PQfreemem(pub);
    return rc;
}

static int identify(pr_pg_src_t *src, mw_err_t *err)
{
    PGresult *res = PQexec(src->repl, "IDENTIFY_SYSTEM");

    if (PQresultStatus(res) != PGRES_TUPLES_OK || PQntuples(res) != 1) {
        PQclear(res);
        return q_fail(src->repl, err, "IDENTIFY_SYSTEM");
    }
    snprintf(src->sysid, sizeof(src->sysid), "%s", PQgetvalue(res, 0, 0));
    PQclear(res);
    return 0;
}

static int create_slot(pr_pg_src_t *src, bool export, mw_err_t *err)
{
    char sql[256];
    PGresult *res;
    bool modern = src->server_version >= 150000;

    snprintf(sql, sizeof(sql),
             "CREATE_REPLICATION_SLOT \"%s\" LOGICAL pgoutput %s", src->slot,
             modern ? (export ? "(SNAPSHOT 'export')" : "(SNAPSHOT 'nothing')")
                    : (export ? "EXPORT_SNAPSHOT" : "NOEXPORT_SNAPSHOT"));
    res = PQexec(src->repl, sql);
    if (PQresultStatus(res) != PGRES_TUPLES_OK) {
        mw_err_set(err, MW_ERR_CONFIG,
                   "postgres: cannot create replication slot '%s': %s",
                   src->slot, PQresultErrorMessage(res));
        for (char *e = err->msg + strlen(err->msg);
             e > err->msg && e[-1] == '\n';)
            *--e = 0;
        PQclear(res);
        return MW_ERR_CONFIG;
    }
    src->consistent = parse_lsn(PQgetvalue(res, 0, 1));
    src->confirmed = src->consistent;
    src->snap_exported = export && !PQgetisnull(res, 0, 2);
    snprintf(src->snap_name, sizeof(src->snap_name), "%s",
             export ? PQgetvalue(res, 0, 2) : "");
    PQclear(res);
    mw_log_info(PR_PG_COMP, "replication slot created",
                "slot=%s consistent_lsn=%X/%X", src->slot,
                (unsigned)(src->consistent >> 32), (unsigned)src->consistent);
    return 0;
}

/* The slot: reused when it is ours, created when it never existed, an
 * error when it disappeared or was invalidated (changes are gone: never
 * re-created silently). */
static int ensure_slot(pr_pg_src_t *src, bool *created, mw_err_t *err)
{
    static const char sql[] =
        "SELECT plugin, database, confirmed_flush_lsn::text, "
        "coalesce(wal_status, ''), active_pid FROM pg_replication_slots "
        "WHERE slot_name = $1";
    const char *p1[1] = {src->slot};
    PGresult *res = q_exec(src->qc, sql, 1, p1, PGRES_TUPLES_OK,
                           "reading pg_replication_slots", err);
    bool want_snap;
    int rc = 0;

    *created = false;
    if (!res)
        return err->code;
    if (PQntuples(res) == 1) {
        if (strcmp(PQgetvalue(res, 0, 0), "pgoutput") ||
            strcmp(PQgetvalue(res, 0, 1), src->db))
            rc = mw_err_set(err, MW_ERR_CONFIG,
                            "key 'pg.slot': slot '%s' belongs to plugin "
                            "'%s' on database '%s', not pgoutput on '%s'",
                            src->slot, PQgetvalue(res, 0, 0),
                            PQgetvalue(res, 0, 1), src->db);
        else if (!strcmp(PQgetvalue(res, 0, 3), "lost"))
            rc = mw_err_set(err, MW_ERR_FATAL,
                            "replication slot '%s' was invalidated "
                            "(wal_status lost: the server removed WAL it "
                            "needed, see max_slot_wal_keep_size); changes "
                            "are missing.  Drop the slot and remove %s to "
                            "start over with a new snapshot",
                            src->slot, src->state_path);
        else if (!PQgetisnull(res, 0, 4))
            rc = mw_err_set(err, MW_ERR_TRANSPORT,
                            "replication slot '%s' is in use by backend "
                            "pid %s (another producer, or the previous "
                            "one's connection not yet closed)",
                            src->slot, PQgetvalue(res, 0, 4));
        else
            src->confirmed = parse_lsn(PQgetvalue(res, 0, 2));
        PQclear(res);
        return rc;
    }
    PQclear(res);
    if (src->slot_known)
        return mw_err_set(err, MW_ERR_FATAL,
                          "replication slot '%s', created by this source, "
                          "is gone (dropped behind its back); the changes "
                          "it held are lost to it.  Remove %s to start "
                          "over (snapshot.mode decides whether a new "
                          "snapshot is taken)",
                          src->slot, src->state_path);
    want_snap = src->snap_mode == PR_PG_SNAP_INITIAL ||
                src->snap_mode == PR_PG_SNAP_ALWAYS;
    rc = create_slot(src, want_snap, err);
    if (rc != 0)
        return rc;
    *created = true;
    /* a new slot: a new history, whatever an old state file said */
    src->snap_done = !want_snap;
    src->snap_table = 0;
    for (size_t i = 0; i < src->snap_nkey; i++)
        free(src->snap_key[i]);
    free(src->snap_key);
    src->snap_key = NULL;
    src->snap_nkey = 0;
    src->slot_known = true;
    return pr_pg_state_save(src, err);
}

void pr_pg_repl_close(pr_pg_src_t *src)
{
    if (src->sock_ev) {
        event_free(src->sock_ev);
        src->sock_ev = NULL;
    }
    if (src->readback) {
        PQclear(src->readback);
        src->readback = NULL;
    }
    PQfinish(src->repl);
    PQfinish(src->qc);
    src->repl = src->qc = NULL;
}

int pr_pg_repl_connect(pr_pg_src_t *src, mw_err_t *err)
{
    bool created = false;
    int rc;

    pr_pg_repl_close(src);
    src->snap_needed = false;
    src->snap_exported = false;
    src->qc = pg_connect(src->conninfo, false, err);
    if (!src->qc)
        return err->code;
    if ((rc = check_server(src, err)) != 0)
        goto fail;
    if (src->snap_mode == PR_PG_SNAP_INITIAL_ONLY) {
        /* no slot: a plain consistent read is all there is */
        src->snap_needed = !src->snap_done;
        rc = check_tables(src, src->snap_needed, err);
        if (rc == 0 && src->snap_needed && !src->sysid[0])
            snprintf(src->sysid, sizeof(src->sysid), "-");
        if (rc != 0)
            goto fail;
        mw_gauge_set(src->m_connected, 1);
        return 0;
    }
    /* the tables exist before anything is created for them */
    if ((rc = check_tables(src, false, err)) != 0 ||
        (rc = ensure_publication(src, err)) != 0)
        goto fail;
    src->repl = pg_connect(src->conninfo, true, err);
    if (!src->repl) {
        rc = err->code;
        goto fail;
    }
    if ((rc = identify(src, err)) != 0 ||
        (rc = ensure_slot(src, &created, err)) != 0)
        goto fail;
    /* always: a snapshot at every start of the daemon, not at every
     * reconnect */
    if (src->snap_mode == PR_PG_SNAP_ALWAYS && !created && !src->connected_once)
        src->snap_done = false;
    src->connected_once = true;
    src->snap_needed = src->snap_mode != PR_PG_SNAP_NEVER && !src->snap_done;
    if (!src->snap_needed)
        src->snap_done = true;
    /* the tables' shape now only for the snapshot; the stream's Relation
     * messages give theirs */
    if (src->snap_needed && (rc = check_tables(src, true, err)) != 0)
        goto fail;
    if (!src->state_found || created) {
        if ((rc = pr_pg_state_save(src, err)) != 0)
            goto fail;
        src->state_found = true;
    }
    if (src->pushed < src->confirmed && src->outstanding == 0) {
        /* the window restarts at the slot's position (first connection:
         * nothing in flight points into it) */
        pr_checkpoint_window_destroy(src->win);
        src->win = pr_checkpoint_window_new(src->confirmed, 1000000);
        if (!src->win) {
            rc = mw_err_set(err, MW_ERR_NOMEM, "out of memory");
            goto fail;
        }
        src->pushed = src->confirmed;
    }
    src->sent_flush = 0;
    mw_gauge_set(src->m_connected, 1);
    return 0;
fail:
    pr_pg_repl_close(src);
    return rc;
}

static void sock_cb(evutil_socket_t fd, short what, void *arg)
{
    pr_pg_src_t *src = arg;

    (void)fd;
    (void)what;
    if (!src->repl)
        return;
    if (!PQconsumeInput(src->repl)) {
        pr_pg_down(src, pq_msg(src->repl));
        return;
    }
    pr_pg_repl_pump(src);
}

int pr_pg_repl_start(pr_pg_src_t *src, mw_err_t *err)
{
    char sql[512], *pub = quote_ident(src->repl, src->publication);
    PGresult *res;

    if (!pub)
        return mw_err_set(err, MW_ERR_NOMEM, "out of memory");
    /* publication_names is a list of (possibly quoted) identifiers in a
     * string literal: double the single quotes a quoted name may hold */
    {
        char lit[300];
        size_t j = 0;

        for (const char *p = pub; *p && j + 2 < sizeof(lit); p++) {
            if (*p == '\'')
                lit[j++] = '\'';
            lit[j++] = *p;
        }
        lit[j] = 0;
        snprintf(sql, sizeof(sql),
                 "START_REPLICATION SLOT \"%s\" LOGICAL %X/%X "
                 "(proto_version '1', publication_names '%s'%s)",
                 src->slot, (unsigned)(src->confirmed >> 32),
                 (unsigned)src->confirmed, lit,
                 src->server_version >= 140000 ? ", messages 'true'" : "");
    }
    PQfreemem(pub);
    res = PQexec(src->repl, sql);
    if (PQresultStatus(res) != PGRES_COPY_BOTH) {
        mw_err_set(err, MW_ERR_TRANSPORT, "postgres: START_REPLICATION: %s",
                   PQresultErrorMessage(res));
        PQclear(res);
        return MW_ERR_TRANSPORT;
    }
    PQclear(res);
    if (PQsetnonblocking(src->repl, 1) != 0)
        return mw_err_set(err, MW_ERR_TRANSPORT, "postgres: nonblocking: %s",
                          pq_msg(src->repl));
    src->sock_ev = event_new(src->base, PQsocket(src->repl),
                             EV_READ | EV_PERSIST, sock_cb, src);
    if (!src->sock_ev || event_add(src->sock_ev, NULL) != 0)
        return mw_err_set(err, MW_ERR_NOMEM, "cannot add the socket event");
    src->in_tx = false;
    src->last_status_ms = 0;
    mw_log_info(PR_PG_COMP, "streaming", "slot=%s from_lsn=%X/%X", src->slot,
                (unsigned)(src->confirmed >> 32), (unsigned)src->confirmed);
    return 0;
}

/* ------------------------------------------------------------ status */

int pr_pg_repl_status(pr_pg_src_t *src, bool force)
{
    char msg[34];
    int64_t now = mw_time_mono_ms();
    int64_t pg_now_us = mw_time_wall_ms() * 1000 - PR_PG_EPOCH_MS * 1000;
    pr_lsn_t flush = src->snap_done ? src->confirmed : 0;

    if (!src->repl)
        return 0;
    if (!force && flush == src->sent_flush &&
        now - src->last_status_ms < src->status_ms)
        return 0;
    msg[0] = 'r';
    put_be64(msg + 1, flush);  /* written */
    put_be64(msg + 9, flush);  /* flushed */
    put_be64(msg + 17, flush); /* applied */
    put_be64(msg + 25, (uint64_t)pg_now_us);
    msg[33] = 0;
    if (PQputCopyData(src->repl, msg, sizeof(msg)) != 1)
        return MW_ERR_TRANSPORT;
    if (PQflush(src->repl) < 0)
        return MW_ERR_TRANSPORT;
    src->sent_flush = flush;
    src->last_status_ms = now;
    return 0;
}

void pr_pg_repl_chores(pr_pg_src_t *src)
{
    int64_t now = mw_time_mono_ms();
    PGresult *res;

    if (!src->qc)
        return;
    if (now - src->last_slot_poll_ms >= PR_PG_STATS_MS) {
        static const char sql[] =
            "SELECT pg_current_wal_lsn() - restart_lsn FROM "
            "pg_replication_slots WHERE slot_name = $1";
        const char *p1[1] = {src->slot};

        src->last_slot_poll_ms = now;
        res = PQexecParams(src->qc, sql, 1, NULL, p1, NULL, NULL, 0);
        if (PQresultStatus(res) == PGRES_TUPLES_OK && PQntuples(res) == 1)
            mw_gauge_set(src->m_retained, atof(PQgetvalue(res, 0, 0)));
        else if (PQresultStatus(res) == PGRES_TUPLES_OK)
            mw_log_error(PR_PG_COMP, "replication slot disappeared", "slot=%s",
                         src->slot);
        PQclear(res);
    }
    if (src->hb_ms > 0 && now - src->last_hb_ms >= src->hb_ms) {
        src->last_hb_ms = now;
        if (src->hb_query && *src->hb_query) {
            res = PQexec(src->qc, src->hb_query);
            if (PQresultStatus(res) != PGRES_COMMAND_OK &&
                PQresultStatus(res) != PGRES_TUPLES_OK)
                mw_log_warn(PR_PG_COMP, "heartbeat.action.query failed",
                            "error=%s", mw_log_q(PQresultErrorMessage(res)));
            PQclear(res);
        }
        pr_pg_repl_status(src, true);
    }
}

/* ------------------------------------------------------------ changes */

static pr_pg_image_t img_of(const pr_pgout_tuple_t *t)
{
    return (pr_pg_image_t){t->cols, t->ncols};
}

/* Unchanged TOASTed values of a type without placeholder, under a replica
 * identity that did not send them: read back from the table by key.  The
 * row may have changed since; a later change in the stream then brings
 * the newer value anyway.  The patched columns point into src->readback
 * (kept until the record is sent). */
static int readback(pr_pg_src_t *src, const pr_pg_rel_t *rel,
                    pr_pgout_col_t *cols, size_t n, mw_err_t *err)
{
    char sql[4096];
    const char *params[32];
    size_t len = 0, np = 0, nsel = 0;
    size_t idx[256];
    char *q;
    int rc = 0;

    if (!rel->nkeys || rel->nkeys > 32 || !src->qc)
        return mw_err_set(err, MW_ERR_UNSUPPORTED,
                          "table %s.%s: an unchanged TOASTed value cannot "
                          "be read back without a primary key",
                          rel->nspname, rel->relname);
    len += (size_t)snprintf(sql + len, sizeof(sql) - len, "SELECT ");
    for (size_t i = 0; i < n && i < rel->ncols && nsel < 256; i++) {
        if (cols[i].kind != 'u')
            continue;
        q = quote_ident(src->qc, rel->cols[i].name);
        len += (size_t)snprintf(sql + len, sizeof(sql) - len, "%s%s::text",
                                nsel ? ", " : "", q ? q : "");
        PQfreemem(q);
        idx[nsel++] = i;
    }
    {
        char *nsp = quote_ident(src->qc, rel->nspname);
        char *tab = quote_ident(src->qc, rel->relname);

        len +=
            (size_t)snprintf(sql + len, sizeof(sql) - len, " FROM %s.%s WHERE ",
                             nsp ? nsp : "", tab ? tab : "");
        PQfreemem(nsp);
        PQfreemem(tab);
    }
    for (size_t k = 0; k < rel->nkeys; k++) {
        const pr_pgout_col_t *v = &cols[rel->keys[k]];
        char *val = strndup(v->data ? v->data : "", v->len);

        q = quote_ident(src->qc, rel->cols[rel->keys[k]].name);
        len +=
            (size_t)snprintf(sql + len, sizeof(sql) - len, "%s%s::text = $%zu",
                             k ? " AND " : "", q ? q : "", k + 1);
        PQfreemem(q);
        params[np++] = val;
    }
    if (len >= sizeof(sql))
        rc = mw_err_set(err, MW_ERR_UNSUPPORTED, "read-back query too long");
    if (rc == 0) {
        PGresult *res = q_exec(src->qc, sql, (int)np, params, PGRES_TUPLES_OK,
                               "reading back a value", err);

        if (!res) {
            rc = MW_ERR_TRANSPORT;
        } else {
            for (size_t j = 0; j < nsel; j++) {
                pr_pgout_col_t *c = &cols[idx[j]];

                if (PQntuples(res) == 0 || PQgetisnull(res, 0, (int)j)) {
                    c->kind = 'n'; /* gone since: a delete follows */
                } else {
                    c->kind = 't';
                    c->data = PQgetvalue(res, 0, (int)j);
                    c->len = (uint32_t)PQgetlength(res, 0, (int)j);
                }
            }
            if (src->readback)
                PQclear(src->readback);
            src->readback = res;
        }
    }
    for (size_t i = 0; i < np; i++)
        free((char *)params[i]);
    return rc;
}

static pr_pg_origin_t origin_of(pr_pg_src_t *src, pr_pg_rel_t *rel)
{
    return (pr_pg_origin_t){.server = src->prefix,
                            .db = src->db,
                            .xid = src->xid,
                            .lsn = src->pend.lsn,
                            .last_commit_lsn = src->last_commit,
                            .ts_ms = src->commit_ms,
                            .tx_id = src->emit_tx ? src->tx_id : NULL,
                            .total_order = src->tx_events + 1,
                            .collection_order = rel ? rel->events + 1 : 0};
}

static int op_index(char op)
{
    const char *ops = "cudrt", *p = strchr(ops, op);

    return p ? (int)(p - ops) : 0;
}

static bool has_unchanged(const pr_pg_image_t *img)
{
    for (size_t i = 0; i < img->nvals; i++)
        if (img->vals[i].kind == 'u')
            return true;
    return false;
}

/* One change record: key from kimg, value op/before/after (or a
 * tombstone). */
static int send_change(pr_pg_src_t *src, pr_pg_rel_t *rel, char op,
                       const pr_pg_image_t *kimg, const pr_pg_image_t *before,
                       const pr_pg_image_t *after, bool tombstone,
                       mw_err_t *err)
{
    pr_pg_origin_t org = origin_of(src, rel);
    int rc = kimg ? pr_pg_event_key(rel, kimg, src->kbuf, err) : 0;

    if (!kimg)
        mw_buf_reset(src->kbuf); /* a truncate has no key */

    if (rc == 0 && !tombstone)
        rc = pr_pg_event_value(rel, op, before, after, &org, src->vbuf, err);
    if (rc == MW_ERR_UNSUPPORTED && after && has_unchanged(after)) {
        /* unchanged TOAST without a placeholder: read back, then again */
        pr_pgout_col_t *cols = (pr_pgout_col_t *)after->vals;

        rc = readback(src, rel, cols, after->nvals, err);
        if (rc == 0)
            rc =
                pr_pg_event_value(rel, op, before, after, &org, src->vbuf, err);
    }
    if (rc != 0)
        return rc;
    rc = pr_pg_send(src, src->win, src->tx_base, rel, rel->topic, rel->key_id,
                    tombstone ? 0 : rel->value_id, tombstone, err);
    if (rc != 0)
        return rc;
    if (tombstone) {
        mw_counter_inc(src->m_tombstones);
        return 0;
    }
    mw_counter_inc(src->m_ops[op_index(op)]);
    src->tx_events++;
    rel->events++;
    return 0;
}

/* True when the key columns of the two images differ. */
static bool key_changed(const pr_pg_rel_t *rel, const pr_pgout_tuple_t *o,
                        const pr_pgout_tuple_t *n)
{
    for (size_t k = 0; k < rel->nkeys; k++) {
        size_t i = rel->keys[k];
        const pr_pgout_col_t *a, *b;

        if (i >= o->ncols || i >= n->ncols)
            return false;
        a = &o->cols[i];
        b = &n->cols[i];
        if (a->kind != 't' || b->kind != 't')
            continue;
        if (a->len != b->len || memcmp(a->data, b->data, a->len))
            return true;
    }
    return false;
}

static bool captured(const pr_pg_src_t *src, const char *nsp, const char *rel)
{
    for (size_t i = 0; i < src->ntables; i++)
        if (!strcmp(src->tables[2 * i], nsp) &&
            !strcmp(src->tables[2 * i + 1], rel))
            return true;
    return false;
}

static bool ignored(const pr_pg_src_t *src, uint32_t relid)
{
    for (size_t i = 0; i < src->nignored; i++)
        if (src->ignored[i] == relid)
            return true;
    return false;
}

static int ignore_relation(pr_pg_src_t *src, uint32_t relid, mw_err_t *err)
{
    if (ignored(src, relid))
        return 0;
    if (MW_VEC_RESERVE(&src->ignored, &src->ignored_cap, src->nignored + 1))
        return mw_err_set(err, MW_ERR_NOMEM, "out of memory");
    src->ignored[src->nignored++] = relid;
    return 0;
}

static pr_pg_rel_t *rel_of(pr_pg_src_t *src, uint32_t relid, mw_err_t *err)
{
    pr_pg_rel_t *rel = pr_pg_rels_find(src->rels, relid);

    if (!rel)
        mw_err_set(err, MW_ERR_INVALID,
                   "pgoutput: change for relation %u before its Relation "
                   "message",
                   relid);
    return rel;
}

static int tx_marker(pr_pg_src_t *src, bool begin, mw_err_t *err)
{
    char topic[300];
    uint32_t *ids = src->tx_ids;
    int rc;

    snprintf(topic, sizeof(topic), "%s.transaction", src->prefix);
    if (!ids[0] || !ids[1]) {
        if ((rc = pr_emit_register(src->emit, topic, true,
                                   pr_pg_tx_key_schema(), &ids[0], err)) != 0 ||
            (rc = pr_emit_register(src->emit, topic, false,
                                   pr_pg_tx_value_schema(), &ids[1], err)) != 0)
            return rc;
    }
    mw_buf_reset(src->kbuf);
    if (mw_buf_append(src->kbuf, "{\"id\":", 6) != 0 ||
        pr_pg_json_str(src->kbuf, src->tx_id, strlen(src->tx_id)) != 0 ||
        mw_buf_append(src->kbuf, "}", 1) != 0 ||
        pr_pg_tx_value(src->vbuf, begin, src->tx_id, src->commit_ms,
                       src->tx_events, src->rels) != 0)
        return mw_err_set(err, MW_ERR_NOMEM, "out of memory");
    return pr_pg_send(src, src->win, src->tx_base, NULL, topic, ids[0], ids[1],
                      false, err);
}

static void reset_counts(pr_pg_rel_t *rel, void *opaque)
{
    (void)opaque;
    rel->events = 0;
}

/* Records of the pending message from its step on; 0 when all are sent. */
static int process(pr_pg_src_t *src, mw_err_t *err)
{
    pr_pgout_msg_t *m = &src->pend.msg;
    pr_pg_image_t o, n;
    pr_pg_rel_t *rel;
    int rc = 0;

    switch (m->type) {
    case 'B':
        if (src->pend.step == 0) {
            src->in_tx = true;
            src->xid = m->u.begin.xid;
            src->commit_ms = m->u.begin.commit_us / 1000 + PR_PG_EPOCH_MS;
            src->tx_base = src->pushed;
            src->tx_events = 0;
            pr_pg_rels_each(src->rels, reset_counts, NULL);
            snprintf(src->tx_id, sizeof(src->tx_id), "%u:%" PRIu64, src->xid,
                     m->u.begin.final_lsn);
            src->pend.step = 1;
        }
        if (src->emit_tx && src->pend.step == 1) {
            if ((rc = tx_marker(src, true, err)) != 0)
                return rc;
            src->pend.step = 2;
        }
        return 0;
    case 'C':
        if (src->emit_tx && src->pend.step == 0) {
            if ((rc = tx_marker(src, false, err)) != 0)
                return rc;
        }
        src->pend.step = 1;
        {
            uint64_t seq;
            pr_lsn_t end = m->u.commit.end_lsn;

            if (end < src->pushed)
                end = src->pushed;
            rc = pr_checkpoint_window_push(src->win, end, &seq);
            src->wait_window = rc == MW_ERR_FULL;
            if (rc != 0)
                return mw_err_set(err, rc, "acknowledgement window full");
            pr_checkpoint_window_ack(src->win, seq);
            src->pushed = end;
        }
        src->last_commit = m->u.commit.end_lsn;
        src->in_tx = false;
        src->last_commit_ms = src->commit_ms;
        mw_gauge_set(src->m_lag_ms,
                     (double)(mw_time_wall_ms() - src->commit_ms));
        mw_counter_inc(src->m_tx);
        return 0;
    case 'R': {
        bool changed = false;

        /* a publication made beforehand may hold more tables than
         * pg.tables: those are not captured */
        if (!captured(src, *m->u.rel.nspname ? m->u.rel.nspname : "pg_catalog",
                      m->u.rel.relname))
            return ignore_relation(src, m->u.rel.relid, err);
        rc = pr_pg_rels_on_relation(src->rels, src->qc, m, &changed, err);
        if (rc == MW_ERR_INVALID) {
            char why[MW_ERR_MSG_MAX];

            snprintf(why, sizeof(why), "%s", err->msg);
            return mw_err_set(err, MW_ERR_FATAL,
                              "%s; the source stopped without confirming "
                              "this transaction (the slot stays at %X/%X)",
                              why, (unsigned)(src->confirmed >> 32),
                              (unsigned)src->confirmed);
        }
        return rc;
    }
    case 'I':
        if (ignored(src, m->u.change.relid))
            return 0;
        if (!(rel = rel_of(src, m->u.change.relid, err)))
            return MW_ERR_FATAL;
        n = img_of(&m->u.change.new_tup);
        return send_change(src, rel, 'c', &n, NULL, &n, false, err);
    case 'U':
        if (ignored(src, m->u.change.relid))
            return 0;
        if (!(rel = rel_of(src, m->u.change.relid, err)))
            return MW_ERR_FATAL;
        n = img_of(&m->u.change.new_tup);
        o = img_of(&m->u.change.old_tup);
        if (m->u.change.old_kind &&
            key_changed(rel, &m->u.change.old_tup, &m->u.change.new_tup)) {
            /* a primary-key change: delete the old key, create the new */
            if (src->pend.step == 0 &&
                (rc = send_change(src, rel, 'd', &o, &o, NULL, false, err)))
                return rc;
            src->pend.step = src->pend.step ? src->pend.step : 1;
            if (src->tombstones && src->pend.step == 1 &&
                (rc = send_change(src, rel, 'd', &o, NULL, NULL, true, err)))
                return rc;
            src->pend.step = 2;
            return send_change(src, rel, 'c', &n, NULL, &n, false, err);
        }
        return send_change(src, rel, 'u', &n,
                           m->u.change.old_kind == 'O' ? &o : NULL, &n, false,
                           err);
    case 'D':
        if (ignored(src, m->u.change.relid))
            return 0;
        if (!(rel = rel_of(src, m->u.change.relid, err)))
            return MW_ERR_FATAL;
        o = img_of(&m->u.change.old_tup);
        if (src->pend.step == 0 &&
            (rc = send_change(src, rel, 'd', &o, &o, NULL, false, err)))
            return rc;
        src->pend.step = 1;
        if (src->tombstones)
            return send_change(src, rel, 'd', &o, NULL, NULL, true, err);
        return 0;
    case 'T':
        for (; (uint32_t)src->pend.step < m->u.truncate.nrels;
             src->pend.step++) {
            rel = pr_pg_rels_find(
                src->rels, pr_pgout_relid_at(m, (uint32_t)src->pend.step));
            if (!rel)
                continue;
            if ((rc = send_change(src, rel, 't', NULL, NULL, NULL, false, err)))
                return rc;
        }
        return 0;
    default:
        /* 'O' origin, 'Y' type (the catalog is read instead), 'M'
         * logical decoding message: nothing to publish */
        return 0;
    }
}

/* A keepalive while no transaction is open: every change before its WAL
 * position was sent, so the position is confirmable once those records
 * are acknowledged. */
static void idle_marker(pr_pg_src_t *src, pr_lsn_t lsn)
{
    uint64_t seq;

    if (src->in_tx || lsn <= src->pushed)
        return;
    if (pr_checkpoint_window_push(src->win, lsn, &seq) != 0)
        return;
    pr_checkpoint_window_ack(src->win, seq);
    src->pushed = lsn;
}

void pr_pg_repl_drop_pending(pr_pg_src_t *src)
{
    PQfreemem(src->pend.buf);
    src->pend.buf = NULL;
    src->have_pend = false;
    if (src->readback) {
        PQclear(src->readback);
        src->readback = NULL;
    }
}

void pr_pg_repl_pump(pr_pg_src_t *src)
{
    mw_err_t err = {0};

    for (int budget = PR_PG_BUDGET; budget > 0; budget--) {
        char *buf = NULL;
        int len, rc;

        if (src->stopped || src->wait_room || src->phase != PR_PG_STREAMING)
            return;
        if (src->have_pend) {
            rc = process(src, &err);
            if (rc == MW_ERR_FULL) {
                return; /* the room callback or the tick resumes */
            }
            if (rc == MW_ERR_TRANSPORT || rc == MW_ERR_TIMEOUT) {
                pr_pg_down(src, err.msg);
                return;
            }
            if (rc != 0) {
                pr_pg_halt(src, &err);
                return;
            }
            pr_pg_repl_drop_pending(src);
            continue;
        }
        len = PQgetCopyData(src->repl, &buf, 1);
        if (len == 0)
            return;
        if (len < 0) {
            pr_pg_down(src, len == -1 ? "replication stream ended"
                                      : pq_msg(src->repl));
            return;
        }
        if (buf[0] == 'k' && len >= 18) {
            src->wal_end = be64(buf + 1);
            idle_marker(src, src->wal_end);
            if (buf[17])
                src->reply_now = true;
            PQfreemem(buf);
            if (src->reply_now) {
                src->reply_now = false;
                if (pr_pg_repl_status(src, true) != 0) {
                    pr_pg_down(src, "cannot send the standby status");
                    return;
                }
            }
            continue;
        }
        if (buf[0] != 'w' || len < 25) {
            PQfreemem(buf);
            continue;
        }
        src->pend =
            (pr_pg_pending_t){.buf = buf, .len = len, .lsn = be64(buf + 1)};
        if (be64(buf + 9) > src->wal_end)
            src->wal_end = be64(buf + 9);
        src->have_pend = true;
        if (pr_pgout_decode(src->dec, (const uint8_t *)buf + 25,
                            (size_t)len - 25, &src->pend.msg, &err) != 0) {
            mw_err_prefix(&err, "at LSN %X/%X", (unsigned)(src->pend.lsn >> 32),
                          (unsigned)src->pend.lsn);
            pr_pg_halt(src, &err);
            return;
        }
    }
    /* budget spent: let delivery reports and timers run, then go on */
    {
        static const struct timeval zero = {0, 0};

        event_add(src->cont_ev, &zero);
    }
}
