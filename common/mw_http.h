/*
 * mw_http: small helpers shared by every HTTP server and client in Meshwork,
 * on top of libevent's evhttp.
 *
 *  - binding a listener string with port 0 support, reporting the port;
 *  - sending a JSON or text reply with the right headers;
 *  - the one blocking HTTP/1.1 client: a keep-alive connection object
 *    (mw_http_conn_*, used by the registry client) and one-shot calls
 *    (mw_http_call, for tools and tests), both run on a private
 *    event_base so they never touch the caller's loop, with SIGPIPE
 *    blocked around their writes (mw_sig.h).
 */
#ifndef MW_HTTP_H
#define MW_HTTP_H

#include <stddef.h>

#include "mw_err.h"

struct evhttp;
struct evhttp_request;

/* Binds http to listener ("host:port" or "http://host:port").  Stores the
 * bound port in *port (may be NULL).  Errors name the listener and errno. */
int mw_http_bind(struct evhttp *http, const char *listener, int *port,
                 mw_err_t *err);

/* Replies with status, Content-Type and body (copied). */
void mw_http_reply(struct evhttp_request *req, int status,
                   const char *content_type, const char *body, size_t len);

/* Replies {"error_code": status, "message": msg} as application/json. */
void mw_http_reply_error(struct evhttp_request *req, int status,
                         const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Reads the request body into a NUL-terminated malloc'd string (caller
 * frees), at most max_bytes; NULL when larger (*too_big set) or on ENOMEM. */
char *mw_http_body(struct evhttp_request *req, size_t max_bytes, size_t *len,
                   int *too_big);

/* One request: method, body, headers (req->path is used on a connection
 * only; a one-shot call takes the whole URL). */
typedef struct mw_http_request {
    const char *method;       /* "GET", "POST", ... */
    const char *path;         /* path[?query], URL-encoded, below the base
                               * URL's path prefix */
    const char *content_type; /* of body, or NULL */
    const char *accept;       /* Accept header, or NULL */
    const char *body;         /* may be NULL */
    size_t len;
    const char *authorization; /* Authorization header value, or NULL */
} mw_http_request_t;

/* Response of mw_http_call(); free with mw_http_response_clear(). */
typedef struct mw_http_response {
    int status; /* HTTP status, e.g. 200 */
    char *body; /* NUL-terminated, malloc'd; NULL when empty */
    size_t len;
} mw_http_response_t;

/* Blocking request to url ("http://host:port/path"): req's method, content
 * type and body (may be NULL; req->path is not used).
 * Returns 0 when a response arrived (whatever its status), MW_ERR_TRANSPORT
 * when the peer is unreachable, MW_ERR_TIMEOUT past timeout_ms,
 * MW_ERR_INVALID for a bad URL.  Any thread; does not use the caller's loop. */
int mw_http_call(const char *url, const mw_http_request_t *req, int timeout_ms,
                 mw_http_response_t *resp, mw_err_t *err);
void mw_http_response_clear(mw_http_response_t *resp);

/* A keep-alive connection to base_url's host and port ("http://host:port"
 * with an optional path prefix), reused across calls; after a timeout or a
 * transport failure it is reset and the next call connects afresh.
 * timeout_ms (positive) bounds each call.  NULL with MW_ERR_INVALID for a
 * bad URL or timeout, MW_ERR_NOMEM. */
typedef struct mw_http_conn mw_http_conn_t;
/* base_url may be https://: the connection then speaks TLS (1.2 or
 * later) and verifies the server's certificate against the system's CAs
 * and its name against the URL's host. */
mw_http_conn_t *mw_http_conn_new(const char *base_url, int timeout_ms,
                                 mw_err_t *err);

/* Verifies an https:// connection's server against the PEM CA
 * certificates of ca_file too (Confluent's ssl.ca.location).  0, or
 * MW_ERR_CONFIG naming the file and OpenSSL's reason, MW_ERR_INVALID for
 * an http:// connection. */
int mw_http_conn_set_ca(mw_http_conn_t *conn, const char *ca_file,
                        mw_err_t *err);

/* Closes the connection.  NULL-safe. */
void mw_http_conn_destroy(mw_http_conn_t *conn);

/* Sends the request and waits for the answer, with mw_http_call's results
 * and errors (messages name method and URL).  The caller's thread, one
 * call at a time per connection. */
int mw_http_conn_call(mw_http_conn_t *conn, const mw_http_request_t *req,
                      mw_http_response_t *resp, mw_err_t *err);

#endif /* MW_HTTP_H */
