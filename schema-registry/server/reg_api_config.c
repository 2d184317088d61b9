/*
 * reg_api_config: /config, /mode and /compatibility.
 *
 * Confluent's asymmetries are kept on purpose because clients parse them:
 * requests say {"compatibility": L} and PUT answers the same, while GET and
 * DELETE answer {"compatibilityLevel": L}; a subject without its own level
 * is 40408 unless defaultToGlobal=true (40409 for modes).  Settings are
 * CONFIG and MODE records; the answer is sent once the store applied them.
 *
 * Thread: the loop thread.
 */
#include <stdlib.h>
#include <string.h>

#include "reg_api_int.h"

/* Subject of a /config/{s} or /mode/{s} route, NULL for the global one. */
static const char *reg_api_setting_subject(const reg_api_req_t *r)
{
    return r->seg_cnt > 1 ? r->seg[1] : NULL;
}

static json_t *reg_api_one(const char *name, const char *value)
{
    json_t *o = json_object();

    json_object_set_new(o, name, json_string(value));
    return o;
}

static void reg_api_json_free(void *p)
{
    json_decref(p);
}

static void reg_api_reply_ctx(reg_api_req_t *r)
{
    json_t *body = r->ctx;

    if (reg_api_store_failed(r))
        return;
    r->ctx = NULL;
    reg_api_reply_json(r, 200, body);
}

/* Appends one setting record (value NULL: delete) and answers body. */
static void reg_api_setting_write(reg_api_req_t *r, const char *keytype,
                                  const char *subject, json_t *value,
                                  json_t *body)
{
    r->ctx = body;
    r->ctx_free = reg_api_json_free;
    reg_api_append_begin(r, reg_api_reply_ctx);
    reg_api_append(r, reg_api_key_setting(keytype, subject), value);
    reg_api_append_end(r);
}

/* The subject's own setting, or -1. */
static int reg_api_own(const reg_api_req_t *r, const char *subject,
                       bool is_mode)
{
    const reg_state_subject_t *subj = reg_state_subject(r->api->state, subject);

    return !subj ? -1 : is_mode ? subj->mode : subj->compat;
}

/* The subject's own setting (the global one without a subject), or -1. */
static int reg_api_setting_level(const reg_api_req_t *r, const char *subject,
                                 bool is_mode)
{
    const reg_state_t *state = r->api->state;

    if (subject)
        return reg_api_own(r, subject, is_mode);
    return is_mode ? reg_state_global_mode(state)
                   : reg_state_global_compat(state);
}

/* As reg_api_setting_level, falling back to the global setting when the
 * request says defaultToGlobal=true. */
static int reg_api_setting_effective(const reg_api_req_t *r,
                                     const char *subject, bool is_mode)
{
    int level = reg_api_setting_level(r, subject, is_mode);

    if (level < 0 && reg_api_query_bool(r, "defaultToGlobal"))
        level = reg_api_setting_level(r, NULL, is_mode);
    return level;
}

/* The checks every PUT starts with; false after replying. */
static bool reg_api_setting_put_ok(reg_api_req_t *r, const char *subject)
{
    if (subject && !reg_api_subject_ok(r, subject))
        return false;
    if (!json_is_object(r->body)) {
        reg_api_reply_err(r, SR_PROTO_E_UNPROCESSABLE,
                          "Request body must be a JSON object");
        return false;
    }
    return true;
}

void reg_api_config_get(reg_api_req_t *r)
{
    const char *subject = reg_api_setting_subject(r);
    int level;

    if (subject && !reg_api_subject_ok(r, subject))
        return;
    if ((level = reg_api_setting_effective(r, subject, false)) < 0) {
        reg_api_reply_code(r, SR_PROTO_E_COMPAT_NOT_CONFIGURED, subject, NULL);
        return;
    }
    reg_api_reply_json(
        r, 200, reg_api_one("compatibilityLevel", sr_proto_compat_name(level)));
}

void reg_api_config_put(reg_api_req_t *r)
{
    const char *subject = reg_api_setting_subject(r);
    const char *name;
    int level;

    if (!reg_api_setting_put_ok(r, subject))
        return;
    name = json_string_value(json_object_get(r->body, "compatibility"));
    if ((level = sr_proto_compat_parse(name)) < 0) {
        reg_api_reply_code(r, SR_PROTO_E_INVALID_COMPAT, NULL, NULL);
        return;
    }
    name = sr_proto_compat_name(level);
    reg_api_setting_write(r, "CONFIG", subject,
                          reg_api_one("compatibilityLevel", name),
                          reg_api_one("compatibility", name));
}

void reg_api_config_delete(reg_api_req_t *r)
{
    const char *subject = reg_api_setting_subject(r);
    int old;

    if (subject && !reg_api_subject_ok(r, subject))
        return;
    if ((old = reg_api_setting_level(r, subject, false)) < 0) {
        reg_api_reply_code(r, SR_PROTO_E_SUBJECT_NOT_FOUND, subject, NULL);
        return;
    }
    reg_api_setting_write(
        r, "CONFIG", subject, NULL,
        reg_api_one("compatibilityLevel", sr_proto_compat_name(old)));
}

void reg_api_mode_get(reg_api_req_t *r)
{
    const char *subject = reg_api_setting_subject(r);
    int mode;

    if (subject && !reg_api_subject_ok(r, subject))
        return;
    if ((mode = reg_api_setting_effective(r, subject, true)) < 0) {
        reg_api_reply_code(r, SR_PROTO_E_MODE_NOT_CONFIGURED, subject, NULL);
        return;
    }
    reg_api_reply_json(r, 200, reg_api_one("mode", sr_proto_mode_name(mode)));
}

/* IMPORT needs an empty registry (or subject) unless force=true. */
static bool reg_api_import_allowed(const reg_api_req_t *r, const char *subject)
{
    const reg_state_subject_t *subj;

    if (reg_api_query_bool(r, "force"))
        return true;
    if (subject)
        return !(subj = reg_state_subject(r->api->state, subject)) ||
               !subj->version_cnt;
    return reg_state_live_subject_cnt(r->api->state) == 0;
}

void reg_api_mode_put(reg_api_req_t *r)
{
    const char *subject = reg_api_setting_subject(r);
    const char *name;
    int mode;

    if (!reg_api_setting_put_ok(r, subject))
        return;
    name = json_string_value(json_object_get(r->body, "mode"));
    if ((mode = sr_proto_mode_parse(name)) < 0) {
        reg_api_reply_err(r, SR_PROTO_E_INVALID_MODE,
                          "Invalid mode. Valid values are READWRITE, "
                          "READONLY, READONLY_OVERRIDE, IMPORT.");
        return;
    }
    if (mode == SR_PROTO_MODE_IMPORT && !reg_api_import_allowed(r, subject)) {
        reg_api_reply_err(r, SR_PROTO_E_NOT_PERMITTED,
                          "Cannot import since found existing subjects");
        return;
    }
    name = sr_proto_mode_name(mode);
    reg_api_setting_write(r, "MODE", subject, reg_api_one("mode", name),
                          reg_api_one("mode", name));
}

void reg_api_mode_delete(reg_api_req_t *r)
{
    const char *subject = reg_api_setting_subject(r);
    int old;

    if (!reg_api_subject_ok(r, subject))
        return;
    if ((old = reg_api_own(r, subject, true)) < 0) {
        reg_api_reply_code(r, SR_PROTO_E_SUBJECT_NOT_FOUND, subject, NULL);
        return;
    }
    reg_api_setting_write(r, "MODE", subject, NULL,
                          reg_api_one("mode", sr_proto_mode_name(old)));
}

/* The plain level behind a transitive one: checking against one chosen
 * version means exactly that version. */
static int reg_api_level_single(int level)
{
    switch (level) {
    case SR_PROTO_COMPAT_BACKWARD_TRANSITIVE:
        return SR_PROTO_COMPAT_BACKWARD;
    case SR_PROTO_COMPAT_FORWARD_TRANSITIVE:
        return SR_PROTO_COMPAT_FORWARD;
    case SR_PROTO_COMPAT_FULL_TRANSITIVE:
        return SR_PROTO_COMPAT_FULL;
    default:
        return level;
    }
}

static void reg_api_compat_answer(reg_api_req_t *r, int ok, json_t *msgs)
{
    json_t *o;

    if (ok < 0) {
        json_decref(msgs);
        reg_api_reply_err(r, SR_PROTO_E_INTERNAL, "out of memory");
        return;
    }
    o = json_object();
    json_object_set_new(o, "is_compatible", json_boolean(ok));
    if (reg_api_query_bool(r, "verbose"))
        json_object_set(o, "messages", msgs);
    json_decref(msgs);
    reg_api_reply_json(r, 200, o);
}

/* Version r->seg[4] as the only previous schema (1-entry arrays); false
 * after replying 40401/40402. */
static bool reg_api_compat_one(reg_api_req_t *r,
                               const reg_state_subject_t *subj,
                               av_schema_t ***prev, int **vers,
                               const char ***texts, size_t *n)
{
    const reg_state_version_t *ver;
    const reg_state_schema_t *sch;
    int v = 0;

    sr_proto_parse_version(r->seg[4], &v, NULL);
    if (!subj || !subj->live_cnt) {
        reg_api_reply_code(r, SR_PROTO_E_SUBJECT_NOT_FOUND, r->seg[2], NULL);
        return false;
    }
    if (!(ver = reg_state_version(subj, v, false))) {
        reg_api_reply_code(r, SR_PROTO_E_VERSION_NOT_FOUND, r->seg[2],
                           r->seg[4]);
        return false;
    }
    sch = reg_state_schema(r->api->state, ver->id);
    *prev = calloc(1, sizeof(**prev));
    *vers = calloc(1, sizeof(**vers));
    *texts = calloc(1, sizeof(**texts));
    if (*prev && *vers && *texts && sch && sch->parsed) {
        (*prev)[0] = sch->parsed;
        (*vers)[0] = ver->version;
        (*texts)[0] = sch->text;
        *n = 1;
    }
    return true;
}

/* POST /compatibility/subjects/{s}/versions[/{v}]: against version v only
 * (a transitive level then means its plain form), or without a version the
 * registration check of the subject's mode and level. */
static void reg_api_compat_run_req(reg_api_req_t *r, const av_schema_t *cand)
{
    const reg_state_t *state = r->api->state;
    const reg_state_subject_t *subj = reg_state_subject(state, r->seg[2]);
    int level = reg_state_compat_for(state, r->seg[2]), ok = 1;
    reg_api_history_t prev = {0};
    json_t *msgs = NULL;

    if (r->seg_cnt == 5) {
        level = reg_api_level_single(level);
        if (!reg_api_compat_one(r, subj, &prev.schemas, &prev.versions,
                                &prev.texts, &prev.n))
            goto out;
    } else if (reg_state_mode_for(state, r->seg[2]) != SR_PROTO_MODE_IMPORT) {
        ok = reg_api_live_previous(state, subj, &prev.schemas, &prev.versions,
                                   &prev.texts, &prev.n) == 0
                 ? 1
                 : MW_ERR_NOMEM;
    }
    msgs = json_array();
    if (ok == 1)
        ok = msgs ? reg_api_compat_run(level, cand, &prev, msgs) : MW_ERR_NOMEM;
    reg_api_compat_answer(r, ok, msgs);
out:
    free(prev.schemas);
    free(prev.versions);
    free(prev.texts);
}

void reg_api_compat_check(reg_api_req_t *r)
{
    reg_api_candidate_t cand = {0};

    if (!reg_api_subject_ok(r, r->seg[2]))
        return;
    if (r->seg_cnt == 5) {
        int v;

        if (!reg_api_version_ok(r, r->seg[4], &v))
            return;
    }
    if (reg_api_candidate_parse(r, &cand))
        reg_api_compat_run_req(r, cand.parsed);
    reg_api_candidate_clear(&cand);
}
