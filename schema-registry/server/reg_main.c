/*
 * mesh-registry: a Confluent-compatible schema registry for Avro.
 *
 * main parses the configuration (exit 2 on a bad key or value), opens the
 * store (which replays the whole log into the state before returning), and
 * only then listens, so the first request already sees every acknowledged
 * registration.  Once listening it writes its base URL to <data.dir>/url
 * (atomically: tests and tools poll for it) and logs "mesh-registry ready".
 * SIGTERM/SIGINT: stop accepting, close the store (in-flight appends finish
 * and their requests are answered), close the connections, exit 0.  A
 * start-up failure after configuration exits 1.
 *
 * Thread: main thread only (the stores' own threads never call back here
 * except through the loop).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <event2/event.h>

#include "mw_conf.h"
#include "mw_daemon.h"
#include "mw_err.h"
#include "mw_log.h"
#include "mw_metrics.h"
#include "mw_ops.h"
#include "reg_api.h"
#include "reg_state.h"
#include "reg_store.h"

#define REG_COMPONENT "mesh-registry"
#define REG_VERSION "0.1.0"
#define REG_STORE_CLOSE_MS 10000

static const char *const reg_log_levels[] = {"debug", "info", "warn", "error",
                                            NULL};
_Static_assert(MW_LOG_DEBUG == 0 && MW_LOG_INFO == 1 && MW_LOG_WARN == 2 &&
                   MW_LOG_ERROR == 3,
               "reg_log_levels follows mw_log_level_t");

static const char *const reg_storages[] = {"journal", "kafka", NULL};

static const mw_conf_key_t reg_keys[] = {
    {.name = "listeners", .type = MW_CONF_LISTENER,
     .dflt = "http://127.0.0.1:8081",
     .doc = "REST listener (Confluent Schema Registry API, plus /healthz and "
            "/metrics); port 0 picks a free port."},
    {.name = "storage", .type = MW_CONF_ENUM, .dflt = "journal",
     .allowed = reg_storages,
     .doc = "Where the registry's log lives: journal (fsynced file under "
            "data.dir) or kafka (the compacted kafkastore.topic, shared by "
            "several instances)."},
    {.name = "data.dir", .type = MW_CONF_STR, .dflt = "./.mesh/registry",
     .doc = "Directory (created) for the journal and the url file written "
            "once listening."},
    {.name = "kafka.bootstrap.servers", .type = MW_CONF_STR,
     .dflt = "127.0.0.1:9092",
     .doc = "Kafka cluster of storage=kafka."},
    {.name = "kafkastore.topic", .type = MW_CONF_STR, .dflt = "_schemas",
     .doc = "Topic of storage=kafka (created compacted with one partition "
            "when missing)."},
    {.name = "kafkastore.init.timeout.ms", .type = MW_CONF_INT,
     .dflt = "60000", .min = 1, .max = 3600000,
     .doc = "storage=kafka: how long start-up may take to read the topic to "
            "its end."},
    {.name = "kafkastore.timeout.ms", .type = MW_CONF_INT, .dflt = "30000",
     .min = 1, .max = 3600000,
     .doc = "storage=kafka: how long a write may take to be read back "
            "before the request fails with 50002."},
    {.name = "request.max.bytes", .type = MW_CONF_INT, .dflt = "16777216",
     .min = 1024, .max = 1073741824,
     .doc = "Largest request body; larger ones are refused with 413."},
    {.name = "schema.max.bytes", .type = MW_CONF_INT, .dflt = "1048576",
     .min = 64, .max = 1073741824,
     .doc = "Largest schema text; larger ones are refused with 42209."},
    {.name = "request.max.header.bytes", .type = MW_CONF_INT,
     .dflt = "65536", .min = 1024, .max = 16777216,
     .doc = "Largest request line plus headers."},
    {.name = "request.timeout.ms", .type = MW_CONF_INT, .dflt = "30000",
     .min = 100, .max = 3600000,
     .doc = "A connection idle (or a client this slow to send a request) "
            "for this long is closed."},
    {.name = "ops.listener", .type = MW_CONF_LISTENER, .dflt = NULL,
     .doc = "Optional separate listener for /healthz and /metrics (both are "
            "also served on the REST port)."},
    {.name = "log.level", .type = MW_CONF_ENUM, .dflt = "info",
     .allowed = reg_log_levels, .doc = "Lowest log level written."},
};

static const char *const reg_passthrough[] = {"kafka.", NULL};

static const mw_conf_program_t reg_program = {
    .name = "mesh-registry",
    .summary = "Confluent-compatible schema registry (Avro): REST API, "
               "compatibility checks, journal or Kafka storage.",
    .help_extra = "See schema-registry/server/README.md for the endpoints, "
                  "error codes and metrics.",
    .passthrough = reg_passthrough,
    .passthrough_doc = "kafka.* keys (storage=kafka) are passed to "
                       "librdkafka as they are, for the store's producer "
                       "and consumer; refusals name the full key.",
};

typedef struct reg_app {
    struct event_base *base;
    mw_metrics_t *metrics;
    reg_state_t *state;
    reg_store_t *store;
    reg_api_t *api;
    mw_ops_t *ops;
    mw_daemon_t *daemon;
} reg_app_t;

/* First SIGTERM/SIGINT: stop accepting, then let in-flight writes finish
 * (closing the store calls their done callbacks, which answer), then
 * leave the loop; connections close with the API after it. */
static void reg_on_shutdown(void *opaque, int signo)
{
    reg_app_t *app = opaque;

    (void)signo;
    mw_log_info(REG_COMPONENT, "shutting down", "");
    reg_api_stop_accepting(app->api);
    reg_store_close(app->store, REG_STORE_CLOSE_MS);
    app->store = NULL;
    event_base_loopbreak(app->base);
}

/* mkdir -p, each missing component 0755. */
static int reg_mkdirs(const char *dir, mw_err_t *err)
{
    char path[4096];
    size_t len = strlen(dir);

    if (!len || len >= sizeof(path))
        return mw_err_set(err, MW_ERR_CONFIG, "key 'data.dir': '%s' is "
                          "empty or too long", dir);
    memcpy(path, dir, len + 1);
    for (char *p = path + 1;; p++) {
        char saved = *p;

        if (saved != '/' && saved != '\0')
            continue;
        *p = '\0';
        if (mkdir(path, 0755) != 0 && errno != EEXIST)
            return mw_err_set(err, MW_ERR_IO, "key 'data.dir': cannot "
                              "create %s: %s", path, strerror(errno));
        *p = saved;
        if (!saved)
            return 0;
    }
}

static int reg_open_api(reg_app_t *app, const mw_conf_t *conf, mw_err_t *err)
{
    const reg_api_conf_t ac = {
        .base = app->base,
        .listener = mw_conf_get_str(conf, "listeners"),
        .state = app->state,
        .store = app->store,
        .metrics = app->metrics,
        .request_max_bytes =
            (size_t)mw_conf_get_int(conf, "request.max.bytes"),
        .schema_max_bytes = (size_t)mw_conf_get_int(conf, "schema.max.bytes"),
        .header_max_bytes =
            (size_t)mw_conf_get_int(conf, "request.max.header.bytes"),
        .timeout_ms = (int)mw_conf_get_int(conf, "request.timeout.ms"),
    };

    app->api = reg_api_new(&ac, err);
    if (!app->api)
        return err->code;
    if (mw_conf_is_set(conf, "ops.listener")) {
        app->ops = mw_ops_new(app->base, mw_conf_get_str(conf, "ops.listener"),
                              app->metrics, err);
        if (!app->ops)
            return err->code;
    }
    return 0;
}

/* Opens the store (replaying the log), listens, writes the url file. */
static int reg_app_start(reg_app_t *app, const mw_conf_t *conf, mw_err_t *err)
{
    const char *dir = mw_conf_get_str(conf, "data.dir");
    char host[256], url[400], path[4200];
    int port = 0;

    if (reg_mkdirs(dir, err) != 0)
        return err->code;
    app->state = reg_state_new(app->metrics);
    if (!app->state)
        return mw_err_set(err, MW_ERR_NOMEM, "out of memory for the state");
    app->store = reg_store_open(app->base, conf, app->metrics, reg_state_apply,
                               app->state, err);
    if (!app->store || reg_open_api(app, conf, err) != 0)
        return err->code;
    if (mw_conf_parse_listener(mw_conf_get_str(conf, "listeners"), host,
                               sizeof(host), &port, err) != 0)
        return err->code;
    /* A wildcard bind is reached on loopback. */
    if (!host[0] || !strcmp(host, "0.0.0.0"))
        snprintf(host, sizeof(host), "127.0.0.1");
    snprintf(url, sizeof(url), strchr(host, ':') ? "http://[%s]:%d"
                                                 : "http://%s:%d",
             host, reg_api_port(app->api));
    snprintf(path, sizeof(path), "%s/url", dir);
    if (mw_daemon_write_file(path, url, err) != 0)
        return mw_err_prefix(err, "data.dir");
    mw_log_info(REG_COMPONENT, "mesh-registry ready",
                "url=%s storage=%s schemas=%zu subjects=%zu", url,
                reg_store_backend_name(app->store),
                reg_state_schema_cnt(app->state),
                reg_state_live_subject_cnt(app->state));
    return 0;
}

/* Destroys in reverse order of creation; every field may be NULL.  The
 * store closes before the API so that pending requests get answered. */
static void reg_app_stop(reg_app_t *app)
{
    mw_daemon_destroy(app->daemon);
    mw_ops_destroy(app->ops);
    reg_store_close(app->store, REG_STORE_CLOSE_MS);
    reg_api_destroy(app->api);
    reg_state_destroy(app->state);
    mw_metrics_destroy(app->metrics);
    if (app->base)
        event_base_free(app->base);
}

/* 0, or 2 with the message printed; *run false after --help/--version. */
static int reg_configure(mw_conf_t **confp, int argc, char **argv, bool *run)
{
    mw_conf_action_t action = MW_CONF_RUN;
    mw_err_t err = {0};
    mw_conf_t *conf = mw_conf_new(&reg_program, reg_keys,
                                  sizeof(reg_keys) / sizeof(*reg_keys), &err);

    *confp = conf;
    if (!conf || mw_conf_from_cli(conf, &(mw_conf_cli_t){.argc = argc, .argv = argv, .envp = environ, .version = REG_VERSION, .out = stdout}, &action, &err) != 0) {
        fprintf(stderr, "mesh-registry: %s\n", err.msg);
        return 2;
    }
    *run = action == MW_CONF_RUN;
    if (*run)
        mw_log_set_level((mw_log_level_t)mw_conf_get_enum(conf, "log.level"));
    return 0;
}

int main(int argc, char **argv)
{
    reg_app_t app = {0};
    mw_conf_t *conf = NULL;
    mw_err_t err = {0};
    bool run = false;
    int rc = reg_configure(&conf, argc, argv, &run);

    if (rc != 0 || !run)
        goto out;
    mw_conf_log_effective(conf, REG_COMPONENT);
    rc = 1;
    if (!(app.base = event_base_new()) || !(app.metrics = mw_metrics_new())) {
        mw_log_error(REG_COMPONENT, "start-up failed", "error=%s",
                     mw_log_q("out of memory"));
        goto out;
    }
    app.daemon = mw_daemon_new(app.base, REG_COMPONENT, reg_on_shutdown, &app,
                               &err);
    if (!app.daemon || reg_app_start(&app, conf, &err) != 0) {
        mw_log_error(REG_COMPONENT, "start-up failed", "error=%s",
                     mw_log_q(err.msg));
        goto out;
    }
    rc = event_base_dispatch(app.base) < 0 ? 1 : 0;
    mw_log_info(REG_COMPONENT, "mesh-registry stopped", "exit=%d", rc);
out:
    reg_app_stop(&app);
    mw_conf_destroy(conf);
    return rc;
}
