/*
 * mw_daemon: process plumbing shared by every daemon.
 *
 *  - SIGTERM and SIGINT become events on the daemon's libevent loop: the
 *    first calls the program's shutdown callback (which stops intake and
 *    drains, then breaks the loop); a second one exits at once with 1.
 *  - SIGPIPE is ignored (sockets report EPIPE instead).
 *  - libevent's own log messages are routed to mw_log.
 *
 * One per process, created and used on the main thread.
 */
#ifndef MW_DAEMON_H
#define MW_DAEMON_H

#include <stdbool.h>

#include "mw_err.h"

struct event_base;

typedef struct mw_daemon mw_daemon_t;

/* Called once, on the loop thread, when the first SIGTERM/SIGINT arrives. */
typedef void(mw_daemon_shutdown_cb)(void *opaque, int signo);

/* Installs the signal events on base (borrowed).  component names the
 * program in log lines.  NULL with err set on failure. */
mw_daemon_t *mw_daemon_new(struct event_base *base, const char *component,
                           mw_daemon_shutdown_cb *cb, void *opaque,
                           mw_err_t *err);
void mw_daemon_destroy(mw_daemon_t *daemon);

/* True once a shutdown signal arrived. */
bool mw_daemon_is_stopping(const mw_daemon_t *daemon);

/* Routes libevent's internal logging to mw_log.  Idempotent; called by
 * mw_daemon_new and by non-daemon programs that use libevent. */
void mw_daemon_route_libevent_logs(void);

/* Writes the string to path atomically (temporary file, fsync, rename):
 * used for state files such as mesh-broker's bootstrap list. */
int mw_daemon_write_file(const char *path, const char *content, mw_err_t *err);

/* mkdir -p: creates dir and every missing parent (0755).  0, or MW_ERR_IO
 * naming the directory that could not be made. */
int mw_daemon_mkdirs(const char *dir, mw_err_t *err);

#endif /* MW_DAEMON_H */
