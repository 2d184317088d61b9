/*
 * reg_api_contract: data contracts (Confluent 7.4+), the "metadata" and
 * "ruleSet" a registration may carry, and GET /subjects/{s}/metadata.
 *
 * A contract is checked for shape and kept as a clean copy holding only
 * the fields Confluent's entities know, so what is stored, hashed into the
 * schema's identity and answered is exactly what a Confluent registry
 * would keep (its JSON reader ignores unknown fields; so do we, but a
 * known field of the wrong type is a 422 naming its JSON path).  The
 * record field names are Confluent's ("metadata", "ruleSet"), so its
 * readers of a shared `_schemas` topic understand our records and ours
 * understand theirs.
 *
 * Rules are stored, returned and compared, never executed: executing them
 * is the clients' business (Confluent's serializers run them).
 *
 * Thread: the loop thread.
 */
#include <stdio.h>
#include <string.h>

#include "reg_api_int.h"

#define REG_API_PATH_MAX 128

/* Reply 422 naming path; always false. */
static bool reg_api_contract_bad(reg_api_req_t *r, const char *path,
                                 const char *want)
{
    reg_api_reply_err(r, SR_PROTO_E_UNPROCESSABLE,
                      "Invalid data contract: %s must be %s", path, want);
    return false;
}

/* True when v is an array of strings. */
static bool reg_api_is_str_array(const json_t *v)
{
    size_t i;
    json_t *e;

    if (!json_is_array(v))
        return false;
    json_array_foreach(v, i, e) if (!json_is_string(e)) return false;
    return true;
}

/* True when v is an object whose values are all strings. */
static bool reg_api_is_str_map(const json_t *v)
{
    const char *k;
    json_t *e;

    if (!json_is_object(v))
        return false;
    json_object_foreach((json_t *)v, k, e) if (!json_is_string(e)) return false;
    return true;
}

/* Copies src[name] into dst when present and not null; false after 422
 * when ok() refuses it. */
static bool reg_api_contract_copy(reg_api_req_t *r, json_t *dst,
                                  const json_t *src, const char *prefix,
                                  const char *name, bool (*ok)(const json_t *),
                                  const char *want)
{
    json_t *v = json_object_get(src, name);
    char path[REG_API_PATH_MAX];

    if (!v || json_is_null(v))
        return true;
    if (!ok(v)) {
        snprintf(path, sizeof(path), "%.80s.%.40s", prefix, name);
        return reg_api_contract_bad(r, path, want);
    }
    json_object_set_new(dst, name, json_deep_copy(v));
    return true;
}

static bool reg_api_is_str(const json_t *v)
{
    return json_is_string(v);
}

static bool reg_api_is_bool(const json_t *v)
{
    return json_is_boolean(v);
}

static bool reg_api_is_tag_map(const json_t *v)
{
    const char *k;
    json_t *e;

    if (!json_is_object(v))
        return false;
    json_object_foreach((json_t *)v, k,
                        e) if (!reg_api_is_str_array(e)) return false;
    return true;
}

/* One of the words in allowed (NULL-terminated). */
static bool reg_api_word_in(const char *s, const char *const *allowed)
{
    for (; *allowed; allowed++)
        if (!strcmp(s, *allowed))
            return true;
    return false;
}

static bool reg_api_is_kind(const json_t *v)
{
    static const char *const kinds[] = {"TRANSFORM", "CONDITION", NULL};

    return json_is_string(v) && reg_api_word_in(json_string_value(v), kinds);
}

static bool reg_api_is_mode(const json_t *v)
{
    static const char *const modes[] = {
        "UPGRADE", "DOWNGRADE", "UPDOWN", "WRITE", "READ", "WRITEREAD", NULL};

    return json_is_string(v) && reg_api_word_in(json_string_value(v), modes);
}

/* A metadata object's clean copy in *out (NULL when absent or empty);
 * false after replying. */
static bool reg_api_metadata_parse(reg_api_req_t *r, const json_t *in,
                                   json_t **out)
{
    json_t *md;

    *out = NULL;
    if (!in || json_is_null(in))
        return true;
    if (!json_is_object(in))
        return reg_api_contract_bad(r, "metadata", "an object");
    md = json_object();
    if (!reg_api_contract_copy(r, md, in, "metadata", "tags",
                               reg_api_is_tag_map,
                               "an object of arrays of strings") ||
        !reg_api_contract_copy(r, md, in, "metadata", "properties",
                               reg_api_is_str_map, "an object of strings") ||
        !reg_api_contract_copy(r, md, in, "metadata", "sensitive",
                               reg_api_is_str_array, "an array of strings")) {
        json_decref(md);
        return false;
    }
    *out = md;
    return true;
}

typedef struct reg_api_rule_field {
    const char *name;
    bool (*ok)(const json_t *);
    const char *want;
} reg_api_rule_field_t;

/* Confluent's Rule fields. */
static const reg_api_rule_field_t reg_api_rule_fields[] = {
    {"name", reg_api_is_str, "a string"},
    {"doc", reg_api_is_str, "a string"},
    {"kind", reg_api_is_kind, "TRANSFORM or CONDITION"},
    {"mode", reg_api_is_mode,
     "UPGRADE, DOWNGRADE, UPDOWN, WRITE, READ or WRITEREAD"},
    {"type", reg_api_is_str, "a string"},
    {"tags", reg_api_is_str_array, "an array of strings"},
    {"params", reg_api_is_str_map, "an object of strings"},
    {"expr", reg_api_is_str, "a string"},
    {"onSuccess", reg_api_is_str, "a string"},
    {"onFailure", reg_api_is_str, "a string"},
    {"disabled", reg_api_is_bool, "a boolean"},
};

/* rules (an array of Rule objects) checked into a clean array in out;
 * path names it.  Every rule needs a non-empty name, unique in the
 * list. */
static bool reg_api_rules_parse(reg_api_req_t *r, const json_t *rules,
                                const char *path, json_t *out)
{
    char p[REG_API_PATH_MAX];
    size_t i;
    json_t *rule;

    if (!json_is_array(rules))
        return reg_api_contract_bad(r, path, "an array of rules");
    json_array_foreach(rules, i, rule)
    {
        json_t *clean;
        const char *name;

        snprintf(p, sizeof(p), "%.64s[%zu]", path, i);
        if (!json_is_object(rule))
            return reg_api_contract_bad(r, p, "an object");
        clean = json_object();
        json_array_append_new(out, clean);
        for (size_t f = 0;
             f < sizeof(reg_api_rule_fields) / sizeof(reg_api_rule_fields[0]);
             f++)
            if (!reg_api_contract_copy(
                    r, clean, rule, p, reg_api_rule_fields[f].name,
                    reg_api_rule_fields[f].ok, reg_api_rule_fields[f].want))
                return false;
        name = json_string_value(json_object_get(clean, "name"));
        if (!name || !*name) {
            snprintf(p, sizeof(p), "%.64s[%zu].name", path, i);
            return reg_api_contract_bad(r, p, "a non-empty string");
        }
        for (size_t j = 0; j < i; j++)
            if (!strcmp(name, json_string_value(json_object_get(
                                  json_array_get(out, j), "name")))) {
                reg_api_reply_err(r, SR_PROTO_E_UNPROCESSABLE,
                                  "Invalid data contract: %s: rule name '%s' "
                                  "is used twice",
                                  path, name);
                return false;
            }
    }
    return true;
}

/* A ruleSet's clean copy in *out (NULL when absent or without rules);
 * false after replying. */
static bool reg_api_rule_set_parse(reg_api_req_t *r, const json_t *in,
                                   json_t **out)
{
    static const char *const lists[] = {"migrationRules", "domainRules",
                                        "encodingRules"};
    char path[REG_API_PATH_MAX];
    json_t *rs;

    *out = NULL;
    if (!in || json_is_null(in))
        return true;
    if (!json_is_object(in))
        return reg_api_contract_bad(r, "ruleSet", "an object");
    rs = json_object();
    for (size_t i = 0; i < sizeof(lists) / sizeof(lists[0]); i++) {
        json_t *v = json_object_get(in, lists[i]), *arr;

        if (!v || json_is_null(v))
            continue;
        snprintf(path, sizeof(path), "ruleSet.%s", lists[i]);
        arr = json_array();
        json_object_set_new(rs, lists[i], arr);
        if (!reg_api_rules_parse(r, v, path, arr)) {
            json_decref(rs);
            return false;
        }
    }
    *out = rs;
    return true;
}

bool reg_api_contract_parse(reg_api_req_t *r, reg_api_candidate_t *cand)
{
    json_t *md = NULL, *rs = NULL;

    if (!reg_api_metadata_parse(r, json_object_get(r->body, "metadata"), &md) ||
        !reg_api_rule_set_parse(r, json_object_get(r->body, "ruleSet"), &rs)) {
        json_decref(md);
        return false;
    }
    cand->body_metadata = md;
    cand->body_rule_set = rs;
    return true;
}

int reg_api_candidate_settle(const reg_state_t *state,
                             const reg_state_subject_t *subj,
                             reg_api_candidate_t *cand)
{
    const reg_state_version_t *latest =
        reg_state_version(subj, SR_PROTO_VERSION_LATEST, false);
    const reg_state_schema_t *prev =
        latest ? reg_state_schema(state, latest->id) : NULL;

    /* Confluent's rule without defaultMetadata/overrideMetadata configs: a
     * part the request leaves out is the latest live version's. */
    cand->metadata = cand->body_metadata ? cand->body_metadata
                     : prev              ? prev->metadata
                                         : NULL;
    cand->rule_set = cand->body_rule_set ? cand->body_rule_set
                     : prev              ? prev->rule_set
                                         : NULL;
    free(cand->key_owned);
    cand->key = reg_state_key(cand->text, cand->refs, cand->metadata,
                              cand->rule_set, &cand->key_owned);
    return cand->key ? 0 : MW_ERR_NOMEM;
}

void reg_api_contract_set(json_t *o, const json_t *metadata,
                          const json_t *rule_set)
{
    if (metadata)
        json_object_set_new(o, "metadata", json_deep_copy(metadata));
    if (rule_set)
        json_object_set_new(o, "ruleSet", json_deep_copy(rule_set));
}

/* True when sch's metadata.properties hold every key=value pair of r's
 * query (key and value parameters paired in order). */
static bool reg_api_props_match(const reg_api_req_t *r,
                                const reg_state_schema_t *sch)
{
    json_t *props = json_object_get(sch->metadata, "properties");
    size_t v = 0;

    for (size_t k = 0; k < r->q_cnt; k++) {
        const char *want;

        if (strcmp(r->qname[k], "key"))
            continue;
        while (v < r->q_cnt && strcmp(r->qname[v], "value"))
            v++;
        if (v >= r->q_cnt)
            return true; /* a key without a value is ignored (Confluent) */
        want = json_string_value(json_object_get(props, r->qval[k]));
        if (!want || strcmp(want, r->qval[v]))
            return false;
        v++;
    }
    return true;
}

void reg_api_subject_metadata(reg_api_req_t *r)
{
    bool deleted = reg_api_query_bool(r, "deleted");
    const reg_state_subject_t *subj;

    if (!reg_api_subject_ok(r, r->seg[1]))
        return;
    subj = reg_state_subject(r->api->state, r->seg[1]);
    if (!subj || !(deleted ? subj->version_cnt : subj->live_cnt)) {
        reg_api_reply_code(r, SR_PROTO_E_SUBJECT_NOT_FOUND, r->seg[1], NULL);
        return;
    }
    for (size_t i = subj->version_cnt; i-- > 0;) {
        const reg_state_version_t *ver = &subj->versions[i];
        const reg_state_schema_t *sch =
            reg_state_schema(r->api->state, ver->id);

        if ((deleted || !ver->deleted) && sch && reg_api_props_match(r, sch)) {
            reg_api_reply_json(
                r, 200, reg_api_version_json(r->api->state, r->seg[1], ver));
            return;
        }
    }
    reg_api_reply_code(r, SR_PROTO_E_SCHEMA_NOT_FOUND, NULL, NULL);
}
