/*
 * reg_catalog: the data-product catalog in mesh-registry's memory, built
 * only by applying the catalog log's records (reg_store_log_catalog) in log
 * order, exactly as reg_state is built from `_schemas`, so every instance
 * that reads the same log serves the same catalog.
 *
 * Records (JSON key, JSON value; docs/PRODUCTS.md, "The catalog"):
 *   {"keytype":"PRODUCT","domain":D,"name":N,"version":V,"magic":0}
 *       value: the product entry meshctl recorded (descriptor, schemas
 *       with subjects, versions and ids, topics); none: the product is
 *       removed.
 *   {"keytype":"PORT_STATUS","domain":D,"name":N,"version":V,"port":P,
 *    "magic":0}
 *       value: the live facts a materializer reported for an output port
 *       ({"materializer","offset","rows","freshness_ms","reported_at_ms"}).
 *   {"keytype":"NOOP",...}: the kafka store's own markers, ignored.
 * A record that does not have this shape is logged and skipped.
 *
 * The catalog holds few entries (one per product major version), kept
 * sorted by (domain, name, version) so lists and lineage come out in the
 * same order everywhere; lookups are linear for that reason.
 *
 * Thread: the registry's loop thread.  Returned pointers are borrowed until
 * the next apply.
 */
#ifndef REG_CATALOG_H
#define REG_CATALOG_H

#include <jansson.h>

#include "reg_store.h"

typedef struct reg_catalog reg_catalog_t;

/* Search of GET /catalog/products; NULL members match everything. */
typedef struct reg_catalog_filter {
    const char *domain;
    const char *tag;   /* one of the product's tags */
    const char *owner; /* owner.team or owner.contact */
    const char *field; /* a field name of an output port's value schema */
} reg_catalog_filter_t;

/* NULL on ENOMEM. */
reg_catalog_t *reg_catalog_new(void);
void reg_catalog_destroy(reg_catalog_t *cat);

/* reg_store_apply_cb over the catalog log; opaque is the reg_catalog_t. */
void reg_catalog_apply(void *opaque, const reg_store_record_t *rec);

/* The entry of domain/name at major version (0: the highest), or NULL;
 * borrowed. */
const json_t *reg_catalog_get(const reg_catalog_t *cat, const char *domain,
                              const char *name, int version);

/* The entry as GET /catalog/products/{d}/{n} answers it: a new object with
 * the recorded entry, "versions" (every major version recorded),
 * "materializers" ([{"port","materializer"}]: who reported serving which
 * output port) and, per output port, "status" (the last live facts
 * reported, with "freshness_kept" when the product promises a freshness,
 * or null).  NULL when absent. */
json_t *reg_catalog_entry_json(const reg_catalog_t *cat, const char *domain,
                               const char *name, int version);

/* GET /catalog/products: a new array of summaries ({"domain","name",
 * "version","description","owner","tags","status"}) of the entries that
 * match filter. */
json_t *reg_catalog_list_json(const reg_catalog_t *cat,
                              const reg_catalog_filter_t *filter);

/* GET /catalog/lineage: dp_lineage_build over the recorded entries
 * ({"nodes":[...],"edges":[...]}, products as nodes, input ports as
 * edges), a new reference. */
json_t *reg_catalog_lineage_json(const reg_catalog_t *cat);

/* Record keys of the catalog log (new references). */
json_t *reg_catalog_key_product(const char *domain, const char *name,
                                int version);
json_t *reg_catalog_key_status(const char *domain, const char *name,
                               int version, const char *port);

/* Checks a PUT body against its path: an object whose "domain" and "name"
 * equal the path's, "version" an integer >= 1, "output_ports" an array of
 * objects with a "name" each.  0 or MW_ERR_INVALID naming the field. */
int reg_catalog_entry_check(const json_t *entry, const char *domain,
                            const char *name, mw_err_t *err);

/* Checks a port status body: "offset", "rows" and "freshness_ms" integers
 * >= 0 when present (at least one of them), "materializer" a string.
 * 0 or MW_ERR_INVALID naming the field. */
int reg_catalog_status_check(const json_t *status, mw_err_t *err);

/* Entries and port statuses held. */
size_t reg_catalog_product_cnt(const reg_catalog_t *cat);

#endif /* REG_CATALOG_H */
