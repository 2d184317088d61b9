/*
 * reg_api_catalog: the data-product catalog's routes.
 *
 *   GET    /catalog/products[?domain=&tag=&owner=&field=]   summaries
 *   GET    /catalog/products/{d}/{n}[?version=V]            one entry
 *   PUT    /catalog/products/{d}/{n}                        record it
 *   DELETE /catalog/products/{d}/{n}?version=V              remove it
 *   PUT    /catalog/products/{d}/{n}/ports/{p}/status[?version=V]
 *                                                  a materializer's facts
 *   GET    /catalog/lineage                                 the graph
 *
 * Writes append one record to the catalog log (its own store, never the
 * `_schemas` log) and answer once it is durable and applied, like every
 * other write of the registry.  Reads answer from reg_catalog.  An unknown
 * product is 404 with error_code 404; a body of the wrong shape 422 naming
 * the field.
 *
 * Thread: the loop thread.
 */
#include <stdlib.h>
#include <string.h>

#include "mw_time.h"
#include "reg_api_int.h"

static void reg_api_catalog_json_free(void *p)
{
    json_decref(p);
}

/* The ?version= of r: 0 when absent, -1 (after replying 422) when bad. */
static int reg_api_catalog_version(reg_api_req_t *r)
{
    const char *s = reg_api_query(r, "version");
    char *end;
    long v;

    if (!s)
        return 0;
    v = strtol(s, &end, 10);
    if (!*s || *end || v < 1 || v > 1000000) {
        reg_api_reply_err(r, SR_PROTO_E_UNPROCESSABLE,
                          "version: '%s' is not an integer 1..1000000", s);
        return -1;
    }
    return (int)v;
}

static void reg_api_catalog_absent(reg_api_req_t *r, int version)
{
    if (version)
        reg_api_reply_err(r, SR_PROTO_E_NOT_FOUND, "Product %s/%s@%d not found",
                          r->seg[2], r->seg[3], version);
    else
        reg_api_reply_err(r, SR_PROTO_E_NOT_FOUND, "Product %s/%s not found",
                          r->seg[2], r->seg[3]);
}

void reg_api_catalog_list(reg_api_req_t *r)
{
    const reg_catalog_filter_t f = {.domain = reg_api_query(r, "domain"),
                                    .tag = reg_api_query(r, "tag"),
                                    .owner = reg_api_query(r, "owner"),
                                    .field = reg_api_query(r, "field")};

    reg_api_reply_json(r, 200, reg_catalog_list_json(r->api->catalog, &f));
}

void reg_api_catalog_lineage(reg_api_req_t *r)
{
    reg_api_reply_json(r, 200, reg_catalog_lineage_json(r->api->catalog));
}

void reg_api_catalog_get(reg_api_req_t *r)
{
    int version = reg_api_catalog_version(r);
    json_t *entry;

    if (version < 0)
        return;
    entry =
        reg_catalog_entry_json(r->api->catalog, r->seg[2], r->seg[3], version);
    if (!entry)
        return reg_api_catalog_absent(r, version);
    reg_api_reply_json(r, 200, entry);
}

/* After a write: the entry as it now reads (or {} once removed). */
static void reg_api_catalog_written(reg_api_req_t *r)
{
    json_t *body = r->ctx;

    if (reg_api_store_failed(r))
        return;
    r->ctx = NULL;
    reg_api_reply_json(r, 200, body);
}

static void reg_api_catalog_write(reg_api_req_t *r, json_t *key, json_t *value,
                                  json_t *answer)
{
    r->ctx = answer;
    r->ctx_free = reg_api_catalog_json_free;
    reg_api_append_begin(r, reg_api_catalog_written);
    reg_api_append_to(r, r->api->catalog_store, key, value);
    reg_api_append_end(r);
}

void reg_api_catalog_put(reg_api_req_t *r)
{
    json_t *warnings = NULL, *answer;
    mw_err_t err;
    int version;

    if (reg_catalog_entry_check(r->body, r->seg[2], r->seg[3], &err) != 0)
        return reg_api_reply_err(r, SR_PROTO_E_UNPROCESSABLE, "%s", err.msg);
    if (!reg_api_gov_entry_ok(r, r->body, &warnings))
        return;
    version = (int)json_integer_value(json_object_get(r->body, "version"));
    answer = json_pack("{s:s,s:s,s:i}", "domain", r->seg[2], "name", r->seg[3],
                       "version", version);
    if (warnings)
        json_object_set_new(answer, "warnings", warnings);
    reg_api_catalog_write(
        r, reg_catalog_key_product(r->seg[2], r->seg[3], version),
        json_incref(r->body), answer);
}

void reg_api_catalog_delete(reg_api_req_t *r)
{
    int version = reg_api_catalog_version(r);

    if (version < 0)
        return;
    if (!version)
        return reg_api_reply_err(r, SR_PROTO_E_UNPROCESSABLE,
                                 "version: required to remove a product");
    if (!reg_catalog_get(r->api->catalog, r->seg[2], r->seg[3], version))
        return reg_api_catalog_absent(r, version);
    reg_api_catalog_write(
        r, reg_catalog_key_product(r->seg[2], r->seg[3], version), NULL,
        json_pack("{s:s,s:s,s:i}", "domain", r->seg[2], "name", r->seg[3],
                  "version", version));
}

/* Whether the entry has an output port named port. */
static bool reg_api_catalog_has_port(const json_t *entry, const char *port)
{
    size_t i;
    json_t *p;

    json_array_foreach(json_object_get(entry, "output_ports"), i, p)
    {
        const char *n = json_string_value(json_object_get(p, "name"));
        if (n && !strcmp(n, port))
            return true;
    }
    return false;
}

/* A materializer's live facts for one output port: the registry stamps
 * reported_at_ms with its own clock, so freshness of the report itself
 * can be judged without trusting the reporter's clock. */
void reg_api_catalog_status_put(reg_api_req_t *r)
{
    int version = reg_api_catalog_version(r);
    const json_t *entry;
    json_t *status;
    mw_err_t err;

    if (version < 0)
        return;
    entry = reg_catalog_get(r->api->catalog, r->seg[2], r->seg[3], version);
    if (!entry)
        return reg_api_catalog_absent(r, version);
    if (!reg_api_catalog_has_port(entry, r->seg[5]))
        return reg_api_reply_err(r, SR_PROTO_E_NOT_FOUND,
                                 "Product %s/%s has no output port '%s'",
                                 r->seg[2], r->seg[3], r->seg[5]);
    if (reg_catalog_status_check(r->body, &err) != 0)
        return reg_api_reply_err(r, SR_PROTO_E_UNPROCESSABLE, "%s", err.msg);
    version = (int)json_integer_value(json_object_get(entry, "version"));
    status = json_deep_copy(r->body);
    json_object_set_new(status, "reported_at_ms",
                        json_integer(mw_time_wall_ms()));
    reg_api_catalog_write(
        r, reg_catalog_key_status(r->seg[2], r->seg[3], version, r->seg[5]),
        status, json_deep_copy(status));
}
