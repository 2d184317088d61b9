/*
 * reg_api_ui: serves the catalog web page (/ui) from the files compiled
 * into the binary.  The page itself is static; everything it shows comes
 * from the registry's JSON endpoints (/catalog/..., /subjects/..., /config),
 * fetched by the page's script, so this module only answers files.
 *
 * Caching: the file names carry no content hash, so a long max-age would
 * keep an old script after an upgrade.  Every answer says `no-cache` (the
 * browser keeps the file but revalidates it) with a strong ETag computed
 * from the bytes, and a matching If-None-Match is answered 304 without the
 * body.  A Content-Security-Policy of 'self' documents, and enforces, that
 * the page loads nothing from elsewhere.
 *
 * Thread: the loop thread (reg_api_ui_get); the lookups are pure.
 */
#include "reg_api_ui.h"

#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <event2/http.h>

#include "reg_api_int.h"

const reg_api_ui_file_t *reg_api_ui_find(const char *name)
{
    if (!name)
        name = "index.html";
    for (size_t i = 0; i < reg_api_ui_file_cnt; i++)
        if (!strcmp(reg_api_ui_files[i].name, name))
            return &reg_api_ui_files[i];
    return NULL;
}

const char *reg_api_ui_ctype(const char *name)
{
    static const struct {
        const char *ext, *ctype;
    } types[] = {
        {".html", "text/html; charset=utf-8"},
        {".js", "text/javascript; charset=utf-8"},
        {".css", "text/css; charset=utf-8"},
        {".svg", "image/svg+xml"},
        {".json", "application/json"},
    };
    const char *dot = strrchr(name, '.');

    for (size_t i = 0; dot && i < sizeof(types) / sizeof(types[0]); i++)
        if (!strcmp(dot, types[i].ext))
            return types[i].ctype;
    return "application/octet-stream";
}

bool reg_api_ui_is_path(const struct reg_api_req *r)
{
    return r->seg_cnt >= 1 && !strcmp(r->seg[0], "ui");
}

/* FNV-1a over the bytes: the files are small and an ETag only has to change
 * when they do. */
static uint64_t reg_api_ui_hash(const reg_api_ui_file_t *f)
{
    uint64_t h = 14695981039346656037ULL;

    for (size_t i = 0; i < f->len; i++) {
        h ^= f->data[i];
        h *= 1099511628211ULL;
    }
    return h;
}

void reg_api_ui_get(struct reg_api_req *r)
{
    const reg_api_ui_file_t *f =
        reg_api_ui_find(r->seg_cnt > 1 ? r->seg[1] : NULL);
    struct evkeyvalq *in, *out;
    const char *inm;
    char etag[32];

    if (!f) {
        reg_api_reply_code(r, SR_PROTO_E_NOT_FOUND, NULL, NULL);
        return;
    }
    in = evhttp_request_get_input_headers(r->req);
    out = evhttp_request_get_output_headers(r->req);
    snprintf(etag, sizeof(etag), "\"%016" PRIx64 "\"", reg_api_ui_hash(f));
    evhttp_add_header(out, "ETag", etag);
    evhttp_add_header(out, "Cache-Control", "no-cache");
    evhttp_add_header(out, "X-Content-Type-Options", "nosniff");
    evhttp_add_header(out, "Content-Security-Policy",
                      "default-src 'self'; img-src 'self' data:; "
                      "frame-ancestors 'none'");
    r->ctype = reg_api_ui_ctype(f->name);
    /* A list of tags or "*" also matches: a browser sends the one it has. */
    inm = evhttp_find_header(in, "If-None-Match");
    if (inm && (strstr(inm, etag) || !strcmp(inm, "*"))) {
        reg_api_reply_text(r, 304, NULL, 0);
        return;
    }
    reg_api_reply_text(r, 200, (const char *)f->data, f->len);
}
