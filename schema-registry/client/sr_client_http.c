/*
 * sr_client_http: the registry client's transport.  mw_http_call opens and
 * closes a connection per call ("Connection: close", fresh event_base);
 * a consumer resolving ids or a producer registering per batch would pay a
 * TCP handshake each time, so this file keeps one evhttp_connection per
 * client alive across calls, on the client's own event_base, which only
 * runs while a call is in flight (on the caller's thread).
 *
 * After a timeout or a transport failure the connection is freed (it may
 * hold a half-sent request) and the next call connects afresh.  SIGPIPE is
 * blocked in the calling thread while the loop runs, and one we caused is
 * consumed, as mw_http does, so a registry closing early cannot kill a
 * command-line program.
 */
#include "sr_client_int.h"

#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "sr_proto.h"

#define CONN_HOST_MAX 256
#define CONN_BODY_MAX ((size_t)64 << 20)

struct sr_conn {
    struct event_base *base;
    struct evhttp_connection *evcon; /* NULL until used, or after a reset */
    char host[CONN_HOST_MAX];
    char host_hdr[CONN_HOST_MAX + 16];
    char *prefix;                    /* path prefix of the base URL */
    int port;
    int timeout_ms;
};

typedef struct call {
    struct event_base *base;
    int done, timed_out, req_err, nomem;
    int status;
    char *body;
    size_t len;
} call_t;

static int parse_base(sr_conn_t *conn, const char *url, mw_err_t *err)
{
    struct evhttp_uri *uri = evhttp_uri_parse_with_flags(url, 0);
    const char *scheme = uri ? evhttp_uri_get_scheme(uri) : NULL;
    const char *host = uri ? evhttp_uri_get_host(uri) : NULL;
    int rc = 0;
    if (!scheme || strcasecmp(scheme, "http") != 0 || !host || !host[0] ||
        strlen(host) >= sizeof(conn->host)) {
        rc = mw_err_set(err, MW_ERR_INVALID, "registry URL %s: expected "
                        "http://host:port", url);
        goto out;
    }
    size_t hl = strlen(host);
    if (host[0] == '[' && hl > 2) /* IPv6 literal */
        snprintf(conn->host, sizeof(conn->host), "%.*s", (int)(hl - 2),
                 host + 1);
    else
        snprintf(conn->host, sizeof(conn->host), "%s", host);
    conn->port = evhttp_uri_get_port(uri) < 0 ? 80 : evhttp_uri_get_port(uri);
    snprintf(conn->host_hdr, sizeof(conn->host_hdr), "%s:%d", host,
             conn->port);
    const char *path = evhttp_uri_get_path(uri);
    size_t pl = path ? strlen(path) : 0;
    while (pl > 0 && path[pl - 1] == '/')
        pl--;
    conn->prefix = strndup(path ? path : "", pl);
    if (!conn->prefix)
        rc = mw_err_set(err, MW_ERR_NOMEM, "out of memory");
out:
    if (uri)
        evhttp_uri_free(uri);
    return rc;
}

sr_conn_t *sr_conn_new(const char *base_url, int timeout_ms, mw_err_t *err)
{
    if (!base_url || timeout_ms <= 0) {
        mw_err_set(err, MW_ERR_INVALID, "registry client needs a URL and a "
                   "positive timeout");
        return NULL;
    }
    sr_conn_t *conn = calloc(1, sizeof(*conn));
    if (!conn) {
        mw_err_set(err, MW_ERR_NOMEM, "out of memory");
        return NULL;
    }
    conn->timeout_ms = timeout_ms;
    if (parse_base(conn, base_url, err) != 0) {
        sr_conn_destroy(conn);
        return NULL;
    }
    conn->base = event_base_new();
    if (!conn->base) {
        mw_err_set(err, MW_ERR_NOMEM, "cannot create an event base");
        sr_conn_destroy(conn);
        return NULL;
    }
    return conn;
}

static void conn_reset(sr_conn_t *conn)
{
    if (conn->evcon)
        evhttp_connection_free(conn->evcon);
    conn->evcon = NULL;
}

void sr_conn_destroy(sr_conn_t *conn)
{
    if (!conn)
        return;
    conn_reset(conn);
    if (conn->base)
        event_base_free(conn->base);
    free(conn->prefix);
    free(conn);
}

void sr_reply_clear(sr_reply_t *reply)
{
    if (!reply)
        return;
    free(reply->body);
    memset(reply, 0, sizeof(*reply));
}

/* ------------------------------------------------------------ one call */

/* Runs on the private loop.  libevent 2.1 calls back with a NULL request
 * (after the error callback) or status 0 when no answer came. */
static void call_done_cb(struct evhttp_request *req, void *arg)
{
    call_t *call = arg;
    if (call->done || call->timed_out)
        return;
    call->done = 1;
    call->status = req ? evhttp_request_get_response_code(req) : 0;
    struct evbuffer *in = req ? evhttp_request_get_input_buffer(req) : NULL;
    size_t n = in ? evbuffer_get_length(in) : 0;
    if (call->status && n > 0) {
        call->body = malloc(n + 1);
        if (!call->body) {
            call->nomem = 1;
        } else {
            evbuffer_remove(in, call->body, n);
            call->body[n] = '\0';
            call->len = n;
        }
    }
    event_base_loopbreak(call->base);
}

static void call_error_cb(enum evhttp_request_error what, void *arg)
{
    ((call_t *)arg)->req_err = (int)what + 1;
}

static void call_deadline_cb(evutil_socket_t fd, short what, void *arg)
{
    call_t *call = arg;
    (void)fd;
    (void)what;
    call->timed_out = 1;
    event_base_loopbreak(call->base);
}

static int conn_ready(sr_conn_t *conn, mw_err_t *err)
{
    if (conn->evcon)
        return 0;
    conn->evcon = evhttp_connection_base_new(conn->base, NULL, conn->host,
                                             (ev_uint16_t)conn->port);
    if (!conn->evcon)
        return mw_err_set(err, MW_ERR_NOMEM, "cannot create a connection to "
                          "%s", conn->host_hdr);
    struct timeval tv = {conn->timeout_ms / 1000,
                         (conn->timeout_ms % 1000) * 1000};
    evhttp_connection_set_timeout_tv(conn->evcon, &tv);
    evhttp_connection_set_retries(conn->evcon, 0);
    evhttp_connection_set_max_body_size(conn->evcon,
                                        (ev_ssize_t)CONN_BODY_MAX);
    return 0;
}

static struct evhttp_request *build(sr_conn_t *conn, call_t *call,
                                    const char *body)
{
    struct evhttp_request *req = evhttp_request_new(call_done_cb, call);
    if (!req)
        return NULL;
    evhttp_request_set_error_cb(req, call_error_cb);
    struct evkeyvalq *h = evhttp_request_get_output_headers(req);
    int bad = evhttp_add_header(h, "Host", conn->host_hdr);
    bad |= evhttp_add_header(h, "Accept", SR_PROTO_CT_V1 ", "
                             SR_PROTO_CT_JSON);
    if (body) {
        bad |= evhttp_add_header(h, "Content-Type", SR_PROTO_CT_V1);
        bad |= evbuffer_add(evhttp_request_get_output_buffer(req), body,
                            strlen(body));
    }
    if (bad) {
        evhttp_request_free(req);
        return NULL;
    }
    return req;
}

static enum evhttp_cmd_type method_cmd(const char *method)
{
    if (strcmp(method, "POST") == 0)
        return EVHTTP_REQ_POST;
    if (strcmp(method, "PUT") == 0)
        return EVHTTP_REQ_PUT;
    if (strcmp(method, "DELETE") == 0)
        return EVHTTP_REQ_DELETE;
    return EVHTTP_REQ_GET;
}

static int call_outcome(sr_conn_t *conn, call_t *call, const char *what,
                        sr_reply_t *reply, mw_err_t *err)
{
    if (call->timed_out || call->req_err == (int)EVREQ_HTTP_TIMEOUT + 1)
        return mw_err_set(err, MW_ERR_TIMEOUT, "registry %s: %s: no answer "
                          "within %d ms", conn->host_hdr, what,
                          conn->timeout_ms);
    if (call->nomem)
        return mw_err_set(err, MW_ERR_NOMEM, "%s: out of memory", what);
    if (!call->done || call->status == 0)
        return mw_err_set(err, MW_ERR_TRANSPORT, "registry %s: %s: %s",
                          conn->host_hdr, what,
                          call->req_err == (int)EVREQ_HTTP_DATA_TOO_LONG + 1
                              ? "answer too large"
                              : "connection refused or closed");
    reply->status = call->status;
    reply->body = call->body;
    reply->len = call->len;
    call->body = NULL;
    return 0;
}

static int conn_run(sr_conn_t *conn, const char *method, const char *path,
                    const char *body, sr_reply_t *reply, mw_err_t *err)
{
    call_t call = {.base = conn->base};
    char what[512], *target = NULL;
    snprintf(what, sizeof(what), "%s %s", method, path);
    int rc = conn_ready(conn, err);
    struct event *deadline = NULL;
    if (rc == 0 && (asprintf(&target, "%s%s", conn->prefix, path) < 0 ||
                    !(deadline = evtimer_new(conn->base, call_deadline_cb,
                                             &call))))
        rc = mw_err_set(err, MW_ERR_NOMEM, "%s: out of memory", what);
    struct evhttp_request *req = rc == 0 ? build(conn, &call, body) : NULL;
    if (rc == 0 && !req)
        rc = mw_err_set(err, MW_ERR_NOMEM, "%s: cannot build request", what);
    if (rc == 0) {
        struct timeval tv = {conn->timeout_ms / 1000,
                             (conn->timeout_ms % 1000) * 1000};
        /* evhttp_make_request owns req from here, even when it fails. */
        if (evhttp_make_request(conn->evcon, req, method_cmd(method),
                                target) == 0 || call.done) {
            if (!call.done) {
                evtimer_add(deadline, &tv);
                event_base_dispatch(conn->base);
            }
        }
        rc = call_outcome(conn, &call, what, reply, err);
    }
    if (rc != 0)
        conn_reset(conn);
    if (deadline)
        event_free(deadline);
    free(call.body);
    free(target);
    return rc;
}

int sr_conn_call(sr_conn_t *conn, const char *method, const char *path,
                 const char *body, sr_reply_t *reply, mw_err_t *err)
{
    sigset_t pipe_set, old_set, pending;
    memset(reply, 0, sizeof(*reply));
    sigemptyset(&pipe_set);
    sigaddset(&pipe_set, SIGPIPE);
    pthread_sigmask(SIG_BLOCK, &pipe_set, &old_set);
    sigpending(&pending);
    int was_pending = sigismember(&pending, SIGPIPE);

    int rc = conn_run(conn, method, path, body, reply, err);

    sigpending(&pending);
    if (!was_pending && sigismember(&pending, SIGPIPE)) {
        const struct timespec zero = {0, 0};
        sigtimedwait(&pipe_set, NULL, &zero);
    }
    pthread_sigmask(SIG_SETMASK, &old_set, NULL);
    return rc;
}
