/*
 * mesh-producer: runs beside an operational system and turns what it emits
 * into Avro events on Kafka, with no loss.  Where events come from is the
 * `source` key: one of the backends of pr_source.c's registration table.
 *
 * The daemon skeleton (mw_run) configures (exit 2 naming the key, kafka.*
 * and the chosen source's keys included), serves /healthz and /metrics and
 * writes ready.file; this file builds the emitter and the source on it and
 * starts the source.
 *
 * Shutdown (first SIGTERM/SIGINT, or a fatal producer error), in phases,
 * all bounded by one deadline of shutdown.timeout.ms (mw_run_ms_left):
 *   1. stop intake (pr_source_stop): no new events are read or accepted;
 *   2. drain: a 10 ms timer waits until every event read was acknowledged
 *      or failed (pr_source_is_drained), or the deadline passes;
 *   3. flush the emitter with what is left of the deadline: the rest fail
 *      with MW_ERR_TIMEOUT through their done callbacks, so sources never
 *      checkpoint past them;
 *   4. close the source (its final checkpoint), then destroy the emitter.
 * Exit 0, or 1 after a fatal producer error or a start-up failure.  A
 * second signal exits 1 at once (mw_daemon).
 *
 * Thread: main thread only; librdkafka and the registry client call back
 * through this loop.
 */
#include <stdio.h>
#include <stdlib.h>

#include <event2/event.h>
#include <jansson.h>

#include "bk_conf.h"
#include "mw_conf.h"
#include "mw_err.h"
#include "mw_log.h"
#include "mw_run.h"
#include "pr_emit.h"
#include "pr_source.h"
#include "sr_client.h"

#define PR_COMPONENT "mesh-producer"
#define PR_VERSION "0.1.0"
#define PR_DRAIN_POLL_MS 10
#define PR_CRON_MS 200

static const char *const pr_strategies[] = {"topic", "record", "topic_record",
                                            NULL};

/* The program's keys: those of the emitter, which every source shares,
 * and the daemon's.  Each source's own keys are in its backend's file. */
static const mw_conf_key_t pr_keys[] = {
    {.name = "topic",
     .type = MW_CONF_STR,
     .doc = "Topic events go to (required with source=file; the http source "
            "takes it from the request path)."},
    {.name = "registry.url",
     .type = MW_CONF_STR,
     .dflt = "http://127.0.0.1:8081",
     .doc = "Schema registry (Confluent-compatible) holding the topics' "
            "schemas."},
    SR_CLIENT_KEY_USER_INFO,
    SR_CLIENT_KEY_CA,
    {.name = "kafka.bootstrap.servers",
     .type = MW_CONF_STR,
     .dflt = "127.0.0.1:9092",
     .doc = "Kafka cluster events are produced to."},
    {.name = "ops.listener",
     .type = MW_CONF_LISTENER,
     .doc = "Optional listener for /healthz and /metrics; port 0 picks one."},
    {.name = "value.subject",
     .type = MW_CONF_STR,
     .doc = "Subject of the value schema (default: from "
            "subject.name.strategy)."},
    {.name = "value.schema.id",
     .type = MW_CONF_INT,
     .min = 1,
     .max = 2147483647,
     .doc = "Registered id of the value schema (overrides value.subject)."},
    {.name = "value.schema.version",
     .type = MW_CONF_STR,
     .dflt = "latest",
     .doc = "Version of value.subject: 'latest' or a number."},
    {.name = "key.subject",
     .type = MW_CONF_STR,
     .doc = "Subject of the key schema; unset: keys are sent as raw bytes "
            "(a string's UTF-8, other JSON as its text)."},
    {.name = "subject.name.strategy",
     .type = MW_CONF_ENUM,
     .dflt = "topic",
     .allowed = pr_strategies,
     .doc = "Subject naming: topic (<topic>-value), record (<record "
            "fullname>) or topic_record (<topic>-<record fullname>)."},
    {.name = "auto.register",
     .type = MW_CONF_BOOL,
     .dflt = "false",
     .doc = "Register schemas given inline; off: they must be registered "
            "already (governance)."},
    PR_EMIT_KEY_HEADERS,
    {.name = "dlq.topic",
     .type = MW_CONF_STR,
     .doc = "Dead-letter topic for input that cannot become an event "
            "(default <topic>.dlq)."},
    {.name = "max.inflight.bytes",
     .type = MW_CONF_INT,
     .dflt = "67108864",
     .min = 1024,
     .max = 68719476736LL,
     .doc = "Bound on bytes produced but not yet acknowledged; past it the "
            "file source pauses and the http source answers 503."},
    {.name = "shutdown.timeout.ms",
     .type = MW_CONF_INT,
     .dflt = "30000",
     .min = 0,
     .max = 3600000,
     .doc = "How long SIGTERM waits for events in flight to be acknowledged "
            "before the rest fail and the daemon exits."},
    MW_RUN_KEY_OPS_MAX_CONNECTIONS,
    MW_RUN_KEY_LOG_LEVEL,
    {.name = "ready.file",
     .type = MW_CONF_STR,
     .doc = "Once started, JSON {\"http\":URL,\"ops\":URL} with the bound "
            "ports is written here atomically (for tests and supervisors)."},
};

static const char *const pr_passthrough[] = {"kafka.", "topic.map.", NULL};

static const mw_conf_choice_t *const pr_choices[] = {&pr_source_choice, NULL};

static const mw_conf_program_t pr_program = {
    .name = "mesh-producer",
    .summary = "Turns an application's events into Avro records on Kafka, "
               "acknowledged only once Kafka has them.",
    .help_extra = "See producers/README.md for headers, metrics and "
                  "guarantees.",
    .passthrough = pr_passthrough,
    .passthrough_doc = "kafka.* keys are passed to librdkafka as they are "
                       "(the producer is idempotent with acks=all by "
                       "default); refusals name the full key.  "
                       "topic.map.<schema.table> = TOPIC (source=pg) sends "
                       "that table's changes to TOPIC instead of "
                       "<topic.prefix>.<schema>.<table>; a table not in "
                       "pg.tables is refused.",
    .choices = pr_choices,
};

typedef struct pr_app {
    mw_run_t *run;
    pr_emit_t *emit;
    pr_source_t *src;
    struct event *cron_ev;
    struct event *drain_ev;
    bool failed;  /* a fatal producer error was reported */
    bool drained; /* pr_drain ran */
} pr_app_t;

/* Phase 2: polled every PR_DRAIN_POLL_MS until drained or deadline. */
static void pr_on_drain(evutil_socket_t fd, short what, void *arg)
{
    pr_app_t *app = arg;

    (void)fd;
    (void)what;
    if (!pr_source_is_drained(app->src) && mw_run_ms_left(app->run) > 0)
        return;
    if (!pr_source_is_drained(app->src))
        mw_log_warn(
            PR_COMPONENT, "drain timed out", "timeout_ms=%lld",
            mw_conf_get_int(mw_run_conf(app->run), "shutdown.timeout.ms"));
    mw_run_break(app->run);
}

/* Phases 1 and the start of 2 (see the module comment). */
static void pr_stop(mw_run_t *run, void *opaque, const char *why)
{
    const struct timeval poll = {0, PR_DRAIN_POLL_MS * 1000};
    pr_app_t *app = opaque;

    (void)why;
    pr_source_stop(app->src);
    app->drain_ev =
        event_new(mw_run_base(run), -1, EV_PERSIST, pr_on_drain, app);
    if (!app->drain_ev || event_add(app->drain_ev, &poll) != 0)
        mw_run_break(run);
}

/* Periodic chores: (1) a fatal producer error (idempotence broken,
 * authorization) stops the daemon with exit 1, also one raised while it
 * drains. */
static void pr_on_cron(evutil_socket_t fd, short what, void *arg)
{
    pr_app_t *app = arg;
    mw_err_t err = {0};

    (void)fd;
    (void)what;
    if (app->failed || pr_emit_check_fatal(app->emit, &err) == 0)
        return;
    app->failed = true;
    mw_run_fail(app->run, &err);
}

/* A source that cannot go on: orderly shutdown, exit 1. */
static void pr_on_source_fail(void *opaque, const mw_err_t *err)
{
    pr_app_t *app = opaque;

    if (app->failed)
        return;
    app->failed = true;
    mw_run_fail(app->run, err);
}

/* /healthz: the source's own health, and Kafka reachable. */
static bool pr_health(void *opaque, char *reason, size_t reason_size)
{
    pr_app_t *app = opaque;

    if (!pr_source_health(app->src, reason, reason_size))
        return false;
    if (pr_emit_is_degraded(app->emit)) {
        snprintf(reason, reason_size,
                 "kafka unreachable: no delivery "
                 "acknowledged recently");
        return false;
    }
    return true;
}

/* ready.file: the source's fields next to the skeleton's "ops". */
static void pr_ready_info(void *opaque, json_t *ready)
{
    pr_app_t *app = opaque;

    pr_source_ready_info(app->src, ready);
}

/* Builds emitter, source and the cron timer; starts the source. */
static int pr_start(mw_run_t *run, void *opaque, mw_err_t *err)
{
    const struct timeval cron = {0, PR_CRON_MS * 1000};
    pr_app_t *app = opaque;
    pr_source_env_t env = {.base = mw_run_base(run),
                           .conf = mw_run_conf(run),
                           .metrics = mw_run_metrics(run),
                           .fail = pr_on_source_fail,
                           .fail_opaque = app};
    const char *topic;

    app->run = run;
    app->emit = pr_emit_new(env.base, env.conf, env.metrics, err);
    if (!app->emit)
        return err->code;
    env.emit = app->emit;
    app->src = pr_source_open(&env, err);
    if (!app->src)
        return err->code;
    app->cron_ev = event_new(env.base, -1, EV_PERSIST, pr_on_cron, app);
    if (!app->cron_ev || event_add(app->cron_ev, &cron) != 0)
        return mw_err_set(err, MW_ERR_NOMEM, "cannot add the cron timer");
    if (pr_source_start(app->src, err) != 0)
        return err->code;
    topic = pr_emit_default_topic(app->emit);
    mw_log_info(PR_COMPONENT, "mesh-producer ready", "source=%s topic=%s",
                pr_source_name(app->src), mw_log_q(topic ? topic : ""));
    return 0;
}

/* Phase 3, after the loop.  The emitter's flush runs every last done
 * callback, so the source's final checkpoint in close sees every
 * outcome. */
static int pr_drain(mw_run_t *run, void *opaque)
{
    pr_app_t *app = opaque;
    mw_err_t err = {0};
    bool stopping = mw_run_is_stopping(run);

    app->drained = true;
    if (!stopping)
        pr_source_stop(app->src);
    pr_emit_flush(app->emit, stopping ? (int)mw_run_ms_left(run) : 0, &err);
    return 0;
}

/* Phase 4; every field may be NULL (a start that failed half-way, when
 * drain did not run: the flush still comes before the source's close).
 * The emitter outlives the source (pr_source.h). */
static void pr_destroy(void *opaque)
{
    pr_app_t *app = opaque;
    mw_err_t err = {0};

    if (!app->drained && app->emit) {
        pr_source_stop(app->src);
        pr_emit_flush(app->emit, 0, &err);
    }
    pr_source_close(app->src);
    pr_emit_destroy(app->emit, 0);
    if (app->drain_ev)
        event_free(app->drain_ev);
    if (app->cron_ev)
        event_free(app->cron_ev);
}

static const mw_run_prog_t pr_prog = {
    .conf = &pr_program,
    .keys = pr_keys,
    .key_cnt = sizeof(pr_keys) / sizeof(*pr_keys),
    .version = PR_VERSION,
    .check = bk_conf_keys_check,
    .start = pr_start,
    .stop = pr_stop,
    .drain = pr_drain,
    .destroy = pr_destroy,
    .health = pr_health,
    .health_name = "producer",
    .ready_info = pr_ready_info,
};

int main(int argc, char **argv)
{
    pr_app_t app = {0};

    return mw_run_main(&pr_prog, &app, argc, argv);
}
