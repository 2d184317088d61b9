/*
 * reg_api_gov: governance on the REST API (docs/GOVERNANCE.md).
 *
 *   GET /governance/policies                      every policy in force
 *   GET|PUT /governance/policies/mesh             the federation's
 *   GET|PUT /governance/policies/domains/{d}      a domain's
 *   GET /governance/report                        conformance of every
 *                                                 product in the catalog
 *
 * A PUT body is {"policy": "<YAML text>"}; the text is checked (syntax,
 * rules, its scope against the path, a domain that would weaken the mesh
 * or the reverse) before one record is appended to the catalog's log, and
 * the answer {"scope","version"} comes once it is durable and applied.
 *
 * Enforcement: a registration (reg_api_register.c) and a catalog entry
 * (reg_api_catalog.c) are checked here against the policies in force.  An
 * error-level violation refuses the write with HTTP 422 and error_code
 * 42280 (POLICY_VIOLATION, Meshwork's own, past Confluent's 422xx codes),
 * whose message names every violated rule and its JSON path; Confluent's
 * clients show that message as it is.  Warnings do not block: they are
 * logged and returned in the answer's "warnings" array, a field Confluent's
 * clients ignore.  Both are counted per rule.
 *
 * Thread: the loop thread.
 */
#include <stdlib.h>
#include <string.h>

#include "mw_log.h"
#include "reg_api_int.h"

#define REG_API_GOV_MSG_MAX 4096
#define GOV_COMPONENT_API "governance"

/* The subject's level in force, for min-compatibility. */
static const char *reg_api_gov_compat(void *opaque, const char *subject)
{
    const reg_api_t *api = opaque;

    return sr_proto_compat_name(
        (sr_proto_compat_t)reg_state_compat_for(api->state, subject));
}

/* Decides on rep: logs and counts, replies 42280 on errors (false), else
 * gives the warning lines. */
static bool reg_api_gov_decide(reg_api_req_t *r, const char *what,
                               const gov_report_t *rep, json_t **warnings)
{
    char *msg;
    char line[1024];

    reg_gov_count(r->api->gov, rep);
    *warnings = NULL;
    if (gov_report_sev_cnt(rep, GOV_SEV_ERROR)) {
        if (!(msg = malloc(REG_API_GOV_MSG_MAX))) {
            reg_api_reply_err(r, SR_PROTO_E_INTERNAL, "out of memory");
            return false;
        }
        gov_report_join(rep, GOV_SEV_ERROR, msg, REG_API_GOV_MSG_MAX);
        mw_log_warn(GOV_COMPONENT_API, "write refused by policy",
                    "what=%s violations=%s", mw_log_q(what), mw_log_q(msg));
        reg_api_reply_err(r, SR_PROTO_E_POLICY,
                          "%s violates the governance policies: %s", what, msg);
        free(msg);
        return false;
    }
    for (size_t i = 0; i < gov_report_cnt(rep); i++) {
        gov_report_line(gov_report_get(rep, i), line, sizeof(line));
        mw_log_warn(GOV_COMPONENT_API, "policy warning", "what=%s warning=%s",
                    mw_log_q(what), mw_log_q(line));
        if (!*warnings)
            *warnings = json_array();
        json_array_append_new(*warnings, json_string(line));
    }
    return true;
}

bool reg_api_gov_schema_ok(reg_api_req_t *r, const char *subject,
                           const av_schema_t *schema, const char *text,
                           json_t **warnings)
{
    const gov_policy_t *pol = reg_gov_policy(r->api->gov);
    gov_report_t *rep;
    char what[600];
    bool ok;

    *warnings = NULL;
    if (!pol)
        return true;
    if (!(rep = gov_report_new()) ||
        gov_check_schema(pol, subject, schema, strlen(text),
                         reg_api_gov_compat(r->api, subject), rep)) {
        gov_report_destroy(rep);
        reg_api_reply_err(r, SR_PROTO_E_INTERNAL, "out of memory");
        return false;
    }
    snprintf(what, sizeof(what), "Schema being registered under subject %s",
             subject);
    ok = reg_api_gov_decide(r, what, rep, warnings);
    gov_report_destroy(rep);
    return ok;
}

bool reg_api_gov_entry_ok(reg_api_req_t *r, const json_t *entry,
                          json_t **warnings)
{
    const gov_policy_t *pol = reg_gov_policy(r->api->gov);
    gov_report_t *rep;
    char what[600];
    bool ok;

    *warnings = NULL;
    if (!pol)
        return true;
    if (!(rep = gov_report_new()) ||
        gov_check_product(pol, entry, reg_api_gov_compat, r->api, rep)) {
        gov_report_destroy(rep);
        reg_api_reply_err(r, SR_PROTO_E_INTERNAL, "out of memory");
        return false;
    }
    snprintf(what, sizeof(what), "Product %s/%s@%lld", r->seg[2], r->seg[3],
             (long long)json_integer_value(json_object_get(entry, "version")));
    ok = reg_api_gov_decide(r, what, rep, warnings);
    gov_report_destroy(rep);
    return ok;
}

/* ------------------------------------------------------------ routes */

/* "mesh" or the domain of the path. */
static const char *reg_api_gov_scope(const reg_api_req_t *r)
{
    return r->seg_cnt == 3 ? "mesh" : r->seg[3];
}

void reg_api_gov_policies(reg_api_req_t *r)
{
    reg_api_reply_json(r, 200, reg_gov_list_json(r->api->gov));
}

void reg_api_gov_policy_get(reg_api_req_t *r)
{
    json_t *o = reg_gov_get_json(r->api->gov, reg_api_gov_scope(r));

    if (!o)
        return reg_api_reply_err(r, SR_PROTO_E_NOT_FOUND, "No policy for %s",
                                 reg_api_gov_scope(r));
    reg_api_reply_json(r, 200, o);
}

static void reg_api_gov_json_free(void *p)
{
    json_decref(p);
}

static void reg_api_gov_written(reg_api_req_t *r)
{
    json_t *body = r->ctx;

    if (reg_api_store_failed(r))
        return;
    r->ctx = NULL;
    reg_api_reply_json(r, 200, body);
}

void reg_api_gov_policy_put(reg_api_req_t *r)
{
    const char *scope = reg_api_gov_scope(r);
    const char *text = json_string_value(json_object_get(r->body, "policy"));
    int version;
    mw_err_t err;

    if (!json_is_object(r->body) || !text)
        return reg_api_reply_err(r, SR_PROTO_E_UNPROCESSABLE,
                                 "policy: the body must be {\"policy\": "
                                 "\"<YAML text>\"}");
    if (reg_gov_prepare(r->api->gov, scope, text, &version, &err))
        return reg_api_reply_err(r, SR_PROTO_E_UNPROCESSABLE, "%s", err.msg);
    mw_log_info(GOV_COMPONENT_API, "policy stored", "scope=%s version=%d",
                mw_log_q(scope), version);
    r->ctx = json_pack("{s:s,s:i}", "scope", scope, "version", version);
    r->ctx_free = reg_api_gov_json_free;
    reg_api_append_begin(r, reg_api_gov_written);
    reg_api_append_to(r, r->api->catalog_store, reg_gov_key(scope, version),
                      json_pack("{s:s,s:i,s:s}", "scope", scope, "version",
                                version, "policy", text));
    reg_api_append_end(r);
}

void reg_api_gov_report(reg_api_req_t *r)
{
    json_t *o = reg_gov_report_json(r->api->gov, reg_api_gov_compat, r->api);

    if (!o)
        return reg_api_reply_err(r, SR_PROTO_E_INTERNAL, "out of memory");
    reg_api_reply_json(r, 200, o);
}
