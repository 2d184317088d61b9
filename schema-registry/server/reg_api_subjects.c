/*
 * reg_api_subjects: the /subjects routes but registration (listings,
 * versions, lookup, soft and permanent deletes, referencedby).
 *
 * Order of checks follows Confluent, because clients and tests rely on
 * which error wins: subject name (42208), version syntax (42202) before any
 * existence check, then subject (40401), then version (40402), then the
 * delete state rules (40404..40407) and references (42206).  Deletes append
 * records and answer from the store's done callback.
 *
 * Thread: the loop thread.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "reg_api_int.h"

json_t *reg_api_version_json(const reg_state_t *state, const char *subject,
                             const reg_state_version_t *ver)
{
    const reg_state_schema_t *sch = reg_state_schema(state, ver->id);
    json_t *o = json_object();

    json_object_set_new(o, "subject", json_string(subject));
    json_object_set_new(o, "version", json_integer(ver->version));
    json_object_set_new(o, "id", json_integer(ver->id));
    if (sch && strcmp(sch->type, "AVRO"))
        json_object_set_new(o, "schemaType", json_string(sch->type));
    if (sch && sch->refs)
        json_object_set(o, "references", sch->refs);
    if (sch)
        reg_api_contract_set(o, sch->metadata, sch->rule_set);
    json_object_set_new(o, "schema", json_string(sch ? sch->text : ""));
    /* Confluent marks a soft-deleted version read with deleted=true. */
    if (ver->deleted)
        json_object_set_new(o, "deleted", json_true());
    return o;
}

static int reg_api_cmp_str(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

void reg_api_subjects_list(reg_api_req_t *r)
{
    size_t cnt, n = 0;
    const reg_state_subject_t *const *all =
        reg_state_subjects(r->api->state, &cnt);
    bool deleted = reg_api_query_bool(r, "deleted");
    bool deleted_only = reg_api_query_bool(r, "deletedOnly");
    const char *prefix = reg_api_query(r, "subjectPrefix");
    const char **names = calloc(cnt ? cnt : 1, sizeof(*names));
    json_t *arr = json_array();

    for (size_t i = 0; names && i < cnt; i++) {
        const reg_state_subject_t *s = all[i];
        bool has_deleted = s->version_cnt > s->live_cnt;
        bool show = deleted_only ? has_deleted
                    : deleted    ? s->version_cnt > 0
                                 : s->live_cnt > 0;

        if (show && (!prefix || !strncmp(s->name, prefix, strlen(prefix))))
            names[n++] = s->name;
    }
    qsort(names, n, sizeof(*names), reg_api_cmp_str);
    for (size_t i = 0; i < n; i++)
        json_array_append_new(arr, json_string(names[i]));
    free(names);
    reg_api_reply_json(r, 200, arr);
}

/* The subject of r->seg[1] when it has versions visible with
 * include_deleted; NULL after replying 42208/40401. */
static const reg_state_subject_t *reg_api_subject_of(reg_api_req_t *r,
                                                     bool include_deleted)
{
    const reg_state_subject_t *subj;

    if (!reg_api_subject_ok(r, r->seg[1]))
        return NULL;
    subj = reg_state_subject(r->api->state, r->seg[1]);
    if (!subj || !(include_deleted ? subj->version_cnt : subj->live_cnt)) {
        reg_api_reply_code(r, SR_PROTO_E_SUBJECT_NOT_FOUND, r->seg[1], NULL);
        return NULL;
    }
    return subj;
}

void reg_api_versions_list(reg_api_req_t *r)
{
    bool deleted_only = reg_api_query_bool(r, "deletedOnly");
    bool deleted = deleted_only || reg_api_query_bool(r, "deleted");
    const reg_state_subject_t *subj = reg_api_subject_of(r, deleted);
    json_t *arr;

    if (!subj)
        return;
    arr = json_array();
    for (size_t i = 0; i < subj->version_cnt; i++) {
        const reg_state_version_t *ver = &subj->versions[i];

        if (deleted_only ? ver->deleted : (deleted || !ver->deleted))
            json_array_append_new(arr, json_integer(ver->version));
    }
    reg_api_reply_json(r, 200, arr);
}

/* Version r->seg[3] of subject r->seg[1]; NULL after replying. */
static const reg_state_version_t *reg_api_version_of(reg_api_req_t *r,
                                                     bool include_deleted)
{
    const reg_state_subject_t *subj;
    const reg_state_version_t *ver;
    int v;

    if (!reg_api_subject_ok(r, r->seg[1]) ||
        !reg_api_version_ok(r, r->seg[3], &v) ||
        !(subj = reg_api_subject_of(r, include_deleted)))
        return NULL;
    ver = reg_state_version(subj, v, include_deleted);
    if (!ver)
        reg_api_reply_code(r, SR_PROTO_E_VERSION_NOT_FOUND, r->seg[1],
                           r->seg[3]);
    return ver;
}

void reg_api_version_get(reg_api_req_t *r)
{
    const reg_state_version_t *ver =
        reg_api_version_of(r, reg_api_query_bool(r, "deleted"));

    if (ver)
        reg_api_reply_json(r, 200,
                           reg_api_version_json(r->api->state, r->seg[1], ver));
}

void reg_api_version_schema_get(reg_api_req_t *r)
{
    const reg_state_version_t *ver =
        reg_api_version_of(r, reg_api_query_bool(r, "deleted"));
    const reg_state_schema_t *sch;

    if (!ver)
        return;
    sch = reg_state_schema(r->api->state, ver->id);
    reg_api_reply_text(r, 200, sch ? sch->text : "",
                       sch ? strlen(sch->text) : 0);
}

/* True when schema sch references (subject, version). */
static bool reg_api_refers_to(const reg_state_schema_t *sch,
                              const char *subject, int version)
{
    size_t i;
    json_t *ref;

    json_array_foreach(sch->refs, i, ref)
    {
        const char *s = json_string_value(json_object_get(ref, "subject"));
        json_t *v = json_object_get(ref, "version");

        if (s && !strcmp(s, subject) && json_is_integer(v) &&
            json_integer_value(v) == version)
            return true;
    }
    return false;
}

/* Ids of live versions whose schema references (subject, version), sorted
 * and distinct, appended to arr. */
static void reg_api_referrers(const reg_state_t *state, const char *subject,
                              int version, json_t *arr)
{
    size_t cnt;
    const reg_state_subject_t *const *all = reg_state_subjects(state, &cnt);

    for (int pass_id = 0, next; pass_id >= 0; pass_id = next) {
        next = -1;
        /* Smallest id above pass_id that refers: a few passes over a few
         * referrers beat allocating a set; reference chains are short. */
        for (size_t s = 0; s < cnt; s++) {
            for (size_t i = 0; i < all[s]->version_cnt; i++) {
                const reg_state_version_t *ver = &all[s]->versions[i];
                const reg_state_schema_t *sch;

                if (ver->deleted || ver->id <= pass_id ||
                    (next >= 0 && ver->id >= next))
                    continue;
                sch = reg_state_schema(state, ver->id);
                if (sch && sch->refs &&
                    reg_api_refers_to(sch, subject, version))
                    next = ver->id;
            }
        }
        if (next >= 0)
            json_array_append_new(arr, json_integer(next));
    }
}

void reg_api_version_referencedby(reg_api_req_t *r)
{
    const reg_state_version_t *ver = reg_api_version_of(r, true);
    json_t *arr;

    if (!ver)
        return;
    arr = json_array();
    reg_api_referrers(r->api->state, r->seg[1], ver->version, arr);
    reg_api_reply_json(r, 200, arr);
}

/* 42206 when live schemas reference (subject, version); true if replied. */
static bool reg_api_referenced(reg_api_req_t *r, int version)
{
    json_t *arr = json_array();
    bool used;

    reg_api_referrers(r->api->state, r->seg[1], version, arr);
    used = json_array_size(arr) > 0;
    json_decref(arr);
    if (used)
        reg_api_reply_err(r, SR_PROTO_E_REFERENCE_EXISTS,
                          "One or more references exist to the schema "
                          "{magic=1,keytype=SCHEMA,subject=%s,version=%d}.",
                          r->seg[1], version);
    return used;
}

static void reg_api_reply_ctx_json(reg_api_req_t *r)
{
    json_t *body = r->ctx;

    if (reg_api_store_failed(r))
        return;
    r->ctx = NULL;
    r->ctx_free = NULL;
    reg_api_reply_json(r, 200, body);
}

static void reg_api_json_free(void *p)
{
    json_decref(p);
}

/* Keeps body as the answer once the appends are done. */
static void reg_api_answer_later(reg_api_req_t *r, json_t *body)
{
    r->ctx = body;
    r->ctx_free = reg_api_json_free;
}

void reg_api_version_delete(reg_api_req_t *r)
{
    bool permanent = reg_api_query_bool(r, "permanent");
    const reg_state_version_t *ver;
    json_t *val = NULL;

    if (!reg_api_subject_ok(r, r->seg[1]) || !reg_api_writable(r, r->seg[1]) ||
        !(ver = reg_api_version_of(r, true)))
        return;
    if (!permanent && ver->deleted) {
        reg_api_reply_code(r, SR_PROTO_E_VERSION_SOFT_DELETED, r->seg[1],
                           r->seg[3]);
        return;
    }
    if (permanent && !ver->deleted) {
        reg_api_reply_code(r, SR_PROTO_E_VERSION_NOT_SOFT_DELETED, r->seg[1],
                           r->seg[3]);
        return;
    }
    if (reg_api_referenced(r, ver->version))
        return;
    /* Soft delete re-writes the version's record with deleted:true;
     * permanent delete writes its tombstone. */
    if (!permanent) {
        val = reg_api_version_json(r->api->state, r->seg[1], ver);
        json_object_set_new(val, "deleted", json_true());
    }
    reg_api_answer_later(r, json_integer(ver->version));
    reg_api_append_begin(r, reg_api_reply_ctx_json);
    reg_api_append(r, reg_api_key_schema(r->seg[1], ver->version), val);
    reg_api_append_end(r);
}

void reg_api_subject_delete(reg_api_req_t *r)
{
    bool permanent = reg_api_query_bool(r, "permanent");
    const reg_state_subject_t *subj;
    json_t *versions, *val;

    if (!reg_api_subject_ok(r, r->seg[1]) || !reg_api_writable(r, r->seg[1]) ||
        !(subj = reg_api_subject_of(r, true)))
        return;
    if (!permanent && !subj->live_cnt) {
        reg_api_reply_code(r, SR_PROTO_E_SUBJECT_SOFT_DELETED, r->seg[1], NULL);
        return;
    }
    if (permanent && subj->live_cnt) {
        reg_api_reply_code(r, SR_PROTO_E_SUBJECT_NOT_SOFT_DELETED, r->seg[1],
                           NULL);
        return;
    }
    versions = json_array();
    for (size_t i = 0; i < subj->version_cnt; i++)
        if (permanent || !subj->versions[i].deleted) {
            if (reg_api_referenced(r, subj->versions[i].version)) {
                json_decref(versions);
                return;
            }
            json_array_append_new(versions,
                                  json_integer(subj->versions[i].version));
        }
    reg_api_answer_later(r, versions);
    reg_api_append_begin(r, reg_api_reply_ctx_json);
    /* Permanent: one tombstone per version.  Soft: one DELETE_SUBJECT
     * record up to the newest live version, as Confluent writes it. */
    for (size_t i = 0; permanent && i < json_array_size(versions); i++) {
        json_t *v = json_array_get(versions, i);

        reg_api_append(
            r, reg_api_key_schema(r->seg[1], (int)json_integer_value(v)), NULL);
    }
    if (!permanent) {
        val = json_object();
        json_object_set_new(val, "subject", json_string(r->seg[1]));
        json_object_set(
            val, "version",
            json_array_get(versions, json_array_size(versions) - 1));
        reg_api_append(r, reg_api_key_setting("DELETE_SUBJECT", r->seg[1]),
                       val);
    }
    reg_api_append_end(r);
}

void reg_api_subject_lookup(reg_api_req_t *r)
{
    bool deleted = reg_api_query_bool(r, "deleted");
    reg_api_candidate_t cand = {0};
    const reg_state_subject_t *subj;
    const reg_state_version_t *found = NULL;

    if (!reg_api_subject_ok(r, r->seg[1]) || !reg_api_candidate_parse(r, &cand))
        goto out;
    subj = reg_state_subject(r->api->state, r->seg[1]);
    if (!subj || !(deleted ? subj->version_cnt : subj->live_cnt)) {
        reg_api_reply_code(r, SR_PROTO_E_SUBJECT_NOT_FOUND, r->seg[1], NULL);
        goto out;
    }
    if (reg_api_candidate_settle(r->api->state, subj, &cand) != 0) {
        reg_api_reply_err(r, SR_PROTO_E_INTERNAL, "out of memory");
        goto out;
    }
    for (size_t i = subj->version_cnt; i-- > 0 && !found;) {
        const reg_state_version_t *ver = &subj->versions[i];
        const reg_state_schema_t *sch =
            reg_state_schema(r->api->state, ver->id);

        if ((deleted || !ver->deleted) && sch && !strcmp(sch->key, cand.key))
            found = ver;
    }
    if (found)
        reg_api_reply_json(
            r, 200, reg_api_version_json(r->api->state, r->seg[1], found));
    else
        reg_api_reply_code(r, SR_PROTO_E_SCHEMA_NOT_FOUND, NULL, NULL);
out:
    reg_api_candidate_clear(&cand);
}
