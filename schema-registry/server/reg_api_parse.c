/*
 * reg_api_parse: what the registry reads of a request before a handler
 * runs: the path split on '/' and URL-decoded segment by segment (so a
 * subject may hold an encoded '/'), the query, the media types negotiated
 * the way Confluent's Jersey resources do, the route and the JSON body.
 * Each refusal is a Confluent error code (404, 405, 406, 415, 413, 400)
 * for reg_api.c to answer.  Over plain strings and bytes (reg_api_in_t),
 * without evhttp's request, so tests/fuzz/fz_registry.c runs it with no
 * socket.
 *
 * Thread: the loop thread (any thread for the fuzz target).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <event2/http.h>

#include "reg_api_int.h"
#include "reg_api_ui.h"

/* Splits the (still encoded) path on '/', then decodes each segment.
 * Empty segments are dropped except in the middle, where they stay and
 * fail to match "*".  false when there are too many or one decodes to a
 * string holding NUL. */
static bool reg_api_split_path(reg_api_req_t *r, const char *path)
{
    const char *p = path ? path : "/";

    while (*p) {
        const char *end;
        size_t len;
        char *enc, *dec;

        while (*p == '/' && (p[1] == '/' || p[1] == '\0' || p == path))
            p++;
        if (*p == '/')
            p++;
        if (!*p)
            break;
        end = strchr(p, '/');
        len = end ? (size_t)(end - p) : strlen(p);
        if (r->seg_cnt == REG_API_SEG_MAX || !(enc = strndup(p, len)))
            return false;
        dec = evhttp_uridecode(enc, 0, &len);
        free(enc);
        if (!dec)
            return false;
        r->seg[r->seg_cnt++] = dec;
        if (strlen(dec) != len)
            return false;
        p += end ? (size_t)(end - p) : strlen(p);
    }
    return true;
}

/* Query string: name[=value] pairs, '+' as space, unknown names kept (and
 * ignored by handlers), so newer clients' parameters are accepted. */
static void reg_api_split_query(reg_api_req_t *r, const char *q)
{
    while (q && *q && r->q_cnt < REG_API_QUERY_MAX) {
        const char *amp = strchr(q, '&');
        size_t len = amp ? (size_t)(amp - q) : strlen(q);
        char *pair = strndup(q, len), *eq;

        if (pair && *pair) {
            eq = strchr(pair, '=');
            if (eq)
                *eq++ = '\0';
            r->qname[r->q_cnt] = evhttp_uridecode(pair, 1, NULL);
            r->qval[r->q_cnt] = evhttp_uridecode(eq ? eq : "", 1, NULL);
            if (r->qname[r->q_cnt] && r->qval[r->q_cnt])
                r->q_cnt++;
            else {
                free(r->qname[r->q_cnt]);
                free(r->qval[r->q_cnt]);
            }
        }
        free(pair);
        q += len + (amp ? 1 : 0);
    }
}

/* Media type of one Accept / Content-Type item, without parameters and
 * surrounding spaces, into out. */
static void reg_api_media(const char *s, size_t len, char *out, size_t size)
{
    size_t n = 0;

    while (len && (*s == ' ' || *s == '\t'))
        s++, len--;
    while (len && *s != ';' && *s != ' ' && n + 1 < size)
        out[n++] = *s++, len--;
    out[n] = '\0';
}

static const char *reg_api_our_type(const char *media)
{
    static const char *const ours[] = {SR_PROTO_CT_V1, SR_PROTO_CT_ANY,
                                       SR_PROTO_CT_JSON};

    for (size_t i = 0; i < 3; i++)
        if (!strcasecmp(media, ours[i]))
            return ours[i];
    return NULL;
}

/* Picks the response type from Accept: the first of ours it names, v1 for
 * wildcards (Java's default "text/html, image/gif, image/jpeg, *; q=.2,
 * * / *; q=.2" included) or no header; NULL when nothing fits (406). */
static const char *reg_api_negotiate(const char *accept)
{
    const char *p = accept;
    bool wildcard = false;

    if (!accept || !*accept)
        return SR_PROTO_CT_V1;
    while (*p) {
        const char *comma = strchr(p, ',');
        size_t len = comma ? (size_t)(comma - p) : strlen(p);
        char media[128];
        const char *ours;

        reg_api_media(p, len, media, sizeof(media));
        if ((ours = reg_api_our_type(media)))
            return ours;
        if (!strcmp(media, "*") || !strcmp(media, "*/*") ||
            !strcasecmp(media, "application/*"))
            wildcard = true;
        p += len + (comma ? 1 : 0);
    }
    return wildcard ? SR_PROTO_CT_V1 : NULL;
}

/* Body types Confluent consumes: ours, octet-stream (what Jersey assumes
 * when a client sends none) and no header at all. */
static bool reg_api_content_type_ok(const char *ctype)
{
    char media[128];

    if (!ctype || !*ctype)
        return true;
    reg_api_media(ctype, strlen(ctype), media, sizeof(media));
    return reg_api_our_type(media) ||
           !strcasecmp(media, "application/octet-stream");
}

/* Deepest [ / { nesting of a JSON text, strings skipped. */
static size_t reg_api_json_depth(const char *s, size_t len)
{
    size_t depth = 0, max = 0;
    bool in_str = false;

    for (size_t i = 0; i < len; i++) {
        char c = s[i];

        if (in_str) {
            if (c == '\\')
                i++;
            else if (c == '"')
                in_str = false;
        } else if (c == '"') {
            in_str = true;
        } else if (c == '[' || c == '{') {
            if (++depth > max)
                max = depth;
        } else if ((c == ']' || c == '}') && depth) {
            depth--;
        }
    }
    return max;
}

int reg_api_parse_body(reg_api_req_t *r, const reg_api_in_t *in, mw_err_t *err)
{
    json_error_t jerr;

    mw_err_clear(err);
    if (!reg_api_content_type_ok(in->content_type))
        return SR_PROTO_E_MEDIA_TYPE;
    if (in->body_len > in->max_body_bytes) {
        mw_err_set(err, MW_ERR_INVALID,
                   "Request body of %zu bytes is larger than "
                   "request.max.bytes (%zu)",
                   in->body_len, in->max_body_bytes);
        return SR_PROTO_E_TOO_LARGE;
    }
    if (in->body_len == 0) {
        r->body = json_null();
        return 0;
    }
    if (reg_api_json_depth(in->body, in->body_len) > REG_API_DEPTH_MAX) {
        mw_err_set(err, MW_ERR_INVALID,
                   "JSON body nested deeper than %d levels", REG_API_DEPTH_MAX);
        return SR_PROTO_E_BAD_REQUEST;
    }
    r->body = json_loadb(in->body, in->body_len,
                         JSON_DECODE_ANY | JSON_ALLOW_NUL, &jerr);
    if (!r->body) {
        mw_err_set(err, MW_ERR_INVALID,
                   "Unexpected JSON: %s (line %d, column %d)", jerr.text,
                   jerr.line, jerr.column);
        return SR_PROTO_E_BAD_REQUEST;
    }
    return 0;
}

/* ---- dispatch ------------------------------------------------------ */

static bool reg_api_route_match(const reg_api_route_t *rt,
                                const reg_api_req_t *r)
{
    size_t n = 0;

    while (n < REG_API_SEG_MAX && rt->pattern[n])
        n++;
    if (n != r->seg_cnt)
        return false;
    for (size_t i = 0; i < n; i++) {
        if (!strcmp(rt->pattern[i], "*")) {
            if (!r->seg[i][0])
                return false;
        } else if (strcmp(rt->pattern[i], r->seg[i])) {
            return false;
        }
    }
    return true;
}

static reg_api_handler_t *reg_api_route_handler(const reg_api_route_t *rt,
                                                enum evhttp_cmd_type cmd)
{
    switch (cmd) {
    case EVHTTP_REQ_GET:
    case EVHTTP_REQ_HEAD:
        return rt->get;
    case EVHTTP_REQ_POST:
        return rt->post;
    case EVHTTP_REQ_PUT:
        return rt->put;
    case EVHTTP_REQ_DELETE:
        return rt->del;
    default:
        return NULL;
    }
}

int reg_api_parse_head(reg_api_req_t *r, const reg_api_in_t *in,
                       reg_api_handler_t **h, mw_err_t *err)
{
    *h = NULL;
    mw_err_clear(err);
    r->route = reg_api_route_cnt;
    r->ctype = SR_PROTO_CT_V1;
    if (!reg_api_split_path(r, in->path ? in->path : "/"))
        return SR_PROTO_E_NOT_FOUND;
    reg_api_split_query(r, in->query);
    r->ctype = reg_api_negotiate(in->accept);
    if (!r->ctype) {
        r->ctype = SR_PROTO_CT_V1;
        /* The catalog page's files are not in the API's media types: what
         * a browser accepts decides nothing there. */
        if (!reg_api_ui_is_path(r))
            return SR_PROTO_E_NOT_ACCEPTABLE;
    }
    for (size_t i = 0; i < reg_api_route_cnt; i++) {
        if (!reg_api_route_match(&reg_api_routes[i], r))
            continue;
        r->route = i;
        *h = reg_api_route_handler(&reg_api_routes[i], in->cmd);
        return *h ? 0 : SR_PROTO_E_METHOD;
    }
    return SR_PROTO_E_NOT_FOUND;
}
