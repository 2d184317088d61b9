/*
 * mw_http: the pieces every Meshwork HTTP server and client share, on top of
 * libevent's evhttp: binding a listener string (port 0 supported, the real
 * port read back), JSON and text replies, bounded request bodies, and a
 * blocking client for short control calls.
 *
 * Server helpers run on the thread of the loop that owns the evhttp.  The
 * client runs on the caller's thread with its own private event_base, so it
 * never touches (or blocks on) a daemon's loop; everything it creates is
 * freed before it returns, whatever the outcome.  While it runs, SIGPIPE is
 * blocked in the calling thread (a peer closing early must give an error,
 * not kill a non-daemon program) and a SIGPIPE it caused is consumed.
 */
#include "mw_http.h"

#include <arpa/inet.h>
#include <errno.h>
#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <jansson.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include "mw_conf.h"
#include "mw_sig.h"

#define HTTP_HOST_MAX 256
#define HTTP_RESPONSE_MAX ((size_t)64 << 20)

/* ------------------------------------------------------------ addresses */

/* Host and port of an "http://host[:port][/...]" URL (brackets stripped
 * from an IPv6 host, port 80 when missing). */
static int uri_host_port(const struct evhttp_uri *uri, const char *text,
                         char *host, size_t host_size, int *port,
                         mw_err_t *err)
{
    const char *scheme = evhttp_uri_get_scheme(uri);
    const char *h = evhttp_uri_get_host(uri);
    if (!scheme || strcasecmp(scheme, "http") != 0)
        return mw_err_set(err, MW_ERR_INVALID,
                          "%s: only http:// is supported", text);
    if (!h || h[0] == '\0')
        return mw_err_set(err, MW_ERR_INVALID, "%s: missing host", text);
    size_t hlen = strlen(h);
    if (h[0] == '[' && hlen > 2 && h[hlen - 1] == ']') {
        h++;
        hlen -= 2;
    }
    if (hlen >= host_size)
        return mw_err_set(err, MW_ERR_INVALID, "%s: host too long", text);
    memcpy(host, h, hlen);
    host[hlen] = '\0';
    *port = evhttp_uri_get_port(uri);
    if (*port < 0)
        *port = 80;
    return 0;
}

static int bound_port(evutil_socket_t fd)
{
    struct sockaddr_storage ss;
    socklen_t sl = sizeof(ss);
    if (getsockname(fd, (struct sockaddr *)&ss, &sl) != 0)
        return -1;
    if (ss.ss_family == AF_INET)
        return ntohs(((struct sockaddr_in *)&ss)->sin_port);
    if (ss.ss_family == AF_INET6)
        return ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
    return -1;
}

int mw_http_bind(struct evhttp *http, const char *listener, int *port,
                 mw_err_t *err)
{
    char host[HTTP_HOST_MAX];
    int want = 0;
    if (!listener)
        return mw_err_set(err, MW_ERR_INVALID, "listener not set");
    int rc = mw_conf_parse_listener(listener, host, sizeof(host), &want, err);
    if (rc != 0) {
        mw_err_prefix(err, "listener %s", listener);
        return rc;
    }
    errno = 0;
    struct evhttp_bound_socket *bs =
        evhttp_bind_socket_with_handle(http, host, (ev_uint16_t)want);
    if (!bs) {
        int e = errno;
        return mw_err_set(err, MW_ERR_IO, "cannot listen on %s: %s",
                          listener, e ? strerror(e) : "bind failed");
    }
    int got = bound_port(evhttp_bound_socket_get_fd(bs));
    if (got < 0) {
        int e = errno;
        evhttp_del_accept_socket(http, bs);
        return mw_err_set(err, MW_ERR_IO, "listener %s: getsockname: %s",
                          listener, strerror(e));
    }
    if (port)
        *port = got;
    return 0;
}

/* ------------------------------------------------------------ replies */

void mw_http_reply(struct evhttp_request *req, int status,
                   const char *content_type, const char *body, size_t len)
{
    struct evbuffer *out = evbuffer_new();
    if (content_type)
        evhttp_add_header(evhttp_request_get_output_headers(req),
                          "Content-Type", content_type);
    if (out && len > 0 && evbuffer_add(out, body, len) != 0) {
        evbuffer_free(out);
        out = NULL;
    }
    if (!out) {
        evhttp_send_error(req, 500, NULL);
        return;
    }
    /* NULL reason: libevent supplies the standard phrase for status. */
    evhttp_send_reply(req, status, NULL, out);
    evbuffer_free(out);
}

/* jansson refuses invalid UTF-8; a message built from peer input may hold
 * some, so those bytes become '?' rather than losing the whole reply. */
static void ascii_only(char *s)
{
    for (; *s; s++)
        if ((unsigned char)*s >= 0x80)
            *s = '?';
}

void mw_http_reply_error(struct evhttp_request *req, int status,
                         const char *fmt, ...)
{
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    json_t *obj = json_pack("{s:i,s:s}", "error_code", status, "message", msg);
    if (!obj) {
        ascii_only(msg);
        obj = json_pack("{s:i,s:s}", "error_code", status, "message", msg);
    }
    char *text = obj ? json_dumps(obj, JSON_COMPACT) : NULL;
    json_decref(obj);
    if (!text) {
        evhttp_send_error(req, status, NULL);
        return;
    }
    mw_http_reply(req, status, "application/json", text, strlen(text));
    free(text);
}

char *mw_http_body(struct evhttp_request *req, size_t max_bytes, size_t *len,
                   int *too_big)
{
    struct evbuffer *in = evhttp_request_get_input_buffer(req);
    size_t n = in ? evbuffer_get_length(in) : 0;
    if (too_big)
        *too_big = 0;
    if (len)
        *len = 0;
    if (n > max_bytes) {
        if (too_big)
            *too_big = 1;
        return NULL;
    }
    char *body = malloc(n + 1);
    if (!body)
        return NULL;
    if (n > 0 && evbuffer_copyout(in, body, n) != (ev_ssize_t)n) {
        free(body);
        return NULL;
    }
    body[n] = '\0';
    if (len)
        *len = n;
    return body;
}

/* ------------------------------------------------------------ client */

typedef struct call_ctx {
    struct event_base *base;
    int done;         /* the request callback ran */
    int timed_out;    /* our overall deadline fired first */
    int status;       /* 0 = no response (refused, reset, closed) */
    int refused;      /* the connect was refused */
    int req_err;      /* enum evhttp_request_error + 1, 0 = none */
    int nomem;
    char *body;
    size_t len;
} call_ctx_t;

static void call_copy_body(call_ctx_t *ctx, struct evhttp_request *req)
{
    struct evbuffer *in = evhttp_request_get_input_buffer(req);
    size_t n = in ? evbuffer_get_length(in) : 0;
    if (n == 0)
        return;
    ctx->body = malloc(n + 1);
    if (!ctx->body) {
        ctx->nomem = 1;
        return;
    }
    evbuffer_remove(in, ctx->body, n);
    ctx->body[n] = '\0';
    ctx->len = n;
}

/* Runs on the private loop; libevent frees req after we return.  With
 * libevent 2.1, a refused connect calls back with the request and status 0;
 * every other failure calls back with NULL after call_error_cb. */
static void call_done_cb(struct evhttp_request *req, void *arg)
{
    call_ctx_t *ctx = arg;
    if (ctx->done || ctx->timed_out)
        return;
    ctx->done = 1;
    ctx->status = req ? evhttp_request_get_response_code(req) : 0;
    if (ctx->status == 0)
        ctx->refused = req != NULL;
    else
        call_copy_body(ctx, req);
    event_base_loopbreak(ctx->base);
}

static void call_error_cb(enum evhttp_request_error what, void *arg)
{
    call_ctx_t *ctx = arg;
    ctx->req_err = (int)what + 1;
}

static void call_deadline_cb(evutil_socket_t fd, short what, void *arg)
{
    call_ctx_t *ctx = arg;
    (void)fd;
    (void)what;
    ctx->timed_out = 1;
    event_base_loopbreak(ctx->base);
}

static int method_cmd(const char *method, enum evhttp_cmd_type *cmd)
{
    static const struct {
        const char *name;
        enum evhttp_cmd_type cmd;
    } table[] = {
        {"GET", EVHTTP_REQ_GET},         {"POST", EVHTTP_REQ_POST},
        {"PUT", EVHTTP_REQ_PUT},         {"DELETE", EVHTTP_REQ_DELETE},
        {"HEAD", EVHTTP_REQ_HEAD},       {"PATCH", EVHTTP_REQ_PATCH},
        {"OPTIONS", EVHTTP_REQ_OPTIONS},
    };
    for (size_t i = 0; i < sizeof(table) / sizeof(table[0]); i++) {
        if (method && strcasecmp(method, table[i].name) == 0) {
            *cmd = table[i].cmd;
            return 0;
        }
    }
    return -1;
}

/* The parsed pieces of a request, so the steps below stay short. */
typedef struct call_req {
    const char *method, *url, *content_type, *body;
    size_t len;
    int timeout_ms;
    enum evhttp_cmd_type cmd;
    char host[HTTP_HOST_MAX];
    int port;
    char *target; /* path?query, malloc'd */
    char host_hdr[HTTP_HOST_MAX + 16];
} call_req_t;

static int call_parse(call_req_t *cr, mw_err_t *err)
{
    if (method_cmd(cr->method, &cr->cmd) != 0)
        return mw_err_set(err, MW_ERR_INVALID, "%s: unsupported method %s",
                          cr->url ? cr->url : "(null)",
                          cr->method ? cr->method : "(null)");
    if (cr->timeout_ms <= 0)
        return mw_err_set(err, MW_ERR_INVALID,
                          "%s: timeout_ms must be positive",
                          cr->url ? cr->url : "(null)");
    struct evhttp_uri *uri =
        cr->url ? evhttp_uri_parse_with_flags(cr->url, 0) : NULL;
    if (!uri)
        return mw_err_set(err, MW_ERR_INVALID,
                          "%s: not a valid http://host:port/path URL",
                          cr->url ? cr->url : "(null)");
    int rc = uri_host_port(uri, cr->url, cr->host, sizeof(cr->host),
                           &cr->port, err);
    const char *path = evhttp_uri_get_path(uri);
    const char *query = evhttp_uri_get_query(uri);
    if (rc == 0) {
        size_t n = strlen(path ? path : "") + strlen(query ? query : "") + 3;
        cr->target = malloc(n);
        if (!cr->target)
            rc = mw_err_set(err, MW_ERR_NOMEM, "%s: out of memory", cr->url);
        else
            snprintf(cr->target, n, "%s%s%s",
                     path && path[0] ? path : "/", query ? "?" : "",
                     query ? query : "");
    }
    /* The Host header keeps the brackets of an IPv6 literal. */
    if (rc == 0)
        snprintf(cr->host_hdr, sizeof(cr->host_hdr),
                 strchr(cr->host, ':') ? "[%s]:%d" : "%s:%d", cr->host,
                 cr->port);
    evhttp_uri_free(uri);
    return rc;
}

static int call_build(const call_req_t *cr, call_ctx_t *ctx,
                      struct evhttp_request **out, mw_err_t *err)
{
    struct evhttp_request *req = evhttp_request_new(call_done_cb, ctx);
    if (!req)
        return mw_err_set(err, MW_ERR_NOMEM, "%s: out of memory", cr->url);
    evhttp_request_set_error_cb(req, call_error_cb);
    struct evkeyvalq *h = evhttp_request_get_output_headers(req);
    int bad = evhttp_add_header(h, "Host", cr->host_hdr);
    bad |= evhttp_add_header(h, "Connection", "close");
    if (cr->body || cr->cmd == EVHTTP_REQ_POST || cr->cmd == EVHTTP_REQ_PUT ||
        cr->cmd == EVHTTP_REQ_PATCH) {
        char cl[32];
        snprintf(cl, sizeof(cl), "%zu", cr->body ? cr->len : 0);
        bad |= evhttp_add_header(h, "Content-Length", cl);
        if (cr->content_type)
            bad |= evhttp_add_header(h, "Content-Type", cr->content_type);
        if (cr->body && cr->len > 0)
            bad |= evbuffer_add(evhttp_request_get_output_buffer(req),
                                cr->body, cr->len);
    }
    if (bad) {
        evhttp_request_free(req);
        return mw_err_set(err, MW_ERR_INVALID,
                          "%s: cannot build the request (bad header value?)",
                          cr->url);
    }
    *out = req;
    return 0;
}

static const char *call_failure(const call_ctx_t *ctx)
{
    if (ctx->refused)
        return "connection refused";
    switch (ctx->req_err - 1) {
    case EVREQ_HTTP_EOF:
        return "cannot connect, or connection closed before a response";
    case EVREQ_HTTP_INVALID_HEADER:
        return "malformed response";
    case EVREQ_HTTP_BUFFER_ERROR:
        return "socket error";
    default:
        return "no response";
    }
}

static int call_outcome(const call_req_t *cr, call_ctx_t *ctx,
                        mw_http_response_t *resp, mw_err_t *err)
{
    if (ctx->timed_out ||
        ctx->req_err == (int)EVREQ_HTTP_TIMEOUT + 1)
        return mw_err_set(err, MW_ERR_TIMEOUT,
                          "%s %s: no response within %d ms", cr->method,
                          cr->url, cr->timeout_ms);
    if (ctx->nomem)
        return mw_err_set(err, MW_ERR_NOMEM, "%s %s: out of memory",
                          cr->method, cr->url);
    if (ctx->req_err == (int)EVREQ_HTTP_DATA_TOO_LONG + 1)
        return mw_err_set(err, MW_ERR_FULL,
                          "%s %s: response larger than %zu bytes",
                          cr->method, cr->url, HTTP_RESPONSE_MAX);
    if (!ctx->done || ctx->status == 0)
        return mw_err_set(err, MW_ERR_TRANSPORT, "%s %s: %s", cr->method,
                          cr->url, call_failure(ctx));
    resp->status = ctx->status;
    resp->body = ctx->body;
    resp->len = ctx->len;
    ctx->body = NULL;
    return 0;
}

/* Sends the request and runs the private loop until a response, a failure
 * or the deadline.  Frees every libevent object before returning. */
static int call_run(call_req_t *cr, mw_http_response_t *resp, mw_err_t *err)
{
    call_ctx_t ctx = {0};
    struct evhttp_connection *conn = NULL;
    struct event *deadline = NULL;
    struct evhttp_request *req = NULL;
    struct timeval tv = {cr->timeout_ms / 1000,
                         (cr->timeout_ms % 1000) * 1000};
    int rc = 0;

    ctx.base = event_base_new();
    if (ctx.base)
        conn = evhttp_connection_base_new(ctx.base, NULL, cr->host,
                                          (ev_uint16_t)cr->port);
    if (conn)
        deadline = evtimer_new(ctx.base, call_deadline_cb, &ctx);
    if (!deadline) {
        rc = mw_err_set(err, MW_ERR_NOMEM, "%s: cannot set up the client",
                        cr->url);
        goto out;
    }
    evhttp_connection_set_timeout_tv(conn, &tv);
    evhttp_connection_set_retries(conn, 0);
    evhttp_connection_set_max_body_size(conn, (ev_ssize_t)HTTP_RESPONSE_MAX);
    rc = call_build(cr, &ctx, &req, err);
    if (rc != 0)
        goto out;
    /* evhttp_make_request owns req from here, even when it fails.  A name
     * that does not resolve fails inside it, callback included: then the
     * loop must not run (a loopbreak before the loop starts is lost). */
    if (evhttp_make_request(conn, req, cr->cmd, cr->target) != 0 &&
        !ctx.done) {
        rc = mw_err_set(err, MW_ERR_TRANSPORT, "%s %s: cannot send request",
                        cr->method, cr->url);
        goto out;
    }
    if (!ctx.done) {
        evtimer_add(deadline, &tv);
        event_base_dispatch(ctx.base);
    }
    rc = call_outcome(cr, &ctx, resp, err);
out:
    if (conn)
        evhttp_connection_free(conn);
    if (deadline)
        event_free(deadline);
    if (ctx.base)
        event_base_free(ctx.base);
    free(ctx.body);
    return rc;
}

int mw_http_call(const char *method, const char *url, const char *content_type,
                 const char *body, size_t len, int timeout_ms,
                 mw_http_response_t *resp, mw_err_t *err)
{
    call_req_t cr = {.method = method, .url = url,
                     .content_type = content_type, .body = body, .len = len,
                     .timeout_ms = timeout_ms};
    int rc;

    if (!resp)
        return mw_err_set(err, MW_ERR_INVALID, "%s: no response holder",
                          url ? url : "(null)");
    resp->status = 0;
    resp->body = NULL;
    resp->len = 0;
    rc = call_parse(&cr, err);
    if (rc != 0) {
        free(cr.target);
        return rc;
    }
    mw_sig_pipe_guard_t guard;
    mw_sig_pipe_block(&guard);
    rc = call_run(&cr, resp, err);
    mw_sig_pipe_unblock(&guard);
    free(cr.target);
    return rc;
}

void mw_http_response_clear(mw_http_response_t *resp)
{
    if (!resp)
        return;
    free(resp->body);
    resp->body = NULL;
    resp->len = 0;
    resp->status = 0;
}
