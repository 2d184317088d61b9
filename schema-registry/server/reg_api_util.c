/*
 * reg_api_util: the REST API's shared plumbing: answering (every reply is
 * counted per route and status class and its latency observed, then the
 * request is freed), query parameters, the checks every handler repeats
 * (subject names, versions, read-only mode) and store appends that call
 * back once all of a request's records are durable and applied.
 *
 * Thread: the loop thread.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "mw_http.h"
#include "mw_log.h"
#include "reg_api_int.h"

/* ---- replies ------------------------------------------------------- */

void reg_api_req_free(reg_api_req_t *r)
{
    for (size_t i = 0; i < r->seg_cnt; i++)
        free(r->seg[i]);
    for (size_t i = 0; i < r->q_cnt; i++) {
        free(r->qname[i]);
        free(r->qval[i]);
    }
    if (r->ctx_free)
        r->ctx_free(r->ctx);
    json_decref(r->body);
    free(r);
}

static void reg_api_observe(reg_api_req_t *r, int status)
{
    reg_api_route_metrics_t *m = &r->api->route_metrics[r->route];
    int cls = status / 100;

    mw_counter_inc(m->requests[cls >= 0 && cls < REG_API_CLASS_CNT ? cls : 0]);
    mw_histogram_observe(m->latency,
                         (double)(mw_time_mono_us() - r->t0_us) / 1e6);
}

void reg_api_reply_text(reg_api_req_t *r, int status, const char *body,
                        size_t len)
{
    reg_api_observe(r, status);
    mw_http_reply(r->req, status, r->ctype, body, len);
    if (status >= 500)
        mw_log_warn(REG_API_COMPONENT, "request failed", "route=%s status=%d",
                    r->route < reg_api_route_cnt ? reg_api_routes[r->route].name
                                                 : "none",
                    status);
    reg_api_req_free(r);
}

void reg_api_reply_json(reg_api_req_t *r, int status, json_t *body_json)
{
    char *body =
        body_json ? json_dumps(body_json, JSON_COMPACT | JSON_PRESERVE_ORDER |
                                              JSON_ENCODE_ANY)
                  : NULL;

    json_decref(body_json);
    if (!body) {
        static const char oom[] =
            "{\"error_code\":50001,\"message\":\"out of memory\"}";

        reg_api_reply_text(r, 500, oom, sizeof(oom) - 1);
        return;
    }
    reg_api_reply_text(r, status, body, strlen(body));
    free(body);
}

static void reg_api_reply_msg(reg_api_req_t *r, int code, const char *msg)
{
    json_t *o = json_object();

    json_object_set_new(o, "error_code", json_integer(code));
    json_object_set_new(o, "message", json_string(msg));
    reg_api_reply_json(r, sr_proto_http_status(code), o);
}

void reg_api_reply_err(reg_api_req_t *r, int code, const char *fmt, ...)
{
    char msg[4096];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    reg_api_reply_msg(r, code, msg);
}

void reg_api_reply_code(reg_api_req_t *r, int code, const char *subject,
                        const char *version)
{
    char msg[2048];

    sr_proto_message(code, msg, sizeof(msg), subject, version);
    reg_api_reply_msg(r, code, msg);
}

/* ---- request helpers ---------------------------------------------- */

const char *reg_api_query(const reg_api_req_t *r, const char *name)
{
    for (size_t i = 0; i < r->q_cnt; i++)
        if (!strcmp(r->qname[i], name))
            return r->qval[i];
    return NULL;
}

bool reg_api_query_bool(const reg_api_req_t *r, const char *name)
{
    const char *v = reg_api_query(r, name);

    return v && !strcasecmp(v, "true");
}

bool reg_api_subject_ok(reg_api_req_t *r, const char *subject)
{
    /* Confluent refuses control characters and its reserved context
     * names; the path decoder already refused NUL. */
    bool ok = subject && *subject && strcmp(subject, "__GLOBAL") &&
              strcmp(subject, "__EMPTY");

    for (const unsigned char *p = (const unsigned char *)subject; ok && *p; p++)
        if (*p < 0x20 || *p == 0x7f)
            ok = false;
    if (!ok)
        reg_api_reply_code(r, SR_PROTO_E_INVALID_SUBJECT, subject, NULL);
    return ok;
}

bool reg_api_version_ok(reg_api_req_t *r, const char *text, int *version)
{
    char msg[512];

    if (sr_proto_parse_version(text, version, NULL) == 0)
        return true;
    sr_proto_invalid_version_msg(msg, sizeof(msg), text);
    reg_api_reply_msg(r, SR_PROTO_E_INVALID_VERSION, msg);
    return false;
}

bool reg_api_writable(reg_api_req_t *r, const char *subject)
{
    int mode = reg_state_mode_for(r->api->state, subject);

    if (mode != SR_PROTO_MODE_READONLY &&
        mode != SR_PROTO_MODE_READONLY_OVERRIDE)
        return true;
    if (subject)
        reg_api_reply_err(r, SR_PROTO_E_NOT_PERMITTED,
                          "Subject %s is in read-only mode", subject);
    else
        reg_api_reply_err(r, SR_PROTO_E_NOT_PERMITTED,
                          "The registry is in read-only mode");
    return false;
}

/* ---- store appends ------------------------------------------------- */

static void reg_api_append_finish(reg_api_req_t *r)
{
    if (r->pending == 0 && !r->issuing)
        r->on_done(r);
}

static void reg_api_append_done(void *opaque, int64_t offset,
                                const mw_err_t *err)
{
    reg_api_req_t *r = opaque;

    (void)offset;
    if (err && err->code && !r->store_err.code)
        r->store_err = *err;
    r->pending--;
    reg_api_append_finish(r);
}

void reg_api_append_begin(reg_api_req_t *r, reg_api_done_t *on_done)
{
    mw_err_clear(&r->store_err);
    r->on_done = on_done;
    r->issuing = true;
}

void reg_api_append(reg_api_req_t *r, json_t *key, json_t *value)
{
    reg_api_append_to(r, r->api->store, key, value);
}

void reg_api_append_to(reg_api_req_t *r, reg_store_t *store, json_t *key,
                       json_t *value)
{
    char *k = key ? json_dumps(key, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
    char *v =
        value ? json_dumps(value, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
    mw_err_t err = {0};

    if (!k || (value && !v)) {
        if (!r->store_err.code)
            mw_err_set(&r->store_err, MW_ERR_NOMEM, "out of memory");
    } else {
        r->pending++;
        if (reg_store_append(store, k, v, reg_api_append_done, r, &err) != 0) {
            r->pending--;
            if (!r->store_err.code)
                r->store_err = err;
        }
    }
    free(k);
    free(v);
    json_decref(key);
    json_decref(value);
}

void reg_api_append_end(reg_api_req_t *r)
{
    r->issuing = false;
    reg_api_append_finish(r);
}

bool reg_api_store_failed(reg_api_req_t *r)
{
    if (!r->store_err.code)
        return false;
    reg_api_reply_err(r,
                      r->store_err.code == MW_ERR_TIMEOUT ? SR_PROTO_E_TIMEOUT
                                                          : SR_PROTO_E_STORE,
                      "Error while writing to the store: %s", r->store_err.msg);
    return true;
}

json_t *reg_api_key_schema(const char *subject, int version)
{
    json_t *k = json_object();

    json_object_set_new(k, "keytype", json_string("SCHEMA"));
    json_object_set_new(k, "subject", json_string(subject));
    json_object_set_new(k, "version", json_integer(version));
    json_object_set_new(k, "magic", json_integer(1));
    return k;
}

json_t *reg_api_key_setting(const char *keytype, const char *subject)
{
    json_t *k = json_object();

    json_object_set_new(k, "keytype", json_string(keytype));
    json_object_set_new(k, "subject",
                        subject ? json_string(subject) : json_null());
    json_object_set_new(k, "magic", json_integer(0));
    return k;
}
