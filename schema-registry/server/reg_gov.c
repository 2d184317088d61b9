/*
 * reg_gov: the stored policies and the set in force (see reg_gov.h).
 *
 * Scopes are few (the mesh and the domains), so they are an array
 * searched linearly.  The set in force is rebuilt from the texts after
 * every policy record: parsing a handful of small YAML documents costs
 * less than keeping two representations in step.
 *
 * Thread: the registry's loop thread.
 */
#include "reg_gov.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mw_log.h"

#define GOV_COMPONENT "governance"
#define REG_GOV_SCOPES_MAX 1024

typedef struct reg_gov_scope {
    char *scope;
    int version;
    char *text;
} reg_gov_scope_t;

struct reg_gov {
    reg_catalog_t *cat;
    reg_gov_scope_t *v;
    size_t cnt;
    gov_policy_t *pol;                          /* NULL: no policy stored */
    mw_counter_t *violations[GOV_RULE__CNT][2]; /* [rule][warn, error] */
};

reg_gov_t *reg_gov_new(reg_catalog_t *cat, mw_metrics_t *metrics)
{
    reg_gov_t *gov = calloc(1, sizeof(*gov));
    char labels[128];

    if (!gov)
        return NULL;
    gov->cat = cat;
    for (int i = 0; metrics && i < GOV_RULE__CNT; i++)
        for (int s = 0; s < 2; s++) {
            snprintf(labels, sizeof(labels), "rule=\"%s\",severity=\"%s\"",
                     gov_rule_name((gov_rule_id_t)i), s ? "error" : "warn");
            gov->violations[i][s] = mw_metrics_counter(
                metrics, "mesh_registry_governance_violations_total",
                "Policy violations found by registrations and catalog "
                "writes, by rule and severity.",
                labels);
        }
    return gov;
}

void reg_gov_destroy(reg_gov_t *gov)
{
    if (!gov)
        return;
    for (size_t i = 0; i < gov->cnt; i++) {
        free(gov->v[i].scope);
        free(gov->v[i].text);
    }
    free(gov->v);
    gov_policy_destroy(gov->pol);
    free(gov);
}

const gov_policy_t *reg_gov_policy(const reg_gov_t *gov)
{
    return gov->pol;
}

static reg_gov_scope_t *reg_gov_find(const reg_gov_t *gov, const char *scope)
{
    for (size_t i = 0; i < gov->cnt; i++)
        if (!strcmp(gov->v[i].scope, scope))
            return &gov->v[i];
    return NULL;
}

/* Adds the texts of gov (the one of skip replaced by text, when given) to
 * a new set: the mesh's first.  Stops at the first refusal when strict,
 * else logs it and goes on. */
static gov_policy_t *reg_gov_build(const reg_gov_t *gov, const char *skip,
                                   const char *text, bool strict, mw_err_t *err)
{
    gov_policy_t *pol = gov_policy_new();
    char origin[300];

    if (!pol) {
        mw_err_set(err, MW_ERR_NOMEM, "out of memory");
        return NULL;
    }
    for (int pass = 0; pass < 2; pass++) {
        for (size_t i = 0; i <= gov->cnt; i++) {
            const char *scope = i < gov->cnt ? gov->v[i].scope : skip;
            const char *t = i < gov->cnt ? gov->v[i].text : text;
            mw_err_t e;
            if (!scope || !t || (i < gov->cnt && skip && !strcmp(scope, skip)))
                continue;
            if ((pass == 0) != !strcmp(scope, "mesh"))
                continue;
            snprintf(origin, sizeof(origin), "policy %s", scope);
            if (gov_policy_add(pol, t, strlen(t), origin, NULL, &e) == 0)
                continue;
            if (strict) {
                if (err)
                    *err = e;
                gov_policy_destroy(pol);
                return NULL;
            }
            mw_log_error(GOV_COMPONENT, "stored policy left out",
                         "scope=%s error=%s", mw_log_q(scope), mw_log_q(e.msg));
        }
    }
    return pol;
}

int reg_gov_prepare(const reg_gov_t *gov, const char *scope, const char *text,
                    int *version, mw_err_t *err)
{
    gov_policy_t *one = gov_policy_new(), *all;
    const reg_gov_scope_t *have = reg_gov_find(gov, scope);
    const char *named = NULL;
    int rc;

    if (!one)
        return mw_err_set(err, MW_ERR_NOMEM, "out of memory");
    rc = gov_policy_add(one, text, strlen(text), "policy", &named, err);
    if (rc == 0 && strcmp(named, scope))
        rc = mw_err_set(err, MW_ERR_INVALID,
                        "the policy is for %s%s, not for %s%s",
                        strcmp(named, "mesh") ? "domain " : "", named,
                        strcmp(scope, "mesh") ? "domain " : "", scope);
    gov_policy_destroy(one);
    if (rc)
        return rc;
    if (!(all = reg_gov_build(gov, scope, text, true, err)))
        return err ? err->code : MW_ERR_INVALID;
    gov_policy_destroy(all);
    *version = have ? have->version + 1 : 1;
    return 0;
}

json_t *reg_gov_key(const char *scope, int version)
{
    return json_pack("{s:s,s:s,s:i,s:i}", "keytype", "POLICY", "scope", scope,
                     "version", version, "magic", 0);
}

/* Applies a POLICY record: the newest version of a scope wins. */
static void reg_gov_apply_policy(reg_gov_t *gov, const reg_store_record_t *rec,
                                 const json_t *key, const json_t *value)
{
    const char *scope = json_string_value(json_object_get(key, "scope"));
    json_t *jv = json_object_get(key, "version");
    const char *text = json_string_value(json_object_get(value, "policy"));
    reg_gov_scope_t *s;
    gov_policy_t *pol;
    char *t;

    if (!scope || !json_is_integer(jv) || !text) {
        mw_log_warn(GOV_COMPONENT, "policy record skipped",
                    "offset=%lld why=%s", (long long)rec->offset,
                    mw_log_q("key without scope and version, or no text"));
        return;
    }
    if (!(s = reg_gov_find(gov, scope))) {
        reg_gov_scope_t *grown;
        if (gov->cnt >= REG_GOV_SCOPES_MAX ||
            !(grown = realloc(gov->v, (gov->cnt + 1) * sizeof(*grown))))
            return;
        gov->v = grown;
        s = &gov->v[gov->cnt];
        *s = (reg_gov_scope_t){.scope = strdup(scope)};
        if (!s->scope)
            return;
        gov->cnt++;
    }
    if (json_integer_value(jv) <= s->version || !(t = strdup(text)))
        return;
    free(s->text);
    s->text = t;
    s->version = (int)json_integer_value(jv);
    if ((pol = reg_gov_build(gov, NULL, NULL, false, NULL))) {
        gov_policy_destroy(gov->pol);
        gov->pol = pol;
    }
    mw_log_info(GOV_COMPONENT, "policy in force", "scope=%s version=%d",
                mw_log_q(scope), s->version);
}

void reg_gov_apply(void *opaque, const reg_store_record_t *rec)
{
    reg_gov_t *gov = opaque;
    json_t *key = json_loadb(rec->key, rec->key_len, 0, NULL);
    const char *type = json_string_value(json_object_get(key, "keytype"));
    json_t *value;

    if (!type || strcmp(type, "POLICY")) {
        json_decref(key);
        reg_catalog_apply(gov->cat, rec);
        return;
    }
    value = rec->value ? json_loadb(rec->value, rec->value_len, 0, NULL) : NULL;
    reg_gov_apply_policy(gov, rec, key, value);
    json_decref(value);
    json_decref(key);
}

static json_t *reg_gov_scope_json(const reg_gov_scope_t *s)
{
    return json_pack("{s:s,s:i,s:s}", "scope", s->scope, "version", s->version,
                     "policy", s->text);
}

json_t *reg_gov_list_json(const reg_gov_t *gov)
{
    json_t *arr = json_array();
    const reg_gov_scope_t *mesh = reg_gov_find(gov, "mesh");

    if (mesh)
        json_array_append_new(arr, reg_gov_scope_json(mesh));
    for (size_t i = 0; i < gov->cnt; i++)
        if (&gov->v[i] != mesh && gov->v[i].text)
            json_array_append_new(arr, reg_gov_scope_json(&gov->v[i]));
    return json_pack("{s:o}", "policies", arr);
}

json_t *reg_gov_get_json(const reg_gov_t *gov, const char *scope)
{
    const reg_gov_scope_t *s = reg_gov_find(gov, scope);

    return s && s->text ? reg_gov_scope_json(s) : NULL;
}

void reg_gov_count(reg_gov_t *gov, const gov_report_t *rep)
{
    for (size_t i = 0; i < gov_report_cnt(rep); i++) {
        const gov_violation_t *v = gov_report_get(rep, i);
        mw_counter_inc(
            gov->violations[v->rule][v->severity == GOV_SEV_ERROR ? 1 : 0]);
    }
}

/* Adds rep's counts per rule into rules ({rule:{"errors","warnings"}}). */
static void reg_gov_tally(json_t *rules, const gov_report_t *rep)
{
    for (size_t i = 0; i < gov_report_cnt(rep); i++) {
        const gov_violation_t *v = gov_report_get(rep, i);
        const char *name = gov_rule_name(v->rule);
        const char *k = v->severity == GOV_SEV_ERROR ? "errors" : "warnings";
        json_t *r = json_object_get(rules, name);
        if (!r) {
            r = json_pack("{s:i,s:i}", "errors", 0, "warnings", 0);
            json_object_set_new(rules, name, r);
        }
        json_object_set_new(
            r, k, json_integer(json_integer_value(json_object_get(r, k)) + 1));
    }
}

json_t *reg_gov_report_json(const reg_gov_t *gov, gov_compat_fn *compat,
                            void *opaque)
{
    json_t *list = reg_catalog_list_json(gov->cat, &(reg_catalog_filter_t){0});
    json_t *prods = json_array(), *rules = json_object(), *sum;
    size_t i, failing = 0;

    json_array_foreach(list, i, sum)
    {
        const char *d = json_string_value(json_object_get(sum, "domain"));
        const char *n = json_string_value(json_object_get(sum, "name"));
        int ver = (int)json_integer_value(json_object_get(sum, "version"));
        const json_t *entry = reg_catalog_get(gov->cat, d, n, ver);
        gov_report_t *rep = gov_report_new();
        char ref[600];
        size_t errors;
        if (!entry || !rep) {
            gov_report_destroy(rep);
            continue;
        }
        if (gov->pol)
            gov_check_product(gov->pol, entry, compat, opaque, rep);
        errors = gov_report_sev_cnt(rep, GOV_SEV_ERROR);
        failing += errors > 0;
        snprintf(ref, sizeof(ref), "%s/%s@%d", d, n, ver);
        json_array_append_new(
            prods,
            json_pack("{s:s,s:b,s:I,s:I,s:o}", "product", ref, "conformant",
                      errors == 0, "errors", (json_int_t)errors, "warnings",
                      (json_int_t)gov_report_sev_cnt(rep, GOV_SEV_WARN),
                      "violations", gov_report_to_json(rep)));
        reg_gov_tally(rules, rep);
        gov_report_destroy(rep);
    }
    json_decref(list);
    return json_pack("{s:b,s:I,s:o,s:o}", "conformant", failing == 0, "failing",
                     (json_int_t)failing, "products", prods, "rules", rules);
}
