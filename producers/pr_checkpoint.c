/*
 * pr_checkpoint: acknowledgement window and durable checkpoint file of the
 * file source (see pr_checkpoint.h for the contract).
 *
 * The window is a ring of in-flight lines indexed by sequence number:
 * entry seq lives at slot seq & (cap - 1), cap a power of two grown by
 * doubling up to max_lines.  Invariants:
 *   head_seq <= next_seq, next_seq - head_seq <= cap;
 *   committed == end offset of line head_seq - 1 (or the start offset);
 *   the entry at head_seq, if any, is not acknowledged (the prefix walk in
 *   ack() pops every acknowledged head at once).
 * So the committed offset never passes a line still in flight, whatever
 * order the acks arrive in.
 *
 * The checkpoint file is JSON ({"version":1,"files":[{"path","dev","ino",
 * "offset"}]}) written through mw_daemon_write_file (tmp, fsync, rename):
 * small, human-readable for operators, and atomic.
 *
 * Thread: the daemon's loop thread.
 */
#include "pr_checkpoint.h"

#include <assert.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "mw_daemon.h"
#include "mw_vec.h"

#define PR_CKPT_DEFAULT_MAX (1u << 20)
#define PR_CKPT_INITIAL_CAP 1024u
#define PR_CKPT_VERSION 1

struct pr_checkpoint_window {
    uint64_t *end_off; /* cap slots */
    uint8_t *acked;    /* cap slots: 1 once acknowledged */
    size_t cap;        /* power of two */
    size_t max_lines;
    uint64_t head_seq; /* oldest line in flight */
    uint64_t next_seq; /* sequence number of the next push */
    uint64_t committed;
};

pr_checkpoint_window_t *pr_checkpoint_window_new(uint64_t start_offset,
                                                 size_t max_lines)
{
    pr_checkpoint_window_t *win = calloc(1, sizeof(*win));

    if (!win)
        return NULL;
    win->max_lines = max_lines ? max_lines : PR_CKPT_DEFAULT_MAX;
    win->cap = PR_CKPT_INITIAL_CAP;
    win->end_off = calloc(win->cap, sizeof(*win->end_off));
    win->acked = calloc(win->cap, sizeof(*win->acked));
    if (!win->end_off || !win->acked) {
        pr_checkpoint_window_destroy(win);
        return NULL;
    }
    win->committed = start_offset;
    return win;
}

void pr_checkpoint_window_destroy(pr_checkpoint_window_t *win)
{
    if (!win)
        return;
    free(win->end_off);
    free(win->acked);
    free(win);
}

/* Doubles the ring (mw_vec: a power of two stays one), then moves each
 * live entry whose slot changes under the new mask: slots depend on cap,
 * and entry s either keeps its slot or moves up by the old cap, into the
 * new half, so no move overwrites a live entry.  A failure leaves the ring
 * as it was (the arrays may be larger; cap is what counts). */
static int window_grow(pr_checkpoint_window_t *win)
{
    size_t cap = win->cap, off_cap = cap, ack_cap = cap;

    if (MW_VEC_RESERVE(&win->end_off, &off_cap, cap + 1) != 0 ||
        MW_VEC_RESERVE(&win->acked, &ack_cap, cap + 1) != 0 ||
        off_cap != 2 * cap || ack_cap != 2 * cap)
        return MW_ERR_NOMEM;
    for (uint64_t s = win->head_seq; s < win->next_seq; s++) {
        size_t from = (size_t)(s & (cap - 1));
        size_t to = (size_t)(s & (2 * cap - 1));

        if (to != from) {
            win->end_off[to] = win->end_off[from];
            win->acked[to] = win->acked[from];
        }
    }
    win->cap = 2 * cap;
    return 0;
}

int pr_checkpoint_window_push(pr_checkpoint_window_t *win, uint64_t end_offset,
                              uint64_t *seq)
{
    size_t n = (size_t)(win->next_seq - win->head_seq);
    size_t slot;
    int rc;

    if (n >= win->max_lines)
        return MW_ERR_FULL;
    if (n == win->cap && (rc = window_grow(win)) != 0)
        return rc;
    slot = (size_t)(win->next_seq & (win->cap - 1));
    win->end_off[slot] = end_offset;
    win->acked[slot] = 0;
    *seq = win->next_seq++;
    return 0;
}

void pr_checkpoint_window_cancel_last(pr_checkpoint_window_t *win)
{
    assert(win->next_seq > win->head_seq);
    assert(!win->acked[(win->next_seq - 1) & (win->cap - 1)]);
    win->next_seq--;
}

size_t pr_checkpoint_window_ack(pr_checkpoint_window_t *win, uint64_t seq)
{
    size_t moved = 0;

    assert(seq >= win->head_seq && seq < win->next_seq);
    assert(!win->acked[seq & (win->cap - 1)]);
    win->acked[seq & (win->cap - 1)] = 1;
    while (win->head_seq < win->next_seq &&
           win->acked[win->head_seq & (win->cap - 1)]) {
        win->committed = win->end_off[win->head_seq & (win->cap - 1)];
        win->head_seq++;
        moved++;
    }
    return moved;
}

uint64_t pr_checkpoint_window_committed(const pr_checkpoint_window_t *win)
{
    return win->committed;
}

size_t pr_checkpoint_window_inflight(const pr_checkpoint_window_t *win)
{
    return (size_t)(win->next_seq - win->head_seq);
}

/* ------------------------------------------------------------ the file */

static json_t *entries_to_json(const pr_checkpoint_entry_t *entries,
                               size_t entry_cnt)
{
    json_t *files = json_array();
    json_t *doc;

    if (!files)
        return NULL;
    for (size_t i = 0; i < entry_cnt; i++) {
        json_t *f = json_pack("{s:s, s:I, s:I, s:I}", "path", entries[i].path,
                              "dev", (json_int_t)entries[i].dev, "ino",
                              (json_int_t)entries[i].ino, "offset",
                              (json_int_t)entries[i].offset);

        if (!f || json_array_append_new(files, f) != 0) {
            json_decref(files);
            return NULL;
        }
    }
    doc = json_pack("{s:i, s:o}", "version", PR_CKPT_VERSION, "files", files);
    return doc;
}

int pr_checkpoint_save(const char *file, const pr_checkpoint_entry_t *entries,
                       size_t entry_cnt, mw_err_t *err)
{
    json_t *doc = entries_to_json(entries, entry_cnt);
    char *text;
    int rc;

    if (!doc)
        return mw_err_set(err, MW_ERR_NOMEM, "checkpoint '%s': out of memory",
                          file);
    text = json_dumps(doc, JSON_COMPACT);
    json_decref(doc);
    if (!text)
        return mw_err_set(err, MW_ERR_NOMEM, "checkpoint '%s': out of memory",
                          file);
    rc = mw_daemon_write_file(file, text, err);
    free(text);
    return rc;
}

/* Fills one entry from files[i]; MW_ERR_INVALID naming the index. */
static int entry_from_json(const char *file, size_t i, json_t *f,
                           pr_checkpoint_entry_t *e, mw_err_t *err)
{
    const char *path;
    json_int_t dev, ino, off;
    json_error_t jerr;

    if (json_unpack_ex(f, &jerr, JSON_STRICT, "{s:s, s:I, s:I, s:I}", "path",
                       &path, "dev", &dev, "ino", &ino, "offset", &off) != 0)
        return mw_err_set(err, MW_ERR_INVALID,
                          "checkpoint '%s': files[%zu]: %s", file, i,
                          jerr.text);
    if (off < 0)
        return mw_err_set(err, MW_ERR_INVALID,
                          "checkpoint '%s': files[%zu].offset is negative",
                          file, i);
    e->path = strdup(path);
    if (!e->path)
        return mw_err_set(err, MW_ERR_NOMEM, "checkpoint '%s': out of memory",
                          file);
    e->dev = (uint64_t)dev;
    e->ino = (uint64_t)ino;
    e->offset = (uint64_t)off;
    return 0;
}

static int load_doc(const char *file, json_t **doc, mw_err_t *err)
{
    json_error_t jerr;
    FILE *fp = fopen(file, "r");

    if (!fp) {
        int e = errno;

        if (e == ENOENT)
            return mw_err_set(err, MW_ERR_NOT_FOUND,
                              "checkpoint '%s' does not exist", file);
        return mw_err_set(err, MW_ERR_IO, "cannot read checkpoint '%s': %s",
                          file, strerror(e));
    }
    *doc = json_loadf(fp, 0, &jerr);
    fclose(fp);
    if (!*doc)
        return mw_err_set(err, MW_ERR_INVALID, "checkpoint '%s':%d: %s", file,
                          jerr.line, jerr.text);
    return 0;
}

int pr_checkpoint_load(const char *file, pr_checkpoint_entry_t **entries,
                       size_t *entry_cnt, mw_err_t *err)
{
    json_t *doc = NULL, *files;
    pr_checkpoint_entry_t *arr = NULL;
    size_t n = 0;
    int rc;

    *entries = NULL;
    *entry_cnt = 0;
    if ((rc = load_doc(file, &doc, err)) != 0)
        return rc;
    files = json_object_get(doc, "files");
    if (json_integer_value(json_object_get(doc, "version")) !=
            PR_CKPT_VERSION ||
        !json_is_array(files)) {
        rc = mw_err_set(err, MW_ERR_INVALID,
                        "checkpoint '%s': not a version %d checkpoint", file,
                        PR_CKPT_VERSION);
        goto out;
    }
    arr = calloc(json_array_size(files) + 1, sizeof(*arr));
    if (!arr) {
        rc = mw_err_set(err, MW_ERR_NOMEM, "checkpoint '%s': out of memory",
                        file);
        goto out;
    }
    for (n = 0; n < json_array_size(files); n++) {
        rc = entry_from_json(file, n, json_array_get(files, n), &arr[n], err);
        if (rc != 0)
            goto out;
    }
    *entries = arr;
    *entry_cnt = n;
    arr = NULL;
out:
    pr_checkpoint_entries_free(arr, n);
    json_decref(doc);
    return rc;
}

void pr_checkpoint_entries_free(pr_checkpoint_entry_t *entries,
                                size_t entry_cnt)
{
    if (!entries)
        return;
    for (size_t i = 0; i < entry_cnt; i++)
        free(entries[i].path);
    free(entries);
}
