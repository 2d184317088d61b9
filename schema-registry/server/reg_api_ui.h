/*
 * reg_api_ui.h: the catalog web page mesh-registry serves under /ui (the
 * mesh's experience plane).  The page's files live in
 * schema-registry/server/ui/ and are compiled into the binary
 * (reg_api_ui_embed.sh writes the table below into a generated C file under
 * the build directory), so the page needs no file system, no CDN and no
 * network beyond the registry itself.
 */
#ifndef REG_API_UI_H
#define REG_API_UI_H

#include <stdbool.h>
#include <stddef.h>

/* One embedded file: its name under ui/ ("index.html") and its bytes. */
typedef struct reg_api_ui_file {
    const char *name;
    const unsigned char *data;
    size_t len;
} reg_api_ui_file_t;

/* The generated table (build/.../gen/reg_api_ui_files.c), in name order. */
extern const reg_api_ui_file_t reg_api_ui_files[];
extern const size_t reg_api_ui_file_cnt;

struct reg_api_req;

/* The file served at ui-relative name (NULL: "index.html"), or NULL when no
 * embedded file has that exact name: names are looked up, never joined to a
 * path, so "../x" or an encoded '/' cannot reach anything else.  Borrowed
 * from static storage; any thread. */
const reg_api_ui_file_t *reg_api_ui_find(const char *name);

/* Content-Type for a file name, by its extension. */
const char *reg_api_ui_ctype(const char *name);

/* True when the request is for /ui or below (the API's media-type
 * negotiation does not apply to the page's assets). */
bool reg_api_ui_is_path(const struct reg_api_req *r);

/* Route handler of GET/HEAD /ui and /ui/{file}: the file with its
 * Content-Type, an ETag and Cache-Control, 304 for a matching
 * If-None-Match, 404 for an unknown file.  Loop thread. */
void reg_api_ui_get(struct reg_api_req *r);

#endif /* REG_API_UI_H */
