/*
 * mw_run: the daemon skeleton (see mw_run.h for the phases).
 *
 * It holds what every daemon used to repeat in its *_main.c: configure and
 * map errors to exit 2, build the loop, metrics and signal events, serve
 * the ops endpoint, write the ready file, run, drain and tear down in
 * reverse order.  The program keeps only what is its own: its objects,
 * built in start() and destroyed in destroy().
 *
 * Invariant: stop() is called at most once, and only after start()
 * succeeded (a signal during start-up ends the loop before it runs).
 */
#include "mw_run.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>

#include "mw_daemon.h"
#include "mw_ops.h"
#include "mw_sig.h"
#include "mw_time.h"

struct mw_run {
    const mw_run_prog_t *prog;
    void *app;
    mw_conf_t *conf;
    struct event_base *base;
    mw_metrics_t *metrics;
    mw_daemon_t *daemon;
    mw_ops_t *ops;
    bool started, stopping;
    int exit_code;
    int64_t stop_began_ms;
};

static bool run_declares(const mw_conf_t *conf, const char *key)
{
    return mw_conf_origin(conf, key) != NULL;
}

/* Phase 1.  0 to run, 2 after a bad configuration, -1 after --help or
 * --version (exit 0). */
static int run_configure(mw_run_t *run, int argc, char **argv)
{
    const mw_run_prog_t *prog = run->prog;
    mw_conf_action_t action = MW_CONF_RUN;
    mw_err_t err = {0};

    run->conf = mw_conf_new(prog->conf, prog->keys, prog->key_cnt, &err);
    if (!run->conf ||
        mw_conf_from_cli(run->conf,
                         &(mw_conf_cli_t){.argc = argc,
                                          .argv = argv,
                                          .envp = environ,
                                          .version = prog->version,
                                          .out = stdout},
                         &action, &err) != 0 ||
        (action == MW_CONF_RUN && prog->check &&
         prog->check(run->conf, &err) != 0)) {
        fprintf(stderr, "%s: %s\n", prog->conf->name, err.msg);
        return 2;
    }
    if (action != MW_CONF_RUN)
        return -1;
    if (run_declares(run->conf, "log.level"))
        mw_log_set_level(
            (mw_log_level_t)mw_conf_get_enum(run->conf, "log.level"));
    mw_conf_log_effective(run->conf, prog->conf->name);
    return 0;
}

static void run_on_signal(void *opaque, int signo)
{
    mw_run_stop(opaque, signo == SIGINT ? "SIGINT" : "SIGTERM");
}

static bool run_health(void *opaque, char *reason, size_t reason_size)
{
    mw_run_t *run = opaque;

    return run->prog->health(run->app, reason, reason_size);
}

/* Phase 3. */
static int run_open_ops(mw_run_t *run, mw_err_t *err)
{
    const char *listener;

    if (!run_declares(run->conf, "ops.listener") ||
        !mw_conf_is_set(run->conf, "ops.listener"))
        return 0;
    listener = mw_conf_get_str(run->conf, "ops.listener");
    run->ops = mw_ops_new(
        run->base, listener,
        run_declares(run->conf, "ops.max.connections")
            ? (size_t)mw_conf_get_int(run->conf, "ops.max.connections")
            : 0,
        run->metrics, err);
    if (!run->ops)
        return err->code;
    if (run->prog->health &&
        mw_ops_add_health(run->ops,
                          run->prog->health_name ? run->prog->health_name
                                                 : run->prog->conf->name,
                          run_health, run) != 0)
        return mw_err_set(err, MW_ERR_NOMEM, "out of memory");
    return 0;
}

/* Phase 4. */
static int run_write_ready(mw_run_t *run, mw_err_t *err)
{
    const char *path = run_declares(run->conf, "ready.file")
                           ? mw_conf_get_str(run->conf, "ready.file")
                           : NULL;
    char url[320];
    char *text = NULL;
    json_t *ready;
    int rc = 0;

    if (!path || !*path)
        return 0;
    if (!(ready = json_object()))
        return mw_err_set(err, MW_ERR_NOMEM, "out of memory");
    if (run->ops && mw_conf_listener_url(
                        mw_conf_get_str(run->conf, "ops.listener"),
                        mw_ops_port(run->ops), url, sizeof(url), NULL) == 0)
        json_object_set_new(ready, "ops", json_string(url));
    if (run->prog->ready_info)
        run->prog->ready_info(run->app, ready);
    text = json_dumps(ready, JSON_COMPACT | JSON_SORT_KEYS);
    rc = text ? mw_daemon_write_file(path, text, err)
              : mw_err_set(err, MW_ERR_NOMEM, "out of memory");
    if (rc != 0)
        mw_err_prefix(err, "key 'ready.file'");
    free(text);
    json_decref(ready);
    return rc;
}

/* Phase 2 to 4.  0, 1 (runtime failure) or 2 (configuration). */
static int run_build(mw_run_t *run)
{
    const char *name = run->prog->conf->name;
    mw_err_t err = {0};

    mw_sig_ignore_pipe();
    if (!(run->base = event_base_new()) || !(run->metrics = mw_metrics_new())) {
        mw_log_error(name, "start-up failed", "error=%s",
                     mw_log_q("out of memory"));
        return 1;
    }
    run->daemon = mw_daemon_new(run->base, name, run_on_signal, run, &err);
    if (run->daemon && run->prog->start(run, run->app, &err) == 0) {
        run->started = true;
        if (run_open_ops(run, &err) == 0 && run_write_ready(run, &err) == 0)
            return 0;
    }
    if (err.code == MW_ERR_CONFIG) {
        /* A backend's key found wrong while opening is still exit 2. */
        fprintf(stderr, "%s: %s\n", name, err.msg);
        return 2;
    }
    mw_log_error(name, "start-up failed", "error=%s", mw_log_q(err.msg));
    return 1;
}

/* Phase 6's teardown, in reverse order of creation. */
static void run_teardown(mw_run_t *run)
{
    mw_ops_destroy(run->ops);
    if (run->prog->destroy)
        run->prog->destroy(run->app);
    mw_daemon_destroy(run->daemon);
    mw_metrics_destroy(run->metrics);
    if (run->base)
        event_base_free(run->base);
    mw_conf_destroy(run->conf);
}

int mw_run_main(const mw_run_prog_t *prog, void *app, int argc, char **argv)
{
    mw_run_t run = {.prog = prog, .app = app};
    int rc = run_configure(&run, argc, argv);

    if (rc == 0 && (rc = run_build(&run)) == 0) {
        char stopped[128];
        rc = event_base_dispatch(run.base) < 0 ? 1 : 0;
        if (prog->drain && prog->drain(&run, app) != 0)
            rc = 1;
        if (run.exit_code)
            rc = run.exit_code;
        /* "mesh-producer stopped": the phrase operators grep for. */
        snprintf(stopped, sizeof(stopped), "%s stopped", prog->conf->name);
        mw_log_info(prog->conf->name, stopped, "exit=%d", rc);
    }
    run_teardown(&run);
    return rc < 0 ? 0 : rc;
}

struct event_base *mw_run_base(const mw_run_t *run)
{
    return run->base;
}

mw_metrics_t *mw_run_metrics(const mw_run_t *run)
{
    return run->metrics;
}

const mw_conf_t *mw_run_conf(const mw_run_t *run)
{
    return run->conf;
}

void mw_run_stop(mw_run_t *run, const char *why)
{
    if (run->stopping)
        return;
    run->stopping = true;
    run->stop_began_ms = mw_time_mono_ms();
    mw_log_info(run->prog->conf->name, "shutting down", "reason=%s", why);
    if (run->started && run->prog->stop)
        run->prog->stop(run, run->app, why);
    else
        event_base_loopbreak(run->base);
}

void mw_run_fail(mw_run_t *run, const mw_err_t *err)
{
    mw_log_error(run->prog->conf->name, "fatal error", "error=%s",
                 mw_log_q(err && err->msg[0] ? err->msg : "unknown"));
    run->exit_code = 1;
    mw_run_stop(run, "fatal");
}

void mw_run_break(mw_run_t *run)
{
    event_base_loopbreak(run->base);
}

bool mw_run_is_stopping(const mw_run_t *run)
{
    return run->stopping;
}

int64_t mw_run_ms_left(const mw_run_t *run)
{
    int64_t budget = run_declares(run->conf, "shutdown.timeout.ms")
                         ? mw_conf_get_int(run->conf, "shutdown.timeout.ms")
                         : 0;
    int64_t left;

    if (!run->stopping)
        return budget;
    left = budget - (mw_time_mono_ms() - run->stop_began_ms);
    return left > 0 ? left : 0;
}
