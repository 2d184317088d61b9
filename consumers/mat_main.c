/*
 * mesh-materializer: one daemon per output port.  Consumes a data
 * product's topics and writes them, exactly once, into a SQLite table, a
 * PostgreSQL table or Avro files (consumers/README.md).
 *
 * The daemon skeleton (mw_run) configures (exit 2 naming the key, kafka.*
 * included; the sink key, each sink's own keys and their checks come from
 * mat_sink's registration table, checked at configuration time too),
 * serves /healthz and /metrics and writes ready.file; this file builds the
 * sink, the consuming loop on it and the catalog reporter (mat_report,
 * called from the loop's chores) and starts consuming.
 *
 * Shutdown (first SIGTERM/SIGINT, or a fatal error), in phases bounded by
 * shutdown.timeout.ms: stop polling (leave the loop), commit the batch in
 * progress (rows and offsets in one transaction), leave the group, flush
 * dead letters, then destroy top-down.  Exit 0, or 1 after a fatal error
 * or a failed final commit.  A second signal exits 1 at once.
 *
 * Thread: main thread only; librdkafka calls back through this loop.
 */
#include <stdio.h>
#include <stdlib.h>

#include <jansson.h>

#include "bk_conf.h"
#include "mat_loop.h"
#include "mat_report.h"
#include "mat_sink.h"
#include "mw_conf.h"
#include "mw_err.h"
#include "mw_log.h"
#include "mw_run.h"
#include "sr_client.h"

#define MAT_COMPONENT "mesh-materializer"
#define MAT_VERSION "0.1.0"

static const char *const mat_modes[] = {"upsert", "append", NULL};
static const char *const mat_nested[] = {"flatten", "json", NULL};
static const char *const mat_on_error[] = {"dlq", "stop", NULL};

static const mw_conf_key_t mat_keys[] = {
    {.name = "topics",
     .type = MW_CONF_STR,
     .required = true,
     .doc = "Comma-separated topics to consume; a value starting with '^' "
            "is a regular expression."},
    {.name = "group.id",
     .type = MW_CONF_STR,
     .required = true,
     .doc = "Consumer group; instances sharing it share the partitions."},
    {.name = "mode",
     .type = MW_CONF_ENUM,
     .dflt = "upsert",
     .allowed = mat_modes,
     .doc = "upsert: rows by key (change events upsert and delete); "
            "append: every record is a new row."},
    {.name = "table.name",
     .type = MW_CONF_STR,
     .doc = "Target table (default: the topic with '.' and '-' as '_')."},
    {.name = "reader.schema",
     .type = MW_CONF_STR,
     .doc = "Optional .avsc file: records are resolved from their writer "
            "schema to this one before they are mapped."},
    {.name = "nested",
     .type = MW_CONF_ENUM,
     .dflt = "flatten",
     .allowed = mat_nested,
     .doc = "Nested records as columns a_b (flatten) or one JSON column "
            "(json); arrays and maps are always JSON."},
    {.name = "batch.max.records",
     .type = MW_CONF_INT,
     .dflt = "5000",
     .min = 1,
     .max = 10000000,
     .doc = "Records per sink transaction at most."},
    {.name = "batch.max.ms",
     .type = MW_CONF_INT,
     .dflt = "500",
     .min = 1,
     .max = 3600000,
     .doc = "A batch commits at the latest this long after its first "
            "record."},
    {.name = "batch.linger.ms",
     .type = MW_CONF_INT,
     .dflt = "0",
     .min = 0,
     .max = 3600000,
     .doc = "Once the consumer has no record waiting, a batch at least this "
            "old (from its first record) commits without waiting for "
            "batch.max.ms; 0 commits as soon as the consumer runs dry.  "
            "Larger values make fewer, larger transactions at moderate "
            "rates; at most batch.max.ms."},
    {.name = "dlq.topic",
     .type = MW_CONF_STR,
     .doc = "Dead-letter topic (default <topic>.dlq)."},
    {.name = "on.error",
     .type = MW_CONF_ENUM,
     .dflt = "dlq",
     .allowed = mat_on_error,
     .doc = "A record that cannot be decoded or mapped: dlq (dead-letter it "
            "and go on) or stop (stop its partition; order over progress)."},
    {.name = "registry.url",
     .type = MW_CONF_STR,
     .dflt = "http://127.0.0.1:8081",
     .doc = "Schema registry (Confluent-compatible) holding the writers' "
            "schemas."},
    SR_CLIENT_KEY_USER_INFO,
    SR_CLIENT_KEY_CA,
    {.name = "catalog.product",
     .type = MW_CONF_STR,
     .doc = "Data product whose output port this materializer serves, as "
            "domain/name or domain/name@major: its live facts (offset, rows, "
            "freshness) are reported to the catalog at registry.url.  Unset: "
            "no reports."},
    {.name = "catalog.port",
     .type = MW_CONF_STR,
     .doc = "The output port of catalog.product served here (required with "
            "it)."},
    {.name = "catalog.materializer",
     .type = MW_CONF_STR,
     .doc = "Name reported as the port's materializer (default "
            "<group.id>@<host>/<pid>)."},
    {.name = "catalog.report.interval.ms",
     .type = MW_CONF_INT,
     .dflt = "5000",
     .min = 1000,
     .max = 3600000,
     .doc = "Time between two catalog reports; each is one HTTP call with "
            "a timeout of a quarter of this, at most 1000 ms."},
    {.name = "kafka.bootstrap.servers",
     .type = MW_CONF_STR,
     .dflt = "127.0.0.1:9092",
     .doc = "Kafka cluster to consume from."},
    {.name = "ops.listener",
     .type = MW_CONF_LISTENER,
     .doc = "Optional listener for /healthz and /metrics; port 0 picks one."},
    MW_RUN_KEY_OPS_MAX_CONNECTIONS,
    MW_RUN_KEY_LOG_LEVEL,
    {.name = "ready.file",
     .type = MW_CONF_STR,
     .doc = "Once consuming, JSON {\"ops\":URL} is written here atomically "
            "(for tests and supervisors)."},
    {.name = "shutdown.timeout.ms",
     .type = MW_CONF_INT,
     .dflt = "30000",
     .min = 0,
     .max = 3600000,
     .doc = "How long SIGTERM may take to commit, leave the group and flush "
            "dead letters."},
};

static const char *const mat_passthrough[] = {"kafka.", NULL};
/* The sink key and each backend's keys come from mat_sink's registration
 * table. */
static const mw_conf_choice_t *const mat_choices[] = {&mat_sink_choice, NULL};

static const mw_conf_program_t mat_program = {
    .name = "mesh-materializer",
    .summary = "Consumes a data product's topics and writes its output port "
               "(SQLite, PostgreSQL, Avro files) exactly once.",
    .help_extra = "See consumers/README.md for metrics and guarantees.",
    .passthrough = mat_passthrough,
    .passthrough_doc = "kafka.* keys are passed to librdkafka as they are "
                       "(the consumer and the dead-letter producer); "
                       "refusals name the full key.",
    .choices = mat_choices,
};

typedef struct mat_app {
    mw_run_t *run;
    mat_sink_t *sink;
    mat_loop_t *loop;
    mat_report_t *report; /* NULL: catalog reports off */
} mat_app_t;

/* Configuration-time checks: the kafka.* keys, then the catalog.* keys. */
static int mat_check(const mw_conf_t *conf, mw_err_t *err)
{
    if (bk_conf_keys_check(conf, err) != 0)
        return err->code;
    return mat_report_conf_check(conf, err);
}

/* The loop's chores tick (once a second): the catalog report when due. */
static void mat_on_chore(void *opaque)
{
    mat_app_t *app = opaque;
    mat_loop_facts_t facts;

    if (!mat_report_due(app->report))
        return;
    mat_loop_facts(app->loop, &facts);
    mat_report_send(app->report, &facts);
}

static void mat_on_fatal(void *opaque, const mw_err_t *err)
{
    mat_app_t *app = opaque;

    mw_run_fail(app->run, err);
}

/* /healthz: the sink reachable and no partition stopped. */
static bool mat_health(void *opaque, char *reason, size_t reason_size)
{
    mat_app_t *app = opaque;

    if (!mat_sink_health(app->sink, reason, reason_size))
        return false;
    return mat_loop_health(app->loop, reason, reason_size);
}

static void mat_ready_info(void *opaque, json_t *ready)
{
    mat_app_t *app = opaque;

    json_object_set_new(ready, "sink", json_string(mat_sink_name(app->sink)));
}

static int mat_start(mw_run_t *run, void *opaque, mw_err_t *err)
{
    mat_app_t *app = opaque;
    const mw_conf_t *conf = mw_run_conf(run);

    app->run = run;
    app->sink = mat_sink_open(conf, mw_run_metrics(run), err);
    if (!app->sink)
        return err->code;
    app->loop = mat_loop_new(&(mat_loop_deps_t){.base = mw_run_base(run),
                                                .conf = conf,
                                                .sink = app->sink,
                                                .metrics = mw_run_metrics(run),
                                                .fatal_cb = mat_on_fatal,
                                                .fatal_opaque = app,
                                                .chore_cb = mat_on_chore,
                                                .chore_opaque = app},
                             err);
    if (!app->loop ||
        mat_report_new(conf, mw_run_metrics(run), &app->report, err) != 0 ||
        mat_loop_start(app->loop, err) != 0)
        return err->code;
    mw_log_info(MAT_COMPONENT, "mesh-materializer ready", "sink=%s",
                mat_sink_name(app->sink));
    return 0;
}

/* The loop's callbacks finish first: the commit runs in drain, after the
 * loop. */
static void mat_stop(mw_run_t *run, void *opaque, const char *why)
{
    (void)opaque;
    (void)why;
    mw_run_break(run);
}

/* The graceful part of the stop (see the module comment); 1 when the final
 * commit failed. */
static int mat_drain(mw_run_t *run, void *opaque)
{
    mat_app_t *app = opaque;
    mw_err_t err = {0};

    return mat_loop_stop(app->loop, (int)mw_run_ms_left(run), &err) ? 1 : 0;
}

static void mat_destroy(void *opaque)
{
    mat_app_t *app = opaque;

    mat_loop_destroy(app->loop);
    mat_report_destroy(app->report);
    mat_sink_close(app->sink);
}

static const mw_run_prog_t mat_prog = {
    .conf = &mat_program,
    .keys = mat_keys,
    .key_cnt = sizeof(mat_keys) / sizeof(*mat_keys),
    .version = MAT_VERSION,
    .check = mat_check,
    .start = mat_start,
    .stop = mat_stop,
    .drain = mat_drain,
    .destroy = mat_destroy,
    .health = mat_health,
    .health_name = "materializer",
    .ready_info = mat_ready_info,
};

int main(int argc, char **argv)
{
    mat_app_t app = {0};

    return mw_run_main(&mat_prog, &app, argc, argv);
}
