/*
 * sr_api_subjects: the /subjects routes but registration (listings,
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

#include "sr_api_int.h"

json_t *sr_api_version_json(const sr_state_t *state, const char *subject,
                            const sr_state_version_t *ver)
{
    const sr_state_schema_t *sch = sr_state_schema(state, ver->id);
    json_t *o = json_object();

    json_object_set_new(o, "subject", json_string(subject));
    json_object_set_new(o, "version", json_integer(ver->version));
    json_object_set_new(o, "id", json_integer(ver->id));
    if (sch && strcmp(sch->type, "AVRO"))
        json_object_set_new(o, "schemaType", json_string(sch->type));
    if (sch && sch->refs)
        json_object_set(o, "references", sch->refs);
    json_object_set_new(o, "schema", json_string(sch ? sch->text : ""));
    return o;
}

static int sr_api_cmp_str(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

void sr_api_subjects_list(sr_api_req_t *r)
{
    size_t cnt, n = 0;
    const sr_state_subject_t *const *all =
        sr_state_subjects(r->api->state, &cnt);
    bool deleted = sr_api_query_bool(r, "deleted");
    bool deleted_only = sr_api_query_bool(r, "deletedOnly");
    const char *prefix = sr_api_query(r, "subjectPrefix");
    const char **names = calloc(cnt ? cnt : 1, sizeof(*names));
    json_t *arr = json_array();

    for (size_t i = 0; names && i < cnt; i++) {
        const sr_state_subject_t *s = all[i];
        bool has_deleted = s->version_cnt > s->live_cnt;
        bool show = deleted_only ? has_deleted
                    : deleted    ? s->version_cnt > 0
                                 : s->live_cnt > 0;

        if (show && (!prefix || !strncmp(s->name, prefix, strlen(prefix))))
            names[n++] = s->name;
    }
    qsort(names, n, sizeof(*names), sr_api_cmp_str);
    for (size_t i = 0; i < n; i++)
        json_array_append_new(arr, json_string(names[i]));
    free(names);
    sr_api_reply_json(r, 200, arr);
}

/* The subject of r->seg[1] when it has versions visible with
 * include_deleted; NULL after replying 42208/40401. */
static const sr_state_subject_t *sr_api_subject_of(sr_api_req_t *r,
                                                   bool include_deleted)
{
    const sr_state_subject_t *subj;

    if (!sr_api_subject_ok(r, r->seg[1]))
        return NULL;
    subj = sr_state_subject(r->api->state, r->seg[1]);
    if (!subj || !(include_deleted ? subj->version_cnt : subj->live_cnt)) {
        sr_api_reply_code(r, SR_PROTO_E_SUBJECT_NOT_FOUND, r->seg[1], NULL);
        return NULL;
    }
    return subj;
}

void sr_api_versions_list(sr_api_req_t *r)
{
    bool deleted_only = sr_api_query_bool(r, "deletedOnly");
    bool deleted = deleted_only || sr_api_query_bool(r, "deleted");
    const sr_state_subject_t *subj = sr_api_subject_of(r, deleted);
    json_t *arr;

    if (!subj)
        return;
    arr = json_array();
    for (size_t i = 0; i < subj->version_cnt; i++) {
        const sr_state_version_t *ver = &subj->versions[i];

        if (deleted_only ? ver->deleted : (deleted || !ver->deleted))
            json_array_append_new(arr, json_integer(ver->version));
    }
    sr_api_reply_json(r, 200, arr);
}

/* Version r->seg[3] of subject r->seg[1]; NULL after replying. */
static const sr_state_version_t *sr_api_version_of(sr_api_req_t *r,
                                                   bool include_deleted)
{
    const sr_state_subject_t *subj;
    const sr_state_version_t *ver;
    int v;

    if (!sr_api_subject_ok(r, r->seg[1]) ||
        !sr_api_version_ok(r, r->seg[3], &v) ||
        !(subj = sr_api_subject_of(r, include_deleted)))
        return NULL;
    ver = sr_state_version(subj, v, include_deleted);
    if (!ver)
        sr_api_reply_code(r, SR_PROTO_E_VERSION_NOT_FOUND, r->seg[1],
                          r->seg[3]);
    return ver;
}

void sr_api_version_get(sr_api_req_t *r)
{
    const sr_state_version_t *ver =
        sr_api_version_of(r, sr_api_query_bool(r, "deleted"));

    if (ver)
        sr_api_reply_json(r, 200,
                          sr_api_version_json(r->api->state, r->seg[1], ver));
}

void sr_api_version_schema_get(sr_api_req_t *r)
{
    const sr_state_version_t *ver =
        sr_api_version_of(r, sr_api_query_bool(r, "deleted"));
    const sr_state_schema_t *sch;

    if (!ver)
        return;
    sch = sr_state_schema(r->api->state, ver->id);
    sr_api_reply_text(r, 200, sch ? sch->text : "",
                      sch ? strlen(sch->text) : 0);
}

/* True when schema sch references (subject, version). */
static bool sr_api_refers_to(const sr_state_schema_t *sch,
                             const char *subject, int version)
{
    size_t i;
    json_t *ref;

    json_array_foreach(sch->refs, i, ref) {
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
static void sr_api_referrers(const sr_state_t *state, const char *subject,
                             int version, json_t *arr)
{
    size_t cnt;
    const sr_state_subject_t *const *all = sr_state_subjects(state, &cnt);

    for (int pass_id = 0, next; pass_id >= 0; pass_id = next) {
        next = -1;
        /* Smallest id above pass_id that refers: a few passes over a few
         * referrers beat allocating a set; reference chains are short. */
        for (size_t s = 0; s < cnt; s++) {
            for (size_t i = 0; i < all[s]->version_cnt; i++) {
                const sr_state_version_t *ver = &all[s]->versions[i];
                const sr_state_schema_t *sch;

                if (ver->deleted || ver->id <= pass_id ||
                    (next >= 0 && ver->id >= next))
                    continue;
                sch = sr_state_schema(state, ver->id);
                if (sch && sch->refs &&
                    sr_api_refers_to(sch, subject, version))
                    next = ver->id;
            }
        }
        if (next >= 0)
            json_array_append_new(arr, json_integer(next));
    }
}

void sr_api_version_referencedby(sr_api_req_t *r)
{
    const sr_state_version_t *ver = sr_api_version_of(r, true);
    json_t *arr;

    if (!ver)
        return;
    arr = json_array();
    sr_api_referrers(r->api->state, r->seg[1], ver->version, arr);
    sr_api_reply_json(r, 200, arr);
}

/* 42206 when live schemas reference (subject, version); true if replied. */
static bool sr_api_referenced(sr_api_req_t *r, int version)
{
    json_t *arr = json_array();
    bool used;

    sr_api_referrers(r->api->state, r->seg[1], version, arr);
    used = json_array_size(arr) > 0;
    json_decref(arr);
    if (used)
        sr_api_reply_err(r, SR_PROTO_E_REFERENCE_EXISTS,
                         "One or more references exist to the schema "
                         "{magic=1,keytype=SCHEMA,subject=%s,version=%d}.",
                         r->seg[1], version);
    return used;
}

static void sr_api_reply_ctx_json(sr_api_req_t *r)
{
    json_t *body = r->ctx;

    if (sr_api_store_failed(r))
        return;
    r->ctx = NULL;
    r->ctx_free = NULL;
    sr_api_reply_json(r, 200, body);
}

static void sr_api_json_free(void *p)
{
    json_decref(p);
}

/* Keeps body as the answer once the appends are done. */
static void sr_api_answer_later(sr_api_req_t *r, json_t *body)
{
    r->ctx = body;
    r->ctx_free = sr_api_json_free;
}

void sr_api_version_delete(sr_api_req_t *r)
{
    bool permanent = sr_api_query_bool(r, "permanent");
    const sr_state_version_t *ver;
    json_t *val = NULL;

    if (!sr_api_subject_ok(r, r->seg[1]) || !sr_api_writable(r, r->seg[1]) ||
        !(ver = sr_api_version_of(r, true)))
        return;
    if (!permanent && ver->deleted) {
        sr_api_reply_code(r, SR_PROTO_E_VERSION_SOFT_DELETED, r->seg[1],
                          r->seg[3]);
        return;
    }
    if (permanent && !ver->deleted) {
        sr_api_reply_code(r, SR_PROTO_E_VERSION_NOT_SOFT_DELETED, r->seg[1],
                          r->seg[3]);
        return;
    }
    if (sr_api_referenced(r, ver->version))
        return;
    /* Soft delete re-writes the version's record with deleted:true;
     * permanent delete writes its tombstone. */
    if (!permanent) {
        val = sr_api_version_json(r->api->state, r->seg[1], ver);
        json_object_set_new(val, "deleted", json_true());
    }
    sr_api_answer_later(r, json_integer(ver->version));
    sr_api_append_begin(r, sr_api_reply_ctx_json);
    sr_api_append(r, sr_api_key_schema(r->seg[1], ver->version), val);
    sr_api_append_end(r);
}

void sr_api_subject_delete(sr_api_req_t *r)
{
    bool permanent = sr_api_query_bool(r, "permanent");
    const sr_state_subject_t *subj;
    json_t *versions, *val;

    if (!sr_api_subject_ok(r, r->seg[1]) || !sr_api_writable(r, r->seg[1]) ||
        !(subj = sr_api_subject_of(r, true)))
        return;
    if (!permanent && !subj->live_cnt) {
        sr_api_reply_code(r, SR_PROTO_E_SUBJECT_SOFT_DELETED, r->seg[1], NULL);
        return;
    }
    if (permanent && subj->live_cnt) {
        sr_api_reply_code(r, SR_PROTO_E_SUBJECT_NOT_SOFT_DELETED, r->seg[1],
                          NULL);
        return;
    }
    versions = json_array();
    for (size_t i = 0; i < subj->version_cnt; i++)
        if (permanent || !subj->versions[i].deleted) {
            if (sr_api_referenced(r, subj->versions[i].version)) {
                json_decref(versions);
                return;
            }
            json_array_append_new(versions,
                                  json_integer(subj->versions[i].version));
        }
    sr_api_answer_later(r, versions);
    sr_api_append_begin(r, sr_api_reply_ctx_json);
    /* Permanent: one tombstone per version.  Soft: one DELETE_SUBJECT
     * record up to the newest live version, as Confluent writes it. */
    for (size_t i = 0; permanent && i < json_array_size(versions); i++) {
        json_t *v = json_array_get(versions, i);

        sr_api_append(r, sr_api_key_schema(r->seg[1],
                                           (int)json_integer_value(v)),
                      NULL);
    }
    if (!permanent) {
        val = json_object();
        json_object_set_new(val, "subject", json_string(r->seg[1]));
        json_object_set(val, "version",
                        json_array_get(versions,
                                       json_array_size(versions) - 1));
        sr_api_append(r, sr_api_key_setting("DELETE_SUBJECT", r->seg[1]),
                      val);
    }
    sr_api_append_end(r);
}

void sr_api_subject_lookup(sr_api_req_t *r)
{
    bool deleted = sr_api_query_bool(r, "deleted");
    sr_api_candidate_t cand = {0};
    const sr_state_subject_t *subj;
    const sr_state_version_t *found = NULL;

    if (!sr_api_subject_ok(r, r->seg[1]) || !sr_api_candidate_parse(r, &cand))
        goto out;
    subj = sr_state_subject(r->api->state, r->seg[1]);
    if (!subj || !(deleted ? subj->version_cnt : subj->live_cnt)) {
        sr_api_reply_code(r, SR_PROTO_E_SUBJECT_NOT_FOUND, r->seg[1], NULL);
        goto out;
    }
    for (size_t i = subj->version_cnt; i-- > 0 && !found;) {
        const sr_state_version_t *ver = &subj->versions[i];
        const sr_state_schema_t *sch = sr_state_schema(r->api->state,
                                                       ver->id);

        if ((deleted || !ver->deleted) && sch && !strcmp(sch->key, cand.key))
            found = ver;
    }
    if (found)
        sr_api_reply_json(r, 200, sr_api_version_json(r->api->state,
                                                      r->seg[1], found));
    else
        sr_api_reply_code(r, SR_PROTO_E_SCHEMA_NOT_FOUND, NULL, NULL);
out:
    sr_api_candidate_clear(&cand);
}
