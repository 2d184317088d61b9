/*
 * mesh-broker: a development Kafka cluster in one process.
 *
 * main parses the configuration (exit 2 on a bad key or value), starts the
 * mock cluster, the control endpoint and the bootstrap proxy on one event
 * loop, writes the state files (bootstrap, brokers, control) into state.dir
 * once everything listens, and runs until SIGTERM/SIGINT.  Shutdown closes
 * the listeners and connections, then the mock cluster, and exits 0; a
 * start-up failure after configuration exits 1.
 *
 * Thread: main thread only (librdkafka runs the mock brokers on its own).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <event2/event.h>

#include "eb_cluster.h"
#include "eb_control.h"
#include "eb_proxy.h"
#include "mw_conf.h"
#include "mw_daemon.h"
#include "mw_err.h"
#include "mw_log.h"
#include "mw_metrics.h"

#define EB_COMPONENT "mesh-broker"
#define EB_VERSION "0.1.0"

static const char *const eb_log_levels[] = {"debug", "info", "warn", "error",
                                            NULL};
_Static_assert(MW_LOG_DEBUG == 0 && MW_LOG_INFO == 1 && MW_LOG_WARN == 2 &&
                   MW_LOG_ERROR == 3, "eb_log_levels follows mw_log_level_t");

static const mw_conf_key_t eb_keys[] = {
    {.name = "brokers", .type = MW_CONF_INT, .dflt = "3", .min = 1,
     .max = EB_CLUSTER_MAX_BROKERS,
     .doc = "Number of mock brokers (ids 1..N) on random loopback ports."},
    {.name = "bootstrap.listener", .type = MW_CONF_LISTENER,
     .dflt = "127.0.0.1:9092",
     .doc = "Stable bootstrap address: Kafka connections are forwarded to an "
            "up mock broker, HTTP requests to the control endpoint."},
    {.name = "control.listener", .type = MW_CONF_LISTENER,
     .dflt = "127.0.0.1:9099",
     .doc = "Control endpoint (HTTP+JSON: topics, faults, /healthz, "
            "/metrics)."},
    {.name = "state.dir", .type = MW_CONF_STR, .dflt = "./.mesh",
     .doc = "Directory (created) for the state files bootstrap, brokers and "
            "control, written once listening."},
    {.name = "default.partitions", .type = MW_CONF_INT, .dflt = "4",
     .min = 1, .max = EB_CLUSTER_MAX_PARTITIONS,
     .doc = "Partitions of a topic created through the control endpoint "
            "without a partition count (topics auto-created by clients "
            "always get the mock's 4)."},
    {.name = "log.level", .type = MW_CONF_ENUM, .dflt = "info",
     .allowed = eb_log_levels, .doc = "Lowest log level written."},
};

static const mw_conf_program_t eb_program = {
    .name = "mesh-broker",
    .summary = "Development Kafka cluster in one process (librdkafka mock "
               "cluster): in memory, NOT durable, NOT for production.",
    .help_extra =
        "mesh-broker is a DEVELOPMENT broker for quick starts, tests and "
        "demos.\n"
        "Everything is kept in memory and is NOT durable: a restart loses "
        "every\ntopic, message and committed offset.  It is NOT for "
        "production.\n\n"
        "Limits of the librdkafka 2.0.2 mock cluster it hosts:\n"
        "  - each partition keeps only the newest ~5 MiB or 100,000 "
        "batches and\n    silently drops older ones: keep partitions small "
        "or consume while\n    producing;\n"
        "  - an empty fetch is answered only after the client's "
        "fetch.wait.max.ms\n    (set it to ~10 ms in tests);\n"
        "  - no CreateTopics or DescribeConfigs: create topics through the "
        "control\n    endpoint (POST /topics), which the admin adapter "
        "uses automatically;\n"
        "  - a consumer-group member that rejoins may wait out the session "
        "timeout.\n\n"
        "State files in state.dir: bootstrap, brokers, control.  See\n"
        "broker-adapters/embedded/README.md for the control endpoint.",
    .passthrough = NULL,
};

typedef struct eb_app {
    struct event_base *base;
    mw_metrics_t *metrics;
    eb_cluster_t *cluster;
    eb_control_t *control;
    eb_proxy_t *proxy;
    mw_daemon_t *daemon;
} eb_app_t;

/* First SIGTERM/SIGINT: stop accepting (listeners and open connections go
 * away with their objects after the loop), then leave the loop. */
static void eb_on_shutdown(void *opaque, int signo) {
    eb_app_t *app = opaque;

    (void)signo;
    eb_proxy_destroy(app->proxy);
    app->proxy = NULL;
    eb_control_destroy(app->control);
    app->control = NULL;
    event_base_loopbreak(app->base);
}

/* mkdir -p: each missing component is created 0755. */
static int eb_mkdirs(const char *dir, mw_err_t *err) {
    char path[4096];
    size_t len = strlen(dir);

    if (len == 0 || len >= sizeof(path))
        return mw_err_set(err, MW_ERR_CONFIG, "state.dir \"%s\" is empty or "
                          "too long", dir);
    memcpy(path, dir, len + 1);
    for (char *p = path + 1; ; p++) {
        if (*p != '/' && *p != '\0')
            continue;
        char saved = *p;
        *p = '\0';
        if (mkdir(path, 0755) != 0 && errno != EEXIST)
            return mw_err_set(err, MW_ERR_IO, "state.dir: cannot create %s: "
                              "%s", path, strerror(errno));
        *p = saved;
        if (!saved)
            return 0;
    }
}

/* Reachable host for a listener: a wildcard bind is reached on loopback. */
static const char *eb_reach_host(const char *host) {
    if (!host[0] || strcmp(host, "0.0.0.0") == 0)
        return "127.0.0.1";
    if (strcmp(host, "::") == 0)
        return "::1";
    return host;
}

static void eb_hostport(char *out, size_t size, const char *host, int port) {
    host = eb_reach_host(host);
    snprintf(out, size, strchr(host, ':') ? "[%s]:%d" : "%s:%d", host, port);
}

/* Writes one state file dir/name holding line + "\n". */
static int eb_state_file(const char *dir, const char *name, const char *line,
                         mw_err_t *err) {
    char path[4200], content[4096];

    snprintf(path, sizeof(path), "%s/%s", dir, name);
    snprintf(content, sizeof(content), "%s\n", line);
    return mw_daemon_write_file(path, content, err);
}

/* Starts cluster, control endpoint and proxy; writes the state files. */
static int eb_app_start(eb_app_t *app, const mw_conf_t *conf, mw_err_t *err) {
    const char *dir = mw_conf_get_str(conf, "state.dir");
    char host[256], control_addr[300], bootstrap[300], url[320];
    int port;

    if (eb_mkdirs(dir, err) != 0)
        return err->code;
    app->cluster = eb_cluster_new((int)mw_conf_get_int(conf, "brokers"), err);
    if (!app->cluster)
        return err->code;
    app->control = eb_control_new(&(eb_control_conf_t){
        .base = app->base,
        .listener = mw_conf_get_str(conf, "control.listener"),
        .cluster = app->cluster, .metrics = app->metrics,
        .default_partitions = (int)mw_conf_get_int(conf, "default.partitions"),
    }, err);
    if (!app->control ||
        mw_conf_parse_listener(mw_conf_get_str(conf, "control.listener"), host,
                               sizeof(host), &port, err) != 0)
        return err->code;
    eb_hostport(control_addr, sizeof(control_addr), host,
                eb_control_port(app->control));
    app->proxy = eb_proxy_new(&(eb_proxy_conf_t){
        .base = app->base,
        .listener = mw_conf_get_str(conf, "bootstrap.listener"),
        .cluster = app->cluster, .control_addr = control_addr,
        .metrics = app->metrics,
    }, err);
    if (!app->proxy ||
        mw_conf_parse_listener(mw_conf_get_str(conf, "bootstrap.listener"),
                               host, sizeof(host), &port, err) != 0)
        return err->code;
    eb_hostport(bootstrap, sizeof(bootstrap), host, eb_proxy_port(app->proxy));
    snprintf(url, sizeof(url), "http://%s", control_addr);
    if (eb_state_file(dir, "brokers", eb_cluster_bootstraps(app->cluster),
                      err) != 0 ||
        eb_state_file(dir, "control", url, err) != 0 ||
        eb_state_file(dir, "bootstrap", bootstrap, err) != 0)
        return mw_err_prefix(err, "state.dir");
    mw_log_info(EB_COMPONENT, "mesh-broker ready",
                "bootstrap=%s control=%s brokers=%d state_dir=%s", bootstrap,
                url, eb_cluster_broker_cnt(app->cluster), mw_log_q(dir));
    return 0;
}

/* Destroys in reverse order of creation; every field may be NULL. */
static void eb_app_stop(eb_app_t *app) {
    mw_daemon_destroy(app->daemon);
    eb_proxy_destroy(app->proxy);
    eb_control_destroy(app->control);
    eb_cluster_destroy(app->cluster);
    mw_metrics_destroy(app->metrics);
    if (app->base)
        event_base_free(app->base);
}

/* 0, or 2 with the message printed (bad configuration); *run false when
 * --help or --version was answered. */
static int eb_configure(mw_conf_t **confp, int argc, char **argv, bool *run) {
    mw_conf_action_t action = MW_CONF_RUN;
    mw_err_t err = {0};
    mw_conf_t *conf = mw_conf_new(&eb_program, eb_keys,
                                  sizeof(eb_keys) / sizeof(*eb_keys), &err);

    *confp = conf;
    if (!conf || mw_conf_from_cli(conf, argc, argv, environ, EB_VERSION,
                                  stdout, &action, NULL, &err) != 0) {
        fprintf(stderr, "mesh-broker: %s\n", err.msg);
        return 2;
    }
    *run = action == MW_CONF_RUN;
    /* eb_log_levels lists the levels in mw_log_level_t order. */
    if (*run)
        mw_log_set_level((mw_log_level_t)mw_conf_get_enum(conf, "log.level"));
    return 0;
}

int main(int argc, char **argv) {
    eb_app_t app = {0};
    mw_conf_t *conf = NULL;
    mw_err_t err = {0};
    bool run = false;
    int rc = eb_configure(&conf, argc, argv, &run);

    if (rc != 0 || !run)
        goto out;
    mw_conf_log_effective(conf, EB_COMPONENT);
    rc = 1;
    if (!(app.base = event_base_new()) || !(app.metrics = mw_metrics_new())) {
        mw_log_error(EB_COMPONENT, "start-up failed", "error=%s",
                     mw_log_q("out of memory"));
        goto out;
    }
    app.daemon = mw_daemon_new(app.base, EB_COMPONENT, eb_on_shutdown, &app,
                               &err);
    if (!app.daemon || eb_app_start(&app, conf, &err) != 0) {
        mw_log_error(EB_COMPONENT, "start-up failed", "error=%s",
                     mw_log_q(err.msg));
        goto out;
    }
    rc = event_base_dispatch(app.base) < 0 ? 1 : 0;
    mw_log_info(EB_COMPONENT, "mesh-broker stopped", "exit=%d", rc);
out:
    eb_app_stop(&app);
    mw_conf_destroy(conf);
    return rc;
}
