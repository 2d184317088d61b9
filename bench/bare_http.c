/*
 * bare_http: the raw limit for mesh-registry's GET /schemas/ids/{id}.  A
 * bare single-threaded libevent evhttp server that answers every request
 * with one fixed JSON body, so the registry's figure can be read as a
 * fraction of what evhttp itself can do on the same core.
 *
 *   bare_http PORT BODY_BYTES
 *
 * PORT 0 picks a free port.  Once listening it prints "port N" on stdout
 * (flushed) so registry_bench.sh can read it back.  The body is
 * {"schema":"xxx..."} padded to exactly BODY_BYTES bytes (the size of the
 * registry's answer for the benchmark schema) and is copied into every
 * reply like the registry copies its cached body, with the registry's
 * Content-Type.  Keep-alive is evhttp's default for HTTP/1.1.  Listens on
 * 127.0.0.1 only; SIGTERM/SIGINT stop the loop and exit 0.
 */
#include <arpa/inet.h>
#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "mw_sig.h"

#define BARE_MIN_BODY 16
#define BARE_MAX_BODY (16 * 1024 * 1024)

typedef struct bare_body {
    char *data;
    size_t len;
} bare_body_t;

/* {"schema":"xxx"} of exactly len bytes; NULL when len is too small. */
static char *bare_make_body(size_t len)
{
    static const char head[] = "{\"schema\":\"";
    static const char tail[] = "\"}";
    size_t fixed = sizeof(head) - 1 + sizeof(tail) - 1;
    char *b;

    if (len < fixed)
        return NULL;
    b = malloc(len + 1);
    if (!b)
        return NULL;
    memcpy(b, head, sizeof(head) - 1);
    memset(b + sizeof(head) - 1, 'x', len - fixed);
    memcpy(b + len - (sizeof(tail) - 1), tail, sizeof(tail) - 1);
    b[len] = '\0';
    return b;
}

static void bare_on_request(struct evhttp_request *req, void *opaque)
{
    const bare_body_t *body = opaque;
    struct evbuffer *out = evhttp_request_get_output_buffer(req);

    if (evhttp_request_get_command(req) != EVHTTP_REQ_GET) {
        evhttp_send_error(req, 405, NULL);
        return;
    }
    evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type",
                      "application/vnd.schemaregistry.v1+json");
    evbuffer_add(out, body->data, body->len);
    evhttp_send_reply(req, 200, "OK", NULL);
}

static void bare_on_signal(evutil_socket_t fd, short what, void *opaque)
{
    (void)fd;
    (void)what;
    event_base_loopbreak(opaque);
}

/* The port the bound socket really got (PORT 0 picks one); -1 on error. */
static int bare_bound_port(struct evhttp_bound_socket *sock)
{
    struct sockaddr_in sin;
    socklen_t sl = sizeof(sin);

    if (getsockname(evhttp_bound_socket_get_fd(sock), (struct sockaddr *)&sin,
                    &sl) != 0)
        return -1;
    return ntohs(sin.sin_port);
}

static int bare_parse(const char *s, long lo, long hi, long *out)
{
    char *end = NULL;
    long v = strtol(s, &end, 10);

    if (!*s || *end || v < lo || v > hi)
        return -1;
    *out = v;
    return 0;
}

int main(int argc, char **argv)
{
    struct event_base *base = NULL;
    struct evhttp *http = NULL;
    struct evhttp_bound_socket *sock;
    struct event *sigterm = NULL, *sigint = NULL;
    bare_body_t body = {0};
    long port, len;
    int rc = 1;

    if (argc != 3 || bare_parse(argv[1], 0, 65535, &port) != 0 ||
        bare_parse(argv[2], BARE_MIN_BODY, BARE_MAX_BODY, &len) != 0) {
        fprintf(stderr,
                "usage: bare_http PORT BODY_BYTES (PORT 0 picks one,"
                " BODY_BYTES %d..%d)\n",
                BARE_MIN_BODY, BARE_MAX_BODY);
        return 2;
    }
    mw_sig_ignore_pipe();
    body.len = (size_t)len;
    body.data = bare_make_body(body.len);
    base = event_base_new();
    http = base ? evhttp_new(base) : NULL;
    if (!body.data || !http) {
        fprintf(stderr, "bare_http: out of memory\n");
        goto out;
    }
    evhttp_set_gencb(http, bare_on_request, &body);
    sock = evhttp_bind_socket_with_handle(http, "127.0.0.1", (ev_uint16_t)port);
    if (!sock || bare_bound_port(sock) < 0) {
        fprintf(stderr, "bare_http: cannot listen on 127.0.0.1:%ld\n", port);
        goto out;
    }
    sigterm = evsignal_new(base, SIGTERM, bare_on_signal, base);
    sigint = evsignal_new(base, SIGINT, bare_on_signal, base);
    if (!sigterm || !sigint || evsignal_add(sigterm, NULL) != 0 ||
        evsignal_add(sigint, NULL) != 0) {
        fprintf(stderr, "bare_http: cannot watch signals\n");
        goto out;
    }
    printf("port %d\n", bare_bound_port(sock));
    fflush(stdout);
    rc = event_base_dispatch(base) < 0 ? 1 : 0;
out:
    if (sigint)
        event_free(sigint);
    if (sigterm)
        event_free(sigterm);
    if (http)
        evhttp_free(http);
    if (base)
        event_base_free(base);
    free(body.data);
    return rc;
}
