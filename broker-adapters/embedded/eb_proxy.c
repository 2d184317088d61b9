/*
 * eb_proxy: the stable bootstrap listener of mesh-broker.
 *
 * Each accepted connection is first classified: we wait until it is
 * readable and peek (MSG_PEEK, nothing consumed) at its first 4 bytes.  An
 * HTTP method ("GET ", "POST", "PUT ", "DELE", "HEAD") goes to the control
 * endpoint, anything else is Kafka protocol and goes to an up mock broker
 * (broker 1 unless it is down).  No ambiguity is possible: a Kafka request
 * starts with its big-endian length, and those 4 ASCII bytes would announce
 * a request of more than 1 GiB.
 *
 * Kafka clients only use this address for bootstrap: Metadata advertises
 * the mock brokers' own addresses, and clients then connect to them
 * directly.  That is expected; the proxy exists so that the bootstrap
 * address stays stable while the mock picks random ports.
 *
 * Invariants: a connection holds at most EB_PROXY_MAX_BUFFERED bytes queued
 * towards each side (past it, reading from the other side stops until the
 * queue drains to half), so a slow peer applies backpressure instead of
 * growing memory.  When one side closes or fails, the bytes already queued
 * for the other side are delivered, then both are closed.
 *
 * Thread: everything runs on mesh-broker's loop thread.
 */
#include "eb_proxy.h"

#include <errno.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/listener.h>
#include <event2/util.h>

#include "mw_conf.h"
#include "mw_log.h"

#define EB_COMPONENT "proxy"
#define EB_PROXY_MAX_BUFFERED (1024 * 1024)
/* A client that connects and sends nothing for this long is dropped. */
#define EB_PEEK_TIMEOUT_SEC 30
/* A first segment shorter than 4 bytes that could still be an HTTP method
 * is peeked again after this delay, at most EB_PEEK_RETRIES times. */
#define EB_PEEK_RETRY_MS 5
#define EB_PEEK_RETRIES 200

enum { EB_CLIENT = 0, EB_UPSTREAM = 1 };

typedef struct eb_conn {
    eb_proxy_t *proxy;
    struct eb_conn *prev, *next;
    evutil_socket_t fd;     /* owned until side[EB_CLIENT] exists */
    struct event *peek_ev;  /* readable: classify the connection */
    struct event *retry_ev; /* timer: peek again after a short read */
    int retries;
    struct bufferevent *side[2]; /* client, upstream */
    bool paused[2];              /* reading from side[i] stopped */
    bool closing;                /* one side gone: flush, then close */
} eb_conn_t;

struct eb_proxy {
    struct event_base *base;
    struct evconnlistener *lev;
    eb_cluster_t *cluster;
    char *control_addr;
    int port;
    int conn_cnt;
    eb_conn_t *conns;
    mw_counter_t *conns_kafka, *conns_control;
    mw_counter_t *bytes[2]; /* indexed by the side the bytes came from */
};

static const char *const eb_http_methods[] = {"GET ", "POST", "PUT ", "DELE",
                                              "HEAD"};

static void eb_conn_free(eb_conn_t *conn)
{
    eb_proxy_t *proxy = conn->proxy;

    if (conn->peek_ev)
        event_free(conn->peek_ev);
    if (conn->retry_ev)
        event_free(conn->retry_ev);
    for (int i = 0; i < 2; i++)
        if (conn->side[i])
            bufferevent_free(conn->side[i]);
    if (!conn->side[EB_CLIENT] && conn->fd >= 0)
        evutil_closesocket(conn->fd);
    if (conn->prev)
        conn->prev->next = conn->next;
    else
        proxy->conns = conn->next;
    if (conn->next)
        conn->next->prev = conn->prev;
    proxy->conn_cnt--;
    free(conn);
}

/* Resolves "host:port" into *sa (numeric hosts or names; passive for a
 * listener).  The caller's listener string names the culprit in errors. */
static int eb_resolve(const char *hostport, bool passive,
                      struct sockaddr_storage *sa, socklen_t *sa_len,
                      mw_err_t *err)
{
    struct addrinfo hints = {.ai_family = AF_UNSPEC,
                             .ai_socktype = SOCK_STREAM,
                             .ai_flags = passive ? AI_PASSIVE : 0};
    struct addrinfo *res = NULL;
    char host[256], port_text[16];
    int port, rc;

    if (mw_conf_parse_listener(hostport, host, sizeof(host), &port, err) != 0)
        return MW_ERR_INVALID;
    snprintf(port_text, sizeof(port_text), "%d", port);
    rc = getaddrinfo(host[0] ? host : NULL, port_text, &hints, &res);
    if (rc != 0 || !res || res->ai_addrlen > sizeof(*sa)) {
        if (res)
            freeaddrinfo(res);
        return mw_err_set(err, MW_ERR_INVALID, "cannot resolve %s: %s",
                          hostport, rc ? gai_strerror(rc) : "no address");
    }
    memcpy(sa, res->ai_addr, res->ai_addrlen);
    *sa_len = (socklen_t)res->ai_addrlen;
    freeaddrinfo(res);
    return 0;
}

/* Moves what side i has read into the other side's output, pausing side i
 * when that output reaches the bound. */
static void eb_read_cb(struct bufferevent *bev, void *opaque)
{
    eb_conn_t *conn = opaque;
    int i = bev == conn->side[EB_CLIENT] ? EB_CLIENT : EB_UPSTREAM;
    struct bufferevent *peer = conn->side[1 - i];
    struct evbuffer *in = bufferevent_get_input(bev);
    size_t len = evbuffer_get_length(in);

    if (!peer || conn->closing) {
        evbuffer_drain(in, len);
        return;
    }
    evbuffer_add_buffer(bufferevent_get_output(peer), in);
    mw_counter_add(conn->proxy->bytes[i], len);
    if (evbuffer_get_length(bufferevent_get_output(peer)) >=
        EB_PROXY_MAX_BUFFERED) {
        bufferevent_disable(bev, EV_READ);
        conn->paused[i] = true;
        /* The peer's write callback fires once its queue is down to half. */
        bufferevent_setwatermark(peer, EV_WRITE, EB_PROXY_MAX_BUFFERED / 2, 0);
    }
}

/* Side j's output drained to its low watermark: either resume the side
 * that feeds it, or finish closing. */
static void eb_write_cb(struct bufferevent *bev, void *opaque)
{
    eb_conn_t *conn = opaque;
    int j = bev == conn->side[EB_CLIENT] ? EB_CLIENT : EB_UPSTREAM;
    struct bufferevent *feeder = conn->side[1 - j];

    if (conn->closing) {
        if (evbuffer_get_length(bufferevent_get_output(bev)) == 0)
            eb_conn_free(conn);
        return;
    }
    if (feeder && conn->paused[1 - j]) {
        conn->paused[1 - j] = false;
        bufferevent_setwatermark(bev, EV_WRITE, 0, 0);
        bufferevent_enable(feeder, EV_READ);
    }
}

/* EOF or error on side i.  Cases:
 *  1. the peer still has bytes queued: close side i now, let the peer
 *     flush (eb_write_cb frees the connection once its output is empty);
 *  2. otherwise close both now. */
static void eb_event_cb(struct bufferevent *bev, short what, void *opaque)
{
    eb_conn_t *conn = opaque;
    int i = bev == conn->side[EB_CLIENT] ? EB_CLIENT : EB_UPSTREAM;
    struct bufferevent *peer = conn->side[1 - i];

    if (what & BEV_EVENT_CONNECTED)
        return;
    if ((what & BEV_EVENT_ERROR) && !(what & BEV_EVENT_EOF))
        mw_log_debug(
            EB_COMPONENT, "connection side failed", "side=%s error=%s",
            i == EB_CLIENT ? "client" : "upstream",
            mw_log_q(evutil_socket_error_to_string(EVUTIL_SOCKET_ERROR())));
    if (peer && !conn->closing &&
        evbuffer_get_length(bufferevent_get_output(peer)) > 0) {
        bufferevent_free(bev);
        conn->side[i] = NULL;
        conn->closing = true;
        bufferevent_disable(peer, EV_READ);
        bufferevent_setwatermark(peer, EV_WRITE, 0, 0);
        return;
    }
    eb_conn_free(conn);
}

/* Target of a classified connection: "host:port", or NULL (all brokers
 * down: the client sees the connection close and retries). */
static const char *eb_target(eb_conn_t *conn, bool is_http)
{
    eb_proxy_t *proxy = conn->proxy;
    int id;

    if (is_http) {
        mw_counter_inc(proxy->conns_control);
        return proxy->control_addr;
    }
    mw_counter_inc(proxy->conns_kafka);
    id = eb_cluster_pick_broker(proxy->cluster);
    if (id < 0) {
        mw_log_warn(EB_COMPONENT, "connection refused, all brokers down", "");
        return NULL;
    }
    return eb_cluster_broker_address(proxy->cluster, id);
}

/* Builds both bufferevents and connects upstream; false closes. */
static bool eb_conn_forward(eb_conn_t *conn, bool is_http)
{
    struct event_base *base = conn->proxy->base;
    const char *target = eb_target(conn, is_http);
    struct sockaddr_storage sa;
    socklen_t sa_len;
    mw_err_t err;

    if (!target || eb_resolve(target, false, &sa, &sa_len, &err) != 0)
        return false;
    conn->side[EB_CLIENT] =
        bufferevent_socket_new(base, conn->fd, BEV_OPT_CLOSE_ON_FREE);
    if (!conn->side[EB_CLIENT])
        return false;
    conn->side[EB_UPSTREAM] =
        bufferevent_socket_new(base, -1, BEV_OPT_CLOSE_ON_FREE);
    if (!conn->side[EB_UPSTREAM])
        return false;
    for (int i = 0; i < 2; i++) {
        bufferevent_setcb(conn->side[i], eb_read_cb, eb_write_cb, eb_event_cb,
                          conn);
        bufferevent_setwatermark(conn->side[i], EV_READ, 0,
                                 EB_PROXY_MAX_BUFFERED);
    }
    if (bufferevent_socket_connect(conn->side[EB_UPSTREAM],
                                   (struct sockaddr *)&sa, (int)sa_len) != 0) {
        mw_log_warn(EB_COMPONENT, "upstream connect failed", "target=%s",
                    target);
        return false;
    }
    for (int i = 0; i < 2; i++)
        bufferevent_enable(conn->side[i], EV_READ | EV_WRITE);
    mw_log_debug(EB_COMPONENT, "connection forwarded", "kind=%s target=%s",
                 is_http ? "http" : "kafka", target);
    return true;
}

/* 0: not HTTP; 1: HTTP; -1: too short to tell yet (an HTTP prefix). */
static int eb_classify(const char *head, ssize_t len)
{
    bool prefix = false;

    for (size_t m = 0; m < sizeof(eb_http_methods) / sizeof(*eb_http_methods);
         m++) {
        if (len >= 4 && memcmp(head, eb_http_methods[m], 4) == 0)
            return 1;
        if (len < 4 && memcmp(head, eb_http_methods[m], (size_t)len) == 0)
            prefix = true;
    }
    return prefix ? -1 : 0;
}

static void eb_peek_cb(evutil_socket_t fd, short what, void *opaque)
{
    eb_conn_t *conn = opaque;
    char head[4];
    ssize_t n;
    int kind;

    if (what & EV_TIMEOUT) {
        eb_conn_free(conn);
        return;
    }
    n = recv(fd, head, sizeof(head), MSG_PEEK);
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) {
        event_add(conn->peek_ev, &(struct timeval){EB_PEEK_TIMEOUT_SEC, 0});
        return;
    }
    if (n <= 0) {
        eb_conn_free(conn);
        return;
    }
    kind = eb_classify(head, n);
    if (kind < 0 && conn->retries++ < EB_PEEK_RETRIES) {
        /* Level-triggered readiness would fire again at once: wait a
         * moment for the rest of the method instead of spinning. */
        event_add(conn->retry_ev,
                  &(struct timeval){0, EB_PEEK_RETRY_MS * 1000});
        return;
    }
    event_free(conn->peek_ev);
    conn->peek_ev = NULL;
    if (!eb_conn_forward(conn, kind > 0))
        eb_conn_free(conn);
}

static void eb_retry_cb(evutil_socket_t fd, short what, void *opaque)
{
    eb_conn_t *conn = opaque;

    (void)fd;
    (void)what;
    event_add(conn->peek_ev, &(struct timeval){EB_PEEK_TIMEOUT_SEC, 0});
}

static void eb_accept_cb(struct evconnlistener *lev, evutil_socket_t fd,
                         struct sockaddr *sa, int sa_len, void *opaque)
{
    eb_proxy_t *proxy = opaque;
    eb_conn_t *conn = calloc(1, sizeof(*conn));

    (void)lev;
    (void)sa;
    (void)sa_len;
    if (!conn) {
        evutil_closesocket(fd);
        return;
    }
    conn->proxy = proxy;
    conn->fd = fd;
    conn->next = proxy->conns;
    if (proxy->conns)
        proxy->conns->prev = conn;
    proxy->conns = conn;
    proxy->conn_cnt++;
    conn->peek_ev = event_new(proxy->base, fd, EV_READ, eb_peek_cb, conn);
    conn->retry_ev = evtimer_new(proxy->base, eb_retry_cb, conn);
    if (!conn->peek_ev || !conn->retry_ev ||
        event_add(conn->peek_ev, &(struct timeval){EB_PEEK_TIMEOUT_SEC, 0})) {
        eb_conn_free(conn);
    }
}

static void eb_accept_error_cb(struct evconnlistener *lev, void *opaque)
{
    int e = EVUTIL_SOCKET_ERROR();

    (void)lev;
    (void)opaque;
    /* EMFILE and friends: the listener keeps running, the client retries. */
    mw_log_warn(EB_COMPONENT, "accept failed", "error=%s",
                mw_log_q(evutil_socket_error_to_string(e)));
}

static void eb_proxy_metrics(eb_proxy_t *proxy, mw_metrics_t *reg)
{
    static const char conns_help[] =
        "Connections accepted on the bootstrap address, by target.";
    static const char bytes_help[] =
        "Bytes forwarded by the bootstrap proxy, by direction.";

    proxy->conns_kafka = mw_metrics_counter(
        reg, "mesh_broker_connections_total", conns_help, "target=\"kafka\"");
    proxy->conns_control = mw_metrics_counter(
        reg, "mesh_broker_connections_total", conns_help, "target=\"control\"");
    proxy->bytes[EB_CLIENT] =
        mw_metrics_counter(reg, "mesh_broker_proxy_bytes_total", bytes_help,
                           "direction=\"upstream\"");
    proxy->bytes[EB_UPSTREAM] =
        mw_metrics_counter(reg, "mesh_broker_proxy_bytes_total", bytes_help,
                           "direction=\"downstream\"");
}

static int eb_proxy_bind(eb_proxy_t *proxy, const char *listener, mw_err_t *err)
{
    struct sockaddr_storage sa;
    socklen_t sa_len = sizeof(sa);
    int e;

    if (eb_resolve(listener, true, &sa, &sa_len, err) != 0)
        return mw_err_prefix(err, "bootstrap.listener");
    proxy->lev = evconnlistener_new_bind(
        proxy->base, eb_accept_cb, proxy,
        LEV_OPT_CLOSE_ON_FREE | LEV_OPT_REUSEABLE | LEV_OPT_CLOSE_ON_EXEC, -1,
        (struct sockaddr *)&sa, (int)sa_len);
    if (!proxy->lev) {
        e = EVUTIL_SOCKET_ERROR();
        return mw_err_set(err, MW_ERR_IO,
                          "bootstrap.listener: cannot listen "
                          "on %s: %s",
                          listener, evutil_socket_error_to_string(e));
    }
    evconnlistener_set_error_cb(proxy->lev, eb_accept_error_cb);
    sa_len = sizeof(sa);
    if (getsockname(evconnlistener_get_fd(proxy->lev), (struct sockaddr *)&sa,
                    &sa_len) != 0)
        return mw_err_set(err, MW_ERR_IO, "getsockname on %s: %s", listener,
                          strerror(errno));
    proxy->port =
        ntohs(sa.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&sa)->sin6_port
                                       : ((struct sockaddr_in *)&sa)->sin_port);
    return 0;
}

eb_proxy_t *eb_proxy_new(const eb_proxy_conf_t *conf, mw_err_t *err)
{
    eb_proxy_t *proxy = calloc(1, sizeof(*proxy));

    if (!proxy || !(proxy->control_addr = strdup(conf->control_addr))) {
        free(proxy);
        mw_err_set(err, MW_ERR_NOMEM, "out of memory creating the proxy");
        return NULL;
    }
    proxy->base = conf->base;
    proxy->cluster = conf->cluster;
    eb_proxy_metrics(proxy, conf->metrics);
    if (eb_proxy_bind(proxy, conf->listener, err) != 0) {
        eb_proxy_destroy(proxy);
        return NULL;
    }
    mw_log_info(EB_COMPONENT, "bootstrap listening", "listener=%s port=%d",
                conf->listener, proxy->port);
    return proxy;
}

void eb_proxy_destroy(eb_proxy_t *proxy)
{
    if (!proxy)
        return;
    if (proxy->lev)
        evconnlistener_free(proxy->lev);
    while (proxy->conns)
        eb_conn_free(proxy->conns);
    free(proxy->control_addr);
    free(proxy);
}

int eb_proxy_port(const eb_proxy_t *proxy)
{
    return proxy->port;
}

int eb_proxy_conn_cnt(const eb_proxy_t *proxy)
{
    return proxy->conn_cnt;
}
