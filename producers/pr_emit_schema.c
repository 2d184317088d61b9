/*
 * pr_emit_schema: which registered schema the key and the value of an
 * event are encoded with, resolved once per (topic, side, reference) and
 * then served from a hash table (mw_htab).
 *
 * Order of precedence for one side:
 *   1. what the event names (pr_schema_ref_t): an id, an inline schema
 *      (registered when auto.register is on, otherwise looked up: it must
 *      already be registered), or a subject and version;
 *   2. the configuration: value.schema.id, value.subject (+
 *      value.schema.version), key.subject;
 *   3. the naming strategy for the value: TopicNameStrategy
 *      `<topic>-value`; RecordNameStrategy (`<fullname>`) and
 *      TopicRecordNameStrategy (`<topic>-<fullname>`) need the schema to
 *      name the subject, so they apply only to inline schemas.
 * A key with none of these has no schema: it goes out as raw bytes.
 *
 * A miss calls the registry client, which blocks the loop for one HTTP
 * round trip (bounded by PR_REGISTRY_TIMEOUT_MS and the client's retries).
 * That happens on first use of a (topic, side, reference) only; the client
 * keeps its own caches of ids, registrations and latest versions, and a
 * resolved "latest" stays pinned for the daemon's life so that one run
 * produces one schema per subject.
 *
 * Thread: the daemon's loop thread.
 */
#include "pr_emit_int.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "mw_buf.h"
#include "mw_hash.h"
#include "mw_log.h"
#include "sr_client.h"

#define PR_COMPONENT "emit"
#define PR_REGISTRY_TIMEOUT_MS 10000
#define PR_SCHEMA_MAX_ENTRIES 4096
#define PR_SUBJECT_MAX 512
#define PR_BY_ID_SLOTS 16

typedef enum pr_strategy {
    PR_STRATEGY_TOPIC = 0,
    PR_STRATEGY_RECORD,
    PR_STRATEGY_TOPIC_RECORD
} pr_strategy_t;

typedef struct pr_schema_entry {
    char *key; /* the table's key (borrowed by it) */
    size_t key_len;
    pr_emit_resolved_t res; /* res.schema NULL: raw key */
} pr_schema_entry_t;

struct pr_emit_schema {
    sr_client_t *client;
    av_serde_cache_t *plans;
    pr_strategy_t strategy;
    bool auto_register;
    char *subject[PR_EMIT_SIDE__CNT]; /* key.subject, value.subject */
    uint32_t value_id;                /* value.schema.id, 0 when unset */
    int value_version;                /* value.schema.version, 0 = latest */
    mw_buf_t *keybuf;                 /* lookup key, reused */
    mw_htab_t *entries;               /* cache key -> pr_schema_entry_t */
    /* The last lookup per side made with a zeroed reference (the daemon's
     * own keys decide the schema: every file line, most HTTP records).
     * Building and hashing the cache key cost ~8 % of a file line's time,
     * and entries live until destroy, so the pointer stays valid. */
    struct {
        char topic[PR_TOPIC_MAX + 1];
        pr_schema_entry_t *entry;
    } last[PR_EMIT_SIDE__CNT];
    /* The last references by id alone (sources that register their own
     * schemas and name them by id: pg, one key and one value id per
     * table): an id means the same schema on every topic, so no cache key
     * needs building. */
    struct {
        uint32_t id;
        pr_schema_entry_t *entry;
    } by_id[PR_BY_ID_SLOTS];
    unsigned by_id_next;
};

const char *pr_emit_side_name(pr_emit_side_t side)
{
    return side == PR_EMIT_SIDE_KEY ? "key" : "value";
}

/* ---------------------------------------------------------- configuration */

static int pr_parse_version(const char *text, int *version, mw_err_t *err)
{
    char *end = NULL;
    long v;

    *version = 0;
    if (!text || !*text || !strcmp(text, "latest"))
        return 0;
    v = strtol(text, &end, 10);
    if (*end || v < 1 || v > INT32_MAX)
        return mw_err_set(err, MW_ERR_CONFIG,
                          "key 'value.schema.version': "
                          "'%s' is not 'latest' or a version >= 1",
                          text);
    *version = (int)v;
    return 0;
}

static int pr_schema_configure(pr_emit_schema_t *sch, const mw_conf_t *conf,
                               mw_err_t *err)
{
    const char *strategy = mw_conf_get_str(conf, "subject.name.strategy");
    const char *vs = mw_conf_get_str(conf, "value.subject");
    const char *ks = mw_conf_get_str(conf, "key.subject");
    long long id = mw_conf_get_int(conf, "value.schema.id");

    if (strategy && !strcmp(strategy, "record"))
        sch->strategy = PR_STRATEGY_RECORD;
    else if (strategy && !strcmp(strategy, "topic_record"))
        sch->strategy = PR_STRATEGY_TOPIC_RECORD;
    sch->auto_register = mw_conf_get_bool(conf, "auto.register");
    if (id < 0 || id > INT32_MAX)
        return mw_err_set(err, MW_ERR_CONFIG,
                          "key 'value.schema.id': %lld "
                          "is not a schema id (1..2147483647)",
                          id);
    sch->value_id = (uint32_t)id;
    if (pr_parse_version(mw_conf_get_str(conf, "value.schema.version"),
                         &sch->value_version, err) != 0)
        return err->code;
    if (sch->value_version && !(vs && *vs))
        return mw_err_set(err, MW_ERR_CONFIG,
                          "key 'value.schema.version': "
                          "a version needs value.subject");
    sch->subject[PR_EMIT_SIDE_VALUE] = vs && *vs ? strdup(vs) : NULL;
    sch->subject[PR_EMIT_SIDE_KEY] = ks && *ks ? strdup(ks) : NULL;
    return 0;
}

pr_emit_schema_t *pr_emit_schema_new(const mw_conf_t *conf, mw_err_t *err)
{
    pr_emit_schema_t *sch = calloc(1, sizeof(*sch));

    if (!sch) {
        mw_err_set(err, MW_ERR_NOMEM, "out of memory for the schema cache");
        return NULL;
    }
    if (pr_schema_configure(sch, conf, err) != 0)
        goto fail;
    sch->client = sr_client_from_conf(conf, PR_REGISTRY_TIMEOUT_MS, err);
    if (!sch->client)
        goto fail;
    sch->plans = av_serde_cache_new(0, err);
    sch->keybuf = mw_buf_new(0);
    sch->entries = mw_htab_new(PR_SCHEMA_MAX_ENTRIES);
    if (!sch->plans || !sch->keybuf || !sch->entries) {
        mw_err_set(err, MW_ERR_NOMEM, "out of memory for the schema cache");
        goto fail;
    }
    return sch;
fail:
    pr_emit_schema_destroy(sch);
    return NULL;
}

void pr_emit_schema_destroy(pr_emit_schema_t *sch)
{
    size_t pos = 0;
    void *val;

    if (!sch)
        return;
    while (sch->entries && mw_htab_next(sch->entries, &pos, NULL, NULL, &val)) {
        pr_schema_entry_t *e = val;

        av_schema_release(e->res.schema);
        free(e->key);
        free(e);
    }
    mw_htab_destroy(sch->entries);
    /* Plans keep their schemas: the cache goes before the client. */
    av_serde_cache_destroy(sch->plans);
    sr_client_destroy(sch->client);
    mw_buf_destroy(sch->keybuf);
    free(sch->subject[0]);
    free(sch->subject[1]);
    free(sch);
}

/* ------------------------------------------------------------- registry */

/* The schema with this id; a kept reference in res->schema. */
static int pr_by_id(pr_emit_schema_t *sch, uint32_t id, pr_emit_resolved_t *res,
                    mw_err_t *err)
{
    res->schema = sr_client_get_schema_by_id(sch->client, id, err);
    if (!res->schema)
        return mw_err_prefix(err, "schema id %" PRIu32, id);
    res->id = id;
    return 0;
}

/* version 0: the subject's latest. */
static int pr_by_subject(pr_emit_schema_t *sch, const char *subject,
                         int version, pr_emit_resolved_t *res, mw_err_t *err)
{
    sr_client_version_t ver = {0};
    int rc =
        version > 0
            ? sr_client_get_version(sch->client, subject, version, &ver, err)
            : sr_client_get_latest(sch->client, subject, &ver, err);

    if (rc != 0) {
        if (version > 0)
            return mw_err_prefix(err, "subject '%s' version %d", subject,
                                 version);
        return mw_err_prefix(err, "subject '%s' (latest)", subject);
    }
    res->id = ver.id;
    res->schema = av_schema_keep(ver.schema);
    sr_client_version_clear(&ver);
    return 0;
}

/* The strategy's subject for side, into out; fullname is the schema's
 * record name (NULL when unknown).  MW_ERR_NOT_FOUND when the strategy
 * needs a name. */
static int pr_strategy_subject(const pr_emit_schema_t *sch, const char *topic,
                               pr_emit_side_t side, const char *fullname,
                               char out[PR_SUBJECT_MAX], mw_err_t *err)
{
    const size_t size = PR_SUBJECT_MAX;
    int n;

    if (sch->strategy == PR_STRATEGY_TOPIC)
        n = snprintf(out, size, "%s-%s", topic, pr_emit_side_name(side));
    else if (!fullname)
        return mw_err_set(err, MW_ERR_NOT_FOUND,
                          "no %s schema for topic "
                          "'%s': subject.name.strategy needs the record "
                          "name; set %s.subject or send the schema",
                          pr_emit_side_name(side), topic,
                          pr_emit_side_name(side));
    else if (sch->strategy == PR_STRATEGY_RECORD)
        n = snprintf(out, size, "%s", fullname);
    else
        n = snprintf(out, size, "%s-%s", topic, fullname);
    if (n < 0 || (size_t)n >= size)
        return mw_err_set(err, MW_ERR_INVALID,
                          "subject for topic '%s' is "
                          "too long",
                          topic);
    return 0;
}

/* An inline schema: registered (auto.register, or always when the source
 * derived it: force) or looked up under its subject, then fetched by id so
 * every path shares the client's one object per id. */
static int pr_inline(pr_emit_schema_t *sch, const char *topic,
                     pr_emit_side_t side, const pr_schema_ref_t *ref,
                     bool force, pr_emit_resolved_t *res, mw_err_t *err)
{
    bool reg = force || sch->auto_register;
    char subject[PR_SUBJECT_MAX];
    const char *name = NULL;
    uint32_t id = 0;
    int rc;
    av_schema_t *parsed =
        av_schema_parse(ref->schema, strlen(ref->schema), NULL, 0, err);

    if (!parsed)
        return mw_err_prefix(err, "%s schema", pr_emit_side_name(side));
    if (av_schema_root(parsed)->type == AV_RECORD ||
        av_schema_root(parsed)->type == AV_ENUM ||
        av_schema_root(parsed)->type == AV_FIXED)
        name = av_schema_root(parsed)->fullname;
    if (ref->subject)
        rc = snprintf(subject, sizeof(subject), "%s", ref->subject) < 0;
    else
        rc = pr_strategy_subject(sch, topic, side, name, subject, err);
    av_schema_release(parsed);
    if (rc != 0)
        return err ? err->code : MW_ERR_INVALID;
    if (reg)
        rc = sr_client_register(sch->client, subject, ref->schema, &id, err);
    else
        rc =
            sr_client_lookup(sch->client, subject, ref->schema, &id, NULL, err);
    if (rc == MW_ERR_NOT_FOUND && !reg)
        return mw_err_set(err, MW_ERR_NOT_FOUND,
                          "%s schema is not "
                          "registered under subject '%s' and auto.register "
                          "is off",
                          pr_emit_side_name(side), subject);
    if (rc != 0)
        return mw_err_prefix(err, "subject '%s'", subject);
    return pr_by_id(sch, id, res, err);
}

/* Steps 1-3 of the module comment; res->schema NULL for a raw key. */
static int pr_fetch(pr_emit_schema_t *sch, const char *topic,
                    pr_emit_side_t side, const pr_schema_ref_t *ref,
                    pr_emit_resolved_t *res, mw_err_t *err)
{
    char subject[PR_SUBJECT_MAX];

    if (ref->id > 0 && ref->id <= UINT32_MAX)
        return pr_by_id(sch, (uint32_t)ref->id, res, err);
    if (ref->id != 0)
        return mw_err_set(err, MW_ERR_NOT_FOUND,
                          "schema id %" PRId64 " does not exist", ref->id);
    if (ref->schema)
        return pr_inline(sch, topic, side, ref, false, res, err);
    if (ref->subject)
        return pr_by_subject(sch, ref->subject, ref->version, res, err);
    if (side == PR_EMIT_SIDE_VALUE && sch->value_id)
        return pr_by_id(sch, sch->value_id, res, err);
    if (sch->subject[side])
        return pr_by_subject(
            sch, sch->subject[side],
            side == PR_EMIT_SIDE_VALUE ? sch->value_version : 0, res, err);
    if (side == PR_EMIT_SIDE_KEY)
        return 0;
    if (pr_strategy_subject(sch, topic, side, NULL, subject, err) != 0)
        return err ? err->code : MW_ERR_NOT_FOUND;
    return pr_by_subject(sch, subject, 0, res, err);
}

/* ---------------------------------------------------------------- cache */

/* The lookup key: every field that can change the answer, separated by a
 * byte that cannot occur in topics or subjects. */
static int pr_cache_key(pr_emit_schema_t *sch, const char *topic,
                        pr_emit_side_t side, const pr_schema_ref_t *ref)
{
    mw_buf_reset(sch->keybuf);
    return mw_buf_appendf(sch->keybuf,
                          "%d\x1f%s\x1f%" PRId64 "\x1f%d\x1f%s"
                          "\x1f%s",
                          (int)side, topic, ref->id, (int)ref->version,
                          ref->subject ? ref->subject : "",
                          ref->schema ? ref->schema : "");
}

static pr_schema_entry_t *pr_cache_find(pr_emit_schema_t *sch)
{
    return mw_htab_get(sch->entries, mw_buf_data(sch->keybuf),
                       mw_buf_len(sch->keybuf));
}

static int pr_cache_add(pr_emit_schema_t *sch, const pr_emit_resolved_t *res,
                        pr_schema_entry_t **out, mw_err_t *err)
{
    pr_schema_entry_t *e;
    int rc;

    if (mw_htab_cnt(sch->entries) >= PR_SCHEMA_MAX_ENTRIES)
        return mw_err_set(err, MW_ERR_FULL,
                          "more than %d distinct schema "
                          "references",
                          PR_SCHEMA_MAX_ENTRIES);
    e = calloc(1, sizeof(*e));
    if (e) {
        e->key_len = mw_buf_len(sch->keybuf);
        e->key = malloc(e->key_len + 1);
    }
    if (!e || !e->key) {
        free(e);
        return mw_err_set(err, MW_ERR_NOMEM, "out of memory for a schema");
    }
    memcpy(e->key, mw_buf_data(sch->keybuf), e->key_len);
    e->key[e->key_len] = '\0';
    e->res = *res;
    rc = mw_htab_put(sch->entries, e->key, e->key_len, e, NULL);
    if (rc != 0) {
        free(e->key);
        free(e);
        return mw_err_set(err, rc, "out of memory for a schema");
    }
    *out = e;
    return 0;
}

static bool pr_ref_is_default(const pr_schema_ref_t *ref)
{
    return ref->id == 0 && !ref->schema && !ref->subject && ref->version == 0;
}

static bool pr_ref_is_id(const pr_schema_ref_t *ref)
{
    return ref->id > 0 && ref->id <= UINT32_MAX && !ref->schema &&
           !ref->subject && ref->version == 0;
}

static pr_schema_entry_t *pr_by_id_find(const pr_emit_schema_t *sch,
                                        uint32_t id)
{
    for (unsigned i = 0; i < PR_BY_ID_SLOTS; i++)
        if (sch->by_id[i].id == id && sch->by_id[i].entry)
            return sch->by_id[i].entry;
    return NULL;
}

static void pr_remember(pr_emit_schema_t *sch, const char *topic,
                        pr_emit_side_t side, const pr_schema_ref_t *ref,
                        pr_schema_entry_t *e)
{
    size_t len = strlen(topic);

    if (pr_ref_is_id(ref) && !pr_by_id_find(sch, (uint32_t)ref->id)) {
        unsigned i = sch->by_id_next++ % PR_BY_ID_SLOTS;

        sch->by_id[i].id = (uint32_t)ref->id;
        sch->by_id[i].entry = e;
        return;
    }
    if (!pr_ref_is_default(ref) || len >= sizeof(sch->last[side].topic))
        return;
    memcpy(sch->last[side].topic, topic, len + 1);
    sch->last[side].entry = e;
}

int pr_emit_schema_resolve(pr_emit_schema_t *sch, const char *topic,
                           pr_emit_side_t side, const pr_schema_ref_t *ref,
                           const pr_emit_resolved_t **out, mw_err_t *err)
{
    pr_emit_resolved_t res = {0};
    pr_schema_entry_t *e;

    *out = NULL;
    if (pr_ref_is_default(ref) && sch->last[side].entry &&
        !strcmp(sch->last[side].topic, topic)) {
        e = sch->last[side].entry;
        *out = e->res.schema ? &e->res : NULL;
        return 0;
    }
    if (pr_ref_is_id(ref) && (e = pr_by_id_find(sch, (uint32_t)ref->id))) {
        *out = e->res.schema ? &e->res : NULL;
        return 0;
    }
    if (pr_cache_key(sch, topic, side, ref) != 0)
        return mw_err_set(err, MW_ERR_FULL, "%s schema reference too large",
                          pr_emit_side_name(side));
    e = pr_cache_find(sch);
    if (e) {
        pr_remember(sch, topic, side, ref, e);
        *out = e->res.schema ? &e->res : NULL;
        return 0;
    }
    if (pr_fetch(sch, topic, side, ref, &res, err) != 0)
        return err ? err->code : MW_ERR_NOT_FOUND;
    if (res.schema) {
        res.plan = av_serde_cache_get(sch->plans, res.schema, NULL, err);
        if (!res.plan) {
            av_schema_release(res.schema);
            return err ? err->code : MW_ERR_INVALID;
        }
        mw_log_info(PR_COMPONENT, "schema resolved",
                    "topic=%s side=%s id=%" PRIu32, topic,
                    pr_emit_side_name(side), res.id);
    }
    if (pr_cache_add(sch, &res, &e, err) != 0) {
        av_schema_release(res.schema);
        return err ? err->code : MW_ERR_FULL;
    }
    pr_remember(sch, topic, side, ref, e);
    *out = e->res.schema ? &e->res : NULL;
    return 0;
}

int pr_emit_schema_register(pr_emit_schema_t *sch, const char *topic,
                            pr_emit_side_t side, const char *schema_text,
                            uint32_t *id, mw_err_t *err)
{
    pr_schema_ref_t ref = {.schema = schema_text};
    pr_emit_resolved_t res = {0};

    if (pr_inline(sch, topic, side, &ref, true, &res, err) != 0)
        return err ? err->code : MW_ERR_INVALID;
    *id = res.id;
    av_schema_release(res.schema);
    return 0;
}
