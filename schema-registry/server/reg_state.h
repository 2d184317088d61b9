/*
 * reg_state: the registry's in-memory state, built only by applying the
 * store's records (reg_store_apply_cb) in log order.
 *
 * It answers every read of the REST API: subjects and their versions (with
 * soft-delete flags), schemas by global id (parsed once and cached), the id
 * already given to a schema text, configs and modes (global and per
 * subject), the highest id ever used.  Writers never
 * change it directly: they append a record and read the outcome here once
 * the store has applied it.
 *
 * Apply is deterministic, so instances replaying the same log agree.  The
 * concurrency rule (two instances writing to one `_schemas` topic): a SCHEMA
 * record whose id is already bound to another schema, or whose (subject,
 * version) already holds another id, lost a race and is ignored.
 *
 * Thread: the registry's loop thread only.  Returned pointers are borrowed
 * until the next apply.
 */
#ifndef REG_STATE_H
#define REG_STATE_H

#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>

#include "mw_err.h"
#include "mw_metrics.h"
#include "av_schema.h"
#include "reg_store.h"

typedef struct reg_state reg_state_t;

/* One schema, by global id.  Read-only for callers.  Its strings are
 * shared rather than copied: text is the parsed schema's normalised text
 * whenever the record held exactly that (always for what this registry
 * wrote), and key is text itself when there are no references. */
typedef struct reg_state_schema {
    int id;
    const char *text;    /* the text as recorded (normalised when we wrote
                          * it) */
    const char *type;    /* "AVRO", "JSON", "PROTOBUF" */
    json_t *refs;        /* [{"name","subject","version"}] or NULL */
    json_t *metadata;    /* data contract: {"tags","properties","sensitive"}
                          * as recorded, or NULL */
    json_t *rule_set;    /* {"migrationRules","domainRules",...} or NULL */
    const char *key;     /* identity: normalised text + references + data
                          * contract (metadata, rule set) */
    av_schema_t *parsed; /* NULL when the text did not parse (foreign log) */
    size_t use_cnt;      /* versions (live or soft-deleted) pointing here */
} reg_state_schema_t;

/* Bodies of GET /schemas/ids/{id} kept (most recently used first): a hot
 * set, not one per schema, so memory does not grow with the registry. */
#define REG_STATE_BODY_CACHE_MAX 1024

typedef struct reg_state_version {
    int version;
    int id;
    bool deleted;
} reg_state_version_t;

/* One subject: exists once any record named it (a config alone makes one);
 * the API treats it as existing when it has versions. */
typedef struct reg_state_subject {
    char *name;
    reg_state_version_t *versions; /* ascending by version */
    size_t version_cnt;
    size_t version_cap;
    size_t live_cnt; /* versions not soft-deleted */
    int compat;      /* sr_proto_compat_t, -1 when not configured */
    int mode;        /* sr_proto_mode_t, -1 when not configured */
} reg_state_subject_t;

/* metrics (may be NULL) gets mesh_registry_schemas and
 * mesh_registry_subjects gauges.  NULL on ENOMEM. */
reg_state_t *reg_state_new(mw_metrics_t *metrics);
void reg_state_destroy(reg_state_t *state);

/* reg_store_apply_cb: applies one record; opaque is the reg_state_t.
 * Malformed records are logged (warn) and skipped. */
void reg_state_apply(void *opaque, const reg_store_record_t *rec);

/* The subject named name, or NULL. */
const reg_state_subject_t *reg_state_subject(const reg_state_t *state,
                                             const char *name);

/* All subjects (any state), in no particular order: *cnt entries. */
const reg_state_subject_t *const *reg_state_subjects(const reg_state_t *state,
                                                     size_t *cnt);

/* The entry for version in subj, or NULL.  SR_PROTO_VERSION_LATEST gives
 * the newest live version (newest of all when include_deleted). */
const reg_state_version_t *reg_state_version(const reg_state_subject_t *subj,
                                             int version, bool include_deleted);

/* The version a new registration under subj gets: one past the highest
 * version subj still stores, soft-deleted ones included, and 1 when it
 * stores none (subj NULL, or every version permanently deleted), which is
 * Confluent's rule: a permanent delete frees its number when it was the
 * highest. */
int reg_state_next_version(const reg_state_subject_t *subj);

/* The schema with this id, or NULL. */
const reg_state_schema_t *reg_state_schema(const reg_state_t *state, int id);

/* The id already given to key (reg_state_key), or 0. */
int reg_state_id_for_key(const reg_state_t *state, const char *key);

/* Identity of a schema: its normalised text plus its references, metadata
 * and rule set (as Confluent, which hashes all four: the same text with
 * another data contract is another schema).  With none of the three that
 * is normalized itself (*owned = NULL); otherwise a malloc'd string, also
 * stored in *owned for the caller to free.  refs, metadata and rule_set
 * may be NULL; an empty object counts as absent.  NULL on ENOMEM. */
const char *reg_state_key(const char *normalized, const json_t *refs,
                          const json_t *metadata, const json_t *rule_set,
                          char **owned);

/* v when it is a non-empty object (a metadata or rule set worth keeping),
 * else NULL. */
const json_t *reg_state_contract_part(const json_t *v);

/* Resolves references [{"name","subject","version"}] to parsed schemas:
 * out gets up to max borrowed pointers (*cnt of them).  MW_ERR_NOT_FOUND
 * when one is missing or unparsed, MW_ERR_INVALID when malformed; err names
 * the reference. */
int reg_state_resolve_refs(const reg_state_t *state, const json_t *refs,
                           av_schema_t **out, size_t max, size_t *cnt,
                           mw_err_t *err);

/* Highest id ever applied (0 when none). */
int reg_state_max_id(const reg_state_t *state);

/* Global config and mode (defaults BACKWARD and READWRITE when none). */
int reg_state_global_compat(const reg_state_t *state);
bool reg_state_global_compat_is_set(const reg_state_t *state);
int reg_state_global_mode(const reg_state_t *state);

/* Effective level / mode of a subject (subject's own, else global). */
int reg_state_compat_for(const reg_state_t *state, const char *subject);
int reg_state_mode_for(const reg_state_t *state, const char *subject);

/* Live schema count and subjects with live versions. */
size_t reg_state_schema_cnt(const reg_state_t *state);
size_t reg_state_live_subject_cnt(const reg_state_t *state);

/* (subject, version) pairs using id: calls cb for each, subjects in no
 * particular order, versions ascending. */
typedef void(reg_state_usage_cb)(void *opaque, const reg_state_subject_t *subj,
                                 const reg_state_version_t *ver);
void reg_state_foreach_use(const reg_state_t *state, int id,
                           reg_state_usage_cb *cb, void *opaque);

/* The cached GET /schemas/ids/{id} body of sch (len bytes, borrowed until
 * the next apply or set_body), marked as recently used; NULL when not
 * cached. */
const char *reg_state_body(reg_state_t *state, const reg_state_schema_t *sch,
                           size_t *len);

/* Caches body (malloc'd, len bytes, consumed) for sch, evicting the least
 * recently used body beyond REG_STATE_BODY_CACHE_MAX. */
void reg_state_set_body(reg_state_t *state, const reg_state_schema_t *sch,
                        char *body, size_t len);

#endif /* REG_STATE_H */
