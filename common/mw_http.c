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
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <jansson.h>
#include <netinet/in.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
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
                         char *host, size_t host_size, int *port, bool *tls,
                         mw_err_t *err)
{
    const char *scheme = evhttp_uri_get_scheme(uri);
    const char *h = evhttp_uri_get_host(uri);
    *tls = scheme && strcasecmp(scheme, "https") == 0;
    if (!scheme || (strcasecmp(scheme, "http") != 0 && !*tls))
        return mw_err_set(err, MW_ERR_INVALID,
                          "%s: only http:// and https:// are supported", text);
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
        *port = *tls ? 443 : 80;
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
        return mw_err_set(err, MW_ERR_IO, "cannot listen on %s: %s", listener,
                          e ? strerror(e) : "bind failed");
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

/* One connection to one host and port, on its own event_base, which only
 * runs while a call is in flight (on the caller's thread).  keep_alive:
 * the evhttp_connection is kept across calls; after a timeout or a
 * transport failure it is freed (it may hold a half-sent request) and the
 * next call connects afresh.  mw_http_call is one call on a connection
 * made for it, with "Connection: close". */
struct mw_http_conn {
    struct event_base *base;
    struct evhttp_connection *evcon; /* NULL until used, or after a reset */
    char host[HTTP_HOST_MAX];
    char host_hdr[HTTP_HOST_MAX + 16];
    char *url;    /* the base URL without trailing '/', for messages */
    char *prefix; /* the base URL's path without trailing '/' */
    int port;
    int timeout_ms;
    bool keep_alive;
    bool tls;         /* https:// */
    SSL_CTX *ssl_ctx; /* with tls */
};

typedef struct call_ctx {
    struct event_base *base;
    int done;      /* the request callback ran */
    int timed_out; /* our overall deadline fired first */
    int status;    /* 0 = no response (refused, reset, closed) */
    int refused;   /* the connect was refused */
    int req_err;   /* enum evhttp_request_error + 1, 0 = none */
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

/* Host, port and Host header of url into conn; *path and *query (borrowed
 * from *urip, which the caller frees) when wanted. */
static int conn_parse(mw_http_conn_t *conn, const char *url,
                      struct evhttp_uri **urip, mw_err_t *err)
{
    struct evhttp_uri *uri = url ? evhttp_uri_parse_with_flags(url, 0) : NULL;

    *urip = uri;
    if (!uri)
        return mw_err_set(err, MW_ERR_INVALID,
                          "%s: not a valid http://host:port/path URL",
                          url ? url : "(null)");
    if (uri_host_port(uri, url, conn->host, sizeof(conn->host), &conn->port,
                      &conn->tls, err) != 0)
        return err->code;
    /* https://: the server's certificate is verified against the system's
     * CAs (or mw_http_conn_set_ca's) and must name the host. */
    if (conn->tls && !(conn->ssl_ctx = SSL_CTX_new(TLS_client_method())))
        return mw_err_set(err, MW_ERR_NOMEM, "%s: out of memory", url);
    if (conn->tls) {
        SSL_CTX_set_min_proto_version(conn->ssl_ctx, TLS1_2_VERSION);
        SSL_CTX_set_verify(conn->ssl_ctx, SSL_VERIFY_PEER, NULL);
        SSL_CTX_set_default_verify_paths(conn->ssl_ctx);
    }
    /* The Host header keeps the brackets of an IPv6 literal. */
    snprintf(conn->host_hdr, sizeof(conn->host_hdr),
             strchr(conn->host, ':') ? "[%s]:%d" : "%s:%d", conn->host,
             conn->port);
    return 0;
}

static char *strip_slashes(const char *s)
{
    size_t n = s ? strlen(s) : 0;
    while (n > 0 && s[n - 1] == '/')
        n--;
    return strndup(s ? s : "", n);
}

/* A connection object for url; path_out (may be NULL) receives url's
 * path?query ("/" when empty), malloc'd. */
static mw_http_conn_t *conn_new(const char *url, int timeout_ms,
                                bool keep_alive, char **path_out, mw_err_t *err)
{
    mw_http_conn_t *conn = calloc(1, sizeof(*conn));
    struct evhttp_uri *uri = NULL;
    int rc;

    if (!conn) {
        mw_err_set(err, MW_ERR_NOMEM, "out of memory");
        return NULL;
    }
    conn->timeout_ms = timeout_ms;
    conn->keep_alive = keep_alive;
    rc = timeout_ms > 0 ? conn_parse(conn, url, &uri, err)
                        : mw_err_set(err, MW_ERR_INVALID,
                                     "%s: timeout_ms must be positive",
                                     url ? url : "(null)");
    if (rc == 0) {
        const char *path = evhttp_uri_get_path(uri);
        const char *query = evhttp_uri_get_query(uri);
        conn->url = strip_slashes(url);
        conn->prefix = strip_slashes(path);
        conn->base = event_base_new();
        if (path_out &&
            asprintf(path_out, "%s%s%s", path && path[0] ? path : "/",
                     query ? "?" : "", query ? query : "") < 0)
            *path_out = NULL;
        if (!conn->url || !conn->prefix || !conn->base ||
            (path_out && !*path_out))
            rc = mw_err_set(err, MW_ERR_NOMEM, "%s: out of memory", url);
    }
    if (uri)
        evhttp_uri_free(uri);
    if (rc != 0) {
        mw_http_conn_destroy(conn);
        return NULL;
    }
    return conn;
}

mw_http_conn_t *mw_http_conn_new(const char *base_url, int timeout_ms,
                                 mw_err_t *err)
{
    return conn_new(base_url, timeout_ms, true, NULL, err);
}

static void conn_reset(mw_http_conn_t *conn)
{
    if (conn->evcon)
        evhttp_connection_free(conn->evcon);
    conn->evcon = NULL;
}

void mw_http_conn_destroy(mw_http_conn_t *conn)
{
    if (!conn)
        return;
    conn_reset(conn);
    if (conn->base)
        event_base_free(conn->base);
    SSL_CTX_free(conn->ssl_ctx);
    free(conn->url);
    free(conn->prefix);
    free(conn);
}

/* An evhttp connection over an OpenSSL bufferevent that checks the
 * server's name (an IP literal against the certificate's IP addresses),
 * or NULL. */
static struct evhttp_connection *conn_tls_evcon(mw_http_conn_t *conn)
{
    SSL *ssl = SSL_new(conn->ssl_ctx);
    struct in6_addr a6;
    struct in_addr a4;
    struct bufferevent *bev;
    bool ip = inet_pton(AF_INET, conn->host, &a4) == 1 ||
              inet_pton(AF_INET6, conn->host, &a6) == 1;

    if (!ssl)
        return NULL;
    if ((ip &&
         !X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), conn->host)) ||
        (!ip && (!SSL_set1_host(ssl, conn->host) ||
                 !SSL_set_tlsext_host_name(ssl, conn->host)))) {
        SSL_free(ssl);
        return NULL;
    }
    bev = bufferevent_openssl_socket_new(
        conn->base, -1, ssl, BUFFEREVENT_SSL_CONNECTING,
        BEV_OPT_CLOSE_ON_FREE | BEV_OPT_DEFER_CALLBACKS);
    if (!bev)
        return NULL;
    /* Servers often close without a TLS close_notify after an answer
     * with "Connection: close"; that is the end of the body, not an
     * attack on it (the length is known from the headers). */
    bufferevent_openssl_set_allow_dirty_shutdown(bev, 1);
    return evhttp_connection_base_bufferevent_new(
        conn->base, NULL, bev, conn->host, (ev_uint16_t)conn->port);
}

int mw_http_conn_set_ca(mw_http_conn_t *conn, const char *ca_file,
                        mw_err_t *err)
{
    unsigned long e;
    char why[256];

    if (!conn->tls)
        return mw_err_set(err, MW_ERR_INVALID,
                          "%s: a CA file is for https:// only", conn->url);
    if (SSL_CTX_load_verify_locations(conn->ssl_ctx, ca_file, NULL) == 1)
        return 0;
    e = ERR_get_error();
    ERR_error_string_n(e, why, sizeof(why));
    ERR_clear_error();
    return mw_err_set(err, MW_ERR_CONFIG, "%s: %s", ca_file, why);
}

static int conn_ready(mw_http_conn_t *conn, const char *what, mw_err_t *err)
{
    struct timeval tv = {conn->timeout_ms / 1000,
                         (conn->timeout_ms % 1000) * 1000};

    if (conn->evcon)
        return 0;
    if (conn->tls)
        conn->evcon = conn_tls_evcon(conn);
    else
        conn->evcon = evhttp_connection_base_new(conn->base, NULL, conn->host,
                                                 (ev_uint16_t)conn->port);
    if (!conn->evcon)
        return mw_err_set(err, MW_ERR_NOMEM, "%s: cannot set up the client",
                          what);
    evhttp_connection_set_timeout_tv(conn->evcon, &tv);
    evhttp_connection_set_retries(conn->evcon, 0);
    evhttp_connection_set_max_body_size(conn->evcon,
                                        (ev_ssize_t)HTTP_RESPONSE_MAX);
    return 0;
}

/* The one HTTP/1.1 request writer (headers and body on top of evhttp). */
static struct evhttp_request *call_build(const mw_http_conn_t *conn,
                                         const mw_http_request_t *rq,
                                         enum evhttp_cmd_type cmd,
                                         const char *what, call_ctx_t *ctx,
                                         mw_err_t *err)
{
    struct evhttp_request *req = evhttp_request_new(call_done_cb, ctx);
    if (!req) {
        mw_err_set(err, MW_ERR_NOMEM, "%s: out of memory", what);
        return NULL;
    }
    evhttp_request_set_error_cb(req, call_error_cb);
    struct evkeyvalq *h = evhttp_request_get_output_headers(req);
    int bad = evhttp_add_header(h, "Host", conn->host_hdr);
    if (!conn->keep_alive)
        bad |= evhttp_add_header(h, "Connection", "close");
    if (rq->accept)
        bad |= evhttp_add_header(h, "Accept", rq->accept);
    if (rq->authorization)
        bad |= evhttp_add_header(h, "Authorization", rq->authorization);
    if (rq->body || cmd == EVHTTP_REQ_POST || cmd == EVHTTP_REQ_PUT ||
        cmd == EVHTTP_REQ_PATCH) {
        char cl[32];
        snprintf(cl, sizeof(cl), "%zu", rq->body ? rq->len : 0);
        bad |= evhttp_add_header(h, "Content-Length", cl);
        if (rq->content_type)
            bad |= evhttp_add_header(h, "Content-Type", rq->content_type);
        if (rq->body && rq->len > 0)
            bad |= evbuffer_add(evhttp_request_get_output_buffer(req), rq->body,
                                rq->len);
    }
    if (bad) {
        evhttp_request_free(req);
        mw_err_set(err, MW_ERR_INVALID,
                   "%s: cannot build the request (bad header value?)", what);
        return NULL;
    }
    return req;
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

/* The one response reader: what the callbacks saw, as a result. */
static int call_outcome(const mw_http_conn_t *conn, const char *what,
                        call_ctx_t *ctx, mw_http_response_t *resp,
                        mw_err_t *err)
{
    if (ctx->timed_out || ctx->req_err == (int)EVREQ_HTTP_TIMEOUT + 1)
        return mw_err_set(err, MW_ERR_TIMEOUT, "%s: no response within %d ms",
                          what, conn->timeout_ms);
    if (ctx->nomem)
        return mw_err_set(err, MW_ERR_NOMEM, "%s: out of memory", what);
    if (ctx->req_err == (int)EVREQ_HTTP_DATA_TOO_LONG + 1)
        return mw_err_set(err, MW_ERR_FULL,
                          "%s: response larger than %zu bytes", what,
                          HTTP_RESPONSE_MAX);
    if (!ctx->done || ctx->status == 0)
        return mw_err_set(err, MW_ERR_TRANSPORT, "%s: %s", what,
                          call_failure(ctx));
    resp->status = ctx->status;
    resp->body = ctx->body;
    resp->len = ctx->len;
    ctx->body = NULL;
    return 0;
}

/* Sends the request for target (the full path) and runs the private loop
 * until a response, a failure or the deadline.  what names the call in
 * messages ("GET http://host:port/path").  The connection is reset after
 * any failure. */
static int call_run(mw_http_conn_t *conn, const mw_http_request_t *rq,
                    const char *target, const char *what,
                    mw_http_response_t *resp, mw_err_t *err)
{
    call_ctx_t ctx = {.base = conn->base};
    struct event *deadline = NULL;
    struct evhttp_request *req = NULL;
    struct timeval tv = {conn->timeout_ms / 1000,
                         (conn->timeout_ms % 1000) * 1000};
    enum evhttp_cmd_type cmd;
    int rc;

    if (method_cmd(rq->method, &cmd) != 0)
        return mw_err_set(err, MW_ERR_INVALID, "%s: unsupported method %s",
                          what, rq->method ? rq->method : "(null)");
    rc = conn_ready(conn, what, err);
    if (rc == 0 &&
        !(deadline = evtimer_new(conn->base, call_deadline_cb, &ctx)))
        rc =
            mw_err_set(err, MW_ERR_NOMEM, "%s: cannot set up the client", what);
    if (rc == 0 && !(req = call_build(conn, rq, cmd, what, &ctx, err)))
        rc = err->code;
    /* evhttp_make_request owns req from here, even when it fails.  A name
     * that does not resolve fails inside it, callback included: then the
     * loop must not run (a loopbreak before the loop starts is lost). */
    if (rc == 0 && evhttp_make_request(conn->evcon, req, cmd, target) != 0 &&
        !ctx.done)
        rc = mw_err_set(err, MW_ERR_TRANSPORT, "%s: cannot send request", what);
    if (rc == 0 && !ctx.done) {
        evtimer_add(deadline, &tv);
        event_base_dispatch(conn->base);
    }
    if (rc == 0)
        rc = call_outcome(conn, what, &ctx, resp, err);
    if (rc != 0 || !conn->keep_alive)
        conn_reset(conn);
    if (deadline)
        event_free(deadline);
    free(ctx.body);
    return rc;
}

/* call_run with SIGPIPE blocked in the calling thread (see mw_sig.h). */
static int call_guarded(mw_http_conn_t *conn, const mw_http_request_t *rq,
                        const char *target, const char *what,
                        mw_http_response_t *resp, mw_err_t *err)
{
    mw_sig_pipe_guard_t guard;
    int rc;

    mw_sig_pipe_block(&guard);
    rc = call_run(conn, rq, target, what, resp, err);
    mw_sig_pipe_unblock(&guard);
    return rc;
}

static void response_reset(mw_http_response_t *resp)
{
    resp->status = 0;
    resp->body = NULL;
    resp->len = 0;
}

int mw_http_conn_call(mw_http_conn_t *conn, const mw_http_request_t *rq,
                      mw_http_response_t *resp, mw_err_t *err)
{
    char *target = NULL, *what = NULL;
    const char *path = rq->path ? rq->path : "";
    int rc;

    response_reset(resp);
    if (asprintf(&target, "%s%s", conn->prefix, path) < 0)
        target = NULL;
    if (asprintf(&what, "%s %s%s", rq->method ? rq->method : "(null)",
                 conn->url, path) < 0)
        what = NULL;
    rc = target && what ? call_guarded(conn, rq, target, what, resp, err)
                        : mw_err_set(err, MW_ERR_NOMEM, "out of memory");
    free(target);
    free(what);
    return rc;
}

int mw_http_call(const char *url, const mw_http_request_t *req, int timeout_ms,
                 mw_http_response_t *resp, mw_err_t *err)
{
    const char *method = req->method;
    enum evhttp_cmd_type cmd;
    mw_http_conn_t *conn;
    char *target = NULL, *what = NULL;
    int rc;

    if (!resp)
        return mw_err_set(err, MW_ERR_INVALID, "%s: no response holder",
                          url ? url : "(null)");
    response_reset(resp);
    if (method_cmd(method, &cmd) != 0)
        return mw_err_set(err, MW_ERR_INVALID, "%s: unsupported method %s",
                          url ? url : "(null)", method ? method : "(null)");
    conn = conn_new(url, timeout_ms, false, &target, err);
    if (!conn)
        return err->code;
    rc = asprintf(&what, "%s %s", method, url) < 0
             ? mw_err_set(err, MW_ERR_NOMEM, "%s: out of memory", url)
             : call_guarded(conn, req, target, what, resp, err);
    mw_http_conn_destroy(conn);
    free(target);
    free(what);
    return rc;
}

void mw_http_response_clear(mw_http_response_t *resp)
{
    if (!resp)
        return;
    free(resp->body);
    response_reset(resp);
}
