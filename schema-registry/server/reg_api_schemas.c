/*
 * reg_api_schemas: the /schemas routes, reads by global id.  GET
 * /schemas/ids/{id} is the registry's hot path (every consumer's first
 * message of a schema, every serializer cache miss), so its body is kept
 * in the state's bounded LRU of hot bodies (REG_STATE_BODY_CACHE_MAX): built
 * once per id while the id stays hot, without a copy per registered
 * schema.
 *
 * An id that is not a number is a 404 "HTTP 404 Not Found" (Jersey fails to
 * convert the path parameter), an unknown one 40403.
 *
 * Thread: the loop thread.
 */
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "reg_api_int.h"

void reg_api_schema_types(reg_api_req_t *r)
{
    json_t *arr = json_array();

    json_array_append_new(arr, json_string("AVRO"));
    reg_api_reply_json(r, 200, arr);
}

/* The schema of r->seg[2]; NULL after replying 404/40403. */
static const reg_state_schema_t *reg_api_schema_of(reg_api_req_t *r)
{
    const char *s = r->seg[2];
    char *end = NULL;
    long long id = strtoll(s, &end, 10);
    const reg_state_schema_t *sch;

    if (!*s || *end || (*s != '-' && (*s < '0' || *s > '9')) || id < INT_MIN ||
        id > INT_MAX) {
        reg_api_reply_code(r, SR_PROTO_E_NOT_FOUND, NULL, NULL);
        return NULL;
    }
    sch = reg_state_schema(r->api->state, (int)id);
    if (!sch)
        reg_api_reply_err(r, SR_PROTO_E_SCHEMA_NOT_FOUND,
                          "Schema %lld not "
                          "found",
                          id);
    return sch;
}

static json_t *reg_api_schema_json(const reg_state_schema_t *sch)
{
    json_t *o = json_object();

    if (strcmp(sch->type, "AVRO"))
        json_object_set_new(o, "schemaType", json_string(sch->type));
    json_object_set_new(o, "schema", json_string(sch->text));
    if (sch->refs)
        json_object_set(o, "references", sch->refs);
    reg_api_contract_set(o, sch->metadata, sch->rule_set);
    return o;
}

void reg_api_schema_by_id(reg_api_req_t *r)
{
    const reg_state_schema_t *sch = reg_api_schema_of(r);
    const char *body;
    size_t len;
    json_t *o;
    char *built;

    if (!sch)
        return;
    /* fetchMaxId adds a field, so only the plain form is cached; the
     * subject and format parameters do not change an Avro answer. */
    if (!reg_api_query_bool(r, "fetchMaxId")) {
        body = reg_state_body(r->api->state, sch, &len);
        if (!body) {
            o = reg_api_schema_json(sch);
            built = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER);
            json_decref(o);
            if (built) {
                len = strlen(built);
                reg_state_set_body(r->api->state, sch, built, len);
                body = built;
            }
        }
        if (body) {
            reg_api_reply_text(r, 200, body, len);
            return;
        }
    }
    o = reg_api_schema_json(sch);
    json_object_set_new(o, "maxId",
                        json_integer(reg_state_max_id(r->api->state)));
    reg_api_reply_json(r, 200, o);
}

void reg_api_schema_by_id_raw(reg_api_req_t *r)
{
    const reg_state_schema_t *sch = reg_api_schema_of(r);

    if (sch)
        reg_api_reply_text(r, 200, sch->text, strlen(sch->text));
}

typedef struct reg_api_uses {
    json_t *arr;
    bool deleted;
    bool subjects_only;
} reg_api_uses_t;

static void reg_api_use_cb(void *opaque, const reg_state_subject_t *subj,
                           const reg_state_version_t *ver)
{
    reg_api_uses_t *u = opaque;
    json_t *o;

    if (ver->deleted && !u->deleted)
        return;
    if (u->subjects_only) {
        json_array_append_new(u->arr, json_string(subj->name));
        return;
    }
    o = json_object();
    json_object_set_new(o, "subject", json_string(subj->name));
    json_object_set_new(o, "version", json_integer(ver->version));
    if (ver->deleted)
        json_object_set_new(o, "deleted", json_true());
    json_array_append_new(u->arr, o);
}

static int reg_api_cmp_json_str(const void *a, const void *b)
{
    return strcmp(json_string_value(*(json_t *const *)a),
                  json_string_value(*(json_t *const *)b));
}

/* Sorted, distinct copy of an array of strings. */
static json_t *reg_api_sorted_unique(json_t *arr)
{
    size_t n = json_array_size(arr);
    json_t **v = calloc(n ? n : 1, sizeof(*v));
    json_t *out = json_array();

    for (size_t i = 0; v && i < n; i++)
        v[i] = json_array_get(arr, i);
    if (v)
        qsort(v, n, sizeof(*v), reg_api_cmp_json_str);
    for (size_t i = 0; v && i < n; i++)
        if (!i || reg_api_cmp_json_str(&v[i - 1], &v[i]))
            json_array_append(out, v[i]);
    free(v);
    json_decref(arr);
    return out;
}

static void reg_api_schema_uses(reg_api_req_t *r, bool subjects_only)
{
    const reg_state_schema_t *sch = reg_api_schema_of(r);
    reg_api_uses_t u = {.subjects_only = subjects_only};

    if (!sch)
        return;
    u.deleted = reg_api_query_bool(r, "deleted");
    u.arr = json_array();
    reg_state_foreach_use(r->api->state, sch->id, reg_api_use_cb, &u);
    reg_api_reply_json(r, 200,
                       subjects_only ? reg_api_sorted_unique(u.arr) : u.arr);
}

void reg_api_schema_id_versions(reg_api_req_t *r)
{
    reg_api_schema_uses(r, false);
}

void reg_api_schema_id_subjects(reg_api_req_t *r)
{
    reg_api_schema_uses(r, true);
}

/* GET /schemas: every version of every subject (newer Confluent), with
 * subjectPrefix, deleted and latestOnly. */
void reg_api_schemas_list(reg_api_req_t *r)
{
    size_t cnt;
    const reg_state_subject_t *const *all =
        reg_state_subjects(r->api->state, &cnt);
    const char *prefix = reg_api_query(r, "subjectPrefix");
    bool deleted = reg_api_query_bool(r, "deleted");
    bool latest = reg_api_query_bool(r, "latestOnly");
    json_t *arr = json_array();

    for (size_t s = 0; s < cnt; s++) {
        const reg_state_subject_t *subj = all[s];

        if (prefix && strncmp(subj->name, prefix, strlen(prefix)))
            continue;
        if (latest) {
            const reg_state_version_t *ver =
                reg_state_version(subj, SR_PROTO_VERSION_LATEST, deleted);

            if (ver)
                json_array_append_new(
                    arr, reg_api_version_json(r->api->state, subj->name, ver));
            continue;
        }
        for (size_t i = 0; i < subj->version_cnt; i++) {
            const reg_state_version_t *ver = &subj->versions[i];

            if (!ver->deleted || deleted)
                json_array_append_new(
                    arr, reg_api_version_json(r->api->state, subj->name, ver));
        }
    }
    reg_api_reply_json(r, 200, arr);
}
