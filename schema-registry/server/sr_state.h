/*
 * sr_state: the registry's in-memory state, built only by applying the
 * store's records (sr_store_apply_cb) in log order.
 *
 * It answers every read of the REST API: subjects and their versions (with
 * soft-delete flags), schemas by global id (parsed once and cached), the id
 * already given to a schema text, configs and modes (global and per
 * subject), the highest id and per-subject version ever used.  Writers never
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
#ifndef SR_STATE_H
#define SR_STATE_H

#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>

#include "mw_err.h"
#include "mw_metrics.h"
#include "sr_schema.h"
#include "sr_store.h"

typedef struct sr_state sr_state_t;

/* One schema, by global id.  Read-only for callers.  Its strings are
 * shared rather than copied: text is the parsed schema's normalised text
 * whenever the record held exactly that (always for what this registry
 * wrote), and key is text itself when there are no references. */
typedef struct sr_state_schema {
    int id;
    const char *text;    /* the text as recorded (normalised when we wrote
                          * it) */
    const char *type;    /* "AVRO", "JSON", "PROTOBUF" */
    json_t *refs;        /* [{"name","subject","version"}] or NULL */
    const char *key;     /* identity: normalised text + references */
    sr_schema_t *parsed; /* NULL when the text did not parse (foreign log) */
    size_t use_cnt;      /* versions (live or soft-deleted) pointing here */
} sr_state_schema_t;

/* Bodies of GET /schemas/ids/{id} kept (most recently used first): a hot
 * set, not one per schema, so memory does not grow with the registry. */
#define SR_STATE_BODY_CACHE_MAX 1024

typedef struct sr_state_version {
    int version;
    int id;
    bool deleted;
} sr_state_version_t;

/* One subject: exists once any record named it (a config alone makes one);
 * the API treats it as existing when it has versions. */
typedef struct sr_state_subject {
    char *name;
    sr_state_version_t *versions; /* ascending by version */
    size_t version_cnt;
    size_t version_cap;
    size_t live_cnt;  /* versions not soft-deleted */
    int max_version;  /* highest version ever applied, 0 when none */
    int compat;       /* sr_proto_compat_t, -1 when not configured */
    int mode;         /* sr_proto_mode_t, -1 when not configured */
} sr_state_subject_t;

/* metrics (may be NULL) gets mesh_registry_schemas and
 * mesh_registry_subjects gauges.  NULL on ENOMEM. */
sr_state_t *sr_state_new(mw_metrics_t *metrics);
void sr_state_destroy(sr_state_t *state);

/* sr_store_apply_cb: applies one record; opaque is the sr_state_t.
 * Malformed records are logged (warn) and skipped. */
void sr_state_apply(void *opaque, const sr_store_record_t *rec);

/* The subject named name, or NULL. */
const sr_state_subject_t *sr_state_subject(const sr_state_t *state,
                                           const char *name);

/* All subjects (any state), in no particular order: *cnt entries. */
const sr_state_subject_t *const *sr_state_subjects(const sr_state_t *state,
                                                   size_t *cnt);

/* The entry for version in subj, or NULL.  SR_PROTO_VERSION_LATEST gives
 * the newest live version (newest of all when include_deleted). */
const sr_state_version_t *sr_state_version(const sr_state_subject_t *subj,
                                           int version, bool include_deleted);

/* The schema with this id, or NULL. */
const sr_state_schema_t *sr_state_schema(const sr_state_t *state, int id);

/* The id already given to key (sr_state_key), or 0. */
int sr_state_id_for_key(const sr_state_t *state, const char *key);

/* Identity of a schema: its normalised text plus its references.  Without
 * references that is normalized itself (*owned = NULL); with them a
 * malloc'd string, also stored in *owned for the caller to free.  NULL on
 * ENOMEM. */
const char *sr_state_key(const char *normalized, const json_t *refs,
                         char **owned);

/* Resolves references [{"name","subject","version"}] to parsed schemas:
 * out gets up to max borrowed pointers (*cnt of them).  MW_ERR_NOT_FOUND
 * when one is missing or unparsed, MW_ERR_INVALID when malformed; err names
 * the reference. */
int sr_state_resolve_refs(const sr_state_t *state, const json_t *refs,
                          sr_schema_t **out, size_t max, size_t *cnt,
                          mw_err_t *err);

/* Highest id ever applied (0 when none). */
int sr_state_max_id(const sr_state_t *state);

/* Global config and mode (defaults BACKWARD and READWRITE when none). */
int sr_state_global_compat(const sr_state_t *state);
bool sr_state_global_compat_is_set(const sr_state_t *state);
int sr_state_global_mode(const sr_state_t *state);

/* Effective level / mode of a subject (subject's own, else global). */
int sr_state_compat_for(const sr_state_t *state, const char *subject);
int sr_state_mode_for(const sr_state_t *state, const char *subject);

/* Live schema count and subjects with live versions. */
size_t sr_state_schema_cnt(const sr_state_t *state);
size_t sr_state_live_subject_cnt(const sr_state_t *state);

/* (subject, version) pairs using id: calls cb for each, subjects in no
 * particular order, versions ascending. */
typedef void (sr_state_usage_cb)(void *opaque, const sr_state_subject_t *subj,
                                 const sr_state_version_t *ver);
void sr_state_foreach_use(const sr_state_t *state, int id,
                          sr_state_usage_cb *cb, void *opaque);

/* The cached GET /schemas/ids/{id} body of sch (len bytes, borrowed until
 * the next apply or set_body), marked as recently used; NULL when not
 * cached. */
const char *sr_state_body(sr_state_t *state, const sr_state_schema_t *sch,
                          size_t *len);

/* Caches body (malloc'd, len bytes, consumed) for sch, evicting the least
 * recently used body beyond SR_STATE_BODY_CACHE_MAX. */
void sr_state_set_body(sr_state_t *state, const sr_state_schema_t *sch,
                       char *body, size_t len);

#endif /* SR_STATE_H */
