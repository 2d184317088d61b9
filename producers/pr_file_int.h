/*
 * pr_file_int.h: declarations shared by the file source's two files:
 * pr_file.c (reading lines, sending them, the acks, the loop events, the
 * keys and the ops table) and pr_file_watch.c (reading the configuration,
 * opening and resuming files from the checkpoint, rotation and truncation,
 * saving checkpoints, lag).  Not for use outside the file source.
 *
 * Thread: the daemon's loop thread, everything.
 */
#ifndef PR_FILE_INT_H
#define PR_FILE_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "mw_conf.h"
#include "mw_err.h"
#include "mw_metrics.h"
#include "mw_pool.h"
#include "pr_checkpoint.h"
#include "pr_emit.h"
#include "pr_source.h"

#define PR_FILE_COMP "file"
#define PR_FILE_CHUNK (64u * 1024u) /* bytes per read() */
#define PR_FILE_BUDGET_LINES 2048u  /* lines per loop callback */
#define PR_FILE_MAX_PATHS 64u
/* A dead letter carries at most this much of its line: Kafka refuses
 * records past message.max.bytes (1 MB by default), and the first bytes
 * are what an operator needs to find the line (mesh.position has the
 * rest). */
#define PR_FILE_DLQ_MAX_BYTES (64u * 1024u)
/* Room for an envelope line's traceparent on the fast path (W3C's is 55
 * characters; a longer one takes the jansson path). */
#define PR_FILE_TRACEPARENT_MAX 256

typedef enum pr_file_format {
    PR_FILE_JSONL = 0,
    PR_FILE_ENVELOPE
} pr_file_format_t;

typedef struct pr_file_src pr_file_src_t;

/* One open file (or stdin).  Bytes buf[start..end) are read but not yet
 * consumed; read_off is the file offset of buf[end]. */
typedef struct pr_file_reader {
    struct pr_file_reader *next; /* src->readers, oldest first */
    pr_file_src_t *src;
    size_t idx; /* index of the configured path */
    char *path; /* the path it was opened under */
    size_t path_len;
    int fd;
    bool is_stdin;
    uint64_t dev, ino;
    uint64_t read_off;
    char *buf;
    size_t start, end, cap;
    bool skipping; /* inside an over-long line: drop to newline */
    char *cut;     /* its first max_line bytes, for the DLQ */
    size_t cut_len;
    uint64_t cut_off; /* its start offset */
    pr_checkpoint_window_t *win;
    bool retired;  /* the path names another file now */
    bool finished; /* read to EOF (retired, stdin) or failed */
    bool failed;
} pr_file_reader_t;

/* Per configured path: its metrics and the reader of the file it names
 * now (NULL while it does not exist). */
typedef struct pr_file_path {
    char *path;
    pr_file_reader_t *current;
    mw_counter_t *lines, *bad_lines, *rotations, *truncations;
    mw_gauge_t *lag;
    bool missing_warned;
} pr_file_path_t;

/* A window detached from its file by a truncation, kept until its lines
 * are acknowledged (their contexts point to it). */
typedef struct pr_file_orphan {
    struct pr_file_orphan *next;
    pr_checkpoint_window_t *win;
} pr_file_orphan_t;

/* The done-callback context of one line in flight (src->ctx_pool). */
typedef struct line_ctx {
    pr_file_src_t *src;
    pr_checkpoint_window_t *win; /* lives until this line is acked */
    uint64_t seq;
} line_ctx_t;

/* Idle line_ctx_t kept for reuse (24 B each). */
#define PR_FILE_CTX_POOL_KEEP 16384

struct pr_file_src {
    struct event_base *base;
    pr_emit_t *emit;
    mw_metrics_t *metrics;
    const char *topic; /* borrowed from conf (NULL: emitter's) */
    pr_file_path_t *paths;
    size_t path_cnt;
    pr_file_format_t format;
    const char *key_field; /* borrowed from conf, NULL: no key */
    long poll_ms;
    size_t max_line;
    size_t max_inflight_lines; /* per file window */
    long ckpt_interval_ms;
    uint64_t ckpt_lines;
    char *ckpt_file; /* NULL: no checkpoint (stdin only) */
    pr_file_reader_t *readers;
    pr_file_orphan_t *orphans;
    struct event *tick, *cont;
    /* Reading pauses while one of these is set. */
    bool wait_room;   /* emitter full: until the room callback */
    bool wait_window; /* window full: until an ack */
    bool wait_tick;   /* retriable refusal: until the next tick */
    bool wait_tick_warned;
    bool stopped;
    size_t outstanding;  /* sent, done callback not yet run */
    mw_pool_t *ctx_pool; /* line_ctx_t, one per line in flight */
    uint64_t acked_since_save;
    bool dirty;
    uint64_t last_save_ms;
    uint64_t failed_cnt;
    char fail_reason[256];
    bool ckpt_failing;
    char ckpt_error[MW_ERR_MSG_MAX];
    char reason[MW_ERR_MSG_MAX]; /* scratch: why the current line is bad */
    mw_counter_t *ckpt_saves, *ckpt_errors;
};

/* pr_file.c */
pr_file_reader_t *pr_file_reader_new(pr_file_src_t *src, size_t idx,
                                     const char *path, int fd, uint64_t offset);
/* Closes (not stdin: set fd to -1 first) and frees.  NULL-safe. */
void pr_file_reader_free(pr_file_reader_t *r);
void pr_file_reader_append(pr_file_src_t *src, pr_file_reader_t *r);

/* pr_file_watch.c */
/* The ops' open: reads the keys (declared in pr_file.c). */
void *pr_file_open(const pr_source_env_t *env, mw_err_t *err);
void pr_file_conf_free(pr_file_src_t *src);
int pr_file_open_all(pr_file_src_t *src, mw_err_t *err);
void pr_file_watch(pr_file_src_t *src);
void pr_file_reap(pr_file_src_t *src);
void pr_file_orphans_free(pr_file_src_t *src);
void pr_file_checkpoint_maybe(pr_file_src_t *src, bool force);
void pr_file_update_lag(pr_file_src_t *src);
bool pr_file_stdin_ready(void);

#endif /* PR_FILE_INT_H */
