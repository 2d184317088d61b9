/*
 * pr_pg_int.h: declarations shared by the files of the `pg` source (change
 * data capture from PostgreSQL over logical replication), and nowhere
 * else:
 *   pr_pgout.c    the pgoutput wire format: one message into a struct
 *   pr_pg_type.c  PostgreSQL types -> Avro schemas and Avro JSON values,
 *                 as Debezium's PostgreSQL connector represents them
 *   pr_pg_rel.c   the captured tables: columns from the catalog and from
 *                 Relation messages, their derived schemas, registered
 *   pr_pg_event.c one change -> the Debezium envelope's key and value text
 *   pr_pg_repl.c  the replication connection: publication, slot, stream,
 *                 standby status (the confirmed flush LSN)
 *   pr_pg_snap.c  the initial snapshot in primary-key chunks, resumable
 *   pr_pg.c       keys, state file, acknowledgement window, lifecycle
 *
 * Thread: the daemon's loop thread, everything.
 */
#ifndef PR_PG_INT_H
#define PR_PG_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <libpq-fe.h>

#include "mw_buf.h"
#include "mw_conf.h"
#include "mw_err.h"
#include "mw_metrics.h"
#include "pr_checkpoint.h"
#include "pr_emit.h"
#include "pr_source.h"

#define PR_PG_COMP "pg"
#define PR_PG_CONNECTOR "postgresql"
#define PR_PG_VERSION "0.1.0"
/* Debezium's placeholder for a value the database did not send (an
 * unchanged TOASTed column); Debezium-aware consumers know it, and
 * mesh-materializer keeps the column's stored value when it sees it. */
#define PR_PG_UNAVAILABLE "__debezium_unavailable_value"
#define PR_PG_NAME_MAX 64 /* NAMEDATALEN */

/* ------------------------------------------------------------ pgoutput */

typedef uint64_t pr_lsn_t;

/* One column of a tuple, borrowed from the message. */
typedef struct pr_pgout_col {
    char kind; /* 'n' null, 'u' unchanged TOAST, 't' text, 'b' binary */
    const char *data;
    uint32_t len;
} pr_pgout_col_t;

typedef struct pr_pgout_tuple {
    uint16_t ncols;
    const pr_pgout_col_t *cols; /* the decoder's array, valid until the
                                 * next decode */
} pr_pgout_tuple_t;

typedef struct pr_pgout_relcol {
    bool key;
    const char *name; /* NUL-terminated inside the message */
    uint32_t type_oid;
    int32_t typmod;
} pr_pgout_relcol_t;

typedef struct pr_pgout_msg {
    char type; /* 'B','C','O','R','Y','I','U','D','T','M' */
    union {
        struct {
            pr_lsn_t final_lsn;
            int64_t commit_us; /* microseconds since 2000-01-01 */
            uint32_t xid;
        } begin;
        struct {
            pr_lsn_t commit_lsn, end_lsn;
            int64_t commit_us;
        } commit;
        struct {
            pr_lsn_t lsn;
            const char *name;
        } origin;
        struct {
            uint32_t relid;
            const char *nspname, *relname;
            char identity; /* 'd', 'n', 'f', 'i' */
            uint16_t ncols;
            const pr_pgout_relcol_t *cols; /* valid until the next decode */
        } rel;
        struct {
            uint32_t oid;
            const char *nspname, *typname;
        } type;
        struct {
            uint32_t relid;
            char old_kind; /* 0: no old tuple, 'K' key only, 'O' full */
            pr_pgout_tuple_t old_tup, new_tup;
        } change; /* 'I' (new_tup), 'U', 'D' (old_tup) */
        struct {
            uint8_t options; /* 1 CASCADE, 2 RESTART IDENTITY */
            uint32_t nrels;
            const uint8_t *relids; /* nrels big-endian Int32 */
        } truncate;
        struct {
            bool transactional;
            pr_lsn_t lsn;
            const char *prefix;
            const char *content;
            uint32_t len;
        } message;
    } u;
} pr_pgout_msg_t;

/* Reusable decoder: owns the column arrays the messages point into. */
typedef struct pr_pgout pr_pgout_t;

pr_pgout_t *pr_pgout_new(void);
void pr_pgout_destroy(pr_pgout_t *dec);

/* Decodes one pgoutput message (protocol version 1, text values) of n
 * bytes.  msg's strings and tuples point into p (and into dec's arrays):
 * valid until p is freed or the next decode.  MW_ERR_INVALID naming the
 * message type and the byte offset for anything malformed, truncated or
 * unknown; never reads past p + n. */
int pr_pgout_decode(pr_pgout_t *dec, const uint8_t *p, size_t n,
                    pr_pgout_msg_t *msg, mw_err_t *err);

/* Big-endian Int32 i of a Truncate's relids. */
uint32_t pr_pgout_relid_at(const pr_pgout_msg_t *msg, uint32_t i);

/* -------------------------------------------------------------- types */

typedef enum pr_pg_kind {
    PR_PG_INT16 = 0,
    PR_PG_INT32,
    PR_PG_INT64,
    PR_PG_FLOAT32,
    PR_PG_FLOAT64,
    PR_PG_BOOL,
    PR_PG_STRING,  /* text, varchar, char, and types kept as their text */
    PR_PG_BYTES,   /* bytea */
    PR_PG_DECIMAL, /* numeric(p, s) */
    PR_PG_VARDEC,  /* numeric without a scale */
    PR_PG_DATE,
    PR_PG_TIME_MS, /* time(0..3) */
    PR_PG_TIME_US, /* time, time(4..6) */
    PR_PG_TIMETZ,
    PR_PG_TS_MS, /* timestamp(0..3) */
    PR_PG_TS_US, /* timestamp, timestamp(4..6) */
    PR_PG_TSTZ,
    PR_PG_INTERVAL,
    PR_PG_UUID,
    PR_PG_JSON, /* json and jsonb */
    PR_PG_ENUM,
    PR_PG_ARRAY
} pr_pg_kind_t;

/* What a column's type maps to.  Arrays hold their element's mapping. */
typedef struct pr_pg_type {
    pr_pg_kind_t kind;
    uint32_t oid;            /* the column's type (a domain: the domain's) */
    int precision;           /* DECIMAL: digits; -1 unknown */
    int scale;               /* DECIMAL */
    char *labels;            /* ENUM: "a,b,c" (owned) */
    struct pr_pg_type *elem; /* ARRAY (owned) */
} pr_pg_type_t;

void pr_pg_type_clear(pr_pg_type_t *t);

/* Maps a built-in type oid with typmod (no catalog needed); false when oid
 * is not one of the built-in types (enums, domains, arrays of those: the
 * caller asks the catalog, pr_pg_rel.c). */
bool pr_pg_type_builtin(uint32_t oid, int32_t typmod, pr_pg_type_t *t);

/* Appends t's Avro schema (JSON) to out, with Debezium's connect.name and
 * parameters.  *named: whether the schema being written defined
 * io.debezium.data.VariableScaleDecimal already (a named type is defined
 * once, then referenced); set when this call defines it.  0 or
 * MW_ERR_NOMEM / MW_ERR_FULL. */
int pr_pg_type_schema(const pr_pg_type_t *t, bool *named, mw_buf_t *out);

/* The union branch name of t's Avro type in Avro's JSON encoding ("long",
 * "string", "io.debezium.data.VariableScaleDecimal", ...). */
const char *pr_pg_type_branch(const pr_pg_type_t *t);

/* Where values are written: Avro binary (the events), or Avro's JSON
 * encoding of the same value (readable: the unit tests compare it with
 * Debezium's values, and with the binary decoded by the registry's
 * codec). */
typedef struct pr_pg_out {
    mw_buf_t *buf;
    bool avro;
} pr_pg_out_t;

/* Writes the value of PostgreSQL's text output text[0..len) of a value
 * of type t (DateStyle ISO, TimeZone UTC, IntervalStyle iso_8601,
 * extra_float_digits 3: the session settings both connections use), as
 * t's Avro type (no union branch).  MW_ERR_INVALID naming the type when
 * the text does not parse. */
int pr_pg_type_value(const pr_pg_type_t *t, const char *text, size_t len,
                     pr_pg_out_t *out, mw_err_t *err);

/* The placeholder value of t for an unchanged TOASTed column: Debezium's
 * string (or its bytes); false for types that have none (the caller reads
 * the value back, pr_pg_repl.c). */
bool pr_pg_type_placeholder(const pr_pg_type_t *t, pr_pg_out_t *out);

/* The value a NOT NULL column of type t holds in a before image that only
 * has the key (REPLICA IDENTITY DEFAULT): the type's empty value. */
int pr_pg_type_empty(const pr_pg_type_t *t, pr_pg_out_t *out);

/* Avro binary: a long (zig-zag varint; also int, union index, count) and
 * a string or bytes (length, then the bytes). */
int pr_pg_avro_long(mw_buf_t *out, int64_t v);
int pr_pg_avro_str(mw_buf_t *out, const char *s, size_t len);

/* Appends s[0..len) as a JSON string literal. */
int pr_pg_json_str(mw_buf_t *out, const char *s, size_t len);

/* Appends v in decimal (no printf: the per-event path avoids it). */
int pr_pg_put_int(mw_buf_t *out, int64_t v);
int pr_pg_put_uint(mw_buf_t *out, uint64_t v);

/* Appends the NUL-terminated s. */
static inline int pr_pg_put(mw_buf_t *out, const char *s)
{
    return mw_buf_append(out, s, __builtin_strlen(s));
}

/* --------------------------------------------------------- relations */

typedef struct pr_pg_col {
    char *name;      /* PostgreSQL's */
    char *avro_name; /* a legal Avro field name */
    uint32_t type_oid;
    int32_t typmod;
    bool key;
    bool optional;
    char *doc; /* column comment or NULL */
    pr_pg_type_t type;
} pr_pg_col_t;

/* One captured table at its current shape. */
typedef struct pr_pg_rel {
    uint32_t relid;
    char *nspname, *relname;
    char *topic;
    char identity; /* replica identity: 'd', 'n', 'f', 'i' */
    size_t ncols;
    pr_pg_col_t *cols;
    size_t nkeys;
    size_t *keys;     /* indexes into cols, in key order */
    char *value_name; /* "<prefix>.<schema>.<table>.Value" */
    /* the constant parts of the source record in Avro binary, made once:
     * version, connector, name; then schema, table */
    char *src_head, *src_tail;
    size_t src_head_len, src_tail_len;
    char *key_schema;   /* schema texts, NULL for a table without key */
    char *value_schema; /* the envelope's */
    uint32_t key_id, value_id;
    uint64_t events; /* this transaction's, for the END marker */
} pr_pg_rel_t;

typedef struct pr_pg_rels pr_pg_rels_t;

typedef struct pr_pg_rels_conf {
    const char *prefix;    /* topic.prefix */
    const mw_conf_t *conf; /* topic.map.* */
    pr_emit_t *emit;
} pr_pg_rels_conf_t;

pr_pg_rels_t *pr_pg_rels_new(const pr_pg_rels_conf_t *rc);
void pr_pg_rels_destroy(pr_pg_rels_t *rels);

/* Reads a table's shape from the catalog over the query connection qc
 * (columns, types, nullability, comments, primary key), derives and
 * registers its schemas and adds or replaces it.  For the snapshot and
 * for start-up.  MW_ERR_NOT_FOUND naming the table when it does not
 * exist; MW_ERR_INVALID with the registry's reason when a schema was
 * refused; MW_ERR_TRANSPORT when the registry or the database cannot be
 * reached. */
int pr_pg_rels_load(pr_pg_rels_t *rels, PGconn *qc, const char *nspname,
                    const char *relname, pr_pg_rel_t **out, mw_err_t *err);

/* A Relation message: when the shape differs from the known one (or the
 * relation is new), the catalog fills in what the message lacks and the
 * new schemas are registered.  *changed tells whether they were.  Errors
 * as pr_pg_rels_load. */
int pr_pg_rels_on_relation(pr_pg_rels_t *rels, PGconn *qc,
                           const pr_pgout_msg_t *msg, bool *changed,
                           mw_err_t *err);

pr_pg_rel_t *pr_pg_rels_find(pr_pg_rels_t *rels, uint32_t relid);
pr_pg_rel_t *pr_pg_rels_find_name(pr_pg_rels_t *rels, const char *nspname,
                                  const char *relname);
/* Calls cb on every relation. */
void pr_pg_rels_each(pr_pg_rels_t *rels, void (*cb)(pr_pg_rel_t *, void *),
                     void *opaque);

/* ------------------------------------------------------------ events */

/* Where a change came from: the envelope's source block. */
typedef struct pr_pg_origin {
    const char *server; /* topic.prefix: source.name */
    const char *db;
    bool snapshot;
    const char *snapshot_mark; /* "true", "first", "last" for snapshot */
    uint32_t xid;              /* 0: none */
    pr_lsn_t lsn;              /* 0: none */
    pr_lsn_t last_commit_lsn;  /* for source.sequence */
    int64_t ts_ms;             /* commit time (snapshot: read time) */
    /* emit.transactions: the transaction block, or id NULL */
    const char *tx_id;
    uint64_t total_order, collection_order;
} pr_pg_origin_t;

/* One row image: values[i] for rel->cols[i]. */
typedef struct pr_pg_image {
    const pr_pgout_col_t *vals;
    size_t nvals;
} pr_pg_image_t;

/* Encodes the Key record (Avro binary; empty for a table without key:
 * then the record has no key) from image into out. */
int pr_pg_event_key(const pr_pg_rel_t *rel, const pr_pg_image_t *img,
                    mw_buf_t *out, mw_err_t *err);

/* Encodes the envelope (Avro binary): op 'c','u','d','r' or 't'; before
 * and after may be NULL.  In after, an unchanged TOASTed column ('u')
 * takes its value from before when before has it (REPLICA IDENTITY
 * FULL), else the placeholder (pr_pg_type_placeholder); for types
 * without one MW_ERR_UNSUPPORTED (the caller reads the row back). */
int pr_pg_event_value(const pr_pg_rel_t *rel, char op,
                      const pr_pg_image_t *before, const pr_pg_image_t *after,
                      const pr_pg_origin_t *org, mw_buf_t *out, mw_err_t *err);

/* The transaction topic's key and value schemas (Debezium's
 * TransactionMetadata) and the BEGIN / END values. */
const char *pr_pg_tx_key_schema(void);
const char *pr_pg_tx_value_schema(void);
int pr_pg_tx_value(mw_buf_t *out, bool begin, const char *tx_id, int64_t ts_ms,
                   uint64_t events, pr_pg_rels_t *rels);

/* ------------------------------------------------------------ source */

typedef enum pr_pg_snapmode {
    PR_PG_SNAP_INITIAL = 0,
    PR_PG_SNAP_NEVER,
    PR_PG_SNAP_ALWAYS,
    PR_PG_SNAP_INITIAL_ONLY
} pr_pg_snapmode_t;

typedef enum pr_pg_phase {
    PR_PG_DOWN = 0,  /* not connected: the retry timer reconnects */
    PR_PG_SNAPSHOT,  /* reading the tables */
    PR_PG_STREAMING, /* reading the slot */
    PR_PG_IDLE,      /* initial_only: the snapshot is all there is */
    PR_PG_HALTED     /* a fatal error was reported: nothing more */
} pr_pg_phase_t;

/* A change message being turned into records: kept while the emitter
 * pushes back (MW_ERR_FULL), resumed at step. */
typedef struct pr_pg_pending {
    char *buf; /* PQgetCopyData's, owned */
    int len;
    pr_lsn_t lsn; /* XLogData's start: this change's LSN */
    pr_pgout_msg_t msg;
    int step;
} pr_pg_pending_t;

/* One snapshot chunk whose rows are in flight. */
typedef struct pr_pg_chunk {
    uint64_t seq;
    size_t table; /* index into tables */
    bool table_done;
    char **key; /* the chunk's last key (texts), owned; NULL: none */
    size_t nkey;
} pr_pg_chunk_t;

typedef struct pr_pg_src {
    struct event_base *base;
    const mw_conf_t *conf;
    pr_emit_t *emit;
    mw_metrics_t *metrics;
    pr_source_fail_cb *fail;
    void *fail_opaque;

    /* configuration */
    char *conninfo, *slot, *publication, *prefix, *state_path;
    const char *hb_query;
    char **tables; /* "schema", "table" pairs: 2 * ntables */
    size_t ntables;
    pr_pg_snapmode_t snap_mode;
    long long chunk_rows, hb_ms, status_ms;
    bool emit_tx, tombstones;

    /* connections */
    PGconn *repl, *qc;
    struct event *sock_ev, *tick_ev, *cont_ev, *retry_ev;
    int retry_ms;
    char db[PR_PG_NAME_MAX + 1];
    char sysid[32];
    int server_version;
    pr_pgout_t *dec;
    pr_pg_rels_t *rels;
    uint32_t *ignored; /* relids published but not in pg.tables */
    size_t nignored, ignored_cap;
    pr_pg_phase_t phase;
    bool stopped;
    bool state_found; /* a state file was read at start */
    bool connected_once;
    bool slot_known; /* it says this source created the slot */
    char down_reason[256];

    /* stream */
    pr_checkpoint_window_t *win; /* offsets are LSNs */
    pr_lsn_t confirmed;          /* sent to PostgreSQL as flushed */
    pr_lsn_t sent_flush;         /* the last one sent */
    pr_lsn_t wal_end;            /* the server's, from the stream */
    pr_lsn_t last_commit;        /* end LSN of the last commit read */
    pr_lsn_t consistent;         /* the slot's consistent point */
    pr_lsn_t pushed;             /* the window's highest offset */
    bool in_tx;
    uint32_t xid;
    int64_t commit_ms;
    pr_lsn_t tx_base; /* confirmable before the current transaction */
    char tx_id[48];
    uint64_t tx_events;
    pr_pg_pending_t pend;
    bool have_pend;
    bool wait_room;   /* the emitter is full: its room callback resumes */
    bool wait_window; /* a window is full: the tick resumes */
    bool reply_now;
    uint64_t outstanding; /* records sent, outcome not yet known */
    uint32_t tx_ids[2];   /* the transaction topic's key and value ids */
    uint64_t failed_cnt;
    char fail_reason[512];
    int64_t last_status_ms, last_slot_poll_ms, last_hb_ms;
    int64_t last_commit_ms; /* the commit time of the last transaction */

    /* snapshot */
    bool snap_needed, snap_done, snap_exported;
    char snap_name[64];
    size_t snap_table;
    char **snap_key; /* resume after this key (texts), owned */
    size_t snap_nkey;
    PGresult *snap_res; /* the chunk being sent */
    PGresult *readback; /* values read back for the pending change */
    int snap_row;
    bool snap_first;
    uint64_t chunk_seq;
    pr_checkpoint_window_t *snap_win; /* offsets are chunk numbers */
    pr_pg_chunk_t *chunks;            /* in flight, oldest first */
    size_t nchunks, chunk_cap;
    uint64_t snap_saved; /* the last chunk recorded in the state file */
    size_t rd_table;     /* read position: the next chunk's table ... */
    char **rd_key;       /* ... after this key (NULL: from the start) */
    size_t rd_nkey;
    bool cursor_open; /* a table without key is read by a cursor */
    pr_pgout_col_t *snap_cols;
    size_t snap_cols_cap;

    mw_buf_t *kbuf, *vbuf;

    /* metrics */
    mw_counter_t *m_ops[5]; /* c u d r t */
    mw_counter_t *m_tx, *m_tombstones, *m_errors;
    mw_gauge_t *m_confirmed, *m_lag_bytes, *m_retained, *m_lag_ms;
    mw_gauge_t *m_connected;
} pr_pg_src_t;

/* pr_pg.c: the state file (slot, snapshot progress). */
int pr_pg_state_save(pr_pg_src_t *src, mw_err_t *err);
/* Stops the daemon with err (exit 1): nothing is confirmed past what
 * Kafka acknowledged. */
void pr_pg_halt(pr_pg_src_t *src, const mw_err_t *err);
/* Connection lost or refused: closes both, schedules a reconnect. */
void pr_pg_down(pr_pg_src_t *src, const char *why);
/* Sends one record to topic and pushes it into win at offset: a change
 * of rel (src->kbuf / src->vbuf hold its Avro binary key and value;
 * tombstone: no value), or with rel NULL a transaction marker (the
 * buffers hold Avro JSON text).
 * MW_ERR_FULL: retry later (room callback); other errors are fatal. */
int pr_pg_send(pr_pg_src_t *src, pr_checkpoint_window_t *win, uint64_t offset,
               const pr_pg_rel_t *rel, const char *topic, uint32_t key_id,
               uint32_t value_id, bool tombstone, mw_err_t *err);

/* pr_pg_repl.c */
/* Connects both connections, checks the server, ensures publication and
 * slot, decides the snapshot.  MW_ERR_CONFIG for what configuration must
 * fix, MW_ERR_TRANSPORT to retry, MW_ERR_FATAL for a lost slot. */
int pr_pg_repl_connect(pr_pg_src_t *src, mw_err_t *err);
/* START_REPLICATION and the socket event. */
int pr_pg_repl_start(pr_pg_src_t *src, mw_err_t *err);
/* Reads what the socket has and turns it into records, until the
 * emitter pushes back or the socket has nothing. */
void pr_pg_repl_pump(pr_pg_src_t *src);
/* Standby status update: the confirmed LSN (force: even if unchanged). */
int pr_pg_repl_status(pr_pg_src_t *src, bool force);
/* Periodic: slot retained WAL, heartbeat action query. */
void pr_pg_repl_chores(pr_pg_src_t *src);
void pr_pg_repl_close(pr_pg_src_t *src);
/* Forgets the message being turned into records (a lost connection: the
 * new stream sends it again from the slot's position). */
void pr_pg_repl_drop_pending(pr_pg_src_t *src);

/* pr_pg_snap.c */
/* Begins the snapshot transaction on the query connection. */
int pr_pg_snap_begin(pr_pg_src_t *src, mw_err_t *err);
/* Sends rows until the emitter pushes back or the snapshot is read;
 * then 1 (done), 0 (paused) or an error. */
int pr_pg_snap_pump(pr_pg_src_t *src, mw_err_t *err);
/* A chunk's rows all acknowledged: the state file moves. */
void pr_pg_snap_acked(pr_pg_src_t *src);
void pr_pg_snap_clear(pr_pg_src_t *src);

#endif /* PR_PG_INT_H */
