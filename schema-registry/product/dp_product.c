/*
 * dp_product: the read side of a loaded descriptor (accessors, subjects,
 * positioned errors) and its catalog form (dp_product_to_json).  The
 * builder is dp_parse.c; a product never changes once built.
 *
 * Any thread.
 */
#include "dp_product.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dp_product_int.h"

/* ------------------------------------------------------------ pool */

void *dp_product_keep(dp_product_t *prod, void *p)
{
    if (!p)
        return NULL;
    if (prod->block_cnt == prod->block_cap) {
        size_t cap = prod->block_cap ? prod->block_cap * 2 : 64;
        void **v = realloc(prod->blocks, cap * sizeof(*v));
        if (!v) {
            free(p);
            return NULL;
        }
        prod->blocks = v;
        prod->block_cap = cap;
    }
    prod->blocks[prod->block_cnt++] = p;
    return p;
}

void *dp_product_alloc(dp_product_t *prod, size_t n, size_t size)
{
    return dp_product_keep(prod, calloc(n ? n : 1, size));
}

bool dp_product_keep_schema(dp_product_t *prod, av_schema_t *schema)
{
    if (prod->schema_cnt == prod->schema_cap) {
        size_t cap = prod->schema_cap ? prod->schema_cap * 2 : 8;
        av_schema_t **v = realloc(prod->schemas, cap * sizeof(*v));
        if (!v) {
            av_schema_release(schema);
            return false;
        }
        prod->schemas = v;
        prod->schema_cap = cap;
    }
    prod->schemas[prod->schema_cnt++] = schema;
    return true;
}

void dp_product_destroy(dp_product_t *prod)
{
    if (!prod)
        return;
    for (size_t i = 0; i < prod->schema_cnt; i++)
        av_schema_release(prod->schemas[i]);
    for (size_t i = 0; i < prod->block_cnt; i++)
        free(prod->blocks[i]);
    free(prod->schemas);
    free(prod->blocks);
    free(prod->file);
    free(prod->ref);
    free(prod);
}

bool dp_duration_ms(const char *text, long long *ms)
{
    static const struct {
        const char *unit;
        long long ms;
    } units[] = {{"ms", 1},      {"s", 1000},     {"m", 60000},
                 {"h", 3600000}, {"d", 86400000}, {"w", 604800000}};
    char *end;
    long long v = strtoll(text, &end, 10);

    if (end == text || v < 0 || v > 1000000000)
        return false;
    for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++)
        if (!strcmp(end, units[i].unit)) {
            *ms = v * units[i].ms;
            return true;
        }
    return false;
}

/* ------------------------------------------------------------ reads */

const char *dp_product_file(const dp_product_t *prod)
{
    return prod->file;
}

const char *dp_product_domain(const dp_product_t *prod)
{
    return prod->domain;
}

const char *dp_product_name(const dp_product_t *prod)
{
    return prod->name;
}

int dp_product_version(const dp_product_t *prod)
{
    return prod->version;
}

const char *dp_product_ref(const dp_product_t *prod)
{
    return prod->ref;
}

const char *dp_product_status(const dp_product_t *prod)
{
    return prod->status;
}

const char *dp_product_description(const dp_product_t *prod)
{
    return prod->description;
}

const char *dp_product_owner_team(const dp_product_t *prod)
{
    return prod->owner_team;
}

const char *dp_product_owner_contact(const dp_product_t *prod)
{
    return prod->owner_contact;
}

const char *dp_product_terms(const dp_product_t *prod)
{
    return prod->terms;
}

const char *dp_product_sla_freshness(const dp_product_t *prod)
{
    return prod->sla_freshness;
}

long long dp_product_sla_freshness_ms(const dp_product_t *prod)
{
    return prod->sla_freshness_ms;
}

const char *dp_product_sla_availability(const dp_product_t *prod)
{
    return prod->sla_availability;
}

size_t dp_product_tag_cnt(const dp_product_t *prod)
{
    return prod->tag_cnt;
}

const char *dp_product_tag(const dp_product_t *prod, size_t i)
{
    return i < prod->tag_cnt ? prod->tags[i] : NULL;
}

size_t dp_product_input_cnt(const dp_product_t *prod)
{
    return prod->input_cnt;
}

const dp_input_t *dp_product_input(const dp_product_t *prod, size_t i)
{
    return i < prod->input_cnt ? &prod->inputs[i] : NULL;
}

size_t dp_product_output_cnt(const dp_product_t *prod)
{
    return prod->output_cnt;
}

const dp_output_t *dp_product_output(const dp_product_t *prod, size_t i)
{
    return i < prod->output_cnt ? &prod->outputs[i] : NULL;
}

const dp_output_t *dp_product_output_named(const dp_product_t *prod,
                                           const char *name)
{
    for (size_t i = 0; i < prod->output_cnt; i++)
        if (!strcmp(prod->outputs[i].name, name))
            return &prod->outputs[i];
    return NULL;
}

const char *dp_output_subject(const dp_output_t *out, bool is_key, char *buf,
                              size_t cap)
{
    snprintf(buf, cap, "%s-%s", out->topic ? out->topic : "",
             is_key ? "key" : "value");
    return buf;
}

int dp_product_err(const dp_product_t *prod, dp_pos_t pos, mw_err_t *err,
                   int code, const char *fmt, ...)
{
    char msg[MW_ERR_MSG_MAX];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    return mw_err_set(err, code, "%s:%d:%d: %s", prod->file, pos.line, pos.col,
                      msg);
}

/* ------------------------------------------------------------ JSON */

static const char *const dp_output_kind_names[] = {"topic", "table", "files"};
_Static_assert(sizeof(dp_output_kind_names) / sizeof(dp_output_kind_names[0]) ==
                   DP_OUTPUT_FILES + 1,
               "one name per output kind");

/* The classification the descriptor gives field, or NULL. */
static const dp_field_t *dp_field_of(const dp_output_t *out, const char *name)
{
    for (size_t i = 0; i < out->field_cnt; i++)
        if (!strcmp(out->fields[i].name, name))
            return &out->fields[i];
    return NULL;
}

/* Every top-level field of the value schema, so the catalog can be
 * searched by field name, with what the descriptor says of it. */
static json_t *dp_fields_json(const dp_output_t *out)
{
    const av_node_t *root = av_schema_root(out->value_schema->parsed);
    json_t *arr = json_array();

    for (size_t i = 0; root->type == AV_RECORD && i < root->field_cnt; i++) {
        const av_field_t *f = &root->fields[i];
        const dp_field_t *d = dp_field_of(out, f->name);
        json_array_append_new(
            arr, json_pack("{s:s,s:s*,s:s*}", "name", f->name, "classification",
                           d ? d->classification : NULL, "description",
                           d && d->description ? d->description : f->doc));
    }
    return arr;
}

static json_t *dp_schema_json(const dp_output_t *out, const dp_schema_t *s,
                              bool is_key)
{
    char subject[512];

    if (!s)
        return json_null();
    return json_pack("{s:s,s:s,s:s*}", "subject",
                     dp_output_subject(out, is_key, subject, sizeof(subject)),
                     "schema", s->text, "file", s->file);
}

static json_t *dp_output_json(const dp_output_t *out)
{
    json_t *o = json_pack("{s:s,s:s}", "name", out->name, "type",
                          dp_output_kind_names[out->kind]);

    if (out->kind != DP_OUTPUT_TOPIC) {
        json_object_set_new(o, "from", json_string(out->from));
        json_object_set_new(o, "sink", json_string(out->sink));
        json_object_set_new(o, "location", json_string(out->location));
        return o;
    }
    json_object_set_new(o, "topic", json_string(out->topic));
    json_object_set_new(o, "partitions", json_integer(out->partitions));
    if (out->replication)
        json_object_set_new(o, "replication", json_integer(out->replication));
    if (out->retention_ms)
        json_object_set_new(o, "retention_ms", json_integer(out->retention_ms));
    if (out->cleanup_policy)
        json_object_set_new(o, "cleanup_policy",
                            json_string(out->cleanup_policy));
    json_object_set_new(o, "key_schema",
                        dp_schema_json(out, out->key_schema, true));
    json_object_set_new(o, "value_schema",
                        dp_schema_json(out, out->value_schema, false));
    json_object_set_new(o, "fields", dp_fields_json(out));
    return o;
}

static json_t *dp_input_json(const dp_input_t *in)
{
    if (in->kind == DP_INPUT_PRODUCT)
        return json_pack("{s:s,s:s}", "name", in->name, "product", in->ref);
    return json_pack("{s:s,s:s,s:s*}", "name", in->name, "source", in->source,
                     "location", in->location);
}

json_t *dp_product_to_json(const dp_product_t *prod)
{
    json_t *o = json_pack("{s:s,s:s,s:i,s:s?,s:s?,s:{s:s,s:s?},s:s?}", "domain",
                          prod->domain, "name", prod->name, "version",
                          prod->version, "status", prod->status, "description",
                          prod->description, "owner", "team", prod->owner_team,
                          "contact", prod->owner_contact, "terms", prod->terms);
    json_t *tags = json_array(), *ins = json_array(), *outs = json_array();
    json_t *sla = json_object();

    if (!o || !tags || !ins || !outs || !sla) {
        json_decref(o);
        json_decref(tags);
        json_decref(ins);
        json_decref(outs);
        json_decref(sla);
        return NULL;
    }
    for (size_t i = 0; i < prod->tag_cnt; i++)
        json_array_append_new(tags, json_string(prod->tags[i]));
    if (prod->sla_freshness) {
        json_object_set_new(sla, "freshness", json_string(prod->sla_freshness));
        json_object_set_new(sla, "freshness_ms",
                            json_integer(prod->sla_freshness_ms));
    }
    if (prod->sla_availability)
        json_object_set_new(sla, "availability",
                            json_string(prod->sla_availability));
    for (size_t i = 0; i < prod->input_cnt; i++)
        json_array_append_new(ins, dp_input_json(&prod->inputs[i]));
    for (size_t i = 0; i < prod->output_cnt; i++)
        json_array_append_new(outs, dp_output_json(&prod->outputs[i]));
    json_object_set_new(o, "tags", tags);
    json_object_set_new(o, "sla", sla);
    json_object_set_new(o, "input_ports", ins);
    json_object_set_new(o, "output_ports", outs);
    return o;
}
