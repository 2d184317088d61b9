/*
 * pr_checkpoint: the file source's acknowledgement window and its durable
 * checkpoint file.
 *
 * Window: lines are sent in file order but Kafka acknowledges them in order
 * only per partition, so acks arrive out of order across partitions.  The
 * window keeps every in-flight line (its end offset and whether it was
 * acknowledged) in read order and advances the committed offset only over
 * the contiguous acknowledged prefix: the committed offset is always the
 * end of a line whose event and every event before it were acknowledged.
 *
 * Checkpoint file: one JSON document per daemon, listing per tracked file
 * its identity (device, inode), the path it was read under and its
 * committed offset.  Saved atomically (temporary file, fsync, rename), so a
 * crash leaves the previous or the new version, never a torn one.
 *
 * Thread: the daemon's loop thread (not thread-safe).
 */
#ifndef PR_CHECKPOINT_H
#define PR_CHECKPOINT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "mw_err.h"

typedef struct pr_checkpoint_window pr_checkpoint_window_t;

/* New window whose committed offset starts at start_offset, holding at most
 * max_lines in-flight lines (0 = 1,048,576).  NULL on ENOMEM. */
pr_checkpoint_window_t *pr_checkpoint_window_new(uint64_t start_offset,
                                                 size_t max_lines);
void pr_checkpoint_window_destroy(pr_checkpoint_window_t *win);

/* Appends a line ending at end_offset (the byte after its newline, which
 * must not be below the previous line's) and stores its sequence number in
 * *seq.  MW_ERR_FULL when max_lines lines are in flight (the source pauses
 * until acks make room), MW_ERR_NOMEM. */
int pr_checkpoint_window_push(pr_checkpoint_window_t *win, uint64_t end_offset,
                              uint64_t *seq);

/* Takes back the last push (its send was refused); it must not be
 * acknowledged (asserted). */
void pr_checkpoint_window_cancel_last(pr_checkpoint_window_t *win);

/* Marks the line seq (in flight, not yet acknowledged: asserted) as
 * acknowledged and advances the committed offset over the acknowledged
 * prefix.  Returns how many lines the committed offset moved over. */
size_t pr_checkpoint_window_ack(pr_checkpoint_window_t *win, uint64_t seq);

/* End offset of the last line of the acknowledged prefix (start_offset
 * before any). */
uint64_t pr_checkpoint_window_committed(const pr_checkpoint_window_t *win);

/* Lines pushed and not yet passed by the committed offset. */
size_t pr_checkpoint_window_inflight(const pr_checkpoint_window_t *win);

/* One tracked file in a checkpoint. */
typedef struct pr_checkpoint_entry {
    char *path;      /* owned; the path the file was opened under */
    uint64_t dev;    /* st_dev */
    uint64_t ino;    /* st_ino */
    uint64_t offset; /* committed offset: resume here */
} pr_checkpoint_entry_t;

/* Writes entries (borrowed) to file atomically and durably.  MW_ERR_IO
 * naming the file; MW_ERR_NOMEM. */
int pr_checkpoint_save(const char *file, const pr_checkpoint_entry_t *entries,
                       size_t entry_cnt, mw_err_t *err);

/* Reads file into a new array (*entries, free it with
 * pr_checkpoint_entries_free) of *entry_cnt entries.  MW_ERR_NOT_FOUND when
 * the file does not exist (first start), MW_ERR_INVALID naming file and
 * the problem when it is not a checkpoint, MW_ERR_IO, MW_ERR_NOMEM. */
int pr_checkpoint_load(const char *file, pr_checkpoint_entry_t **entries,
                       size_t *entry_cnt, mw_err_t *err);

/* Frees an array from pr_checkpoint_load.  NULL-safe. */
void pr_checkpoint_entries_free(pr_checkpoint_entry_t *entries,
                                size_t entry_cnt);

#endif /* PR_CHECKPOINT_H */
