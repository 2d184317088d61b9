/*
 * mw_run: the one daemon skeleton.  mesh-broker, mesh-registry,
 * mesh-producer and mesh-materializer each describe themselves in an
 * mw_run_prog_t and hand main to mw_run_main, which does what every daemon
 * does, in this order:
 *
 *   1. configure: the key table (the program's keys plus its backends'),
 *      the command line, the environment and files; --help/--version;
 *      finalize and the program's cross-key check.  A bad key exits 2
 *      with one line naming it.  `log.level` is applied when declared
 *      (MW_RUN_KEY_LOG_LEVEL), and the effective configuration logged.
 *   2. build: SIGPIPE ignored, the event loop, the metrics registry, the
 *      signal events (mw_daemon), then the program's start().  A start()
 *      error of class MW_ERR_CONFIG still exits 2; any other exits 1.
 *   3. ops: when `ops.listener` is declared and set, /healthz (with the
 *      program's health check) and /metrics.
 *   4. ready: when `ready.file` is declared and set, the JSON object
 *      {"ops": URL} plus the program's ready_info() fields is written
 *      there atomically (tests and supervisors wait for it).
 *   5. run the loop until the program breaks it.  The first SIGTERM/SIGINT
 *      (or mw_run_stop/mw_run_fail) calls the program's stop(): stop
 *      intake and drain, then mw_run_break().  A second signal exits 1 at
 *      once (mw_daemon).
 *   6. drain() after the loop (final flush or commit), then the ops
 *      endpoint and the program's objects are destroyed top-down, then the
 *      loop.  Exit 0, or 1 after a fatal error or a failed drain.
 *
 * Thread: main thread only.
 */
#ifndef MW_RUN_H
#define MW_RUN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "mw_conf.h"
#include "mw_err.h"
#include "mw_log.h"
#include "mw_metrics.h"

struct event_base;

typedef struct mw_run mw_run_t;

/* The `log.level` key every daemon declares. */
#define MW_RUN_KEY_LOG_LEVEL                                                   \
    {                                                                          \
        .name = "log.level", .type = MW_CONF_ENUM, .dflt = "info",             \
        .allowed = mw_log_level_names, .doc = "Lowest log level written."      \
    }

/* The `ops.max.connections` key: the bound on the ops listener's
 * connections (mw_ops_new; mw_http_limit), for programs with ops.listener. */
#define MW_RUN_KEY_OPS_MAX_CONNECTIONS                                         \
    {                                                                          \
        .name = "ops.max.connections", .type = MW_CONF_INT, .dflt = "1024",    \
        .min = 1, .max = 1000000,                                              \
        .doc = "Connections the ops listener serves at once; a request on a "  \
               "further one gets 503 with Retry-After."                        \
    }

typedef struct mw_run_prog {
    const mw_conf_program_t *conf; /* name, summary, passthrough, choices */
    const mw_conf_key_t *keys;     /* the program's own keys */
    size_t key_cnt;
    const char *version;
    /* Cross-key checks after finalize, or NULL.  MW_ERR_CONFIG: exit 2. */
    int (*check)(const mw_conf_t *conf, mw_err_t *err);
    /* Builds and starts the program's objects on mw_run_base(run).  On
     * error, what was built is left for destroy(). */
    int (*start)(mw_run_t *run, void *app, mw_err_t *err);
    /* First shutdown request: stop intake, begin draining, and call
     * mw_run_break(run) once drained (now, or from a later event).  NULL:
     * the loop is left at once. */
    void (*stop)(mw_run_t *run, void *app, const char *why);
    /* After the loop: the final flush or commit.  0, or 1 (exit 1).  May
     * be NULL. */
    int (*drain)(mw_run_t *run, void *app);
    /* Destroys what start built, top-down; every object may be missing (a
     * start that failed half-way).  May be NULL. */
    void (*destroy)(void *app);
    /* /healthz: true, or false with a reason.  May be NULL. */
    bool (*health)(void *app, char *reason, size_t reason_size);
    const char *health_name; /* the check's name in /healthz */
    /* Adds the program's fields to the ready.file object.  May be NULL. */
    void (*ready_info)(void *app, json_t *ready);
} mw_run_prog_t;

/* Runs the daemon (see the module comment); returns the exit status.  prog
 * and app are borrowed; app is the program's own state, handed to every
 * callback. */
int mw_run_main(const mw_run_prog_t *prog, void *app, int argc, char **argv);

/* What the skeleton built, for the program's start() and callbacks. */
struct event_base *mw_run_base(const mw_run_t *run);
mw_metrics_t *mw_run_metrics(const mw_run_t *run);
const mw_conf_t *mw_run_conf(const mw_run_t *run);

/* Starts the shutdown as a signal would (idempotent): logs why, calls
 * stop(). */
void mw_run_stop(mw_run_t *run, const char *why);
/* A fatal error: logged, the exit status becomes 1, then mw_run_stop. */
void mw_run_fail(mw_run_t *run, const mw_err_t *err);
/* Leaves the loop (from stop() or a later drain event). */
void mw_run_break(mw_run_t *run);
/* True once a shutdown began. */
bool mw_run_is_stopping(const mw_run_t *run);
/* Milliseconds left of `shutdown.timeout.ms` since the shutdown began (the
 * whole budget before; 0 when the key is not declared), never negative. */
int64_t mw_run_ms_left(const mw_run_t *run);

#endif /* MW_RUN_H */
