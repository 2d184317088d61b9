/*
 * mesh-registry: a Confluent-compatible schema registry for Avro.
 *
 * The daemon skeleton (mw_run) configures (exit 2 on a bad key or value,
 * the store's keys included), serves /healthz and /metrics on ops.listener
 * when it is set, and runs the loop.  Start-up, here: create data.dir, open
 * the store (which replays the whole log into the state before returning),
 * and only then listen, so the first request already sees every
 * acknowledged registration.  Once listening it writes its base URL to
 * <data.dir>/url (atomically: tests and tools poll for it) and logs
 * "mesh-registry ready".  SIGTERM/SIGINT: stop accepting, close the store
 * (in-flight appends finish and their requests are answered), close the
 * connections, exit 0.  A start-up failure after configuration exits 1,
 * or 2 when a store finds one of its keys wrong while opening (MW_ERR_CONFIG,
 * as in every daemon on mw_run).
 *
 * Thread: main thread only (the stores' own threads never call back here
 * except through the loop).
 */
#include <stdio.h>
#include <string.h>

#include "mw_conf.h"
#include "mw_daemon.h"
#include "mw_err.h"
#include "mw_log.h"
#include "mw_run.h"
#include "reg_api.h"
#include "reg_auth.h"
#include "reg_catalog.h"
#include "reg_gov.h"
#include "reg_state.h"
#include "reg_store.h"

#define REG_COMPONENT "mesh-registry"
#define REG_VERSION "0.1.0"
#define REG_STORE_CLOSE_MS 10000

static const char *const reg_auth_reads[] = {"open", "authenticated", NULL};

static const mw_conf_key_t reg_keys[] = {
    {.name = "listeners",
     .type = MW_CONF_LISTENER,
     .dflt = "http://127.0.0.1:8081",
     .doc = "REST listener (Confluent Schema Registry API, plus /healthz and "
            "/metrics); port 0 picks a free port."},
    {.name = "data.dir",
     .type = MW_CONF_STR,
     .dflt = "./.mesh/registry",
     .doc = "Directory (created) for the journal and the url file written "
            "once listening."},
    {.name = "request.max.bytes",
     .type = MW_CONF_INT,
     .dflt = "16777216",
     .min = 1024,
     .max = 1073741824,
     .doc = "Largest request body; larger ones are refused with 413."},
    {.name = "schema.max.bytes",
     .type = MW_CONF_INT,
     .dflt = "1048576",
     .min = 64,
     .max = 1073741824,
     .doc = "Largest schema text; larger ones are refused with 42209."},
    {.name = "request.max.header.bytes",
     .type = MW_CONF_INT,
     .dflt = "65536",
     .min = 1024,
     .max = 16777216,
     .doc = "Largest request line plus headers."},
    {.name = "request.timeout.ms",
     .type = MW_CONF_INT,
     .dflt = "30000",
     .min = 100,
     .max = 3600000,
     .doc = "A connection idle (or a client this slow to send a request) "
            "for this long is closed."},
    {.name = "listener.max.connections",
     .type = MW_CONF_INT,
     .dflt = "1024",
     .min = 1,
     .max = 1000000,
     .doc = "Connections the REST listener serves at once (counted from "
            "their first request); a request on a further one is answered "
            "503 with Retry-After and the connection closed."},
    {.name = "ops.listener",
     .type = MW_CONF_LISTENER,
     .dflt = NULL,
     .doc = "Optional separate listener for /healthz and /metrics (both are "
            "also served on the REST port)."},
    {.name = "auth.credentials.file",
     .type = MW_CONF_STR,
     .dflt = NULL,
     .doc = "Principals for HTTP Basic authentication, one NAME:HASH:ROLE "
            "per line (crypt(3) hashes; ROLE admin or a list of domains); "
            "unset: no authentication (docs/GOVERNANCE.md)."},
    {.name = "auth.reads",
     .type = MW_CONF_ENUM,
     .dflt = "open",
     .allowed = reg_auth_reads,
     .doc = "With auth.credentials.file: whether reads are open to anyone "
            "or need credentials too (/healthz and /metrics stay open)."},
    {.name = "tls.cert.file",
     .type = MW_CONF_STR,
     .dflt = NULL,
     .doc = "PEM certificate chain of the REST listener; with tls.key.file "
            "the listener speaks TLS (https://) only."},
    {.name = "tls.key.file",
     .type = MW_CONF_STR,
     .dflt = NULL,
     .doc = "PEM private key of tls.cert.file."},
    {.name = "tls.client.ca.file",
     .type = MW_CONF_STR,
     .dflt = NULL,
     .doc = "PEM CA certificates for client certificates (mutual TLS): a "
            "verified certificate's common name names the principal of "
            "auth.credentials.file."},
    MW_RUN_KEY_OPS_MAX_CONNECTIONS,
    MW_RUN_KEY_LOG_LEVEL,
};

static const char *const reg_passthrough[] = {"kafka.", NULL};
static const mw_conf_choice_t *const reg_choices[] = {&reg_store_choice, NULL};

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
    .choices = reg_choices,
};

typedef struct reg_app {
    reg_state_t *state;
    reg_store_t *store;
    reg_catalog_t *catalog;
    reg_store_t *catalog_store;
    reg_gov_t *gov;   /* policies: records of the catalog's log */
    reg_auth_t *auth; /* principals, NULL without auth.credentials.file */
    reg_tls_t *tls;   /* NULL without tls.cert.file */
    reg_api_t *api;
} reg_app_t;

/* First SIGTERM/SIGINT: stop accepting, then let in-flight writes finish
 * (closing the store calls their done callbacks, which answer), then
 * leave the loop; connections close with the API after it. */
static void reg_stop(mw_run_t *run, void *opaque, const char *why)
{
    reg_app_t *app = opaque;

    (void)why;
    reg_api_stop_accepting(app->api);
    reg_store_close(app->store, REG_STORE_CLOSE_MS);
    app->store = NULL;
    reg_store_close(app->catalog_store, REG_STORE_CLOSE_MS);
    app->catalog_store = NULL;
    mw_run_break(run);
}

static int reg_open_api(reg_app_t *app, mw_run_t *run, mw_err_t *err)
{
    const mw_conf_t *conf = mw_run_conf(run);
    const reg_api_conf_t ac = {
        .base = mw_run_base(run),
        .listener = mw_conf_get_str(conf, "listeners"),
        .state = app->state,
        .store = app->store,
        .catalog = app->catalog,
        .catalog_store = app->catalog_store,
        .gov = app->gov,
        .metrics = mw_run_metrics(run),
        .request_max_bytes = (size_t)mw_conf_get_int(conf, "request.max.bytes"),
        .schema_max_bytes = (size_t)mw_conf_get_int(conf, "schema.max.bytes"),
        .header_max_bytes =
            (size_t)mw_conf_get_int(conf, "request.max.header.bytes"),
        .timeout_ms = (int)mw_conf_get_int(conf, "request.timeout.ms"),
        .max_connections =
            (size_t)mw_conf_get_int(conf, "listener.max.connections"),
        .auth = app->auth,
        .tls = app->tls,
        .auth_reads =
            !strcmp(mw_conf_get_str(conf, "auth.reads"), "authenticated"),
    };

    app->api = reg_api_new(&ac, err);
    return app->api ? 0 : err->code;
}

/* TLS keys: cert and key together, a client CA only with them. */
static int reg_open_tls(reg_app_t *app, const mw_conf_t *conf, mw_err_t *err)
{
    const char *cert = mw_conf_get_str(conf, "tls.cert.file");
    const char *key = mw_conf_get_str(conf, "tls.key.file");
    const char *ca = mw_conf_get_str(conf, "tls.client.ca.file");

    if (!cert != !key || (ca && !cert))
        return mw_err_set(err, MW_ERR_CONFIG,
                          "keys 'tls.cert.file' and 'tls.key.file' go "
                          "together, and 'tls.client.ca.file' needs them");
    if (cert && !(app->tls = reg_tls_new(cert, key, ca, err)))
        return err->code;
    return 0;
}

/* Creates data.dir, opens the store (replaying the log), listens, writes
 * the url file. */
static int reg_start(mw_run_t *run, void *opaque, mw_err_t *err)
{
    reg_app_t *app = opaque;
    const mw_conf_t *conf = mw_run_conf(run);
    const char *dir = mw_conf_get_str(conf, "data.dir");
    char url[400], path[4200];

    if (mw_daemon_mkdirs(dir, err) != 0)
        return mw_err_prefix(err, "key 'data.dir'");
    if (mw_conf_get_str(conf, "auth.credentials.file") &&
        !(app->auth = reg_auth_load(
              mw_conf_get_str(conf, "auth.credentials.file"), err)))
        return mw_err_prefix(err, "key 'auth.credentials.file'");
    if (reg_open_tls(app, conf, err) != 0)
        return err->code;
    app->state = reg_state_new(mw_run_metrics(run));
    if (!app->state)
        return mw_err_set(err, MW_ERR_NOMEM, "out of memory for the state");
    app->store = reg_store_open(mw_run_base(run), conf, mw_run_metrics(run),
                                reg_state_apply, app->state, err);
    if (!app->store)
        return err->code;
    /* The catalog has its own log (reg_store.h), opened the same way. */
    app->catalog = reg_catalog_new();
    if (!app->catalog)
        return mw_err_set(err, MW_ERR_NOMEM, "out of memory for the catalog");
    /* Governance policies travel in the catalog's log: reg_gov takes its
     * own records and hands the catalog's on. */
    app->gov = reg_gov_new(app->catalog, mw_run_metrics(run));
    if (!app->gov)
        return mw_err_set(err, MW_ERR_NOMEM, "out of memory for governance");
    app->catalog_store = reg_store_open_log(
        mw_run_base(run), conf, mw_run_metrics(run), &reg_store_log_catalog,
        reg_gov_apply, app->gov, err);
    if (!app->catalog_store || reg_open_api(app, run, err) != 0)
        return err->code;
    if (mw_conf_listener_url(mw_conf_get_str(conf, "listeners"),
                             reg_api_port(app->api), url, sizeof(url),
                             err) != 0)
        return err->code;
    /* The url file says how to reach us: https:// once TLS is on. */
    if (app->tls && !strncmp(url, "http://", 7)) {
        memmove(url + 8, url + 7, strlen(url + 7) + 1);
        memcpy(url, "https://", 8);
    }
    snprintf(path, sizeof(path), "%s/url", dir);
    if (mw_daemon_write_file(path, url, err) != 0)
        return mw_err_prefix(err, "data.dir");
    mw_log_info(REG_COMPONENT, "mesh-registry ready",
                "url=%s storage=%s schemas=%zu subjects=%zu products=%zu", url,
                reg_store_backend_name(app->store),
                reg_state_schema_cnt(app->state),
                reg_state_live_subject_cnt(app->state),
                reg_catalog_product_cnt(app->catalog));
    return 0;
}

/* Destroys in reverse order of creation; every field may be NULL.  The
 * store closes before the API so that pending requests get answered. */
static void reg_destroy(void *opaque)
{
    reg_app_t *app = opaque;

    reg_store_close(app->store, REG_STORE_CLOSE_MS);
    reg_store_close(app->catalog_store, REG_STORE_CLOSE_MS);
    reg_api_destroy(app->api);
    reg_gov_destroy(app->gov);
    reg_auth_destroy(app->auth);
    reg_tls_destroy(app->tls);
    reg_catalog_destroy(app->catalog);
    reg_state_destroy(app->state);
}

static const mw_run_prog_t reg_prog = {
    .conf = &reg_program,
    .keys = reg_keys,
    .key_cnt = sizeof(reg_keys) / sizeof(*reg_keys),
    .version = REG_VERSION,
    .start = reg_start,
    .stop = reg_stop,
    .destroy = reg_destroy,
};

int main(int argc, char **argv)
{
    reg_app_t app = {0};

    return mw_run_main(&reg_prog, &app, argc, argv);
}
