/*
 * mw_sig: the SIGPIPE guard.
 *
 * Writing to a socket whose peer has gone raises SIGPIPE, which kills the
 * process by default.  Daemons ignore it for good (mw_sig_ignore_pipe, at
 * start-up: every write then fails with EPIPE instead).  Library code that
 * may run inside a program that did not (a blocking HTTP call made by a
 * command-line tool) blocks it around its own writes and consumes the one
 * its write raised, leaving a SIGPIPE that was already pending for the
 * caller alone:
 *
 *     mw_sig_pipe_guard_t guard;
 *     mw_sig_pipe_block(&guard);
 *     ... write ...
 *     mw_sig_pipe_unblock(&guard);
 *
 * Block and unblock act on the calling thread's signal mask.
 */
#ifndef MW_SIG_H
#define MW_SIG_H

#include <signal.h>

typedef struct mw_sig_pipe_guard {
    sigset_t old_mask;
    int was_pending;
} mw_sig_pipe_guard_t;

/* Process-wide: SIGPIPE ignored from now on.  Idempotent. */
void mw_sig_ignore_pipe(void);

void mw_sig_pipe_block(mw_sig_pipe_guard_t *guard);
void mw_sig_pipe_unblock(mw_sig_pipe_guard_t *guard);

#endif /* MW_SIG_H */
