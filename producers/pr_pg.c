/*
 * pr_pg: the `pg` source of mesh-producer — change data capture from
 * PostgreSQL over logical replication with the built-in pgoutput plugin,
 * as Debezium's PostgreSQL connector does it, without a JVM.
 *
 * Phases: connect (pr_pg_repl.c: checks, publication, slot), snapshot
 * (pr_pg_snap.c, when snapshot.mode asks for one), then streaming
 * (pr_pg_repl.c) until stopped.  A lost connection goes back to connect
 * after a backoff; a refused schema or a lost slot halts the daemon
 * (exit 1) without confirming anything more.
 *
 * The no-loss rule: the flush LSN confirmed to PostgreSQL covers only
 * transactions every record of which Kafka acknowledged.  Each record is
 * pushed into an acknowledgement window (pr_checkpoint's, with LSNs as
 * offsets) at the LSN that was confirmable before its transaction; the
 * commit pushes a marker at the commit's end LSN, acknowledged at once, so
 * the window's acknowledged prefix passes a commit only once all of its
 * records are acknowledged.  The confirmed LSN follows the window on the
 * next tick (100 ms), not at a periodic offset commit: the slot holds no
 * more WAL than what is in flight.
 *
 * The state file (pg.state.dir/<slot>.json, replaced atomically) records
 * that the slot was created by this source and how far the snapshot got,
 * so a restart resumes the snapshot at its last acknowledged chunk and a
 * slot dropped behind the source's back is detected, not silently made
 * anew past the changes it held.
 *
 * Thread: the daemon's loop thread, callbacks included.
 */
#include "pr_pg_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>
#include <jansson.h>

#include "mw_daemon.h"
#include "mw_log.h"
#include "mw_time.h"

#define PR_PG_TICK_MS 100
#define PR_PG_RETRY_MIN_MS 500
#define PR_PG_RETRY_MAX_MS 30000
#define PR_PG_WINDOW_MAX 1000000

static const char *const snap_modes[] = {"initial", "never", "always",
                                         "initial_only", NULL};
_Static_assert(PR_PG_SNAP_INITIAL == 0 && PR_PG_SNAP_INITIAL_ONLY == 3,
               "snap_modes follows pr_pg_snapmode_t");

static const mw_conf_key_t pg_keys[] = {
    {.name = "pg.conninfo",
     .type = MW_CONF_STR,
     .secret = true,
     .doc = "source=pg: libpq connection string of the database "
            "(host=... dbname=... user=...); the user needs REPLICATION."},
    {.name = "pg.tables",
     .type = MW_CONF_STR,
     .doc = "source=pg: comma-separated schema.table list to capture."},
    {.name = "pg.slot",
     .type = MW_CONF_STR,
     .dflt = "meshwork",
     .doc = "source=pg: logical replication slot (created when missing)."},
    {.name = "pg.publication",
     .type = MW_CONF_STR,
     .dflt = "meshwork",
     .doc = "source=pg: publication of the tables (created or extended "
            "when missing)."},
    {.name = "pg.state.dir",
     .type = MW_CONF_STR,
     .dflt = "./.mesh/pg",
     .doc = "source=pg: directory of the state file (the slot it owns, "
            "snapshot progress)."},
    {.name = "snapshot.mode",
     .type = MW_CONF_ENUM,
     .dflt = "initial",
     .allowed = snap_modes,
     .doc = "source=pg: initial (snapshot once, then stream), never, always "
            "(snapshot at every start), initial_only (snapshot, no "
            "streaming)."},
    {.name = "snapshot.chunk.rows",
     .type = MW_CONF_INT,
     .dflt = "10000",
     .min = 1,
     .max = 10000000,
     .doc = "source=pg: rows per snapshot chunk; progress is recorded per "
            "acknowledged chunk."},
    {.name = "topic.prefix",
     .type = MW_CONF_STR,
     .dflt = "meshwork",
     .doc = "source=pg: topics are <topic.prefix>.<schema>.<table> (see "
            "topic.map.*); also source.name in every event."},
    {.name = "heartbeat.interval.ms",
     .type = MW_CONF_INT,
     .dflt = "0",
     .min = 0,
     .max = 3600000,
     .doc = "source=pg: every so often run heartbeat.action.query and "
            "confirm the slot's position (0: off; idle slots are still "
            "confirmed from keepalives)."},
    {.name = "heartbeat.action.query",
     .type = MW_CONF_STR,
     .doc = "source=pg: SQL run at each heartbeat, e.g. an UPDATE of a "
            "heartbeat table, so a slot whose tables are idle moves."},
    {.name = "emit.transactions",
     .type = MW_CONF_BOOL,
     .dflt = "false",
     .doc = "source=pg: BEGIN/END markers with per-table counts to "
            "<topic.prefix>.transaction, and a transaction block in "
            "events."},
    {.name = "tombstones.on.delete",
     .type = MW_CONF_BOOL,
     .dflt = "true",
     .doc = "source=pg: a tombstone (null value) after each delete, for "
            "log compaction."},
    {.name = "pg.status.interval.ms",
     .type = MW_CONF_INT,
     .dflt = "10000",
     .min = 100,
     .max = 600000,
     .doc = "source=pg: standby status updates are sent at least this "
            "often (and whenever the confirmed position moves)."},
};

/* "a.b,c.d" -> pairs; MW_ERR_CONFIG naming pg.tables. */
static int parse_tables(const char *list, char ***out, size_t *cnt,
                        mw_err_t *err)
{
    char *copy = strdup(list), *save = NULL, *tok;
    char **pairs = NULL;
    size_t n = 0;
    int rc = 0;

    if (!copy)
        return MW_ERR_NOMEM;
    for (tok = strtok_r(copy, ",", &save); tok && rc == 0;
         tok = strtok_r(NULL, ",", &save)) {
        char *dot, **grown;

        while (*tok == ' ')
            tok++;
        for (char *e = tok + strlen(tok); e > tok && e[-1] == ' ';)
            *--e = 0;
        dot = strchr(tok, '.');
        if (!dot || dot == tok || !dot[1] || strchr(dot + 1, '.') ||
            strlen(tok) > 2 * PR_PG_NAME_MAX) {
            rc = mw_err_set(err, MW_ERR_CONFIG,
                            "key 'pg.tables': '%s' is not schema.table", tok);
            break;
        }
        grown = realloc(pairs, (n + 1) * 2 * sizeof(*pairs));
        if (!grown) {
            rc = MW_ERR_NOMEM;
            break;
        }
        pairs = grown;
        *dot = 0;
        pairs[2 * n] = strdup(tok);
        pairs[2 * n + 1] = strdup(dot + 1);
        n++;
        if (!pairs[2 * n - 2] || !pairs[2 * n - 1])
            rc = MW_ERR_NOMEM;
    }
    free(copy);
    if (rc == 0 && n == 0)
        rc = mw_err_set(err, MW_ERR_CONFIG, "key 'pg.tables': no table");
    if (rc != 0) {
        for (size_t i = 0; i < 2 * n; i++)
            free(pairs[i]);
        free(pairs);
        return rc == MW_ERR_NOMEM
                   ? mw_err_set(err, rc, "out of memory for pg.tables")
                   : rc;
    }
    *out = pairs;
    *cnt = n;
    return 0;
}

typedef struct map_check {
    char **tables;
    size_t ntables;
    mw_err_t *err;
} map_check_t;

/* Every topic.map.<schema.table> names a captured table and a legal
 * topic. */
static int map_check_cb(const char *subkey, const char *value,
                        const char *origin, void *opaque)
{
    map_check_t *m = opaque;

    for (size_t i = 0; i < m->ntables; i++) {
        size_t ls = strlen(m->tables[2 * i]);

        if (!strncmp(subkey, m->tables[2 * i], ls) && subkey[ls] == '.' &&
            !strcmp(subkey + ls + 1, m->tables[2 * i + 1])) {
            if (!pr_emit_topic_is_valid(value))
                return mw_err_set(m->err, MW_ERR_CONFIG,
                                  "key 'topic.map.%s' (%s): '%s' is not a "
                                  "valid topic name",
                                  subkey, origin, value);
            return 0;
        }
    }
    return mw_err_set(m->err, MW_ERR_CONFIG,
                      "key 'topic.map.%s' (%s): %s is not in pg.tables", subkey,
                      origin, subkey);
}

static int pg_check(const mw_conf_t *conf, mw_err_t *err)
{
    const char *ci = mw_conf_get_str(conf, "pg.conninfo");
    const char *tables = mw_conf_get_str(conf, "pg.tables");
    const char *slot = mw_conf_get_str(conf, "pg.slot");
    const char *prefix = mw_conf_get_str(conf, "topic.prefix");
    char **pairs = NULL;
    size_t n = 0;
    map_check_t m;
    int rc;

    if (!(ci && *ci))
        return mw_err_set(err, MW_ERR_CONFIG,
                          "key 'pg.conninfo': required with source=pg");
    if (!(tables && *tables))
        return mw_err_set(err, MW_ERR_CONFIG,
                          "key 'pg.tables': required with source=pg "
                          "(comma-separated schema.table)");
    /* Slot names: lower-case letters, digits and '_' (PostgreSQL's rule). */
    for (const char *p = slot; p && *p; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') ||
              *p == '_') ||
            p - slot >= PR_PG_NAME_MAX - 1)
            return mw_err_set(err, MW_ERR_CONFIG,
                              "key 'pg.slot': '%s' is not a slot name "
                              "(lower-case letters, digits, '_', at most "
                              "63)",
                              slot);
    if (!slot || !*slot)
        return mw_err_set(err, MW_ERR_CONFIG, "key 'pg.slot': empty");
    if (!prefix || !pr_emit_topic_is_valid(prefix))
        return mw_err_set(err, MW_ERR_CONFIG,
                          "key 'topic.prefix': '%s' is not a valid topic "
                          "name",
                          prefix ? prefix : "");
    rc = parse_tables(tables, &pairs, &n, err);
    if (rc != 0)
        return rc;
    m = (map_check_t){pairs, n, err};
    rc = mw_conf_foreach_prefix(conf, "topic.map.", map_check_cb, &m);
    for (size_t i = 0; i < 2 * n; i++)
        free(pairs[i]);
    free(pairs);
    return rc;
}

/* ------------------------------------------------------------- state */

int pr_pg_state_save(pr_pg_src_t *src, mw_err_t *err)
{
    json_t *st = json_object(), *snap = json_object(), *key = json_array();
    char *text;
    int rc;

    json_object_set_new(st, "version", json_integer(1));
    json_object_set_new(st, "slot", json_string(src->slot));
    json_object_set_new(st, "system", json_string(src->sysid));
    json_object_set_new(st, "db", json_string(src->db));
    json_object_set_new(st, "slot_created", json_true());
    json_object_set_new(snap, "done", json_boolean(src->snap_done));
    json_object_set_new(snap, "table",
                        json_integer((json_int_t)src->snap_table));
    for (size_t i = 0; src->snap_key && i < src->snap_nkey; i++)
        json_array_append_new(key, json_string(src->snap_key[i]));
    json_object_set_new(snap, "key", src->snap_key ? key : json_null());
    if (!src->snap_key)
        json_decref(key);
    json_object_set_new(st, "snapshot", snap);
    text = json_dumps(st, JSON_INDENT(2) | JSON_SORT_KEYS);
    json_decref(st);
    if (!text)
        return mw_err_set(err, MW_ERR_NOMEM, "out of memory for the state");
    rc = mw_daemon_write_file(src->state_path, text, err);
    free(text);
    return rc;
}

/* Reads the state file: *found false when there is none. */
static int state_load(pr_pg_src_t *src, mw_err_t *err)
{
    bool *found = &src->state_found, *slot_created = &src->slot_known;
    json_error_t jerr;
    json_t *st, *snap, *key;
    FILE *f = fopen(src->state_path, "r");

    *found = *slot_created = false;
    if (!f)
        return 0;
    st = json_loadf(f, 0, &jerr);
    fclose(f);
    if (!st || !json_is_object(st))
        return mw_err_set(err, MW_ERR_CONFIG,
                          "state file %s is not valid JSON (line %d: %s); "
                          "remove it to start over with a new snapshot",
                          src->state_path, jerr.line, jerr.text);
    *found = true;
    *slot_created = json_is_true(json_object_get(st, "slot_created"));
    snap = json_object_get(st, "snapshot");
    src->snap_done = json_is_true(json_object_get(snap, "done"));
    src->snap_table =
        (size_t)json_integer_value(json_object_get(snap, "table"));
    key = json_object_get(snap, "key");
    if (json_is_array(key) && json_array_size(key)) {
        src->snap_nkey = json_array_size(key);
        src->snap_key = calloc(src->snap_nkey, sizeof(char *));
        for (size_t i = 0; src->snap_key && i < src->snap_nkey; i++)
            src->snap_key[i] =
                strdup(json_string_value(json_array_get(key, i)) ?: "");
    }
    json_decref(st);
    return 0;
}

/* -------------------------------------------------------- sending */

typedef struct rec_ctx {
    pr_pg_src_t *src;
    pr_checkpoint_window_t *win;
    uint64_t seq;
} rec_ctx_t;

static void schedule_cont(pr_pg_src_t *src)
{
    static const struct timeval zero = {0, 0};

    if (src->cont_ev)
        event_add(src->cont_ev, &zero);
}

static void rec_done(void *opaque, const pr_result_t *res)
{
    rec_ctx_t *ctx = opaque;
    pr_pg_src_t *src = ctx->src;

    src->outstanding--;
    if (res->code == 0) {
        pr_checkpoint_window_ack(ctx->win, ctx->seq);
        if (ctx->win == src->snap_win)
            pr_pg_snap_acked(src);
    } else {
        /* Never acknowledged: the window, and so the confirmed LSN or the
         * snapshot's progress, stays before it; a restart sends it
         * again. */
        if (src->failed_cnt++ == 0)
            mw_log_error(PR_PG_COMP, "delivery failed", "error=%s message=%s",
                         mw_err_name(res->code), mw_log_q(res->message));
        snprintf(src->fail_reason, sizeof(src->fail_reason),
                 "%llu deliveries failed, last: %s",
                 (unsigned long long)src->failed_cnt, res->message);
    }
    free(ctx);
}

/* "%X/%X" as PostgreSQL writes LSNs, without printf (once per event). */
static void lsn_text(uint64_t lsn, char out[20])
{
    static const char hex[] = "0123456789ABCDEF";
    uint32_t part[2] = {(uint32_t)(lsn >> 32), (uint32_t)lsn};
    size_t n = 0;

    for (int p = 0; p < 2; p++) {
        bool lead = true;

        for (int shift = 28; shift >= 0; shift -= 4) {
            unsigned d = (part[p] >> shift) & 15;

            if (lead && d == 0 && shift)
                continue;
            lead = false;
            out[n++] = hex[d];
        }
        if (p == 0)
            out[n++] = '/';
    }
    out[n] = 0;
}

int pr_pg_send(pr_pg_src_t *src, pr_checkpoint_window_t *win, uint64_t offset,
               const pr_pg_rel_t *rel, const char *topic, uint32_t key_id,
               uint32_t value_id, bool tombstone, mw_err_t *err)
{
    rec_ctx_t *ctx = malloc(sizeof(*ctx));
    char pos[64];
    pr_event_t ev = {.topic = topic,
                     .partition = -1,
                     .key_schema = {.id = key_id},
                     .value_schema = {.id = value_id},
                     .source = "pg",
                     .position = pos};
    int rc;

    if (!ctx)
        return mw_err_set(err, MW_ERR_NOMEM, "out of memory for a record");
    if (rel) {
        /* a change: Avro binary bodies; no key bytes (a table without
         * key, a truncate): no key */
        if (mw_buf_len(src->kbuf)) {
            ev.key_avro = mw_buf_data(src->kbuf);
            ev.key_avro_len = mw_buf_len(src->kbuf);
        }
        if (!tombstone) {
            ev.value_avro = mw_buf_data(src->vbuf);
            ev.value_avro_len = mw_buf_len(src->vbuf);
        }
    } else {
        ev.key_text = mw_buf_data(src->kbuf);
        ev.key_text_len = mw_buf_len(src->kbuf);
        ev.value_text = mw_buf_data(src->vbuf);
        ev.value_text_len = mw_buf_len(src->vbuf);
    }
    if (win == src->snap_win)
        snprintf(pos, sizeof(pos), "snapshot:%llu", (unsigned long long)offset);
    else
        lsn_text(offset, pos);
    rc = pr_checkpoint_window_push(win, offset, &ctx->seq);
    if (rc != 0) {
        free(ctx);
        /* the tick resumes once acknowledgements made room */
        src->wait_window = rc == MW_ERR_FULL;
        if (rc == MW_ERR_FULL)
            return mw_err_set(err, rc, "acknowledgement window full");
        return mw_err_set(err, rc, "out of memory for the window");
    }
    ctx->src = src;
    ctx->win = win;
    rc = pr_emit_send(src->emit, &ev, rec_done, ctx, err);
    if (rc == MW_ERR_UNSUPPORTED) {
        /* The transcoder declined the text: the jansson path gives the
         * precise error, or sends it. */
        json_error_t jerr;
        json_t *k =
            json_loadb(ev.key_text, ev.key_text_len, JSON_DECODE_ANY, &jerr);
        json_t *v = tombstone ? NULL
                              : json_loadb(ev.value_text, ev.value_text_len,
                                           JSON_DECODE_ANY, &jerr);

        ev.key_text = ev.value_text = NULL;
        ev.key = k;
        ev.value = v;
        if (!k || (!tombstone && !v))
            rc = mw_err_set(err, MW_ERR_INVALID,
                            "internal: event text does not parse: %s",
                            jerr.text);
        else
            rc = pr_emit_send(src->emit, &ev, rec_done, ctx, err);
        json_decref(k);
        json_decref(v);
    }
    if (rc != 0) {
        pr_checkpoint_window_cancel_last(win);
        free(ctx);
        /* the emitter calls room_cb once it has room again */
        src->wait_room = rc == MW_ERR_FULL;
        return rc;
    }
    src->outstanding++;
    return 0;
}

/* ------------------------------------------------------- lifecycle */

void pr_pg_halt(pr_pg_src_t *src, const mw_err_t *err)
{
    if (src->phase == PR_PG_HALTED)
        return;
    src->phase = PR_PG_HALTED;
    mw_counter_inc(src->m_errors);
    snprintf(src->fail_reason, sizeof(src->fail_reason), "%s", err->msg);
    mw_log_error(PR_PG_COMP, "pg source halted", "error=%s message=%s",
                 mw_err_name(err->code), mw_log_q(err->msg));
    if (src->sock_ev)
        event_del(src->sock_ev);
    if (src->fail)
        src->fail(src->fail_opaque, err);
}

static void retry_cb(evutil_socket_t fd, short what, void *arg);

static void connect_and_go(pr_pg_src_t *src)
{
    mw_err_t err = {0};
    int rc = pr_pg_repl_connect(src, &err);

    if (rc == 0 && src->snap_needed)
        rc = pr_pg_snap_begin(src, &err);
    if (rc == 0 && src->snap_needed) {
        src->phase = PR_PG_SNAPSHOT;
        schedule_cont(src);
        return;
    }
    if (rc == 0 && src->snap_mode == PR_PG_SNAP_INITIAL_ONLY) {
        src->phase = PR_PG_IDLE;
        return;
    }
    if (rc == 0)
        rc = pr_pg_repl_start(src, &err);
    if (rc == 0) {
        src->phase = PR_PG_STREAMING;
        src->retry_ms = 0;
        schedule_cont(src);
        return;
    }
    if (mw_err_class(rc) == MW_ERR_CLASS_RETRIABLE) {
        pr_pg_down(src, err.msg);
        return;
    }
    pr_pg_halt(src, &err);
}

void pr_pg_down(pr_pg_src_t *src, const char *why)
{
    struct timeval tv;

    if (src->phase == PR_PG_HALTED || src->stopped)
        return;
    if (src->phase != PR_PG_DOWN || !src->down_reason[0])
        mw_log_warn(PR_PG_COMP, "postgres connection lost, retrying",
                    "reason=%s", mw_log_q(why));
    snprintf(src->down_reason, sizeof(src->down_reason), "%s", why);
    src->phase = PR_PG_DOWN;
    if (src->have_pend)
        pr_pg_repl_drop_pending(src);
    src->in_tx = false;
    src->wait_window = false;
    pr_pg_snap_clear(src);
    pr_pg_repl_close(src);
    mw_gauge_set(src->m_connected, 0);
    src->retry_ms = src->retry_ms ? src->retry_ms * 2 : PR_PG_RETRY_MIN_MS;
    if (src->retry_ms > PR_PG_RETRY_MAX_MS)
        src->retry_ms = PR_PG_RETRY_MAX_MS;
    /* jitter: up to a quarter more, so a fleet does not reconnect at once */
    tv.tv_sec = 0;
    tv.tv_usec = 0;
    {
        int ms = src->retry_ms + rand() % (src->retry_ms / 4 + 1);

        tv.tv_sec = ms / 1000;
        tv.tv_usec = (ms % 1000) * 1000;
    }
    event_add(src->retry_ev, &tv);
}

static void retry_cb(evutil_socket_t fd, short what, void *arg)
{
    pr_pg_src_t *src = arg;

    (void)fd;
    (void)what;
    if (src->stopped || src->phase != PR_PG_DOWN)
        return;
    connect_and_go(src);
}

/* Continues the current phase: snapshot rows or stream messages. */
static void cont_cb(evutil_socket_t fd, short what, void *arg)
{
    pr_pg_src_t *src = arg;
    mw_err_t err = {0};
    int rc;

    (void)fd;
    (void)what;
    if (src->stopped || src->wait_room)
        return;
    if (src->phase == PR_PG_SNAPSHOT) {
        rc = pr_pg_snap_pump(src, &err);
        if (rc < 0 && mw_err_class(rc) == MW_ERR_CLASS_RETRIABLE &&
            rc != MW_ERR_FULL)
            pr_pg_down(src, err.msg);
        else if (rc < 0 && rc != MW_ERR_FULL)
            pr_pg_halt(src, &err);
        else if (rc == 1 && src->snap_mode == PR_PG_SNAP_INITIAL_ONLY)
            src->phase = PR_PG_IDLE;
        else if (rc == 1 && pr_pg_repl_start(src, &err) != 0)
            pr_pg_down(src, err.msg);
        else if (rc == 1) {
            src->phase = PR_PG_STREAMING;
            schedule_cont(src);
        }
        return;
    }
    if (src->phase == PR_PG_STREAMING)
        pr_pg_repl_pump(src);
}

static void room_cb(void *opaque)
{
    pr_pg_src_t *src = opaque;

    if (!src->wait_room)
        return;
    src->wait_room = false;
    schedule_cont(src);
}

/* The tick: confirmed LSN from the window, status updates, chores. */
static void tick_cb(evutil_socket_t fd, short what, void *arg)
{
    pr_pg_src_t *src = arg;
    pr_lsn_t committed = pr_checkpoint_window_committed(src->win);

    (void)fd;
    (void)what;
    if (committed > src->confirmed && src->snap_done)
        src->confirmed = committed;
    mw_gauge_set(src->m_confirmed, (double)src->confirmed);
    if (src->wal_end > src->confirmed)
        mw_gauge_set(src->m_lag_bytes, (double)(src->wal_end - src->confirmed));
    else
        mw_gauge_set(src->m_lag_bytes, 0);
    if (src->phase == PR_PG_STREAMING) {
        if (pr_pg_repl_status(src, false) != 0)
            pr_pg_down(src, "cannot send the standby status");
        else
            pr_pg_repl_chores(src);
    }
    /* a pump stalled by a full window restarts once acks made room */
    if (src->wait_window) {
        src->wait_window = false;
        schedule_cont(src);
    }
}

static void pg_conf_free(pr_pg_src_t *src)
{
    for (size_t i = 0; i < 2 * src->ntables; i++)
        free(src->tables[i]);
    free(src->tables);
    free(src->conninfo);
    free(src->slot);
    free(src->publication);
    free(src->prefix);
    free(src->state_path);
}

/* What open made, and the state a run left (close, or a failed open). */
static void pg_free(pr_pg_src_t *src)
{
    for (size_t i = 0; i < src->snap_nkey; i++)
        free(src->snap_key[i]);
    free(src->snap_key);
    pr_pgout_destroy(src->dec);
    mw_buf_destroy(src->kbuf);
    mw_buf_destroy(src->vbuf);
    pr_checkpoint_window_destroy(src->win);
    pr_checkpoint_window_destroy(src->snap_win);
    pr_pg_rels_destroy(src->rels);
    free(src->ignored);
    pg_conf_free(src);
    free(src);
}

static void *pg_open(const pr_source_env_t *env, mw_err_t *err)
{
    pr_pg_src_t *src = calloc(1, sizeof(*src));
    const mw_conf_t *conf = env->conf;
    const char *dir = mw_conf_get_str(conf, "pg.state.dir");
    static const char *const ops = "cudrt";
    size_t n;

    if (!src) {
        mw_err_set(err, MW_ERR_NOMEM, "out of memory for the pg source");
        return NULL;
    }
    src->base = env->base;
    src->conf = conf;
    src->emit = env->emit;
    src->metrics = env->metrics;
    src->fail = env->fail;
    src->fail_opaque = env->fail_opaque;
    src->conninfo = strdup(mw_conf_get_str(conf, "pg.conninfo"));
    src->slot = strdup(mw_conf_get_str(conf, "pg.slot"));
    src->publication = strdup(mw_conf_get_str(conf, "pg.publication"));
    src->prefix = strdup(mw_conf_get_str(conf, "topic.prefix"));
    src->hb_query = mw_conf_get_str(conf, "heartbeat.action.query");
    src->snap_mode = (pr_pg_snapmode_t)mw_conf_get_enum(conf, "snapshot.mode");
    src->chunk_rows = mw_conf_get_int(conf, "snapshot.chunk.rows");
    src->hb_ms = mw_conf_get_int(conf, "heartbeat.interval.ms");
    src->status_ms = mw_conf_get_int(conf, "pg.status.interval.ms");
    src->emit_tx = mw_conf_get_bool(conf, "emit.transactions");
    src->tombstones = mw_conf_get_bool(conf, "tombstones.on.delete");
    n = strlen(dir) + strlen(src->slot ? src->slot : "") + 8;
    src->state_path = malloc(n);
    if (!src->conninfo || !src->slot || !src->publication || !src->prefix ||
        !src->state_path)
        goto nomem;
    snprintf(src->state_path, n, "%s/%s.json", dir, src->slot);
    if (parse_tables(mw_conf_get_str(conf, "pg.tables"), &src->tables,
                     &src->ntables, err) != 0)
        goto fail;
    if (mw_daemon_mkdirs(dir, err) != 0) {
        mw_err_set(err, MW_ERR_CONFIG, "key 'pg.state.dir': %s", err->msg);
        goto fail;
    }
    src->dec = pr_pgout_new();
    src->kbuf = mw_buf_new(0);
    src->vbuf = mw_buf_new(0);
    src->win = pr_checkpoint_window_new(0, PR_PG_WINDOW_MAX);
    src->snap_win = pr_checkpoint_window_new(0, PR_PG_WINDOW_MAX);
    src->rels = pr_pg_rels_new(&(pr_pg_rels_conf_t){
        .prefix = src->prefix, .conf = conf, .emit = src->emit});
    if (!src->dec || !src->kbuf || !src->vbuf || !src->win || !src->snap_win ||
        !src->rels)
        goto nomem;
    for (int i = 0; i < 5; i++) {
        char label[16];

        snprintf(label, sizeof(label), "op=\"%c\"", ops[i]);
        src->m_ops[i] = mw_metrics_counter(
            src->metrics, "mesh_producer_pg_changes_total",
            "Change events sent, by Debezium op (c u d r t).", label);
    }
    src->m_tx =
        mw_metrics_counter(src->metrics, "mesh_producer_pg_transactions_total",
                           "Committed transactions read.", NULL);
    src->m_tombstones =
        mw_metrics_counter(src->metrics, "mesh_producer_pg_tombstones_total",
                           "Tombstones sent after deletes.", NULL);
    src->m_errors =
        mw_metrics_counter(src->metrics, "mesh_producer_pg_halts_total",
                           "Fatal errors that halted the source.", NULL);
    src->m_confirmed = mw_metrics_gauge(
        src->metrics, "mesh_producer_pg_confirmed_lsn",
        "Flush LSN confirmed to PostgreSQL (every change before it is in "
        "Kafka).",
        NULL);
    src->m_lag_bytes = mw_metrics_gauge(
        src->metrics, "mesh_producer_pg_lag_bytes",
        "WAL bytes between the server's end and the confirmed LSN.", NULL);
    src->m_retained = mw_metrics_gauge(
        src->metrics, "mesh_producer_pg_slot_retained_wal_bytes",
        "WAL the slot holds on the server (current LSN - restart_lsn).", NULL);
    src->m_lag_ms = mw_metrics_gauge(
        src->metrics, "mesh_producer_pg_replication_lag_ms",
        "Milliseconds between the last transaction's commit and its "
        "reading.",
        NULL);
    src->m_connected =
        mw_metrics_gauge(src->metrics, "mesh_producer_pg_connected",
                         "1 while connected to PostgreSQL.", NULL);
    return src;
nomem:
    mw_err_set(err, MW_ERR_NOMEM, "out of memory for the pg source");
fail:
    pg_free(src);
    return NULL;
}

static int pg_start(void *state, mw_err_t *err)
{
    pr_pg_src_t *src = state;
    const struct timeval tick = {0, PR_PG_TICK_MS * 1000};
    int rc;

    if (state_load(src, err) != 0)
        return err->code;
    src->tick_ev = event_new(src->base, -1, EV_PERSIST, tick_cb, src);
    src->cont_ev = event_new(src->base, -1, 0, cont_cb, src);
    src->retry_ev = event_new(src->base, -1, 0, retry_cb, src);
    if (!src->tick_ev || !src->cont_ev || !src->retry_ev ||
        event_add(src->tick_ev, &tick) != 0)
        return mw_err_set(err, MW_ERR_NOMEM, "pg source: cannot add events");
    pr_emit_set_room_cb(src->emit, room_cb, src);
    /* The first connection is made now, so that what configuration must
     * fix (a missing table, no REPLICATION, wal_level) stops start-up
     * with exit 2; an unreachable server is retried like a lost one. */
    rc = pr_pg_repl_connect(src, err);
    if (rc != 0 && mw_err_class(rc) == MW_ERR_CLASS_RETRIABLE) {
        pr_pg_down(src, err->msg);
        mw_err_clear(err);
        return 0;
    }
    if (rc != 0)
        return rc;
    if (src->snap_needed && (rc = pr_pg_snap_begin(src, err)) != 0)
        return rc;
    if (src->snap_needed) {
        src->phase = PR_PG_SNAPSHOT;
    } else if (src->snap_mode == PR_PG_SNAP_INITIAL_ONLY) {
        src->phase = PR_PG_IDLE;
    } else {
        if ((rc = pr_pg_repl_start(src, err)) != 0)
            return rc;
        src->phase = PR_PG_STREAMING;
    }
    schedule_cont(src);
    mw_log_info(PR_PG_COMP, "pg source started",
                "slot=%s publication=%s tables=%zu snapshot=%s", src->slot,
                src->publication, src->ntables,
                src->snap_needed ? "yes" : "no");
    return 0;
}

static void pg_stop(void *state)
{
    pr_pg_src_t *src = state;

    src->stopped = true;
    if (src->sock_ev)
        event_del(src->sock_ev);
    mw_log_info(PR_PG_COMP, "pg source stopping", "in_flight=%llu",
                (unsigned long long)src->outstanding);
}

static bool pg_is_drained(void *state)
{
    const pr_pg_src_t *src = state;

    return src->outstanding == 0;
}

static bool pg_health(void *state, char *reason, size_t reason_size)
{
    const pr_pg_src_t *src = state;

    if (src->phase == PR_PG_HALTED || src->failed_cnt) {
        snprintf(reason, reason_size, "%s", src->fail_reason);
        return false;
    }
    if (src->phase == PR_PG_DOWN) {
        snprintf(reason, reason_size, "postgres unreachable: %s",
                 src->down_reason);
        return false;
    }
    return true;
}

/* Final status update with what Kafka acknowledged (pr_main flushed the
 * emitter first, so every outcome is known), then closes. */
static void pg_close(void *state)
{
    pr_pg_src_t *src = state;

    if (!src)
        return;
    if (src->tick_ev)
        tick_cb(-1, 0, src);
    pr_pg_snap_clear(src);
    pr_pg_repl_close(src);
    if (src->tick_ev)
        event_free(src->tick_ev);
    if (src->cont_ev)
        event_free(src->cont_ev);
    if (src->retry_ev)
        event_free(src->retry_ev);
    if (src->have_pend)
        pr_pg_repl_drop_pending(src);
    pg_free(src);
}

static void pg_ready_info(void *state, json_t *ready)
{
    const pr_pg_src_t *src = state;

    json_object_set_new(ready, "pg_slot", json_string(src->slot));
}

const pr_source_ops_t pr_source_pg_ops = {
    .conf = {.name = "pg",
             .doc = "captures PostgreSQL changes over logical replication "
                    "(pgoutput), as Debezium envelopes",
             .keys = pg_keys,
             .key_cnt = sizeof(pg_keys) / sizeof(*pg_keys),
             .check = pg_check},
    .open = pg_open,
    .start = pg_start,
    .stop = pg_stop,
    .is_drained = pg_is_drained,
    .health = pg_health,
    .close = pg_close,
    .ready_info = pg_ready_info,
};
