/*
 * reg_catalog: the catalog's state (see reg_catalog.h for the records).
 *
 * Entries are kept in an array sorted by (domain, name, version): a
 * catalog holds products, not schemas, so it stays small, and the order
 * makes every list and the lineage identical on every instance.  A port
 * status may arrive before its product (a materializer that was started
 * first): it is kept on an entry without a product, which no answer shows
 * until the product is recorded.  Removing a product keeps its statuses
 * for the same reason.
 *
 * Thread: the registry's loop thread.
 */
#include "reg_catalog.h"

#include <stdlib.h>
#include <string.h>

#include "dp_lineage.h"
#include "mw_log.h"

#define CAT_COMPONENT "catalog"

typedef struct cat_entry {
    char *domain;
    char *name;
    int version;
    json_t *entry;  /* the recorded product, NULL when none */
    json_t *status; /* port name -> last status object */
} cat_entry_t;

struct reg_catalog {
    cat_entry_t *v;
    size_t cnt, cap;
};

reg_catalog_t *reg_catalog_new(void)
{
    return calloc(1, sizeof(reg_catalog_t));
}

void reg_catalog_destroy(reg_catalog_t *cat)
{
    if (!cat)
        return;
    for (size_t i = 0; i < cat->cnt; i++) {
        free(cat->v[i].domain);
        free(cat->v[i].name);
        json_decref(cat->v[i].entry);
        json_decref(cat->v[i].status);
    }
    free(cat->v);
    free(cat);
}

static int cat_cmp(const cat_entry_t *e, const char *domain, const char *name,
                   int version)
{
    int c = strcmp(e->domain, domain);

    if (!c)
        c = strcmp(e->name, name);
    if (!c)
        c = (e->version > version) - (e->version < version);
    return c;
}

/* Index of the entry, or of where it would go (*found false). */
static size_t cat_find(const reg_catalog_t *cat, const char *domain,
                       const char *name, int version, bool *found)
{
    size_t i = 0;
    int c = 1;

    while (i < cat->cnt && (c = cat_cmp(&cat->v[i], domain, name, version)) < 0)
        i++;
    *found = i < cat->cnt && c == 0;
    return i;
}

/* The entry, created when missing; NULL on ENOMEM. */
static cat_entry_t *cat_slot(reg_catalog_t *cat, const char *domain,
                             const char *name, int version)
{
    bool found;
    size_t i = cat_find(cat, domain, name, version, &found);
    cat_entry_t e = {0};

    if (found)
        return &cat->v[i];
    if (cat->cnt == cat->cap) {
        size_t cap = cat->cap ? cat->cap * 2 : 16;
        cat_entry_t *v = realloc(cat->v, cap * sizeof(*v));
        if (!v)
            return NULL;
        cat->v = v;
        cat->cap = cap;
    }
    e.domain = strdup(domain);
    e.name = strdup(name);
    e.version = version;
    e.status = json_object();
    if (!e.domain || !e.name || !e.status) {
        free(e.domain);
        free(e.name);
        json_decref(e.status);
        return NULL;
    }
    memmove(&cat->v[i + 1], &cat->v[i], (cat->cnt - i) * sizeof(*cat->v));
    cat->v[i] = e;
    cat->cnt++;
    return &cat->v[i];
}

/* ------------------------------------------------------------ apply */

static void cat_skip(const reg_store_record_t *rec, const char *why)
{
    mw_log_warn(CAT_COMPONENT, "catalog record skipped", "offset=%lld why=%s",
                (long long)rec->offset, mw_log_q(why));
}

/* The (domain, name, version) of a key; false when it has none. */
static bool cat_key_id(const json_t *key, const char **domain,
                       const char **name, int *version)
{
    json_t *v = json_object_get(key, "version");

    *domain = json_string_value(json_object_get(key, "domain"));
    *name = json_string_value(json_object_get(key, "name"));
    if (!*domain || !*name || !json_is_integer(v) ||
        json_integer_value(v) < 1 || json_integer_value(v) > 1000000)
        return false;
    *version = (int)json_integer_value(v);
    return true;
}

static void cat_apply_json(reg_catalog_t *cat, const reg_store_record_t *rec,
                           json_t *key, json_t *value)
{
    const char *type = json_string_value(json_object_get(key, "keytype"));
    const char *domain, *name, *port = NULL;
    cat_entry_t *e;
    int version;

    if (type && !strcmp(type, "NOOP"))
        return;
    if (!type || (strcmp(type, "PRODUCT") && strcmp(type, "PORT_STATUS")))
        return cat_skip(rec, "unknown keytype");
    if (!cat_key_id(key, &domain, &name, &version))
        return cat_skip(rec, "key without domain, name and version");
    if (!strcmp(type, "PORT_STATUS") &&
        !(port = json_string_value(json_object_get(key, "port"))))
        return cat_skip(rec, "PORT_STATUS key without a port");
    if (value && !json_is_object(value))
        return cat_skip(rec, "value is not an object");
    if (!(e = cat_slot(cat, domain, name, version)))
        return cat_skip(rec, "out of memory");
    if (port && value)
        json_object_set(e->status, port, value);
    else if (port)
        json_object_del(e->status, port);
    else {
        json_decref(e->entry);
        e->entry = value ? json_incref(value) : NULL;
    }
}

void reg_catalog_apply(void *opaque, const reg_store_record_t *rec)
{
    reg_catalog_t *cat = opaque;
    json_t *key = json_loadb(rec->key, rec->key_len, 0, NULL);
    json_t *value =
        rec->value ? json_loadb(rec->value, rec->value_len, 0, NULL) : NULL;

    if (!json_is_object(key))
        cat_skip(rec, "key is not a JSON object");
    else if (rec->value && !value)
        cat_skip(rec, "value is not JSON");
    else
        cat_apply_json(cat, rec, key, value);
    json_decref(key);
    json_decref(value);
}

/* ------------------------------------------------------------ reads */

/* The live entry of domain/name at version (0: highest), or NULL. */
static const cat_entry_t *cat_lookup(const reg_catalog_t *cat,
                                     const char *domain, const char *name,
                                     int version)
{
    const cat_entry_t *best = NULL;

    for (size_t i = 0; i < cat->cnt; i++) {
        const cat_entry_t *e = &cat->v[i];
        if (!e->entry || strcmp(e->domain, domain) || strcmp(e->name, name))
            continue;
        if (version ? e->version == version
                    : !best || e->version > best->version)
            best = e;
    }
    return best;
}

const json_t *reg_catalog_get(const reg_catalog_t *cat, const char *domain,
                              const char *name, int version)
{
    const cat_entry_t *e = cat_lookup(cat, domain, name, version);

    return e ? e->entry : NULL;
}

/* The live facts of one port as answered: the last report, and whether
 * it keeps the product's freshness promise (absent when either side is
 * unknown). */
static json_t *cat_port_status(const cat_entry_t *e, const char *port)
{
    json_t *st = port ? json_object_get(e->status, port) : NULL;
    json_t *sla =
        json_object_get(json_object_get(e->entry, "sla"), "freshness_ms");
    json_t *fresh = json_object_get(st, "freshness_ms"), *out;

    if (!st)
        return json_null();
    out = json_deep_copy(st);
    if (json_is_integer(sla) && json_is_integer(fresh))
        json_object_set_new(
            out, "freshness_kept",
            json_boolean(json_integer_value(fresh) <= json_integer_value(sla)));
    return out;
}

json_t *reg_catalog_entry_json(const reg_catalog_t *cat, const char *domain,
                               const char *name, int version)
{
    const cat_entry_t *e = cat_lookup(cat, domain, name, version);
    json_t *out, *versions, *ports, *served;
    size_t i;
    json_t *port;

    if (!e)
        return NULL;
    out = json_deep_copy(e->entry);
    versions = json_array();
    for (i = 0; i < cat->cnt; i++)
        if (cat->v[i].entry && !strcmp(cat->v[i].domain, domain) &&
            !strcmp(cat->v[i].name, name))
            json_array_append_new(versions, json_integer(cat->v[i].version));
    json_object_set_new(out, "versions", versions);
    ports = json_object_get(out, "output_ports");
    served = json_array();
    json_array_foreach(ports, i, port)
    {
        const char *pn = json_string_value(json_object_get(port, "name"));
        json_t *st = cat_port_status(e, pn);
        json_t *mat = json_object_get(st, "materializer");
        if (json_is_string(mat))
            json_array_append_new(served, json_pack("{s:s,s:O}", "port", pn,
                                                    "materializer", mat));
        json_object_set_new(port, "status", st);
    }
    json_object_set_new(out, "materializers", served);
    return out;
}

static bool cat_str_in(const json_t *arr, const char *want)
{
    size_t i;
    json_t *v;

    json_array_foreach(arr, i, v)
    {
        const char *s = json_string_value(v);
        if (s && !strcmp(s, want))
            return true;
    }
    return false;
}

/* Whether an output port's fields (the names meshctl recorded from its
 * value schema) include field. */
static bool cat_has_field(const json_t *entry, const char *field)
{
    size_t i, j;
    json_t *port, *f;

    json_array_foreach(json_object_get(entry, "output_ports"), i, port)
    {
        json_array_foreach(json_object_get(port, "fields"), j, f)
        {
            const char *n = json_string_value(json_object_get(f, "name"));
            if (n && !strcmp(n, field))
                return true;
        }
    }
    return false;
}

static bool cat_matches(const cat_entry_t *e, const reg_catalog_filter_t *f)
{
    const json_t *owner = json_object_get(e->entry, "owner");
    const char *team = json_string_value(json_object_get(owner, "team"));
    const char *contact = json_string_value(json_object_get(owner, "contact"));

    if (f->domain && strcmp(f->domain, e->domain))
        return false;
    if (f->tag && !cat_str_in(json_object_get(e->entry, "tags"), f->tag))
        return false;
    if (f->owner && !(team && !strcmp(team, f->owner)) &&
        !(contact && !strcmp(contact, f->owner)))
        return false;
    return !f->field || cat_has_field(e->entry, f->field);
}

json_t *reg_catalog_list_json(const reg_catalog_t *cat,
                              const reg_catalog_filter_t *filter)
{
    static const char *const copied[] = {
        "domain", "name", "version", "description", "owner", "tags", "status"};
    json_t *arr = json_array();

    for (size_t i = 0; i < cat->cnt; i++) {
        const cat_entry_t *e = &cat->v[i];
        json_t *o;
        if (!e->entry || !cat_matches(e, filter))
            continue;
        o = json_object();
        for (size_t k = 0; k < sizeof(copied) / sizeof(copied[0]); k++) {
            json_t *v = json_object_get(e->entry, copied[k]);
            if (v)
                json_object_set(o, copied[k], v);
        }
        json_array_append_new(arr, o);
    }
    return arr;
}

json_t *reg_catalog_lineage_json(const reg_catalog_t *cat)
{
    json_t *entries = json_array(), *graph;

    for (size_t i = 0; i < cat->cnt; i++)
        if (cat->v[i].entry)
            json_array_append(entries, cat->v[i].entry);
    graph = dp_lineage_build(entries);
    json_decref(entries);
    return graph;
}

/* ------------------------------------------------------------ records */

json_t *reg_catalog_key_product(const char *domain, const char *name,
                                int version)
{
    return json_pack("{s:s,s:s,s:s,s:i,s:i}", "keytype", "PRODUCT", "domain",
                     domain, "name", name, "version", version, "magic", 0);
}

json_t *reg_catalog_key_status(const char *domain, const char *name,
                               int version, const char *port)
{
    return json_pack("{s:s,s:s,s:s,s:i,s:s,s:i}", "keytype", "PORT_STATUS",
                     "domain", domain, "name", name, "version", version, "port",
                     port, "magic", 0);
}

int reg_catalog_entry_check(const json_t *entry, const char *domain,
                            const char *name, mw_err_t *err)
{
    const char *d = json_string_value(json_object_get(entry, "domain"));
    const char *n = json_string_value(json_object_get(entry, "name"));
    json_t *v = json_object_get(entry, "version");
    json_t *ports = json_object_get(entry, "output_ports");
    size_t i;
    json_t *p;

    if (!json_is_object(entry))
        return mw_err_set(err, MW_ERR_INVALID, "the body is not an object");
    if (!d || strcmp(d, domain))
        return mw_err_set(err, MW_ERR_INVALID,
                          "$.domain: expected \"%s\" (the path's)", domain);
    if (!n || strcmp(n, name))
        return mw_err_set(err, MW_ERR_INVALID,
                          "$.name: expected \"%s\" (the path's)", name);
    if (!json_is_integer(v) || json_integer_value(v) < 1 ||
        json_integer_value(v) > 1000000)
        return mw_err_set(err, MW_ERR_INVALID,
                          "$.version: expected an integer 1..1000000");
    if (!json_is_array(ports))
        return mw_err_set(err, MW_ERR_INVALID,
                          "$.output_ports: expected an array");
    json_array_foreach(ports, i, p)
    {
        if (!json_is_string(json_object_get(p, "name")))
            return mw_err_set(err, MW_ERR_INVALID,
                              "$.output_ports[%zu].name: expected a string", i);
    }
    return 0;
}

int reg_catalog_status_check(const json_t *status, mw_err_t *err)
{
    static const char *const counts[] = {"offset", "rows", "freshness_ms"};
    json_t *m = json_object_get(status, "materializer");
    int present = 0;

    if (!json_is_object(status))
        return mw_err_set(err, MW_ERR_INVALID, "the body is not an object");
    if (m && !json_is_string(m))
        return mw_err_set(err, MW_ERR_INVALID,
                          "$.materializer: expected a string");
    for (size_t i = 0; i < sizeof(counts) / sizeof(counts[0]); i++) {
        json_t *v = json_object_get(status, counts[i]);
        if (!v)
            continue;
        if (!json_is_integer(v) || json_integer_value(v) < 0)
            return mw_err_set(err, MW_ERR_INVALID,
                              "$.%s: expected an integer >= 0", counts[i]);
        present++;
    }
    if (!present)
        return mw_err_set(err, MW_ERR_INVALID,
                          "expected at least one of offset, rows, "
                          "freshness_ms");
    return 0;
}

size_t reg_catalog_product_cnt(const reg_catalog_t *cat)
{
    size_t n = 0;

    for (size_t i = 0; i < cat->cnt; i++)
        n += cat->v[i].entry != NULL;
    return n;
}
