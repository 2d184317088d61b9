/*
 * fz_registry: what mesh-registry reads of a request before a handler runs
 * (schema-registry/server/reg_api_parse.c): the method and path routed
 * through the API's route table, the query, the Accept and Content-Type
 * negotiation and the JSON body, without a socket.  Input: the method,
 * NUL, the request target (path?query), NUL, Accept, NUL, Content-Type,
 * NUL, the body (an empty header part: the header is absent).  Checks:
 *   1. the head is routed to a handler, or refused with 404, 405 or 406
 *      and no handler; a routed request matches its route's pattern
 *      segment by segment and has a response type;
 *   2. a POST or PUT body parses into a value, or is refused with 415,
 *      413 (over the limit, here 4096 bytes) or 400, with a message for
 *      the last two.
 * The handlers themselves need the store and the registry's state and are
 * not run here; their inputs, schemas, descriptors and policies, have
 * targets of their own.
 */
#include "fz.h"

#include "reg_api_int.h"

#define FZ_MAX_BODY 4096

static enum evhttp_cmd_type method_of(const char *m, size_t len)
{
    static const struct {
        const char *name;
        enum evhttp_cmd_type cmd;
    } methods[] = {
        {"GET", EVHTTP_REQ_GET},        {"POST", EVHTTP_REQ_POST},
        {"PUT", EVHTTP_REQ_PUT},        {"DELETE", EVHTTP_REQ_DELETE},
        {"HEAD", EVHTTP_REQ_HEAD},      {"PATCH", EVHTTP_REQ_PATCH},
        {"OPTIONS", EVHTTP_REQ_OPTIONS}};

    for (size_t i = 0; i < sizeof(methods) / sizeof(methods[0]); i++)
        if (strlen(methods[i].name) == len && !memcmp(methods[i].name, m, len))
            return methods[i].cmd;
    return EVHTTP_REQ_GET;
}

/* A part as a C string, or NULL when empty (an absent header). */
static char *cstr(const char *p, size_t len, int empty_is_null)
{
    if (!len && empty_is_null)
        return NULL;
    char *s = malloc(len + 1);
    if (!s)
        fz_fail("out of memory");
    memcpy(s, p, len);
    s[len] = '\0';
    return s;
}

static void check_routed(const reg_api_req_t *r, reg_api_handler_t *h)
{
    if (!h || r->route >= reg_api_route_cnt || !r->ctype)
        fz_fail("routed without a handler, a route or a response type");
    const reg_api_route_t *rt = &reg_api_routes[r->route];
    for (size_t i = 0; i < r->seg_cnt; i++) {
        if (!rt->pattern[i])
            fz_fail("more segments than route %s has", rt->name);
        if (strcmp(rt->pattern[i], "*") ? strcmp(rt->pattern[i], r->seg[i])
                                        : !r->seg[i][0])
            fz_fail("segment %zu does not match route %s", i, rt->name);
    }
    if (r->seg_cnt < REG_API_SEG_MAX && rt->pattern[r->seg_cnt])
        fz_fail("fewer segments than route %s has", rt->name);
}

static void check_body(reg_api_req_t *r, reg_api_in_t *in)
{
    mw_err_t err = {0};
    int code = reg_api_parse_body(r, in, &err);

    if (code == 0) {
        if (!r->body)
            fz_fail("a body accepted without a value");
    } else if (code == SR_PROTO_E_TOO_LARGE || code == SR_PROTO_E_BAD_REQUEST) {
        if (!err.msg[0] || r->body)
            fz_fail("body refused (%d) without a message, or with a value",
                    code);
    } else if (code != SR_PROTO_E_MEDIA_TYPE) {
        fz_fail("body refused with code %d", code);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *part[4] = {"", "", "", ""};
    size_t len[4] = {0, 0, 0, 0}, body_len = 0;
    const char *body_p = "";

    for (size_t i = 0; i < 4; i++)
        if (!fz_next(&data, &size, &part[i], &len[i]))
            break;
    if (!fz_next(&data, &size, &body_p, &body_len))
        body_p = "", body_len = 0;
    char *target = cstr(part[1], len[1], 0);
    char *q = strchr(target, '?');
    if (q)
        *q++ = '\0';
    char *accept = cstr(part[2], len[2], 1), *ctype = cstr(part[3], len[3], 1);
    char *body = fz_dup(body_p, body_len);
    reg_api_in_t in = {
        .cmd = method_of(part[0], len[0]),
        .path = target[0] ? target : NULL,
        .query = q,
        .accept = accept,
        .content_type = ctype,
        .body = body,
        .body_len = body_len,
        .max_body_bytes = FZ_MAX_BODY,
    };
    reg_api_req_t *r = calloc(1, sizeof(*r));
    reg_api_handler_t *h = NULL;
    mw_err_t err = {0};

    if (!r)
        fz_fail("out of memory");
    int code = reg_api_parse_head(r, &in, &h, &err);
    if (code == 0) {
        check_routed(r, h);
        if (in.cmd == EVHTTP_REQ_POST || in.cmd == EVHTTP_REQ_PUT)
            check_body(r, &in);
    } else if (h ||
               (code != SR_PROTO_E_NOT_FOUND && code != SR_PROTO_E_METHOD &&
                code != SR_PROTO_E_NOT_ACCEPTABLE)) {
        fz_fail("head refused with code %d%s", code, h ? " and a handler" : "");
    }
    reg_api_req_free(r);
    free(body);
    free(ctype);
    free(accept);
    free(target);
    return 0;
}
