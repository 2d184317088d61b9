/*
 * mat_report: reporting the served port's live facts to the catalog (see
 * mat_report.h for the protocol, the timeout and the failure policy).
 *
 * Thread: the loop thread.
 */
#include "mat_report.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "mw_http.h"
#include "mw_log.h"
#include "mw_time.h"
#include "sr_client.h"

#define REPORT_COMPONENT "materializer"
#define REPORT_MATERIALIZER_MAX 256

struct mat_report {
    mw_http_conn_t *conn;
    char *authorization; /* registry.basic.auth.user.info's, or NULL */
    char *url;           /* registry.url, for messages */
    char *path;          /* /catalog/products/.../status[?version=V] */
    char *materializer;
    long long interval_ms;
    int64_t next_due_ms; /* monotonic */
    bool failing;        /* in a failure episode */
    uint64_t episode_failures;
    bool reported; /* a report succeeded once */
    mw_counter_t *ok, *failed;
};

/* ---- configuration --------------------------------------------------------*/

/* A descriptor name: lower-case letters, digits, '-' and '_'. */
static bool report_is_name(const char *s, size_t len)
{
    if (!len || len >= MAT_REPORT_NAME_MAX)
        return false;
    for (size_t i = 0; i < len; i++) {
        char c = s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
              c == '_'))
            return false;
    }
    return true;
}

int mat_report_parse_ref(const char *text, mat_report_ref_t *ref, mw_err_t *err)
{
    const char *slash = text ? strchr(text, '/') : NULL;
    const char *at = slash ? strchr(slash, '@') : NULL;
    size_t dlen, nlen;

    memset(ref, 0, sizeof *ref);
    if (!slash)
        goto bad;
    dlen = (size_t)(slash - text);
    nlen = at ? (size_t)(at - slash - 1) : strlen(slash + 1);
    if (!report_is_name(text, dlen) || !report_is_name(slash + 1, nlen))
        goto bad;
    if (at) {
        char *end = NULL;
        long v;
        if (at[1] < '1' || at[1] > '9')
            goto bad;
        v = strtol(at + 1, &end, 10);
        if (*end || v < 1 || v > 1000000)
            goto bad;
        ref->version = (int)v;
    }
    memcpy(ref->domain, text, dlen);
    memcpy(ref->name, slash + 1, nlen);
    return 0;
bad:
    return mw_err_set(err, MW_ERR_CONFIG,
                      "key 'catalog.product': expected domain/name or "
                      "domain/name@major (names of lower-case letters, "
                      "digits, '-' and '_'), got '%s'",
                      text ? text : "");
}

int mat_report_conf_check(const mw_conf_t *conf, mw_err_t *err)
{
    static const char *const needs_product[] = {
        "catalog.port", "catalog.materializer", "catalog.report.interval.ms"};
    const char *product = mw_conf_get_str(conf, "catalog.product");
    const char *port = mw_conf_get_str(conf, "catalog.port");
    const char *mat = mw_conf_get_str(conf, "catalog.materializer");
    mat_report_ref_t ref;

    if (!product || !*product) {
        for (size_t i = 0; i < sizeof needs_product / sizeof *needs_product;
             i++)
            if (mw_conf_is_set(conf, needs_product[i]))
                return mw_err_set(err, MW_ERR_CONFIG,
                                  "key '%s': set without catalog.product "
                                  "(reporting to the catalog is off)",
                                  needs_product[i]);
        return 0;
    }
    if (mat_report_parse_ref(product, &ref, err) != 0)
        return err->code;
    if (!port || !*port)
        return mw_err_set(err, MW_ERR_CONFIG,
                          "key 'catalog.port': required with catalog.product "
                          "(the output port this materializer serves)");
    if (!report_is_name(port, strlen(port)))
        return mw_err_set(err, MW_ERR_CONFIG,
                          "key 'catalog.port': expected a port name "
                          "(lower-case letters, digits, '-' and '_'), "
                          "got '%s'",
                          port);
    if (mat && (!*mat || strlen(mat) > REPORT_MATERIALIZER_MAX))
        return mw_err_set(err, MW_ERR_CONFIG,
                          "key 'catalog.materializer': expected 1 to %d "
                          "characters",
                          REPORT_MATERIALIZER_MAX);
    return 0;
}

/* ---- one report -----------------------------------------------------------*/

char *mat_report_body(const char *materializer, const mat_loop_facts_t *facts,
                      int64_t now_ms)
{
    json_t *o = json_pack("{s:s,s:I,s:I}", "materializer", materializer,
                          "offset", (json_int_t)facts->offset, "rows",
                          (json_int_t)facts->applied);
    char *text;

    if (!o)
        return NULL;
    /* The age of the newest committed data; a clock behind the source's
     * reads as fresh (0), never as negative. */
    if (facts->newest_ts_ms > 0) {
        int64_t age = now_ms - facts->newest_ts_ms;
        json_object_set_new(o, "freshness_ms", json_integer(age > 0 ? age : 0));
    }
    text = json_dumps(o, JSON_COMPACT);
    json_decref(o);
    return text;
}

/* The registry's message of a refusal, else the body's start. */
static void report_answer_msg(const mw_http_response_t *resp, char *out,
                              size_t size)
{
    json_t *j = resp->body ? json_loads(resp->body, 0, NULL) : NULL;
    const char *msg = json_string_value(json_object_get(j, "message"));

    snprintf(out, size, "%s",
             msg          ? msg
             : resp->body ? resp->body
                          : "no message");
    json_decref(j);
}

static void report_failed(mat_report_t *rep, const char *why)
{
    mw_counter_inc(rep->failed);
    rep->episode_failures++;
    if (rep->failing) {
        mw_log_debug(REPORT_COMPONENT, "catalog report failed again",
                     "failures=%" PRIu64 " error=%s", rep->episode_failures,
                     mw_log_q(why));
        return;
    }
    rep->failing = true;
    mw_log_warn(REPORT_COMPONENT,
                "catalog report failed (logged once until reports succeed "
                "again)",
                "url=%s%s error=%s", rep->url, rep->path, mw_log_q(why));
}

static void report_succeeded(mat_report_t *rep)
{
    mw_counter_inc(rep->ok);
    if (rep->failing)
        mw_log_info(REPORT_COMPONENT, "catalog reports succeed again",
                    "url=%s%s failed=%" PRIu64, rep->url, rep->path,
                    rep->episode_failures);
    else if (!rep->reported)
        mw_log_info(REPORT_COMPONENT, "reporting to the catalog",
                    "url=%s%s materializer=%s", rep->url, rep->path,
                    mw_log_q(rep->materializer));
    rep->failing = false;
    rep->episode_failures = 0;
    rep->reported = true;
}

bool mat_report_due(const mat_report_t *rep)
{
    return rep && mw_time_mono_ms() >= rep->next_due_ms;
}

void mat_report_send(mat_report_t *rep, const mat_loop_facts_t *facts)
{
    char *body = mat_report_body(rep->materializer, facts, mw_time_wall_ms());
    mw_http_response_t resp = {0};
    mw_err_t err = {0};
    char why[512];

    /* On the interval's grid, so a once-a-second chores tick does not
     * stretch a 1000 ms interval to two ticks. */
    rep->next_due_ms += rep->interval_ms;
    if (rep->next_due_ms <= mw_time_mono_ms())
        rep->next_due_ms = mw_time_mono_ms() + rep->interval_ms;
    if (!body) {
        report_failed(rep, "out of memory");
        return;
    }
    mw_http_request_t rq = {.method = "PUT",
                            .path = rep->path,
                            .content_type = "application/json",
                            .accept = "application/json",
                            .body = body,
                            .len = strlen(body),
                            .authorization = rep->authorization};
    if (mw_http_conn_call(rep->conn, &rq, &resp, &err) != 0) {
        report_failed(rep, err.msg);
    } else if (resp.status < 200 || resp.status >= 300) {
        char msg[400];
        report_answer_msg(&resp, msg, sizeof msg);
        snprintf(why, sizeof why, "registry answered %d: %s", resp.status, msg);
        report_failed(rep, why);
    } else {
        report_succeeded(rep);
    }
    mw_http_response_clear(&resp);
    free(body);
}

/* ---- life cycle -----------------------------------------------------------*/

/* <group.id>@<host>/<pid>: one name per running instance. */
static char *report_default_name(const char *group)
{
    char host[256] = "localhost";
    char *name = NULL;

    if (gethostname(host, sizeof host) != 0)
        snprintf(host, sizeof host, "localhost");
    host[sizeof host - 1] = '\0';
    if (asprintf(&name, "%s@%s/%ld", group ? group : "", host, (long)getpid()) <
        0)
        return NULL;
    return name;
}

int mat_report_new(const mw_conf_t *conf, mw_metrics_t *metrics,
                   mat_report_t **out, mw_err_t *err)
{
    const char *product = mw_conf_get_str(conf, "catalog.product");
    const char *port = mw_conf_get_str(conf, "catalog.port");
    const char *mat = mw_conf_get_str(conf, "catalog.materializer");
    const char *url = mw_conf_get_str(conf, "registry.url");
    mat_report_ref_t ref;
    mat_report_t *rep;
    long long timeout;
    int n;

    *out = NULL;
    if (!product || !*product)
        return 0;
    if (mat_report_conf_check(conf, err) != 0 ||
        mat_report_parse_ref(product, &ref, err) != 0)
        return err->code;
    if (!(rep = calloc(1, sizeof *rep)))
        return mw_err_set(err, MW_ERR_NOMEM, "out of memory");
    rep->interval_ms = mw_conf_get_int(conf, "catalog.report.interval.ms");
    timeout = rep->interval_ms / 4;
    if (timeout > MAT_REPORT_TIMEOUT_MS)
        timeout = MAT_REPORT_TIMEOUT_MS;
    if (timeout < 1)
        timeout = 1;
    rep->conn = mw_http_conn_new(url, (int)timeout, err);
    if (!rep->conn) {
        mat_report_destroy(rep);
        return mw_err_set(err, MW_ERR_CONFIG, "key 'registry.url': %s",
                          err->msg);
    }
    /* the same credentials and CA as the registry client's */
    {
        const char *user =
            mw_conf_get_str(conf, "registry.basic.auth.user.info");
        const char *ca = mw_conf_get_str(conf, "registry.ssl.ca.location");

        if (user && *user &&
            sr_client_basic_auth(user, &rep->authorization, err) != 0) {
            mat_report_destroy(rep);
            return mw_err_set(err, MW_ERR_CONFIG,
                              "key 'registry.basic.auth.user.info': %s",
                              err->msg);
        }
        if (ca && *ca && mw_http_conn_set_ca(rep->conn, ca, err) != 0) {
            mat_report_destroy(rep);
            return mw_err_set(err, MW_ERR_CONFIG,
                              "key 'registry.ssl.ca.location': %s", err->msg);
        }
    }
    if (ref.version)
        n = asprintf(&rep->path,
                     "/catalog/products/%s/%s/ports/%s/status?version=%d",
                     ref.domain, ref.name, port, ref.version);
    else
        n = asprintf(&rep->path, "/catalog/products/%s/%s/ports/%s/status",
                     ref.domain, ref.name, port);
    if (n < 0)
        rep->path = NULL;
    rep->url = strdup(url);
    rep->materializer =
        mat && *mat ? strdup(mat)
                    : report_default_name(mw_conf_get_str(conf, "group.id"));
    if (!rep->path || !rep->url || !rep->materializer) {
        mat_report_destroy(rep);
        return mw_err_set(err, MW_ERR_NOMEM, "out of memory");
    }
    /* Trailing slashes of the base URL would double in messages. */
    for (size_t len = strlen(rep->url); len && rep->url[len - 1] == '/';)
        rep->url[--len] = '\0';
    rep->ok = mw_metrics_counter(
        metrics, "mesh_materializer_catalog_reports_total",
        "Reports of the port's live facts to the catalog, by result.",
        "result=\"ok\"");
    rep->failed = mw_metrics_counter(
        metrics, "mesh_materializer_catalog_reports_total",
        "Reports of the port's live facts to the catalog, by result.",
        "result=\"failed\"");
    /* The first report one interval after start: by then the partitions
     * are assigned and their offsets loaded. */
    rep->next_due_ms = mw_time_mono_ms() + rep->interval_ms;
    mw_log_info(REPORT_COMPONENT, "catalog reports on",
                "url=%s%s materializer=%s interval_ms=%lld timeout_ms=%lld",
                rep->url, rep->path, mw_log_q(rep->materializer),
                rep->interval_ms, timeout);
    *out = rep;
    return 0;
}

void mat_report_destroy(mat_report_t *rep)
{
    if (!rep)
        return;
    free(rep->authorization);
    mw_http_conn_destroy(rep->conn);
    free(rep->url);
    free(rep->path);
    free(rep->materializer);
    free(rep);
}
