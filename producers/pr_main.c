/*
 * mesh-producer: runs beside an operational system and turns what it emits
 * (HTTP posts, JSON-lines files) into Avro events on Kafka, with no loss.
 *
 * main parses the configuration (exit 2 on a bad key or value, kafka.*
 * included), builds bottom-up — loop, metrics, emitter, source, ops
 * endpoint — starts the source, writes ready.file and runs the loop.
 *
 * Shutdown (first SIGTERM/SIGINT, or a fatal producer error), in phases,
 * all bounded by one deadline of shutdown.timeout.ms:
 *   1. stop intake (pr_source_stop): no new events are read or accepted;
 *   2. drain: a 10 ms timer waits until every event read was acknowledged
 *      or failed (pr_source_is_drained), or the deadline passes;
 *   3. flush the emitter with what is left of the deadline: the rest fail
 *      with MW_ERR_TIMEOUT through their done callbacks, so sources never
 *      checkpoint past them;
 *   4. destroy the source (its final checkpoint), then the emitter and the
 *      rest.
 * Exit 0, or 1 after a fatal producer error or a start-up failure.  A
 * second signal exits 1 at once (mw_daemon).
 *
 * Thread: main thread only; librdkafka and the registry client call back
 * through this loop.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>
#include <jansson.h>

#include "bk_conf.h"
#include "mw_conf.h"
#include "mw_daemon.h"
#include "mw_err.h"
#include "mw_log.h"
#include "mw_metrics.h"
#include "mw_ops.h"
#include "pr_emit.h"
#include "pr_source.h"

#define PR_COMPONENT "mesh-producer"
#define PR_VERSION "0.1.0"
#define PR_DRAIN_POLL_MS 10
#define PR_CRON_MS 200

static const char *const pr_log_levels[] = {"debug", "info", "warn", "error",
                                            NULL};
_Static_assert(MW_LOG_DEBUG == 0 && MW_LOG_INFO == 1 && MW_LOG_WARN == 2 &&
                   MW_LOG_ERROR == 3,
               "pr_log_levels follows mw_log_level_t");

/* The source backends of pr_source.c's registration table. */
static const char *const pr_sources[] = {"http", "file", NULL};
static const char *const pr_file_formats[] = {"jsonl", "envelope", NULL};
static const char *const pr_strategies[] = {"topic", "record",
                                            "topic_record", NULL};

static const mw_conf_key_t pr_keys[] = {
    {.name = "source", .type = MW_CONF_ENUM, .allowed = pr_sources,
     .required = true,
     .doc = "Where events come from: http (REST Proxy v2 compatible ingest "
            "endpoint) or file (tails JSON-lines files)."},
    {.name = "topic", .type = MW_CONF_STR,
     .doc = "Topic events go to (required with source=file; the http source "
            "takes it from the request path)."},
    {.name = "registry.url", .type = MW_CONF_STR,
     .dflt = "http://127.0.0.1:8081",
     .doc = "Schema registry (Confluent-compatible) holding the topics' "
            "schemas."},
    {.name = "kafka.bootstrap.servers", .type = MW_CONF_STR,
     .dflt = "127.0.0.1:9092", .doc = "Kafka cluster events are produced to."},
    {.name = "ops.listener", .type = MW_CONF_LISTENER,
     .doc = "Optional listener for /healthz and /metrics; port 0 picks one."},
    {.name = "http.listener", .type = MW_CONF_LISTENER,
     .dflt = "127.0.0.1:8082",
     .doc = "source=http: the ingest listener; port 0 picks one."},
    {.name = "http.max.body.bytes", .type = MW_CONF_INT, .dflt = "16777216",
     .min = 1024, .max = 1073741824,
     .doc = "source=http: largest request body; larger ones get 413."},
    {.name = "file.paths", .type = MW_CONF_STR,
     .doc = "source=file: comma-separated files to tail, '-' for stdin."},
    {.name = "file.format", .type = MW_CONF_ENUM, .dflt = "jsonl",
     .allowed = pr_file_formats,
     .doc = "source=file: jsonl (each line is the value) or envelope (each "
            "line is {\"key\":...,\"value\":...})."},
    {.name = "file.key.field", .type = MW_CONF_STR,
     .doc = "source=file, jsonl: the value's field used as the record key."},
    {.name = "file.poll.ms", .type = MW_CONF_INT, .dflt = "100", .min = 1,
     .max = 60000,
     .doc = "source=file: how often files are checked for new data, "
            "rotation and truncation."},
    {.name = "file.max.line.bytes", .type = MW_CONF_INT, .dflt = "1048576",
     .min = 16, .max = 67108864,
     .doc = "source=file: longest line; a longer one is cut and sent to the "
            "dead-letter topic."},
    {.name = "file.max.inflight.lines", .type = MW_CONF_INT,
     .dflt = "100000", .min = 1, .max = 1048576,
     .doc = "source=file: lines per file sent and not yet acknowledged "
            "(bounds the duplicates after a crash)."},
    {.name = "checkpoint.dir", .type = MW_CONF_STR,
     .dflt = "./.mesh/producer",
     .doc = "source=file: directory of the durable per-file checkpoints "
            "(created when missing)."},
    {.name = "checkpoint.interval.ms", .type = MW_CONF_INT, .dflt = "200",
     .min = 0, .max = 3600000,
     .doc = "source=file: the checkpoint is saved at least this often while "
            "lines are acknowledged."},
    {.name = "checkpoint.lines", .type = MW_CONF_INT, .dflt = "20000",
     .min = 1, .max = 100000000,
     .doc = "source=file: the checkpoint is also saved once this many lines "
            "were acknowledged since the last save."},
    {.name = "value.subject", .type = MW_CONF_STR,
     .doc = "Subject of the value schema (default: from "
            "subject.name.strategy)."},
    {.name = "value.schema.id", .type = MW_CONF_INT, .min = 1,
     .max = 2147483647,
     .doc = "Registered id of the value schema (overrides value.subject)."},
    {.name = "value.schema.version", .type = MW_CONF_STR, .dflt = "latest",
     .doc = "Version of value.subject: 'latest' or a number."},
    {.name = "key.subject", .type = MW_CONF_STR,
     .doc = "Subject of the key schema; unset: keys are sent as raw bytes "
            "(a string's UTF-8, other JSON as its text)."},
    {.name = "subject.name.strategy", .type = MW_CONF_ENUM, .dflt = "topic",
     .allowed = pr_strategies,
     .doc = "Subject naming: topic (<topic>-value), record (<record "
            "fullname>) or topic_record (<topic>-<record fullname>)."},
    {.name = "auto.register", .type = MW_CONF_BOOL, .dflt = "false",
     .doc = "Register schemas given inline; off: they must be registered "
            "already (governance)."},
    {.name = "dlq.topic", .type = MW_CONF_STR,
     .doc = "Dead-letter topic for input that cannot become an event "
            "(default <topic>.dlq)."},
    {.name = "max.inflight.bytes", .type = MW_CONF_INT, .dflt = "67108864",
     .min = 1024, .max = 68719476736LL,
     .doc = "Bound on bytes produced but not yet acknowledged; past it the "
            "file source pauses and the http source answers 503."},
    {.name = "shutdown.timeout.ms", .type = MW_CONF_INT, .dflt = "30000",
     .min = 0, .max = 3600000,
     .doc = "How long SIGTERM waits for events in flight to be acknowledged "
            "before the rest fail and the daemon exits."},
    {.name = "log.level", .type = MW_CONF_ENUM, .dflt = "info",
     .allowed = pr_log_levels, .doc = "Lowest log level written."},
    {.name = "ready.file", .type = MW_CONF_STR,
     .doc = "Once started, JSON {\"http\":URL,\"ops\":URL} with the bound "
            "ports is written here atomically (for tests and supervisors)."},
};

static const char *const pr_passthrough[] = {"kafka.", NULL};

static const mw_conf_program_t pr_program = {
    .name = "mesh-producer",
    .summary = "Turns an application's events (HTTP, JSON-lines files) into "
               "Avro records on Kafka, acknowledged only once Kafka has them.",
    .help_extra = "See producers/README.md for headers, metrics and "
                  "guarantees.",
    .passthrough = pr_passthrough,
    .passthrough_doc = "kafka.* keys are passed to librdkafka as they are "
                       "(the producer is idempotent with acks=all by "
                       "default); refusals name the full key.",
};

typedef struct pr_app {
    struct event_base *base;
    mw_metrics_t *metrics;
    mw_daemon_t *daemon;
    pr_emit_t *emit;
    pr_source_t *src;
    mw_ops_t *ops;
    struct event *cron_ev;
    struct event *drain_ev;
    long long shutdown_ms;
    struct timespec deadline;
    bool stopping;
    int exit_code;
} pr_app_t;

/* Milliseconds left until the shutdown deadline (0 once passed). */
static int pr_ms_left(const pr_app_t *app)
{
    struct timespec now;
    long long ms;

    clock_gettime(CLOCK_MONOTONIC, &now);
    ms = (app->deadline.tv_sec - now.tv_sec) * 1000LL +
         (app->deadline.tv_nsec - now.tv_nsec) / 1000000;
    return ms > 0 ? (int)ms : 0;
}

/* Phase 2: polled every PR_DRAIN_POLL_MS until drained or deadline. */
static void pr_on_drain(evutil_socket_t fd, short what, void *arg)
{
    pr_app_t *app = arg;

    (void)fd;
    (void)what;
    if (!pr_source_is_drained(app->src) && pr_ms_left(app) > 0)
        return;
    if (!pr_source_is_drained(app->src))
        mw_log_warn(PR_COMPONENT, "drain timed out", "timeout_ms=%lld",
                    app->shutdown_ms);
    event_base_loopbreak(app->base);
}

/* Phase 1 and the start of phase 2 (see the module comment). */
static void pr_begin_shutdown(pr_app_t *app, const char *why)
{
    const struct timeval poll = {0, PR_DRAIN_POLL_MS * 1000};

    if (app->stopping)
        return;
    app->stopping = true;
    mw_log_info(PR_COMPONENT, "shutting down", "reason=%s", why);
    clock_gettime(CLOCK_MONOTONIC, &app->deadline);
    app->deadline.tv_sec += app->shutdown_ms / 1000;
    app->deadline.tv_nsec += (app->shutdown_ms % 1000) * 1000000;
    if (app->deadline.tv_nsec >= 1000000000) {
        app->deadline.tv_sec++;
        app->deadline.tv_nsec -= 1000000000;
    }
    pr_source_stop(app->src);
    app->drain_ev = event_new(app->base, -1, EV_PERSIST, pr_on_drain, app);
    if (!app->drain_ev || event_add(app->drain_ev, &poll) != 0)
        event_base_loopbreak(app->base);
}

static void pr_on_signal(void *opaque, int signo)
{
    pr_begin_shutdown(opaque, signo == SIGINT ? "SIGINT" : "SIGTERM");
}

/* Periodic chores: (1) a fatal producer error (idempotence broken,
 * authorization) stops the daemon with exit 1. */
static void pr_on_cron(evutil_socket_t fd, short what, void *arg)
{
    pr_app_t *app = arg;
    mw_err_t err = {0};

    (void)fd;
    (void)what;
    if (app->exit_code || pr_emit_check_fatal(app->emit, &err) == 0)
        return;
    mw_log_error(PR_COMPONENT, "fatal producer error", "error=%s",
                 mw_log_q(err.msg));
    app->exit_code = 1;
    pr_begin_shutdown(app, "fatal");
}

/* /healthz: the source's own health, and Kafka reachable. */
static bool pr_health(void *opaque, char *reason, size_t reason_size)
{
    pr_app_t *app = opaque;

    if (!pr_source_health(app->src, reason, reason_size))
        return false;
    if (pr_emit_is_degraded(app->emit)) {
        snprintf(reason, reason_size, "kafka unreachable: no delivery "
                 "acknowledged recently");
        return false;
    }
    return true;
}

/* ready.file: {"ops": URL} plus the source's fields. */
static int pr_write_ready(pr_app_t *app, const mw_conf_t *conf, mw_err_t *err)
{
    const char *path = mw_conf_get_str(conf, "ready.file");
    json_t *ready = json_object();
    char host[256], url[320];
    char *text = NULL;
    int rc = 0;

    if (!ready)
        return mw_err_set(err, MW_ERR_NOMEM, "out of memory");
    if (app->ops && mw_conf_parse_listener(mw_conf_get_str(conf,
                                           "ops.listener"), host,
                                           sizeof(host), NULL, err) == 0) {
        if (!host[0] || !strcmp(host, "0.0.0.0"))
            snprintf(host, sizeof(host), "127.0.0.1");
        snprintf(url, sizeof(url), strchr(host, ':') ? "http://[%s]:%d"
                                                     : "http://%s:%d",
                 host, mw_ops_port(app->ops));
        json_object_set_new(ready, "ops", json_string(url));
    }
    pr_source_ready_info(app->src, ready);
    if (path && *path) {
        text = json_dumps(ready, JSON_COMPACT | JSON_SORT_KEYS);
        rc = text ? mw_daemon_write_file(path, text, err)
                  : mw_err_set(err, MW_ERR_NOMEM, "out of memory");
        if (rc != 0)
            mw_err_prefix(err, "key 'ready.file'");
    }
    free(text);
    json_decref(ready);
    return rc;
}

/* Builds emitter, source, ops endpoint and timers; starts the source. */
static int pr_app_start(pr_app_t *app, const mw_conf_t *conf, mw_err_t *err)
{
    const struct timeval cron = {0, PR_CRON_MS * 1000};

    app->shutdown_ms = mw_conf_get_int(conf, "shutdown.timeout.ms");
    app->emit = pr_emit_new(app->base, conf, app->metrics, err);
    if (!app->emit)
        return err->code;
    app->src = pr_source_new(app->base, conf, app->emit, app->metrics, err);
    if (!app->src)
        return err->code;
    if (mw_conf_is_set(conf, "ops.listener")) {
        app->ops = mw_ops_new(app->base, mw_conf_get_str(conf, "ops.listener"),
                              app->metrics, err);
        if (!app->ops || mw_ops_add_health(app->ops, "producer", pr_health,
                                           app) != 0)
            return app->ops ? mw_err_set(err, MW_ERR_NOMEM, "out of memory")
                            : err->code;
    }
    app->cron_ev = event_new(app->base, -1, EV_PERSIST, pr_on_cron, app);
    if (!app->cron_ev || event_add(app->cron_ev, &cron) != 0)
        return mw_err_set(err, MW_ERR_NOMEM, "cannot add the cron timer");
    if (pr_source_start(app->src, err) != 0 ||
        pr_write_ready(app, conf, err) != 0)
        return err->code;
    mw_log_info(PR_COMPONENT, "mesh-producer ready", "source=%s topic=%s",
                pr_source_name(app->src),
                mw_log_q(pr_emit_default_topic(app->emit)
                             ? pr_emit_default_topic(app->emit)
                             : ""));
    return 0;
}

/* Phases 3 and 4, then the rest in reverse order of creation; every field
 * may be NULL.  The emitter's flush runs every last done callback, so the
 * source's final checkpoint in destroy sees every outcome; the emitter
 * outlives the source (pr_source.h). */
static void pr_app_stop(pr_app_t *app)
{
    mw_err_t err = {0};

    if (app->src && !app->stopping)
        pr_source_stop(app->src);
    if (app->emit)
        pr_emit_flush(app->emit, app->stopping ? pr_ms_left(app) : 0, &err);
    pr_source_destroy(app->src);
    pr_emit_destroy(app->emit, 0);
    mw_ops_destroy(app->ops);
    if (app->drain_ev)
        event_free(app->drain_ev);
    if (app->cron_ev)
        event_free(app->cron_ev);
    mw_daemon_destroy(app->daemon);
    mw_metrics_destroy(app->metrics);
    if (app->base)
        event_base_free(app->base);
}

/* Phase "finalize": cross-key checks on the keys main owns. */
static int pr_check_keys(const mw_conf_t *conf, mw_err_t *err)
{
    const char *source = mw_conf_get_str(conf, "source");
    const char *topic = mw_conf_get_str(conf, "topic");

    if (source && !strcmp(source, "file") && !(topic && *topic))
        return mw_err_set(err, MW_ERR_CONFIG, "key 'topic': required with "
                          "source=file");
    return bk_conf_keys_check(conf, err);
}

/* 0, or 2 with the message printed; *run false after --help/--version. */
static int pr_configure(mw_conf_t **confp, int argc, char **argv, bool *run)
{
    mw_conf_action_t action = MW_CONF_RUN;
    mw_err_t err = {0};
    mw_conf_t *conf = mw_conf_new(&pr_program, pr_keys,
                                  sizeof(pr_keys) / sizeof(*pr_keys), &err);

    *confp = conf;
    if (!conf || mw_conf_from_cli(conf, argc, argv, environ, PR_VERSION,
                                  stdout, &action, NULL, &err) != 0) {
        fprintf(stderr, "mesh-producer: %s\n", err.msg);
        return 2;
    }
    *run = action == MW_CONF_RUN;
    if (*run && pr_check_keys(conf, &err) != 0) {
        fprintf(stderr, "mesh-producer: %s\n", err.msg);
        return 2;
    }
    if (*run)
        mw_log_set_level((mw_log_level_t)mw_conf_get_enum(conf, "log.level"));
    return 0;
}

int main(int argc, char **argv)
{
    pr_app_t app = {0};
    mw_conf_t *conf = NULL;
    mw_err_t err = {0};
    bool run = false;
    int rc = pr_configure(&conf, argc, argv, &run);

    if (rc != 0 || !run)
        goto out;
    mw_conf_log_effective(conf, PR_COMPONENT);
    rc = 1;
    if (!(app.base = event_base_new()) || !(app.metrics = mw_metrics_new())) {
        mw_log_error(PR_COMPONENT, "start-up failed", "error=%s",
                     mw_log_q("out of memory"));
        goto out;
    }
    app.daemon = mw_daemon_new(app.base, PR_COMPONENT, pr_on_signal, &app,
                               &err);
    if (!app.daemon || pr_app_start(&app, conf, &err) != 0) {
        /* A configuration problem found while building is still exit 2. */
        if (err.code == MW_ERR_CONFIG) {
            fprintf(stderr, "mesh-producer: %s\n", err.msg);
            rc = 2;
        } else {
            mw_log_error(PR_COMPONENT, "start-up failed", "error=%s",
                         mw_log_q(err.msg));
        }
        goto out;
    }
    rc = event_base_dispatch(app.base) < 0 ? 1 : app.exit_code;
    pr_app_stop(&app);
    app = (pr_app_t){0};
    mw_log_info(PR_COMPONENT, "mesh-producer stopped", "exit=%d", rc);
out:
    pr_app_stop(&app);
    mw_conf_destroy(conf);
    return rc;
}
