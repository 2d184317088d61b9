/*
 * mw_sig: SIGPIPE ignored (daemons) or blocked and consumed around one
 * call (library code), see mw_sig.h.
 */
#include "mw_sig.h"

#include <pthread.h>
#include <time.h>

void mw_sig_ignore_pipe(void)
{
    signal(SIGPIPE, SIG_IGN);
}

void mw_sig_pipe_block(mw_sig_pipe_guard_t *guard)
{
    sigset_t pipe_set, pending;

    sigemptyset(&pipe_set);
    sigaddset(&pipe_set, SIGPIPE);
    pthread_sigmask(SIG_BLOCK, &pipe_set, &guard->old_mask);
    sigpending(&pending);
    guard->was_pending = sigismember(&pending, SIGPIPE);
}

void mw_sig_pipe_unblock(mw_sig_pipe_guard_t *guard)
{
    sigset_t pipe_set, pending;

    /* A SIGPIPE raised by our own write is pending on this thread: take it
     * before unblocking, unless one was already pending for the caller. */
    sigemptyset(&pipe_set);
    sigaddset(&pipe_set, SIGPIPE);
    sigpending(&pending);
    if (!guard->was_pending && sigismember(&pending, SIGPIPE)) {
        const struct timespec zero = {0, 0};
        sigtimedwait(&pipe_set, NULL, &zero);
    }
    pthread_sigmask(SIG_SETMASK, &guard->old_mask, NULL);
}
