/*
 * reg_state: the registry's state as the result of applying `_schemas`
 * records in log order (see reg_state.h for the contract).
 *
 * Layout: a hash map subject name -> reg_state_subject_t (versions sorted by
 * number) and two hash tables over the schemas, by id and by identity key
 * (normalised text + references, so the same schema under two subjects
 * shares one id).  A schema lives while some version (live or
 * soft-deleted) points at it; the last tombstone frees it, but max_id never
 * goes down, so ids are never reused.  Subjects are never freed (their
 * configs and modes outlive their versions).
 *
 * Memory is per schema what the parsed schema costs plus one small entry:
 * both schema tables chain through the entry itself (no per-schema map
 * nodes, no copied keys: they stay specialised intrusive tables rather than
 * mw_htab, whose slots would add two words per schema and table to the
 * registry's resident size; the key hash is mw_hash's), the stored text
 * and key are the parsed schema's normalised text when they can be, and
 * GET bodies live in a bounded LRU.  Subjects are few next to schemas and
 * live in an mw_htab.
 *
 * Invariants: every version's id is in the id table; use_cnt counts them;
 * live_cnt counts the versions not soft-deleted; a key is in the key table
 * once, bound to the first id applied with it.
 */
#include "reg_state.h"

#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mw_hash.h"
#include "mw_log.h"
#include "mw_vec.h"
#include "sr_proto.h"

#define REG_STATE_COMPONENT "state"
#define REG_STATE_REFS_MAX 256
#define REG_STATE_TAB_MIN 64

/* A schema with the state's bookkeeping; pub first, so the pointers handed
 * out cast back. */
typedef struct reg_state_ent {
    reg_state_schema_t pub;
    uint32_t key_hash;
    unsigned text_owned : 1, key_owned : 1, type_owned : 1, in_keys : 1;
    struct reg_state_ent *id_next;  /* id table chain */
    struct reg_state_ent *key_next; /* key table chain, while in_keys */
    struct reg_state_ent *lru_prev, *lru_next; /* body cache, while body */
    char *body;
    size_t body_len;
} reg_state_ent_t;

/* Intrusive chained hash table of entries (cap a power of two). */
typedef struct reg_state_tab {
    reg_state_ent_t **b;
    size_t cap;
    size_t cnt;
} reg_state_tab_t;

struct reg_state {
    mw_htab_t *subjects;  /* name (borrowed from the subject) -> subject */
    reg_state_tab_t ids;  /* schemas by id */
    reg_state_tab_t keys; /* schemas by identity key */
    reg_state_ent_t *lru_head, *lru_tail; /* cached bodies, newest first */
    size_t lru_cnt;
    reg_state_subject_t **subj_arr; /* every subject, for listings */
    size_t subj_cnt, subj_cap;
    size_t live_subject_cnt;
    int max_id;
    int compat; /* -1: default */
    int mode;   /* -1: default */
    mw_gauge_t *g_schemas;
    mw_gauge_t *g_subjects;
};

/* ---- schema tables ------------------------------------------------ */

static size_t reg_state_id_slot(int id, size_t cap)
{
    return ((uint32_t)id * 2654435761u) & (cap - 1);
}

static size_t reg_state_key_slot(const reg_state_ent_t *e, size_t cap)
{
    return e->key_hash & (cap - 1);
}

static reg_state_ent_t *reg_state_by_id(const reg_state_t *state, int id)
{
    if (!state->ids.cap)
        return NULL;
    for (reg_state_ent_t *e =
             state->ids.b[reg_state_id_slot(id, state->ids.cap)];
         e; e = e->id_next)
        if (e->pub.id == id)
            return e;
    return NULL;
}

static reg_state_ent_t *reg_state_by_key(const reg_state_t *state,
                                         const char *key)
{
    uint32_t h = (uint32_t)mw_hash_str(key);

    if (!state->keys.cap)
        return NULL;
    for (reg_state_ent_t *e = state->keys.b[h & (state->keys.cap - 1)]; e;
         e = e->key_next)
        if (e->key_hash == h && !strcmp(e->pub.key, key))
            return e;
    return NULL;
}

/* Doubles a table's buckets when full; by_key picks the chain. */
static int reg_state_tab_reserve(reg_state_tab_t *t, bool by_key)
{
    size_t cap = t->cap ? t->cap * 2 : REG_STATE_TAB_MIN;
    reg_state_ent_t **b;

    if (t->cnt < t->cap)
        return 0;
    if (!(b = calloc(cap, sizeof(*b))))
        return MW_ERR_NOMEM;
    for (size_t i = 0; i < t->cap; i++) {
        reg_state_ent_t *e = t->b[i], *next;

        for (; e; e = next) {
            size_t slot = by_key ? reg_state_key_slot(e, cap)
                                 : reg_state_id_slot(e->pub.id, cap);

            next = by_key ? e->key_next : e->id_next;
            *(by_key ? &e->key_next : &e->id_next) = b[slot];
            b[slot] = e;
        }
    }
    free(t->b);
    t->b = b;
    t->cap = cap;
    return 0;
}

static int reg_state_ids_add(reg_state_t *state, reg_state_ent_t *e)
{
    size_t slot;

    if (reg_state_tab_reserve(&state->ids, false) != 0)
        return MW_ERR_NOMEM;
    slot = reg_state_id_slot(e->pub.id, state->ids.cap);
    e->id_next = state->ids.b[slot];
    state->ids.b[slot] = e;
    state->ids.cnt++;
    return 0;
}

static int reg_state_keys_add(reg_state_t *state, reg_state_ent_t *e)
{
    size_t slot;

    if (reg_state_tab_reserve(&state->keys, true) != 0)
        return MW_ERR_NOMEM;
    slot = reg_state_key_slot(e, state->keys.cap);
    e->key_next = state->keys.b[slot];
    state->keys.b[slot] = e;
    state->keys.cnt++;
    e->in_keys = 1;
    return 0;
}

static void reg_state_tabs_del(reg_state_t *state, reg_state_ent_t *e)
{
    reg_state_ent_t **p;

    for (p = &state->ids.b[reg_state_id_slot(e->pub.id, state->ids.cap)];
         *p && *p != e; p = &(*p)->id_next)
        ;
    if (*p) {
        *p = e->id_next;
        state->ids.cnt--;
    }
    if (!e->in_keys)
        return;
    for (p = &state->keys.b[reg_state_key_slot(e, state->keys.cap)];
         *p && *p != e; p = &(*p)->key_next)
        ;
    if (*p) {
        *p = e->key_next;
        state->keys.cnt--;
    }
    e->in_keys = 0;
}

/* ---- body cache ----------------------------------------------------- */

static void reg_state_lru_unlink(reg_state_t *state, reg_state_ent_t *e)
{
    *(e->lru_prev ? &e->lru_prev->lru_next : &state->lru_head) = e->lru_next;
    *(e->lru_next ? &e->lru_next->lru_prev : &state->lru_tail) = e->lru_prev;
    e->lru_prev = e->lru_next = NULL;
}

static void reg_state_lru_push(reg_state_t *state, reg_state_ent_t *e)
{
    e->lru_prev = NULL;
    e->lru_next = state->lru_head;
    *(state->lru_head ? &state->lru_head->lru_prev : &state->lru_tail) = e;
    state->lru_head = e;
}

static void reg_state_body_drop(reg_state_t *state, reg_state_ent_t *e)
{
    if (!e->body)
        return;
    reg_state_lru_unlink(state, e);
    free(e->body);
    e->body = NULL;
    e->body_len = 0;
    state->lru_cnt--;
}

const char *reg_state_body(reg_state_t *state, const reg_state_schema_t *sch,
                           size_t *len)
{
    reg_state_ent_t *e = (reg_state_ent_t *)sch;

    if (!e->body)
        return NULL;
    if (state->lru_head != e) {
        reg_state_lru_unlink(state, e);
        reg_state_lru_push(state, e);
    }
    *len = e->body_len;
    return e->body;
}

void reg_state_set_body(reg_state_t *state, const reg_state_schema_t *sch,
                        char *body, size_t len)
{
    reg_state_ent_t *e = (reg_state_ent_t *)sch;

    reg_state_body_drop(state, e);
    if (!body)
        return;
    e->body = body;
    e->body_len = len;
    reg_state_lru_push(state, e);
    if (++state->lru_cnt > REG_STATE_BODY_CACHE_MAX)
        reg_state_body_drop(state, state->lru_tail);
}

static void reg_state_ent_free(reg_state_t *state, reg_state_ent_t *e)
{
    if (!e)
        return;
    if (state)
        reg_state_body_drop(state, e);
    if (e->text_owned)
        free((char *)e->pub.text);
    if (e->key_owned)
        free((char *)e->pub.key);
    if (e->type_owned)
        free((char *)e->pub.type);
    json_decref(e->pub.refs);
    json_decref(e->pub.metadata);
    json_decref(e->pub.rule_set);
    av_schema_release(e->pub.parsed);
    free(e);
}

static void reg_state_subject_free(void *p)
{
    reg_state_subject_t *subj = p;

    if (!subj)
        return;
    free(subj->versions);
    free(subj->name);
    free(subj);
}

reg_state_t *reg_state_new(mw_metrics_t *metrics)
{
    reg_state_t *state = calloc(1, sizeof(*state));

    if (!state)
        return NULL;
    if (!(state->subjects = mw_htab_new(0))) {
        free(state);
        return NULL;
    }
    state->compat = -1;
    state->mode = -1;
    if (metrics) {
        state->g_schemas = mw_metrics_gauge(
            metrics, "mesh_registry_schemas",
            "Schemas (distinct ids) held, soft-deleted included.", NULL);
        state->g_subjects =
            mw_metrics_gauge(metrics, "mesh_registry_subjects",
                             "Subjects with at least one live version.", NULL);
    }
    return state;
}

void reg_state_destroy(reg_state_t *state)
{
    if (!state)
        return;
    for (size_t i = 0; i < state->ids.cap; i++) {
        reg_state_ent_t *e = state->ids.b[i], *next;

        for (; e; e = next) {
            next = e->id_next;
            /* Bodies freed with their entries: no LRU upkeep needed. */
            free(e->body);
            e->body = NULL;
            reg_state_ent_free(NULL, e);
        }
    }
    free(state->ids.b);
    free(state->keys.b);
    /* Every subject is in subj_arr too. */
    for (size_t i = 0; i < state->subj_cnt; i++)
        reg_state_subject_free(state->subj_arr[i]);
    mw_htab_destroy(state->subjects);
    free(state->subj_arr);
    free(state);
}

const reg_state_schema_t *reg_state_schema(const reg_state_t *state, int id)
{
    reg_state_ent_t *e = reg_state_by_id(state, id);

    return e ? &e->pub : NULL;
}

const reg_state_subject_t *reg_state_subject(const reg_state_t *state,
                                             const char *name)
{
    return mw_htab_get_str(state->subjects, name);
}

const reg_state_subject_t *const *reg_state_subjects(const reg_state_t *state,
                                                     size_t *cnt)
{
    *cnt = state->subj_cnt;
    return (const reg_state_subject_t *const *)state->subj_arr;
}

int reg_state_id_for_key(const reg_state_t *state, const char *key)
{
    reg_state_ent_t *e = reg_state_by_key(state, key);

    return e ? e->pub.id : 0;
}

int reg_state_max_id(const reg_state_t *state)
{
    return state->max_id;
}

int reg_state_global_compat(const reg_state_t *state)
{
    return state->compat >= 0 ? state->compat : SR_PROTO_COMPAT_BACKWARD;
}

bool reg_state_global_compat_is_set(const reg_state_t *state)
{
    return state->compat >= 0;
}

int reg_state_global_mode(const reg_state_t *state)
{
    return state->mode >= 0 ? state->mode : SR_PROTO_MODE_READWRITE;
}

int reg_state_compat_for(const reg_state_t *state, const char *subject)
{
    const reg_state_subject_t *subj =
        subject ? reg_state_subject(state, subject) : NULL;

    return subj && subj->compat >= 0 ? subj->compat
                                     : reg_state_global_compat(state);
}

int reg_state_mode_for(const reg_state_t *state, const char *subject)
{
    const reg_state_subject_t *subj =
        subject ? reg_state_subject(state, subject) : NULL;

    return subj && subj->mode >= 0 ? subj->mode : reg_state_global_mode(state);
}

size_t reg_state_schema_cnt(const reg_state_t *state)
{
    return state->ids.cnt;
}

size_t reg_state_live_subject_cnt(const reg_state_t *state)
{
    return state->live_subject_cnt;
}

const reg_state_version_t *reg_state_version(const reg_state_subject_t *subj,
                                             int version, bool include_deleted)
{
    if (!subj)
        return NULL;
    if (version == SR_PROTO_VERSION_LATEST) {
        for (size_t i = subj->version_cnt; i-- > 0;)
            if (include_deleted || !subj->versions[i].deleted)
                return &subj->versions[i];
        return NULL;
    }
    /* Binary search: subjects with thousands of versions exist. */
    size_t lo = 0, hi = subj->version_cnt;

    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int v = subj->versions[mid].version;

        if (v == version)
            return include_deleted || !subj->versions[mid].deleted
                       ? &subj->versions[mid]
                       : NULL;
        if (v < version)
            lo = mid + 1;
        else
            hi = mid;
    }
    return NULL;
}

int reg_state_next_version(const reg_state_subject_t *subj)
{
    return subj && subj->version_cnt
               ? subj->versions[subj->version_cnt - 1].version + 1
               : 1;
}

void reg_state_foreach_use(const reg_state_t *state, int id,
                           reg_state_usage_cb *cb, void *opaque)
{
    for (size_t s = 0; s < state->subj_cnt; s++) {
        const reg_state_subject_t *subj = state->subj_arr[s];

        for (size_t i = 0; i < subj->version_cnt; i++)
            if (subj->versions[i].id == id)
                cb(opaque, subj, &subj->versions[i]);
    }
}

const json_t *reg_state_contract_part(const json_t *v)
{
    return json_is_object(v) && json_object_size(v) ? v : NULL;
}

/* Appends "\n" and v's canonical JSON (sorted keys, compact) to *buf
 * (malloc'd, *len bytes); MW_ERR_NOMEM. */
static int reg_state_key_append(char **buf, size_t *len, const json_t *v)
{
    char *j = json_dumps(v, JSON_COMPACT | JSON_SORT_KEYS | JSON_ENCODE_ANY);
    size_t n = j ? strlen(j) : 0;
    char *grown = j ? realloc(*buf, *len + n + 2) : NULL;

    if (!grown) {
        free(j);
        return MW_ERR_NOMEM;
    }
    grown[*len] = '\n';
    memcpy(grown + *len + 1, j, n + 1);
    *buf = grown;
    *len += n + 1;
    free(j);
    return 0;
}

const char *reg_state_key(const char *normalized, const json_t *refs,
                          const json_t *metadata, const json_t *rule_set,
                          char **owned)
{
    bool has_refs = refs && json_array_size(refs);
    char *key;
    size_t len;

    *owned = NULL;
    metadata = reg_state_contract_part(metadata);
    rule_set = reg_state_contract_part(rule_set);
    if (!has_refs && !metadata && !rule_set)
        return normalized;
    len = strlen(normalized);
    if (!(key = malloc(len + 1)))
        return NULL;
    memcpy(key, normalized, len + 1);
    /* Lines: text, references, then the data contract (metadata and rule
     * set, each "null" when absent), so no two parts can be confused. */
    if (has_refs && reg_state_key_append(&key, &len, refs) != 0)
        goto fail;
    if (metadata || rule_set) {
        json_t *c =
            json_pack("{s:O?,s:O?}", "metadata", metadata, "ruleSet", rule_set);

        if (!has_refs && reg_state_key_append(&key, &len, json_null()) != 0) {
            json_decref(c);
            goto fail;
        }
        if (!c || reg_state_key_append(&key, &len, c) != 0) {
            json_decref(c);
            goto fail;
        }
        json_decref(c);
    }
    *owned = key;
    return key;
fail:
    free(key);
    return NULL;
}

int reg_state_resolve_refs(const reg_state_t *state, const json_t *refs,
                           av_schema_t **out, size_t max, size_t *cnt,
                           mw_err_t *err)
{
    size_t i;
    json_t *ref;

    *cnt = 0;
    if (!refs || json_is_null(refs))
        return 0;
    if (!json_is_array(refs))
        return mw_err_set(err, MW_ERR_INVALID, "references is not an array");
    json_array_foreach(refs, i, ref)
    {
        const char *name = json_string_value(json_object_get(ref, "name"));
        const char *sname = json_string_value(json_object_get(ref, "subject"));
        json_t *jv = json_object_get(ref, "version");
        int v = json_is_integer(jv) ? (int)json_integer_value(jv) : 0;
        const reg_state_version_t *ver;
        const reg_state_schema_t *sch;

        if (!name || !sname || !json_is_integer(jv) || i >= max)
            return mw_err_set(err, MW_ERR_INVALID,
                              "references[%zu]: needs name, subject and "
                              "version",
                              i);
        ver = reg_state_version(reg_state_subject(state, sname), v, true);
        sch = ver ? reg_state_schema(state, ver->id) : NULL;
        if (!sch || !sch->parsed)
            return mw_err_set(err, MW_ERR_NOT_FOUND,
                              "reference '%s' (subject '%s' version %d) not "
                              "found",
                              name, sname, v);
        out[(*cnt)++] = sch->parsed;
    }
    return 0;
}

/* ---- apply -------------------------------------------------------- */

static reg_state_subject_t *reg_state_subject_add(reg_state_t *state,
                                                  const char *name)
{
    reg_state_subject_t *subj = mw_htab_get_str(state->subjects, name);

    if (subj)
        return subj;
    if (MW_VEC_RESERVE(&state->subj_arr, &state->subj_cap,
                       state->subj_cnt + 1) != 0)
        return NULL;
    subj = calloc(1, sizeof(*subj));
    if (!subj || !(subj->name = strdup(name)) ||
        mw_htab_put_str(state->subjects, subj->name, subj, NULL) != 0) {
        reg_state_subject_free(subj);
        return NULL;
    }
    subj->compat = -1;
    subj->mode = -1;
    state->subj_arr[state->subj_cnt++] = subj;
    return subj;
}

static void reg_state_gauges(reg_state_t *state)
{
    mw_gauge_set(state->g_schemas, (double)state->ids.cnt);
    mw_gauge_set(state->g_subjects, (double)state->live_subject_cnt);
}

/* Adds delta (+1/-1) to subj's live versions, tracking live subjects. */
static void reg_state_live_delta(reg_state_t *state, reg_state_subject_t *subj,
                                 int delta)
{
    if (delta > 0 && subj->live_cnt++ == 0)
        state->live_subject_cnt++;
    else if (delta < 0 && subj->live_cnt && --subj->live_cnt == 0)
        state->live_subject_cnt--;
}

/* A recorded AVRO text parsed against its references; NULL when it does
 * not parse (then its identity is the raw text). */
static av_schema_t *reg_state_parse(const reg_state_t *state, const char *text,
                                    const json_t *refs)
{
    av_schema_t *refv[REG_STATE_REFS_MAX];
    size_t ref_cnt = 0;

    if (reg_state_resolve_refs(state, refs, refv, REG_STATE_REFS_MAX, &ref_cnt,
                               NULL) != 0)
        return NULL;
    return av_schema_parse(text, strlen(text), refv, ref_cnt, NULL);
}

/* Known schema types point at literals: no copy per schema. */
static const char *reg_state_type_name(const char *type)
{
    static const char *const known[] = {"AVRO", "JSON", "PROTOBUF"};

    for (size_t i = 0; i < sizeof(known) / sizeof(known[0]); i++)
        if (!strcmp(type, known[i]))
            return known[i];
    return NULL;
}

/* Fills e's text, type, refs, data contract, key and parsed from a SCHEMA
 * record's value; MW_ERR_NOMEM. */
static int reg_state_ent_fill(const reg_state_t *state, reg_state_ent_t *e,
                              json_t *val)
{
    const char *text = json_string_value(json_object_get(val, "schema"));
    const char *type = json_string_value(json_object_get(val, "schemaType"));
    json_t *refs = json_object_get(val, "references");
    const json_t *md =
        reg_state_contract_part(json_object_get(val, "metadata"));
    const json_t *rs = reg_state_contract_part(json_object_get(val, "ruleSet"));
    const char *norm;
    char *owned;

    e->pub.type = reg_state_type_name(type ? type : "AVRO");
    if (!e->pub.type) {
        if (!(e->pub.type = strdup(type)))
            return MW_ERR_NOMEM;
        e->type_owned = 1;
    }
    e->pub.refs =
        json_is_array(refs) && json_array_size(refs) ? json_incref(refs) : NULL;
    e->pub.metadata = md ? json_incref((json_t *)md) : NULL;
    e->pub.rule_set = rs ? json_incref((json_t *)rs) : NULL;
    if (!strcmp(e->pub.type, "AVRO"))
        e->pub.parsed = reg_state_parse(state, text, e->pub.refs);
    norm = e->pub.parsed ? av_schema_normalized(e->pub.parsed) : NULL;
    /* What this registry writes is already normalised: share the parsed
     * schema's copy; keep a foreign log's spelling as recorded. */
    if (norm && !strcmp(norm, text)) {
        e->pub.text = norm;
    } else {
        if (!(e->pub.text = strdup(text)))
            return MW_ERR_NOMEM;
        e->text_owned = 1;
    }
    e->pub.key = reg_state_key(norm ? norm : e->pub.text, e->pub.refs,
                               e->pub.metadata, e->pub.rule_set, &owned);
    e->key_owned = owned != NULL;
    if (!e->pub.key)
        return MW_ERR_NOMEM;
    e->key_hash = (uint32_t)mw_hash_str(e->pub.key);
    return 0;
}

static reg_state_ent_t *reg_state_schema_add(reg_state_t *state, int id,
                                             json_t *val)
{
    reg_state_ent_t *e = calloc(1, sizeof(*e));

    if (!e)
        return NULL;
    e->pub.id = id;
    if (reg_state_ent_fill(state, e, val) != 0 ||
        reg_state_ids_add(state, e) != 0) {
        reg_state_ent_free(state, e);
        return NULL;
    }
    /* The first id given to a text stays its id (a foreign log may hold
     * the same text under two ids).  Without room in the key table the
     * schema is still served by id; a later registration of the same text
     * just gets a new id. */
    if (!reg_state_by_key(state, e->pub.key))
        (void)reg_state_keys_add(state, e);
    if (id > state->max_id)
        state->max_id = id;
    return e;
}

static void reg_state_schema_unuse(reg_state_t *state, reg_state_ent_t *e)
{
    if (--e->pub.use_cnt > 0)
        return;
    reg_state_tabs_del(state, e);
    reg_state_ent_free(state, e);
}

/* Index where version is or would be inserted. */
static size_t reg_state_version_pos(const reg_state_subject_t *subj,
                                    int version)
{
    size_t lo = 0, hi = subj->version_cnt;

    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;

        if (subj->versions[mid].version < version)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

static void reg_state_version_remove(reg_state_t *state,
                                     reg_state_subject_t *subj, int version)
{
    size_t i = reg_state_version_pos(subj, version);
    reg_state_ent_t *sch;

    if (i >= subj->version_cnt || subj->versions[i].version != version)
        return;
    if (!subj->versions[i].deleted)
        reg_state_live_delta(state, subj, -1);
    sch = reg_state_by_id(state, subj->versions[i].id);
    memmove(&subj->versions[i], &subj->versions[i + 1],
            (subj->version_cnt - i - 1) * sizeof(subj->versions[0]));
    subj->version_cnt--;
    if (sch)
        reg_state_schema_unuse(state, sch);
}

static int reg_state_version_insert(reg_state_subject_t *subj, size_t pos,
                                    const reg_state_version_t *ver)
{
    if (MW_VEC_RESERVE(&subj->versions, &subj->version_cap,
                       subj->version_cnt + 1) != 0)
        return MW_ERR_NOMEM;
    memmove(&subj->versions[pos + 1], &subj->versions[pos],
            (subj->version_cnt - pos) * sizeof(subj->versions[0]));
    subj->versions[pos] = *ver;
    subj->version_cnt++;
    return 0;
}

/* True when the record's schema (value val) differs from the one bound to
 * its id: text, references or data contract. */
static bool reg_state_schema_differs(const reg_state_t *state,
                                     const reg_state_schema_t *sch, json_t *val)
{
    const char *text = json_string_value(json_object_get(val, "schema"));
    json_t *refs = json_object_get(val, "references");
    const json_t *md =
        reg_state_contract_part(json_object_get(val, "metadata"));
    const json_t *rs = reg_state_contract_part(json_object_get(val, "ruleSet"));
    av_schema_t *parsed;
    const char *key;
    char *owned;
    bool differs;

    if (!strcmp(sch->text, text) && !md == !sch->metadata &&
        !rs == !sch->rule_set && (!md || json_equal(md, sch->metadata)) &&
        (!rs || json_equal(rs, sch->rule_set)))
        return false;
    parsed = reg_state_parse(state, text, refs);
    key = reg_state_key(parsed ? av_schema_normalized(parsed) : text, refs, md,
                        rs, &owned);
    differs = !key || strcmp(key, sch->key) != 0;
    free(owned);
    av_schema_release(parsed);
    return differs;
}

/* Applies a SCHEMA record (value NULL: tombstone = permanent delete). */
static void reg_state_apply_schema(reg_state_t *state, const char *subject,
                                   int version, json_t *val)
{
    reg_state_subject_t *subj = reg_state_subject_add(state, subject);
    int id = (int)json_integer_value(json_object_get(val, "id"));
    const char *text = json_string_value(json_object_get(val, "schema"));
    reg_state_version_t ver = {
        .version = version,
        .id = id,
        .deleted = json_is_true(json_object_get(val, "deleted"))};
    reg_state_ent_t *bound, *sch;
    size_t pos;

    if (!subj || version < 1)
        return;
    if (!val) {
        reg_state_version_remove(state, subj, version);
        return;
    }
    if (id < 1 || !text) {
        mw_log_warn(REG_STATE_COMPONENT, "schema record skipped",
                    "subject=%s version=%d reason=%s", mw_log_q(subject),
                    version, mw_log_q("missing id or schema"));
        return;
    }
    bound = reg_state_by_id(state, id);
    pos = reg_state_version_pos(subj, version);
    if ((bound && reg_state_schema_differs(state, &bound->pub, val)) ||
        (pos < subj->version_cnt && subj->versions[pos].version == version &&
         subj->versions[pos].id != id)) {
        mw_log_debug(REG_STATE_COMPONENT, "schema record lost a race",
                     "subject=%s version=%d id=%d", mw_log_q(subject), version,
                     id);
        return;
    }
    if (pos < subj->version_cnt && subj->versions[pos].version == version) {
        if (subj->versions[pos].deleted != ver.deleted)
            reg_state_live_delta(state, subj, ver.deleted ? -1 : 1);
        subj->versions[pos].deleted = ver.deleted;
        return;
    }
    sch = bound;
    if (!sch)
        sch = reg_state_schema_add(state, id, val);
    if (sch)
        sch->pub.use_cnt++;
    if (!sch || reg_state_version_insert(subj, pos, &ver) != 0) {
        mw_log_error(REG_STATE_COMPONENT, "out of memory applying a record",
                     "subject=%s version=%d", mw_log_q(subject), version);
        if (sch)
            reg_state_schema_unuse(state, sch);
        return;
    }
    if (!ver.deleted)
        reg_state_live_delta(state, subj, 1);
}

static void reg_state_apply_delete_subject(reg_state_t *state,
                                           const char *subject, json_t *val)
{
    reg_state_subject_t *subj = mw_htab_get_str(state->subjects, subject);
    json_t *jv = json_object_get(val, "version");
    long long upto = json_is_integer(jv) ? json_integer_value(jv) : INT_MAX;

    for (size_t i = 0; subj && i < subj->version_cnt; i++) {
        if (subj->versions[i].version > upto || subj->versions[i].deleted)
            continue;
        subj->versions[i].deleted = true;
        reg_state_live_delta(state, subj, -1);
    }
}

/* CONFIG and MODE: subject NULL is the global setting; val NULL deletes. */
static void reg_state_apply_setting(reg_state_t *state, bool is_mode,
                                    const char *subject, json_t *val)
{
    const char *name = json_string_value(
        json_object_get(val, is_mode ? "mode" : "compatibilityLevel"));
    int v = !name     ? -1
            : is_mode ? sr_proto_mode_parse(name)
                      : sr_proto_compat_parse(name);
    reg_state_subject_t *subj = NULL;

    if (val && v < 0) {
        mw_log_warn(REG_STATE_COMPONENT, "setting record skipped",
                    "kind=%s value=%s", is_mode ? "mode" : "config",
                    mw_log_q(name ? name : "(none)"));
        return;
    }
    if (subject && !(subj = reg_state_subject_add(state, subject)))
        return;
    if (is_mode)
        *(subj ? &subj->mode : &state->mode) = v;
    else
        *(subj ? &subj->compat : &state->compat) = v;
}

static void reg_state_apply_json(reg_state_t *state, json_t *key, json_t *val)
{
    const char *type = json_string_value(json_object_get(key, "keytype"));
    json_t *js = json_object_get(key, "subject");
    const char *subject = json_string_value(js);
    json_t *jv = json_object_get(key, "version");

    if (!type || !strcmp(type, "NOOP"))
        return;
    if (!strcmp(type, "SCHEMA") && subject && json_is_integer(jv) &&
        json_integer_value(jv) <= INT_MAX)
        reg_state_apply_schema(state, subject, (int)json_integer_value(jv),
                               val);
    else if (!strcmp(type, "DELETE_SUBJECT") && subject)
        reg_state_apply_delete_subject(state, subject, val);
    else if (!strcmp(type, "CONFIG") || !strcmp(type, "MODE"))
        reg_state_apply_setting(state, !strcmp(type, "MODE"), subject, val);
    else
        mw_log_warn(REG_STATE_COMPONENT, "record skipped", "keytype=%s",
                    mw_log_q(type));
}

void reg_state_apply(void *opaque, const reg_store_record_t *rec)
{
    reg_state_t *state = opaque;
    json_t *key = json_loadb(rec->key, rec->key_len, 0, NULL);
    json_t *val =
        rec->value ? json_loadb(rec->value, rec->value_len, 0, NULL) : NULL;

    if (!json_is_object(key) || (rec->value && !json_is_object(val))) {
        mw_log_warn(REG_STATE_COMPONENT, "record skipped",
                    "offset=%lld reason=%s", (long long)rec->offset,
                    mw_log_q("key or value is not a JSON object"));
    } else {
        reg_state_apply_json(state, key, val);
        reg_state_gauges(state);
    }
    json_decref(key);
    json_decref(val);
}
