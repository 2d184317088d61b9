/*
 * sr_client_int.h: the keep-alive HTTP transport under sr_client
 * (sr_client_http.c), shared with sr_client.c only.
 */
#ifndef SR_CLIENT_INT_H
#define SR_CLIENT_INT_H

#include <stddef.h>

#include "mw_err.h"

typedef struct sr_conn sr_conn_t;

/* An HTTP answer; body NUL-terminated, malloc'd, NULL when empty. */
typedef struct sr_reply {
    int status;
    char *body;
    size_t len;
} sr_reply_t;

/* One connection (reused across calls) to base_url's host and port, on a
 * private event_base.  NULL with MW_ERR_INVALID for a bad URL. */
sr_conn_t *sr_conn_new(const char *base_url, int timeout_ms, mw_err_t *err);
void sr_conn_destroy(sr_conn_t *conn);

/* Sends method path (path already URL-encoded, below the base URL's path
 * prefix) with an optional JSON body and waits for the answer, at most
 * timeout_ms.  0 when any answer arrived; MW_ERR_TRANSPORT, MW_ERR_TIMEOUT,
 * MW_ERR_NOMEM otherwise (the connection is then reset).  Caller's thread,
 * one call at a time per conn. */
int sr_conn_call(sr_conn_t *conn, const char *method, const char *path,
                 const char *body, sr_reply_t *reply, mw_err_t *err);
void sr_reply_clear(sr_reply_t *reply);

#endif /* SR_CLIENT_INT_H */
