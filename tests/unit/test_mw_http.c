/*
 * Unit tests for mw_http and mw_ops over real loopback HTTP (these modules
 * are the HTTP layer, so a socket is the unit).  Servers bind 127.0.0.1
 * port 0 and run their event_base on a second thread while the test thread
 * plays the client with mw_http_call, or with a raw socket when the exact
 * response headers matter.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <arpa/inet.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/thread.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "mw_http.h"
#include "mw_metrics.h"
#include "mw_ops.h"

#define CALL_TIMEOUT_MS 5000

/* ------------------------------------------------------------ fixtures */

typedef struct loop_thread {
    struct event_base *base;
    pthread_t th;
} loop_thread_t;

static void *loop_main(void *arg)
{
    loop_thread_t *lt = arg;
    event_base_dispatch(lt->base);
    return NULL;
}

static void loop_start(loop_thread_t *lt)
{
    assert_int_equal(pthread_create(&lt->th, NULL, loop_main, lt), 0);
}

static void loop_stop(loop_thread_t *lt)
{
    event_base_loopbreak(lt->base);
    pthread_join(lt->th, NULL);
}

static atomic_bool broker_up = true;

static bool broker_check(void *opaque, char *reason, size_t reason_size)
{
    (void)opaque;
    if (atomic_load(&broker_up))
        return true;
    snprintf(reason, reason_size, "no broker up");
    return false;
}

static bool always_ok(void *opaque, char *reason, size_t reason_size)
{
    (void)opaque;
    (void)reason;
    (void)reason_size;
    return true;
}

static void url_for(char *url, size_t size, int port, const char *path)
{
    snprintf(url, size, "http://127.0.0.1:%d%s", port, path);
}

/* Sends a raw request and returns the whole response (caller frees). */
static char *raw_request(int port, const char *request)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET,
                             .sin_port = htons((uint16_t)port)};
    inet_pton(AF_INET, "127.0.0.1", &sa.sin_addr);
    assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    size_t len = strlen(request);
    assert_int_equal(write(fd, request, len), (ssize_t)len);
    size_t cap = 65536, got = 0;
    char *out = malloc(cap);
    ssize_t n;
    while ((n = read(fd, out + got, cap - 1 - got)) > 0)
        got += (size_t)n;
    out[got] = '\0';
    close(fd);
    return out;
}

/* A port nobody listens on: bound then released. */
static int closed_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET};
    socklen_t sl = sizeof(sa);
    inet_pton(AF_INET, "127.0.0.1", &sa.sin_addr);
    assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    assert_int_equal(getsockname(fd, (struct sockaddr *)&sa, &sl), 0);
    close(fd);
    return ntohs(sa.sin_port);
}

/* ------------------------------------------------------------ mw_ops */

typedef struct ops_fixture {
    loop_thread_t lt;
    mw_metrics_t *reg;
    mw_ops_t *ops;
    int port;
} ops_fixture_t;

static int ops_setup(void **state)
{
    static ops_fixture_t fx;
    mw_err_t err;
    memset(&fx, 0, sizeof(fx));
    fx.lt.base = event_base_new();
    fx.reg = mw_metrics_new();
    fx.ops = mw_ops_new(fx.lt.base, "127.0.0.1:0", 0, fx.reg, &err);
    assert_non_null(fx.ops);
    fx.port = mw_ops_port(fx.ops);
    assert_true(fx.port > 0);
    assert_int_equal(mw_ops_add_health(fx.ops, "always", always_ok, NULL), 0);
    assert_int_equal(mw_ops_add_health(fx.ops, "broker", broker_check, NULL),
                     0);
    atomic_store(&broker_up, true);
    loop_start(&fx.lt);
    *state = &fx;
    return 0;
}

static int ops_teardown(void **state)
{
    ops_fixture_t *fx = *state;
    loop_stop(&fx->lt);
    mw_ops_destroy(fx->ops);
    mw_metrics_destroy(fx->reg);
    event_base_free(fx->lt.base);
    return 0;
}

static void test_ops_healthz(void **state)
{
    ops_fixture_t *fx = *state;
    mw_err_t err;
    mw_http_response_t resp;
    char url[128];
    url_for(url, sizeof(url), fx->port, "/healthz");
    assert_int_equal(mw_http_call(url, &(mw_http_request_t){.method = "GET"},
                                  CALL_TIMEOUT_MS, &resp, &err),
                     0);
    assert_int_equal(resp.status, 200);
    assert_string_equal(resp.body, "{\"status\":\"ok\"}");
    mw_http_response_clear(&resp);

    atomic_store(&broker_up, false);
    assert_int_equal(mw_http_call(url, &(mw_http_request_t){.method = "GET"},
                                  CALL_TIMEOUT_MS, &resp, &err),
                     0);
    assert_int_equal(resp.status, 503);
    assert_string_equal(resp.body, "{\"status\":\"unavailable\","
                                   "\"reason\":\"broker: no broker up\"}");
    mw_http_response_clear(&resp);

    char *raw = raw_request(fx->port, "DELETE /healthz HTTP/1.0\r\n\r\n");
    assert_non_null(strstr(raw, "HTTP/1.0 405 Method Not Allowed\r\n"));
    assert_non_null(strstr(raw, "Allow: GET\r\n"));
    assert_non_null(strstr(raw, "Content-Type: application/json\r\n"));
    free(raw);
}

static void test_ops_metrics_and_paths(void **state)
{
    ops_fixture_t *fx = *state;
    mw_err_t err;
    mw_http_response_t resp;
    char url[128];
    url_for(url, sizeof(url), fx->port, "/nope?x=1");
    assert_int_equal(mw_http_call(url, &(mw_http_request_t){.method = "GET"},
                                  CALL_TIMEOUT_MS, &resp, &err),
                     0);
    assert_int_equal(resp.status, 404);
    assert_non_null(strstr(resp.body, "\"error_code\":404"));
    mw_http_response_clear(&resp);

    url_for(url, sizeof(url), fx->port, "/metrics");
    assert_int_equal(
        mw_http_call(url,
                     &(mw_http_request_t){.method = "POST",
                                          .content_type = "application/json",
                                          .body = "{}",
                                          .len = 2},
                     CALL_TIMEOUT_MS, &resp, &err),
        0);
    assert_int_equal(resp.status, 405);
    mw_http_response_clear(&resp);

    assert_int_equal(mw_http_call(url, &(mw_http_request_t){.method = "GET"},
                                  CALL_TIMEOUT_MS, &resp, &err),
                     0);
    assert_int_equal(resp.status, 200);
    assert_non_null(strstr(resp.body,
                           "# TYPE mesh_ops_requests_total counter\n"
                           "mesh_ops_requests_total{path=\"/healthz\"} 0\n"
                           "mesh_ops_requests_total{path=\"/metrics\"} 2\n"
                           "mesh_ops_requests_total{path=\"other\"} 1\n"));
    mw_http_response_clear(&resp);

    char *raw = raw_request(fx->port, "GET /metrics HTTP/1.0\r\n\r\n");
    assert_non_null(strstr(raw, "HTTP/1.0 200 OK\r\n"));
    assert_non_null(strstr(
        raw, "Content-Type: text/plain; version=0.0.4; charset=utf-8\r\n"));
    free(raw);
}

static void test_ops_bind_errors(void **state)
{
    (void)state;
    struct event_base *base = event_base_new();
    mw_err_t err;
    mw_ops_t *ops = mw_ops_new(base, "127.0.0.1", 0, NULL, &err);
    assert_null(ops);
    assert_int_equal(err.code, MW_ERR_INVALID);
    assert_non_null(strstr(err.msg, "127.0.0.1"));

    mw_ops_t *first = mw_ops_new(base, "http://127.0.0.1:0", 0, NULL, &err);
    assert_non_null(first);
    char listener[64];
    snprintf(listener, sizeof(listener), "127.0.0.1:%d", mw_ops_port(first));
    ops = mw_ops_new(base, listener, 0, NULL, &err);
    assert_null(ops);
    assert_int_equal(err.code, MW_ERR_IO);
    assert_non_null(strstr(err.msg, listener));
    mw_ops_destroy(first);
    event_base_free(base);
}

/* ------------------------------------------------------------ mw_http */

/* Echo server: replies the body back, 413 past 16 bytes. */
static void echo_handle(struct evhttp_request *req, void *arg)
{
    (void)arg;
    size_t len = 0;
    int too_big = 0;
    char *body = mw_http_body(req, 16, &len, &too_big);
    if (!body) {
        mw_http_reply_error(req, too_big ? 413 : 500, "body over %d bytes", 16);
        return;
    }
    mw_http_reply(req, 200, "text/plain", body, len);
    free(body);
}

static void test_call_roundtrip(void **state)
{
    (void)state;
    loop_thread_t lt = {.base = event_base_new()};
    struct evhttp *http = evhttp_new(lt.base);
    mw_err_t err;
    mw_http_response_t resp;
    int port = 0;
    char url[128];
    assert_int_equal(mw_http_bind(http, "http://127.0.0.1:0", &port, &err), 0);
    assert_true(port > 0);
    evhttp_set_gencb(http, echo_handle, NULL);
    loop_start(&lt);

    url_for(url, sizeof(url), port, "/echo");
    assert_int_equal(
        mw_http_call(url,
                     &(mw_http_request_t){.method = "PUT",
                                          .content_type = "text/plain",
                                          .body = "hello",
                                          .len = 5},
                     CALL_TIMEOUT_MS, &resp, &err),
        0);
    assert_int_equal(resp.status, 200);
    assert_int_equal(resp.len, 5);
    assert_string_equal(resp.body, "hello");
    mw_http_response_clear(&resp);
    assert_null(resp.body);

    assert_int_equal(
        mw_http_call(url,
                     &(mw_http_request_t){.method = "DELETE",
                                          .content_type = "text/plain",
                                          .body = "0123456789abcdefXYZ",
                                          .len = 19},
                     CALL_TIMEOUT_MS, &resp, &err),
        0);
    assert_int_equal(resp.status, 413);
    assert_string_equal(
        resp.body, "{\"error_code\":413,\"message\":\"body over 16 bytes\"}");
    mw_http_response_clear(&resp);

    assert_int_equal(mw_http_call(url, &(mw_http_request_t){.method = "GET"},
                                  CALL_TIMEOUT_MS, &resp, &err),
                     0);
    assert_int_equal(resp.status, 200);
    assert_null(resp.body); /* empty body */
    mw_http_response_clear(&resp);

    loop_stop(&lt);
    evhttp_free(http);
    event_base_free(lt.base);
}

/* One keep-alive connection, a path prefix below the base URL, several
 * calls; then the server goes and the next call fails with the URL. */
static void test_conn_keep_alive(void **state)
{
    (void)state;
    loop_thread_t lt = {.base = event_base_new()};
    struct evhttp *http = evhttp_new(lt.base);
    mw_err_t err;
    mw_http_response_t resp;
    mw_http_conn_t *conn;
    int port = 0;
    char url[128];
    assert_int_equal(mw_http_bind(http, "http://127.0.0.1:0", &port, &err), 0);
    evhttp_set_gencb(http, echo_handle, NULL);
    loop_start(&lt);

    url_for(url, sizeof(url), port, "/base/");
    assert_null(mw_http_conn_new(url, 0, &err));
    assert_int_equal(err.code, MW_ERR_INVALID);
    conn = mw_http_conn_new(url, CALL_TIMEOUT_MS, &err);
    assert_non_null(conn);
    for (int i = 0; i < 3; i++) {
        const mw_http_request_t rq = {.method = "POST",
                                      .path = "/echo?x=1",
                                      .content_type = "text/plain",
                                      .accept = "text/plain",
                                      .body = "again",
                                      .len = 5};
        assert_int_equal(mw_http_conn_call(conn, &rq, &resp, &err), 0);
        assert_int_equal(resp.status, 200);
        assert_string_equal(resp.body, "again");
        mw_http_response_clear(&resp);
    }
    loop_stop(&lt);
    evhttp_free(http);
    event_base_free(lt.base);

    const mw_http_request_t get = {.method = "GET", .path = "/gone"};
    assert_int_not_equal(mw_http_conn_call(conn, &get, &resp, &err), 0);
    assert_non_null(strstr(err.msg, "/base/gone"));
    assert_null(resp.body);
    mw_http_conn_destroy(conn);
}

static void test_call_refused(void **state)
{
    (void)state;
    mw_err_t err;
    mw_http_response_t resp;
    char url[128];
    url_for(url, sizeof(url), closed_port(), "/topics");
    assert_int_equal(mw_http_call(url, &(mw_http_request_t){.method = "GET"},
                                  CALL_TIMEOUT_MS, &resp, &err),
                     MW_ERR_TRANSPORT);
    assert_int_equal(err.code, MW_ERR_TRANSPORT);
    assert_non_null(strstr(err.msg, url));
    assert_non_null(strstr(err.msg, "refused"));
    assert_null(resp.body);
}

/* A listening socket that never accepts: the connection completes in the
 * backlog and no answer ever comes, so only the deadline ends the call. */
static void test_call_timeout(void **state)
{
    (void)state;
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET};
    socklen_t sl = sizeof(sa);
    inet_pton(AF_INET, "127.0.0.1", &sa.sin_addr);
    assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    assert_int_equal(listen(fd, 4), 0);
    assert_int_equal(getsockname(fd, (struct sockaddr *)&sa, &sl), 0);
    mw_err_t err;
    mw_http_response_t resp;
    char url[128];
    url_for(url, sizeof(url), ntohs(sa.sin_port), "/slow");
    assert_int_equal(mw_http_call(url, &(mw_http_request_t){.method = "GET"},
                                  200, &resp, &err),
                     MW_ERR_TIMEOUT);
    assert_non_null(strstr(err.msg, url));
    close(fd);
}

static void test_call_bad_input(void **state)
{
    (void)state;
    mw_err_t err;
    mw_http_response_t resp;
    assert_int_equal(mw_http_call("not a url",
                                  &(mw_http_request_t){.method = "GET"}, 100,
                                  &resp, &err),
                     MW_ERR_INVALID);
    assert_int_equal(mw_http_call("ftp://127.0.0.1:1/",
                                  &(mw_http_request_t){.method = "GET"}, 100,
                                  &resp, &err),
                     MW_ERR_INVALID);
    /* https:// is spoken now: nothing listens on port 1. */
    assert_int_equal(mw_http_call("https://127.0.0.1:1/",
                                  &(mw_http_request_t){.method = "GET"}, 100,
                                  &resp, &err),
                     MW_ERR_TRANSPORT);
    assert_int_equal(mw_http_call("http://127.0.0.1:1/",
                                  &(mw_http_request_t){.method = "BREW"}, 100,
                                  &resp, &err),
                     MW_ERR_INVALID);
    assert_int_equal(mw_http_call("http://127.0.0.1:1/",
                                  &(mw_http_request_t){.method = "GET"}, 0,
                                  &resp, &err),
                     MW_ERR_INVALID);
}

int main(void)
{
    /* The servers' loops are stopped from the test thread. */
    evthread_use_pthreads();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_ops_healthz, ops_setup,
                                        ops_teardown),
        cmocka_unit_test_setup_teardown(test_ops_metrics_and_paths, ops_setup,
                                        ops_teardown),
        cmocka_unit_test(test_ops_bind_errors),
        cmocka_unit_test(test_call_roundtrip),
        cmocka_unit_test(test_conn_keep_alive),
        cmocka_unit_test(test_call_refused),
        cmocka_unit_test(test_call_timeout),
        cmocka_unit_test(test_call_bad_input),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
