/*
 * pr_file: the `file` source of mesh-producer.  Tails JSON-lines files (or
 * stdin) and hands each line to the emitter; checkpoints, per file, the
 * offset up to which Kafka acknowledged everything.
 *
 * Data path: read() into a per-file buffer -> split lines (at most
 * max_line bytes; a longer one is cut and dead-lettered) -> parse (jansson)
 * -> key from file.key.field or the envelope -> pr_emit_send, or
 * pr_emit_dead_letter for a bad line -> the done callback acknowledges the
 * line in its file's window (pr_checkpoint) -> the periodic chore saves the
 * windows' committed offsets atomically.
 *
 * Invariants:
 *   - lines of one path are sent in file order, and the file a path named
 *     before a rotation is read to EOF before its successor is read, so
 *     the order per key survives rotation;
 *   - a file's checkpointed offset is the end of a line whose event and
 *     every earlier one were acknowledged (the window's contiguous prefix),
 *     so after SIGKILL only lines past the last saved checkpoint repeat;
 *   - a rotated file keeps its reader (and its identity in the checkpoint)
 *     until it is read to EOF and every line of it is acknowledged;
 *   - a truncated file starts a new window at 0; the old window lives on,
 *     detached, until its in-flight lines are acknowledged.
 * Regular files never block read(); stdin is polled with poll(0) so a
 * quiet pipe does not block the loop.  Reading happens in the timer tick
 * (file.poll.ms) and continues immediately, one budget at a time, while
 * data is available; MW_ERR_FULL from the emitter pauses reading until the
 * room callback.
 *
 * Thread: the daemon's loop thread, callbacks included.
 */
#include "pr_file_int.h"

#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <event2/event.h>

#include "mw_log.h"
#include "mw_time.h"
#include "mw_vec.h"
#include "av_jtext.h"

static void file_pump(pr_file_src_t *src);

/* Reads again on the next loop iteration, after pending I/O (delivery
 * reports, HTTP) and due timers: a zero timeout, not event_active(), which
 * would run again in the same pass and starve the loop while data lasts. */
static void schedule_pump(pr_file_src_t *src)
{
    static const struct timeval zero = {0, 0};

    event_add(src->cont, &zero);
}

/* ------------------------------------------------------------ helpers */

/* Offset in the file of buf[i]. */
static uint64_t reader_off(const pr_file_reader_t *r, size_t i)
{
    return r->read_off - (uint64_t)(r->end - i);
}

void pr_file_reader_free(pr_file_reader_t *r)
{
    if (!r)
        return;
    if (r->fd > 0)
        close(r->fd);
    pr_checkpoint_window_destroy(r->win);
    free(r->buf);
    free(r->cut);
    free(r->path);
    free(r);
}

/* New reader on fd (consumed on every path) for path index idx, resuming
 * at offset.  NULL on ENOMEM or a failing lseek (logged). */
pr_file_reader_t *pr_file_reader_new(pr_file_src_t *src, size_t idx,
                                     const char *path, int fd, uint64_t offset)
{
    pr_file_reader_t *r = calloc(1, sizeof(*r));
    struct stat st;

    if (!r) {
        close(fd);
        return NULL;
    }
    r->src = src;
    r->fd = fd;
    r->idx = idx;
    r->is_stdin = fd == STDIN_FILENO;
    r->path = strdup(path);
    /* A longer path could not have been opened; the clamp keeps
     * reader_position inside its buffer regardless. */
    r->path_len = strnlen(path, PATH_MAX);
    r->cap = PR_FILE_CHUNK;
    r->buf = malloc(r->cap);
    r->win = pr_checkpoint_window_new(offset, src->max_inflight_lines);
    if (!r->path || !r->buf || !r->win)
        goto fail;
    if (!r->is_stdin) {
        if (fstat(fd, &st) != 0 ||
            lseek(fd, (off_t)offset, SEEK_SET) == (off_t)-1) {
            mw_log_error(PR_FILE_COMP, "cannot open file", "path=%s error=%s",
                         mw_log_q(path), mw_log_q(strerror(errno)));
            goto fail;
        }
        r->dev = (uint64_t)st.st_dev;
        r->ino = (uint64_t)st.st_ino;
    }
    r->read_off = offset;
    return r;
fail:
    if (r->fd == STDIN_FILENO)
        r->fd = -1;
    pr_file_reader_free(r);
    return NULL;
}

void pr_file_reader_append(pr_file_src_t *src, pr_file_reader_t *r)
{
    pr_file_reader_t **pp = &src->readers;

    while (*pp)
        pp = &(*pp)->next;
    *pp = r;
}

/* ---------------------------------------------------- acks and sending */

/* Done callback of every line, event or dead letter: acknowledges the
 * line in its window.  A failed delivery is not acknowledged, so the
 * checkpoint stays before it and a restart reads it again. */
static void line_done(void *opaque, const pr_result_t *res)
{
    line_ctx_t *ctx = opaque;
    pr_file_src_t *src = ctx->src;

    assert(src->outstanding > 0);
    src->outstanding--;
    if (res->code == 0) {
        size_t moved = pr_checkpoint_window_ack(ctx->win, ctx->seq);

        src->acked_since_save += moved;
        src->dirty |= moved > 0;
    } else {
        if (src->failed_cnt++ == 0)
            mw_log_error(PR_FILE_COMP, "delivery failed", "error=%s message=%s",
                         mw_err_name(res->code), mw_log_q(res->message));
        snprintf(src->fail_reason, sizeof(src->fail_reason),
                 "%llu deliveries failed, last: %s",
                 (unsigned long long)src->failed_cnt, res->message);
    }
    mw_pool_put(src->ctx_pool, ctx);
    if (src->wait_window && !src->stopped) {
        src->wait_window = false;
        schedule_pump(src);
    }
}

/* What to do with a line the emitter did not take. */
typedef enum send_outcome {
    SEND_OK = 0, /* taken: advance past the line */
    SEND_BAD,    /* bad line: dead-letter it */
    SEND_WAIT,   /* keep the line, pause (room, window or next tick) */
    SEND_SLOW    /* the text fast path declined: parse with jansson */
} send_outcome_t;

static send_outcome_t wait_for(pr_file_src_t *src, int code, const char *msg)
{
    if (code == MW_ERR_FULL) {
        src->wait_room = true;
        return SEND_WAIT;
    }
    /* Registry unreachable, schema not there yet: retriable, retry the
     * same line at the next tick.  Warn once per episode. */
    if (!src->wait_tick_warned) {
        mw_log_warn(PR_FILE_COMP, "emitter refused line, retrying",
                    "error=%s message=%s", mw_err_name(code), mw_log_q(msg));
        src->wait_tick_warned = true;
    }
    src->wait_tick = true;
    return SEND_WAIT;
}

/* Reserves a window slot and sends ev (event) or the raw line to the DLQ
 * (reason != NULL).  Returns the outcome. */
static send_outcome_t send_line(pr_file_reader_t *r, const pr_event_t *ev,
                                const char *raw, size_t raw_len,
                                const char *reason, uint64_t end_off)
{
    pr_file_src_t *src = r->src;
    line_ctx_t *ctx;
    mw_err_t err = {0};
    int rc;

    if (pr_checkpoint_window_inflight(r->win) >= src->max_inflight_lines) {
        src->wait_window = true;
        return SEND_WAIT;
    }
    ctx = mw_pool_get(src->ctx_pool);
    if (!ctx || pr_checkpoint_window_push(r->win, end_off, &ctx->seq) != 0) {
        mw_pool_put(src->ctx_pool, ctx);
        src->wait_tick = true; /* out of memory: try again later */
        return SEND_WAIT;
    }
    ctx->src = src;
    ctx->win = r->win;
    if (reason) {
        pr_dead_letter_t dl = {.topic = src->topic,
                               .raw = raw,
                               .raw_len = raw_len < PR_FILE_DLQ_MAX_BYTES
                                              ? raw_len
                                              : PR_FILE_DLQ_MAX_BYTES,
                               .reason = reason,
                               .origin = ev};

        rc = pr_emit_dead_letter(src->emit, &dl, line_done, ctx, &err);
    } else
        rc = pr_emit_send(src->emit, ev, line_done, ctx, &err);
    if (rc == 0) {
        src->outstanding++;
        src->wait_tick_warned = false;
        return SEND_OK;
    }
    pr_checkpoint_window_cancel_last(r->win);
    mw_pool_put(src->ctx_pool, ctx);
    if (rc == MW_ERR_UNSUPPORTED && ev->value_text)
        return SEND_SLOW;
    if (rc == MW_ERR_INVALID && !reason) {
        snprintf(src->reason, sizeof(src->reason), "%s", err.msg);
        return SEND_BAD;
    }
    return wait_for(src, rc, err.msg);
}

/* Builds the event of one parsed line; NULL reason on success, else why
 * the line is bad (into src->reason). */
static bool line_to_event(pr_file_src_t *src, json_t *doc, pr_event_t *ev)
{
    if (src->format == PR_FILE_ENVELOPE) {
        json_t *tp;

        if (!json_is_object(doc) || !json_object_get(doc, "value")) {
            snprintf(src->reason, sizeof(src->reason),
                     "envelope line is not an object with a \"value\"");
            return false;
        }
        ev->key = json_object_get(doc, "key");
        ev->value = json_object_get(doc, "value");
        if (json_is_null(ev->key))
            ev->key = NULL;
        if (json_is_null(ev->value))
            ev->value = NULL;
        tp = json_object_get(doc, "traceparent");
        ev->traceparent = json_is_string(tp) ? json_string_value(tp) : NULL;
        return true;
    }
    ev->value = doc;
    if (src->key_field) {
        ev->key =
            json_is_object(doc) ? json_object_get(doc, src->key_field) : NULL;
        if (!ev->key) {
            snprintf(src->reason, sizeof(src->reason),
                     "key field \"%s\" missing", src->key_field);
            return false;
        }
    }
    return true;
}

static bool text_is_null(const char *t, size_t n)
{
    return n == 4 && memcmp(t, "null", 4) == 0;
}

/* The fast path: the line goes to the emitter as text, transcoded straight
 * to Avro (av_jtext); envelope members are found by a scan that validates
 * the line as jansson would, file.key.field by the emitter once the value
 * was transcoded (pr_event_t.key_member).  SEND_SLOW whenever anything
 * is unusual (a tombstone, an escaped traceparent, a line the transcoder
 * declines): handle_line then takes the jansson path, which also writes
 * the precise reason of a bad line. */
static send_outcome_t send_text(pr_file_reader_t *r, const char *line,
                                size_t len, const char *pos, uint64_t end_off)
{
    static const char *const envelope[] = {"key", "value", "traceparent"};
    pr_file_src_t *src = r->src;
    pr_event_t ev = {.partition = -1, .source = "file", .position = pos};
    av_jtext_span_t sp[3];
    char tp[PR_FILE_TRACEPARENT_MAX];

    if (src->format != PR_FILE_ENVELOPE) {
        ev.value_text = line;
        ev.value_text_len = len;
        ev.key_member = src->key_field;
        return send_line(r, &ev, NULL, 0, NULL, end_off);
    }
    if (av_jtext_members(line, len, envelope, 3, sp, NULL) != 0 || !sp[1].ptr ||
        text_is_null(sp[1].ptr, sp[1].len))
        return SEND_SLOW;
    ev.key_text = sp[0].ptr;
    ev.key_text_len = sp[0].len;
    ev.value_text = sp[1].ptr;
    ev.value_text_len = sp[1].len;
    if (sp[2].ptr && sp[2].ptr[0] == '"') {
        /* A string without escapes is its own text; anything else that
         * is a string takes the slow path; a non-string is ignored. */
        if (sp[2].len - 2 >= sizeof(tp) || memchr(sp[2].ptr, '\\', sp[2].len))
            return SEND_SLOW;
        memcpy(tp, sp[2].ptr + 1, sp[2].len - 2);
        tp[sp[2].len - 2] = '\0';
        ev.traceparent = tp;
    }
    return send_line(r, &ev, NULL, 0, NULL, end_off);
}

/* "<path>:<offset>", the line's mesh.position, into pos (PATH_MAX + 32
 * bytes).  Every line needs one, so it is written by hand: snprintf was
 * 7 % of the loop thread's time. */
static void reader_position(const pr_file_reader_t *r, uint64_t off, char *pos)
{
    char digits[24];
    size_t n = 0;

    do {
        digits[n++] = (char)('0' + off % 10);
        off /= 10;
    } while (off);
    memcpy(pos, r->path, r->path_len);
    pos += r->path_len;
    *pos++ = ':';
    while (n)
        *pos++ = digits[--n];
    *pos = '\0';
}

/* One complete line (without its newline) starting at off and ending (after
 * the newline) at end_off.  SEND_WAIT: the line stays to be retried. */
static send_outcome_t handle_line(pr_file_reader_t *r, const char *line,
                                  size_t len, uint64_t off, uint64_t end_off)
{
    pr_file_src_t *src = r->src;
    pr_file_path_t *p = &src->paths[r->idx];
    pr_event_t ev = {.partition = -1, .source = "file"};
    json_error_t jerr;
    json_t *doc;
    send_outcome_t out;
    char pos[PATH_MAX + 32];

    reader_position(r, off, pos);
    ev.position = pos;
    out = send_text(r, line, len, pos, end_off);
    if (out == SEND_SLOW) {
        doc = json_loadb(line, len, JSON_DECODE_ANY | JSON_ALLOW_NUL, &jerr);
        if (!doc)
            snprintf(src->reason, sizeof(src->reason),
                     "invalid JSON at column %d: %s", jerr.column, jerr.text);
        out = doc && line_to_event(src, doc, &ev)
                  ? send_line(r, &ev, NULL, 0, NULL, end_off)
                  : SEND_BAD;
        json_decref(doc);
    }
    if (out == SEND_BAD) {
        ev = (pr_event_t){.partition = -1, .source = "file", .position = pos};
        out = send_line(r, &ev, line, len, src->reason, end_off);
        if (out == SEND_OK)
            mw_counter_inc(p->bad_lines);
    }
    if (out == SEND_OK)
        mw_counter_inc(p->lines);
    return out;
}

/* Dead-letters the cut of an over-long line, now that its end is known. */
static send_outcome_t handle_cut(pr_file_reader_t *r, uint64_t end_off)
{
    pr_file_src_t *src = r->src;
    pr_event_t ev = {.partition = -1, .source = "file"};
    char pos[PATH_MAX + 32];
    char reason[128];
    send_outcome_t out;

    reader_position(r, r->cut_off, pos);
    snprintf(reason, sizeof(reason),
             "line longer than %zu bytes (%llu bytes, cut)", src->max_line,
             (unsigned long long)(end_off - 1 - r->cut_off));
    ev.position = pos;
    out = send_line(r, &ev, r->cut, r->cut_len, reason, end_off);
    if (out == SEND_OK) {
        mw_counter_inc(src->paths[r->idx].bad_lines);
        mw_counter_inc(src->paths[r->idx].lines);
        free(r->cut);
        r->cut = NULL;
        r->cut_len = 0;
    }
    return out;
}

/* ------------------------------------------------------------- reading */

/* The line at buf[start] is longer than max_line: keeps its first bytes
 * for the DLQ; the rest is skipped up to the newline. */
static void keep_cut(pr_file_reader_t *r)
{
    size_t keep = PR_FILE_DLQ_MAX_BYTES < r->src->max_line
                      ? PR_FILE_DLQ_MAX_BYTES
                      : r->src->max_line;

    r->cut = malloc(keep);
    if (r->cut)
        memcpy(r->cut, r->buf + r->start, keep);
    r->cut_len = r->cut ? keep : 0;
    r->cut_off = reader_off(r, r->start);
    r->skipping = true;
}

/* Same, when no newline is in the buffer yet: drops what was read. */
static void begin_cut(pr_file_reader_t *r)
{
    keep_cut(r);
    r->start = r->end;
}

/* Splits and sends the complete lines in the buffer, at most *budget.
 * false when the source must wait (the line stays in the buffer). */
static bool reader_lines(pr_file_reader_t *r, size_t *budget, bool at_eof)
{
    while (r->start<r->end && * budget> 0) {
        char *s = r->buf + r->start;
        char *nl = memchr(s, '\n', r->end - r->start);
        size_t len, next;
        send_outcome_t out = SEND_OK;

        if (!nl && at_eof) {
            nl = r->buf + r->end; /* last line of a finished file */
        } else if (!nl) {
            if (r->skipping)
                r->start = r->end;
            else if (r->end - r->start > r->src->max_line)
                begin_cut(r);
            return true;
        }
        len = (size_t)(nl - s);
        next = r->start + len + (nl < r->buf + r->end);
        if (!r->skipping && len > r->src->max_line)
            keep_cut(r); /* whole over-long line in the buffer */
        if (r->skipping) {
            out = handle_cut(r, reader_off(r, next));
            r->skipping = out != SEND_OK;
        } else {
            if (len > 0 && s[len - 1] == '\r')
                len--;
            if (len > 0)
                out = handle_line(r, s, len, reader_off(r, r->start),
                                  reader_off(r, next));
        }
        if (out == SEND_WAIT)
            return false;
        r->start = next;
        (*budget)--;
    }
    return true;
}

/* Makes room for one more read: moves the unconsumed tail to the front and
 * grows (doubling, mw_vec) up to max_line + one chunk, never past it. */
static bool reader_room(pr_file_reader_t *r)
{
    size_t need;

    if (r->start > 0) {
        memmove(r->buf, r->buf + r->start, r->end - r->start);
        r->end -= r->start;
        r->start = 0;
    }
    if (r->cap - r->end >= PR_FILE_CHUNK / 2)
        return true;
    need = r->src->max_line + PR_FILE_CHUNK;
    if (r->cap < need &&
        MW_VEC_RESERVE_MAX(&r->buf, &r->cap, r->cap + 1, need) != 0)
        return false;
    return r->cap > r->end;
}

/* One read(); 1 data, 0 nothing now, -1 EOF of a file that ends here
 * (stdin, or a rotated file), -2 error. */
static int reader_read(pr_file_reader_t *r)
{
    ssize_t n;

    if (!reader_room(r))
        return 0;
    if (r->is_stdin && !pr_file_stdin_ready())
        return 0;
    do {
        n = read(r->fd, r->buf + r->end, r->cap - r->end);
    } while (n < 0 && errno == EINTR);
    if (n < 0) {
        if (errno == EAGAIN || errno == EWOULDBLOCK)
            return 0;
        mw_log_error(PR_FILE_COMP, "read failed", "path=%s error=%s",
                     mw_log_q(r->path), mw_log_q(strerror(errno)));
        return -2;
    }
    if (n == 0)
        return r->is_stdin || r->retired ? -1 : 0;
    r->end += (size_t)n;
    r->read_off += (uint64_t)n;
    return 1;
}

/* Reads and sends from one file within *budget lines.  false when the
 * source must wait (emitter full, window full, retry later). */
static bool reader_pump(pr_file_reader_t *r, size_t *budget)
{
    for (;;) {
        int rc;

        if (!reader_lines(r, budget, false))
            return false;
        if (*budget == 0)
            return true;
        rc = reader_read(r);
        if (rc == 1)
            continue;
        if (rc == -1) {
            /* The file is complete: its unterminated last line counts. */
            if (!reader_lines(r, budget, true))
                return false;
            if (r->start < r->end)
                return true;
            if (r->skipping && handle_cut(r, r->read_off) != SEND_OK)
                return false;
            r->skipping = false;
            r->finished = true;
            mw_log_info(PR_FILE_COMP, "file finished", "path=%s offset=%llu",
                        mw_log_q(r->path), (unsigned long long)r->read_off);
        }
        if (rc == -2)
            r->finished = r->failed = true;
        return true;
    }
}

/* Reads every file until the budget is spent or the source must wait; a
 * path's rotated-away files first, so its lines keep their order. */
static void file_pump(pr_file_src_t *src)
{
    size_t budget = PR_FILE_BUDGET_LINES;
    bool busy[PR_FILE_MAX_PATHS] = {false};

    if (src->stopped || src->wait_room || src->wait_window || src->wait_tick)
        return;
    for (pr_file_reader_t *r = src->readers; r; r = r->next) {
        if (r->finished || busy[r->idx])
            continue;
        if (!reader_pump(r, &budget))
            return;
        if (!r->finished)
            busy[r->idx] = true;
        if (budget == 0) {
            schedule_pump(src); /* more later, after others */
            return;
        }
    }
}

static void file_cont_cb(evutil_socket_t fd, short what, void *opaque)
{
    (void)fd;
    (void)what;
    file_pump(opaque);
}

static void file_room_cb(void *opaque)
{
    pr_file_src_t *src = opaque;

    src->wait_room = false;
    if (!src->stopped)
        schedule_pump(src);
}

/* The periodic chore (every file.poll.ms).  Duties:
 *   1. retry after a retriable refusal (wait_tick);
 *   2. notice new, rotated and truncated files (pr_file_watch);
 *   3. free rotated files read to EOF and fully acknowledged, and
 *      detached windows once drained;
 *   4. save the checkpoint when due, update the lag gauges;
 *   5. read. */
static void file_tick_cb(evutil_socket_t fd, short what, void *opaque)
{
    pr_file_src_t *src = opaque;

    (void)fd;
    (void)what;
    src->wait_tick = false;
    if (!src->stopped)
        pr_file_watch(src);
    pr_file_reap(src);
    pr_file_checkpoint_maybe(src, false);
    pr_file_update_lag(src);
    file_pump(src);
}

/* ----------------------------------------------------------- the ops */

static const char *const file_formats[] = {"jsonl", "envelope", NULL};
_Static_assert(PR_FILE_JSONL == 0 && PR_FILE_ENVELOPE == 1,
               "file_formats follows pr_file_format_t");

/* The file source's keys (their values are checked by mw_conf; the
 * checkpoint.* keys are the file source's too). */
static const mw_conf_key_t file_keys[] = {
    {.name = "file.paths",
     .type = MW_CONF_STR,
     .doc = "source=file: comma-separated files to tail, '-' for stdin."},
    {.name = "file.format",
     .type = MW_CONF_ENUM,
     .dflt = "jsonl",
     .allowed = file_formats,
     .doc = "source=file: jsonl (each line is the value) or envelope (each "
            "line is {\"key\":...,\"value\":...})."},
    {.name = "file.key.field",
     .type = MW_CONF_STR,
     .doc = "source=file, jsonl: the value's field used as the record key."},
    {.name = "file.poll.ms",
     .type = MW_CONF_INT,
     .dflt = "100",
     .min = 1,
     .max = 60000,
     .doc = "source=file: how often files are checked for new data, "
            "rotation and truncation."},
    {.name = "file.max.line.bytes",
     .type = MW_CONF_INT,
     .dflt = "1048576",
     .min = 16,
     .max = 67108864,
     .doc = "source=file: longest line; a longer one is cut and sent to the "
            "dead-letter topic."},
    {.name = "file.max.inflight.lines",
     .type = MW_CONF_INT,
     .dflt = "100000",
     .min = 1,
     .max = 1048576,
     .doc = "source=file: lines per file sent and not yet acknowledged "
            "(bounds the duplicates after a crash)."},
    {.name = "checkpoint.dir",
     .type = MW_CONF_STR,
     .dflt = "./.mesh/producer",
     .doc = "source=file: directory of the durable per-file checkpoints "
            "(created when missing)."},
    {.name = "checkpoint.interval.ms",
     .type = MW_CONF_INT,
     .dflt = "200",
     .min = 0,
     .max = 3600000,
     .doc = "source=file: the checkpoint is saved at least this often while "
            "lines are acknowledged."},
    {.name = "checkpoint.lines",
     .type = MW_CONF_INT,
     .dflt = "20000",
     .min = 1,
     .max = 100000000,
     .doc = "source=file: the checkpoint is also saved once this many lines "
            "were acknowledged since the last save."},
};

/* Cross-key checks when source=file: the events need a topic (the
 * program's `topic` key), and there must be something to read. */
static int file_check(const mw_conf_t *conf, mw_err_t *err)
{
    const char *topic = mw_conf_get_str(conf, "topic");
    const char *paths = mw_conf_get_str(conf, "file.paths");

    if (!(topic && *topic))
        return mw_err_set(err, MW_ERR_CONFIG,
                          "key 'topic': required with "
                          "source=file");
    if (!(paths && *paths))
        return mw_err_set(err, MW_ERR_CONFIG,
                          "file.paths: required with source=file (comma-"
                          "separated paths, '-' for stdin)");
    return 0;
}

static int file_start(void *state, mw_err_t *err)
{
    pr_file_src_t *src = state;
    struct timeval tv = {.tv_sec = src->poll_ms / 1000,
                         .tv_usec = (src->poll_ms % 1000) * 1000};

    int rc = pr_file_open_all(src, err);

    if (rc != 0)
        return rc;
    src->tick = event_new(src->base, -1, EV_PERSIST, file_tick_cb, src);
    src->cont = event_new(src->base, -1, 0, file_cont_cb, src);
    if (!src->tick || !src->cont || event_add(src->tick, &tv) != 0)
        return mw_err_set(err, MW_ERR_NOMEM, "file source: cannot add events");
    pr_emit_set_room_cb(src->emit, file_room_cb, src);
    src->last_save_ms = (uint64_t)mw_time_mono_ms();
    schedule_pump(src);
    mw_log_info(PR_FILE_COMP, "file source started", "files=%zu format=%s",
                src->path_cnt,
                src->format == PR_FILE_ENVELOPE ? "envelope" : "jsonl");
    return 0;
}

static void file_stop(void *state)
{
    pr_file_src_t *src = state;

    src->stopped = true;
    mw_log_info(PR_FILE_COMP, "file source stopping", "in_flight=%zu",
                src->outstanding);
}

static bool file_is_drained(void *state)
{
    const pr_file_src_t *src = state;

    return src->outstanding == 0;
}

static bool file_health(void *state, char *reason, size_t reason_size)
{
    const pr_file_src_t *src = state;

    if (src->failed_cnt > 0) {
        snprintf(reason, reason_size, "%s", src->fail_reason);
        return false;
    }
    if (src->ckpt_failing) {
        snprintf(reason, reason_size, "checkpoint cannot be saved: %s",
                 src->ckpt_error);
        return false;
    }
    return true;
}

/* Final checkpoint, then closes everything.  pr_main flushes the emitter
 * (which runs the last done callbacks) before it closes the source, so the
 * checkpoint sees every outcome. */
static void file_close(void *state)
{
    pr_file_src_t *src = state;

    if (!src)
        return;
    if (src->tick)
        pr_file_checkpoint_maybe(src, true);
    if (src->tick)
        event_free(src->tick);
    if (src->cont)
        event_free(src->cont);
    while (src->readers) {
        pr_file_reader_t *r = src->readers;

        src->readers = r->next;
        if (r->is_stdin)
            r->fd = -1; /* not ours to close */
        pr_file_reader_free(r);
    }
    pr_file_orphans_free(src);
    pr_file_conf_free(src);
    free(src);
}

const pr_source_ops_t pr_source_file_ops = {
    .conf = {.name = "file",
             .doc = "tails JSON-lines files",
             .keys = file_keys,
             .key_cnt = sizeof(file_keys) / sizeof(*file_keys),
             .check = file_check},
    .open = pr_file_open,
    .start = file_start,
    .stop = file_stop,
    .is_drained = file_is_drained,
    .health = file_health,
    .close = file_close,
};
