/*
 * mesh-materializer: one daemon per output port.  Consumes a data
 * product's topics and writes them, exactly once, into a SQLite table, a
 * PostgreSQL table or Avro files (consumers/README.md).
 *
 * main parses the configuration (exit 2 naming the key, kafka.* included;
 * a backend's own keys are checked by its open(), also exit 2), builds
 * bottom-up — loop base, metrics, sink, mat_loop, ops endpoint — starts
 * consuming, writes ready.file and runs the loop.
 *
 * Shutdown (first SIGTERM/SIGINT, or a fatal error), in phases bounded by
 * shutdown.timeout.ms: stop polling, commit the batch in progress (rows
 * and offsets in one transaction), leave the group, flush dead letters,
 * then destroy top-down.  Exit 0, or 1 after a fatal error or a failed
 * final commit.  A second signal exits 1 at once (mw_daemon).
 *
 * Thread: main thread only; librdkafka calls back through this loop.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>
#include <jansson.h>

#include "bk_conf.h"
#include "mat_loop.h"
#include "mat_sink.h"
#include "mw_conf.h"
#include "mw_daemon.h"
#include "mw_err.h"
#include "mw_log.h"
#include "mw_metrics.h"
#include "mw_ops.h"

#define MAT_COMPONENT "mesh-materializer"
#define MAT_VERSION "0.1.0"

static const char *const mat_log_levels[] = {"debug", "info", "warn",
                                             "error", NULL};
_Static_assert(MW_LOG_DEBUG == 0 && MW_LOG_INFO == 1 && MW_LOG_WARN == 2 &&
                   MW_LOG_ERROR == 3,
               "mat_log_levels follows mw_log_level_t");
static const char *const mat_sinks[] = {"sqlite", "postgres", "avro", NULL};
static const char *const mat_modes[] = {"upsert", "append", NULL};
static const char *const mat_nested[] = {"flatten", "json", NULL};
static const char *const mat_on_error[] = {"dlq", "stop", NULL};

static const mw_conf_key_t mat_keys[] = {
    {.name = "sink", .type = MW_CONF_ENUM, .allowed = mat_sinks,
     .required = true,
     .doc = "Output port: sqlite (a table per topic), postgres (a table per "
            "topic in postgres.schema) or avro (Hive-style files)."},
    {.name = "topics", .type = MW_CONF_STR, .required = true,
     .doc = "Comma-separated topics to consume; a value starting with '^' "
            "is a regular expression."},
    {.name = "group.id", .type = MW_CONF_STR, .required = true,
     .doc = "Consumer group; instances sharing it share the partitions."},
    {.name = "mode", .type = MW_CONF_ENUM, .dflt = "upsert",
     .allowed = mat_modes,
     .doc = "upsert: rows by key (change events upsert and delete); "
            "append: every record is a new row."},
    {.name = "table.name", .type = MW_CONF_STR,
     .doc = "Target table (default: the topic with '.' and '-' as '_')."},
    {.name = "reader.schema", .type = MW_CONF_STR,
     .doc = "Optional .avsc file: records are resolved from their writer "
            "schema to this one before they are mapped."},
    {.name = "nested", .type = MW_CONF_ENUM, .dflt = "flatten",
     .allowed = mat_nested,
     .doc = "Nested records as columns a_b (flatten) or one JSON column "
            "(json); arrays and maps are always JSON."},
    {.name = "sqlite.path", .type = MW_CONF_STR,
     .doc = "sink=sqlite: the database file (created when missing)."},
    {.name = "postgres.conninfo", .type = MW_CONF_STR, .secret = true,
     .doc = "sink=postgres: libpq connection string."},
    {.name = "postgres.schema", .type = MW_CONF_STR, .dflt = "public",
     .doc = "sink=postgres: schema the tables are created in."},
    {.name = "avro.dir", .type = MW_CONF_STR,
     .doc = "sink=avro: root of the <topic>/dt=YYYY-MM-DD/ layout."},
    {.name = "avro.roll.records", .type = MW_CONF_INT, .dflt = "100000",
     .min = 1, .max = 1000000000,
     .doc = "sink=avro: a file is closed after this many records."},
    {.name = "avro.roll.ms", .type = MW_CONF_INT, .dflt = "60000", .min = 1,
     .max = 86400000,
     .doc = "sink=avro: a file is closed and renamed once it has been open "
            "this long, at the next commit or, when idle, at the next tick "
            "(every batch.max.ms)."},
    {.name = "batch.max.records", .type = MW_CONF_INT, .dflt = "5000",
     .min = 1, .max = 10000000,
     .doc = "Records per sink transaction at most."},
    {.name = "batch.max.ms", .type = MW_CONF_INT, .dflt = "500", .min = 1,
     .max = 3600000,
     .doc = "A batch commits at the latest this long after its first "
            "record."},
    {.name = "dlq.topic", .type = MW_CONF_STR,
     .doc = "Dead-letter topic (default <topic>.dlq)."},
    {.name = "on.error", .type = MW_CONF_ENUM, .dflt = "dlq",
     .allowed = mat_on_error,
     .doc = "A record that cannot be decoded or mapped: dlq (dead-letter it "
            "and go on) or stop (stop its partition; order over progress)."},
    {.name = "registry.url", .type = MW_CONF_STR,
     .dflt = "http://127.0.0.1:8081",
     .doc = "Schema registry (Confluent-compatible) holding the writers' "
            "schemas."},
    {.name = "kafka.bootstrap.servers", .type = MW_CONF_STR,
     .dflt = "127.0.0.1:9092", .doc = "Kafka cluster to consume from."},
    {.name = "ops.listener", .type = MW_CONF_LISTENER,
     .doc = "Optional listener for /healthz and /metrics; port 0 picks one."},
    {.name = "log.level", .type = MW_CONF_ENUM, .dflt = "info",
     .allowed = mat_log_levels, .doc = "Lowest log level written."},
    {.name = "ready.file", .type = MW_CONF_STR,
     .doc = "Once consuming, JSON {\"ops\":URL} is written here atomically "
            "(for tests and supervisors)."},
    {.name = "shutdown.timeout.ms", .type = MW_CONF_INT, .dflt = "30000",
     .min = 0, .max = 3600000,
     .doc = "How long SIGTERM may take to commit, leave the group and flush "
            "dead letters."},
};

static const char *const mat_passthrough[] = {"kafka.", NULL};

static const mw_conf_program_t mat_program = {
    .name = "mesh-materializer",
    .summary = "Consumes a data product's topics and writes its output port "
               "(SQLite, PostgreSQL, Avro files) exactly once.",
    .help_extra = "See consumers/README.md for metrics and guarantees.",
    .passthrough = mat_passthrough,
    .passthrough_doc = "kafka.* keys are passed to librdkafka as they are "
                       "(the consumer and the dead-letter producer); "
                       "refusals name the full key.",
};

typedef struct mat_app {
    struct event_base *base;
    mw_metrics_t *metrics;
    mw_daemon_t *daemon;
    mat_sink_t *sink;
    mat_loop_t *loop;
    mw_ops_t *ops;
    int shutdown_ms;
    bool stopping;
    int exit_code;
} mat_app_t;

static void mat_begin_shutdown(mat_app_t *app, const char *why)
{
    if (app->stopping)
        return;
    app->stopping = true;
    mw_log_info(MAT_COMPONENT, "shutting down", "reason=%s", why);
    /* The loop's callbacks finish first; the commit runs in main after. */
    event_base_loopbreak(app->base);
}

static void mat_on_signal(void *opaque, int signo)
{
    mat_begin_shutdown(opaque, signo == SIGINT ? "SIGINT" : "SIGTERM");
}

static void mat_on_fatal(void *opaque, const mw_err_t *err)
{
    mat_app_t *app = opaque;
    mw_log_error(MAT_COMPONENT, "fatal error", "error=%s",
                 mw_log_q(err->msg));
    app->exit_code = 1;
    mat_begin_shutdown(app, "fatal");
}

/* /healthz: the sink reachable and no partition stopped. */
static bool mat_health(void *opaque, char *reason, size_t reason_size)
{
    mat_app_t *app = opaque;
    if (!mat_sink_health(app->sink, reason, reason_size))
        return false;
    return mat_loop_health(app->loop, reason, reason_size);
}

static int mat_write_ready(mat_app_t *app, const mw_conf_t *conf,
                           mw_err_t *err)
{
    const char *path = mw_conf_get_str(conf, "ready.file");
    char host[256], url[320];
    int rc = 0;
    if (!path || !*path)
        return 0;
    json_t *ready = json_object();
    if (!ready)
        return mw_err_set(err, MW_ERR_NOMEM, "out of memory");
    if (app->ops && mw_conf_parse_listener(mw_conf_get_str(conf,
                                           "ops.listener"), host,
                                           sizeof host, NULL, err) == 0) {
        if (!host[0] || !strcmp(host, "0.0.0.0"))
            snprintf(host, sizeof host, "127.0.0.1");
        snprintf(url, sizeof url, strchr(host, ':') ? "http://[%s]:%d"
                                                    : "http://%s:%d",
                 host, mw_ops_port(app->ops));
        json_object_set_new(ready, "ops", json_string(url));
    }
    json_object_set_new(ready, "sink", json_string(mat_sink_name(app->sink)));
    char *text = json_dumps(ready, JSON_COMPACT | JSON_SORT_KEYS);
    rc = text ? mw_daemon_write_file(path, text, err)
              : mw_err_set(err, MW_ERR_NOMEM, "out of memory");
    if (rc != 0)
        mw_err_prefix(err, "key 'ready.file'");
    free(text);
    json_decref(ready);
    return rc;
}

static int mat_app_start(mat_app_t *app, const mw_conf_t *conf,
                         mw_err_t *err)
{
    app->shutdown_ms = (int)mw_conf_get_int(conf, "shutdown.timeout.ms");
    app->sink = mat_sink_open(conf, app->metrics, err);
    if (!app->sink)
        return err->code;
    app->loop = mat_loop_new(app->base, conf, app->sink, app->metrics,
                             mat_on_fatal, app, err);
    if (!app->loop)
        return err->code;
    if (mw_conf_is_set(conf, "ops.listener")) {
        app->ops = mw_ops_new(app->base, mw_conf_get_str(conf,
                              "ops.listener"), app->metrics, err);
        if (!app->ops)
            return err->code;
        if (mw_ops_add_health(app->ops, "materializer", mat_health,
                              app) != 0)
            return mw_err_set(err, MW_ERR_NOMEM, "out of memory");
    }
    if (mat_loop_start(app->loop, err) != 0 ||
        mat_write_ready(app, conf, err) != 0)
        return err->code;
    mw_log_info(MAT_COMPONENT, "mesh-materializer ready", "sink=%s",
                mat_sink_name(app->sink));
    return 0;
}

/* Graceful part of the stop (see the module comment); 1 when the final
 * commit failed. */
static int mat_app_drain(mat_app_t *app)
{
    mw_err_t err = {0};
    if (!app->loop)
        return 0;
    if (mat_loop_stop(app->loop, app->shutdown_ms, &err) != 0)
        return 1;
    return 0;
}

static void mat_app_destroy(mat_app_t *app)
{
    mw_ops_destroy(app->ops);
    mat_loop_destroy(app->loop);
    mat_sink_close(app->sink);
    mw_daemon_destroy(app->daemon);
    mw_metrics_destroy(app->metrics);
    if (app->base)
        event_base_free(app->base);
    *app = (mat_app_t){0};
}

/* 0, or 2 with the message printed; *run false after --help/--version. */
static int mat_configure(mw_conf_t **confp, int argc, char **argv, bool *run)
{
    mw_conf_action_t action = MW_CONF_RUN;
    mw_err_t err = {0};
    mw_conf_t *conf = mw_conf_new(&mat_program, mat_keys,
                                  sizeof mat_keys / sizeof *mat_keys, &err);
    *confp = conf;
    if (!conf || mw_conf_from_cli(conf, argc, argv, environ, MAT_VERSION,
                                  stdout, &action, NULL, &err) != 0) {
        fprintf(stderr, "mesh-materializer: %s\n", err.msg);
        return 2;
    }
    *run = action == MW_CONF_RUN;
    if (*run && bk_conf_keys_check(conf, &err) != 0) {
        fprintf(stderr, "mesh-materializer: %s\n", err.msg);
        return 2;
    }
    if (*run)
        mw_log_set_level((mw_log_level_t)mw_conf_get_enum(conf, "log.level"));
    return 0;
}

int main(int argc, char **argv)
{
    mat_app_t app = {0};
    mw_conf_t *conf = NULL;
    mw_err_t err = {0};
    bool run = false;
    int rc = mat_configure(&conf, argc, argv, &run);
    if (rc != 0 || !run)
        goto out;
    signal(SIGPIPE, SIG_IGN);
    mw_conf_log_effective(conf, MAT_COMPONENT);
    rc = 1;
    if (!(app.base = event_base_new()) || !(app.metrics = mw_metrics_new())) {
        mw_log_error(MAT_COMPONENT, "start-up failed", "error=%s",
                     mw_log_q("out of memory"));
        goto out;
    }
    app.daemon = mw_daemon_new(app.base, MAT_COMPONENT, mat_on_signal, &app,
                               &err);
    if (!app.daemon || mat_app_start(&app, conf, &err) != 0) {
        /* A backend's key found wrong while opening is still exit 2. */
        if (err.code == MW_ERR_CONFIG) {
            fprintf(stderr, "mesh-materializer: %s\n", err.msg);
            rc = 2;
        } else {
            mw_log_error(MAT_COMPONENT, "start-up failed", "error=%s",
                         mw_log_q(err.msg));
        }
        goto out;
    }
    rc = event_base_dispatch(app.base) < 0 ? 1 : 0;
    if (mat_app_drain(&app) != 0 || app.exit_code != 0)
        rc = 1;
    mw_log_info(MAT_COMPONENT, "mesh-materializer stopped", "exit=%d", rc);
out:
    mat_app_destroy(&app);
    mw_conf_destroy(conf);
    return rc;
}
