/*
 * mesh-broker: a development Kafka cluster in one process.
 *
 * The daemon skeleton (mw_run) configures (exit 2 on a bad key or value),
 * builds the event loop and the signal events; this file starts the mock
 * cluster, the control endpoint and the bootstrap proxy on that loop and
 * writes the state files (bootstrap, brokers, control) into state.dir once
 * everything listens.  The first SIGTERM/SIGINT closes the listeners and
 * connections; after the loop the mock cluster goes, and the exit is 0.  A
 * start-up failure after configuration (state.dir that cannot be made, a
 * port in use) exits 1.
 *
 * Thread: main thread only (librdkafka runs the mock brokers on its own).
 */
#include <stdio.h>
#include <string.h>

#include "eb_cluster.h"
#include "eb_control.h"
#include "eb_proxy.h"
#include "eb_retention.h"
#include "mw_conf.h"
#include "mw_daemon.h"
#include "mw_err.h"
#include "mw_log.h"
#include "mw_run.h"

#define EB_COMPONENT "mesh-broker"
#define EB_VERSION "0.1.0"
/* Between two retention scans: each costs a Metadata request and two
 * ListOffsets per partition to the in-process mock, well under a
 * millisecond for a development cluster's few dozen partitions. */
#define EB_RETENTION_INTERVAL_MS 1000

static const mw_conf_key_t eb_keys[] = {
    {.name = "brokers",
     .type = MW_CONF_INT,
     .dflt = "3",
     .min = 1,
     .max = EB_CLUSTER_MAX_BROKERS,
     .doc = "Number of mock brokers (ids 1..N) on random loopback ports."},
    {.name = "bootstrap.listener",
     .type = MW_CONF_LISTENER,
     .dflt = "127.0.0.1:9092",
     .doc = "Stable bootstrap address: Kafka connections are forwarded to an "
            "up mock broker, HTTP requests to the control endpoint."},
    {.name = "control.listener",
     .type = MW_CONF_LISTENER,
     .dflt = "127.0.0.1:9099",
     .doc = "Control endpoint (HTTP+JSON: topics, faults, /healthz, "
            "/metrics)."},
    {.name = "state.dir",
     .type = MW_CONF_STR,
     .dflt = "./.mesh",
     .doc = "Directory (created) for the state files bootstrap, brokers and "
            "control, written once listening."},
    {.name = "default.partitions",
     .type = MW_CONF_INT,
     .dflt = "4",
     .min = 1,
     .max = EB_CLUSTER_MAX_PARTITIONS,
     .doc = "Partitions of a topic created through the control endpoint "
            "without a partition count (topics auto-created by clients "
            "always get the mock's 4)."},
    MW_RUN_KEY_LOG_LEVEL,
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
        "  - each partition keeps only the newest 5 MiB or 100,000 "
        "batches and\n    drops older ones; mesh-broker warns (\"records "
        "dropped by retention\")\n    and counts them in "
        "mesh_broker_retention_dropped_records_total:\n    spread a topic "
        "over more partitions or consume while producing;\n"
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
    eb_cluster_t *cluster;
    eb_control_t *control;
    eb_proxy_t *proxy;
    eb_retention_t *retention;
} eb_app_t;

/* First SIGTERM/SIGINT: stop accepting (listeners and open connections go
 * away with their objects), then leave the loop; the cluster goes in
 * destroy. */
static void eb_stop(mw_run_t *run, void *opaque, const char *why)
{
    eb_app_t *app = opaque;

    (void)why;
    eb_proxy_destroy(app->proxy);
    app->proxy = NULL;
    eb_control_destroy(app->control);
    app->control = NULL;
    mw_run_break(run);
}

/* The address a client on this machine reaches listener at (actual) port,
 * as host:port (a wildcard bind is reached on loopback). */
static int eb_reach_addr(const char *listener, int port, char *out, size_t size,
                         mw_err_t *err)
{
    static const char scheme[] = "http://";
    char url[300];

    if (mw_conf_listener_url(listener, port, url, sizeof(url), err) != 0)
        return MW_ERR_INVALID;
    snprintf(out, size, "%s", url + strlen(scheme));
    return 0;
}

/* Writes one state file dir/name holding line + "\n". */
static int eb_state_file(const char *dir, const char *name, const char *line,
                         mw_err_t *err)
{
    char path[4200], content[4096];

    snprintf(path, sizeof(path), "%s/%s", dir, name);
    snprintf(content, sizeof(content), "%s\n", line);
    return mw_daemon_write_file(path, content, err);
}

/* Starts cluster, control endpoint and proxy; writes the state files. */
static int eb_start(mw_run_t *run, void *opaque, mw_err_t *err)
{
    eb_app_t *app = opaque;
    const mw_conf_t *conf = mw_run_conf(run);
    const char *dir = mw_conf_get_str(conf, "state.dir");
    const char *control_l = mw_conf_get_str(conf, "control.listener");
    const char *bootstrap_l = mw_conf_get_str(conf, "bootstrap.listener");
    char control_addr[300], bootstrap[300], url[320];

    if (mw_daemon_mkdirs(dir, err) != 0)
        return mw_err_prefix(err, "state.dir");
    app->cluster = eb_cluster_new((int)mw_conf_get_int(conf, "brokers"), err);
    if (!app->cluster)
        return err->code;
    app->retention = eb_retention_new(
        &(eb_retention_conf_t){.base = mw_run_base(run),
                               .cluster = app->cluster,
                               .metrics = mw_run_metrics(run),
                               .interval_ms = EB_RETENTION_INTERVAL_MS},
        err);
    if (!app->retention)
        return err->code;
    app->control = eb_control_new(
        &(eb_control_conf_t){
            .base = mw_run_base(run),
            .listener = control_l,
            .cluster = app->cluster,
            .metrics = mw_run_metrics(run),
            .default_partitions =
                (int)mw_conf_get_int(conf, "default.partitions"),
        },
        err);
    if (!app->control ||
        eb_reach_addr(control_l, eb_control_port(app->control), control_addr,
                      sizeof(control_addr), err) != 0)
        return err->code;
    app->proxy = eb_proxy_new(
        &(eb_proxy_conf_t){
            .base = mw_run_base(run),
            .listener = bootstrap_l,
            .cluster = app->cluster,
            .control_addr = control_addr,
            .metrics = mw_run_metrics(run),
        },
        err);
    if (!app->proxy || eb_reach_addr(bootstrap_l, eb_proxy_port(app->proxy),
                                     bootstrap, sizeof(bootstrap), err) != 0)
        return err->code;
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

/* Top-down; every object may be missing (a start that failed half-way, or
 * the listeners already closed by eb_stop). */
static void eb_destroy(void *opaque)
{
    eb_app_t *app = opaque;

    eb_proxy_destroy(app->proxy);
    eb_control_destroy(app->control);
    eb_retention_destroy(app->retention);
    eb_cluster_destroy(app->cluster);
}

static const mw_run_prog_t eb_prog = {
    .conf = &eb_program,
    .keys = eb_keys,
    .key_cnt = sizeof(eb_keys) / sizeof(*eb_keys),
    .version = EB_VERSION,
    .start = eb_start,
    .stop = eb_stop,
    .destroy = eb_destroy,
};

int main(int argc, char **argv)
{
    eb_app_t app = {0};

    return mw_run_main(&eb_prog, &app, argc, argv);
}
