/*
 * sr_api_int.h: what the files of the REST API share (sr_api.c: server,
 * routing, negotiation, replies; sr_api_subjects.c, sr_api_register.c,
 * sr_api_schemas.c, sr_api_config.c: the handlers).  Not included outside
 * sr_api*.c.
 *
 * A request (sr_api_req_t) lives from the evhttp callback until one of the
 * sr_api_reply_* functions answers it; every handler path ends in exactly one
 * reply, possibly later, from a store done callback.
 */
#ifndef SR_API_INT_H
#define SR_API_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <time.h>

#include <jansson.h>

#include "sr_api.h"
#include "sr_proto.h"

struct evhttp;
struct evhttp_request;
struct sr_api_reg;

#define SR_API_COMPONENT "api"
#define SR_API_SEG_MAX 8         /* path segments of the longest route */
#define SR_API_QUERY_MAX 16      /* query parameters kept */
#define SR_API_DEPTH_MAX 256     /* JSON nesting of a body or a schema */
#define SR_API_RETRY_MAX 20      /* registration attempts (lost races) */
#define SR_API_CLASS_CNT 6       /* status classes 0xx..5xx, for metrics */

typedef struct sr_api_req sr_api_req_t;
typedef void(sr_api_handler_t)(sr_api_req_t *r);

typedef struct sr_api_route {
    const char *name;                  /* metrics label */
    const char *pattern[SR_API_SEG_MAX];  /* "*" = a non-empty parameter */
    sr_api_handler_t *get, *post, *put, *del;
} sr_api_route_t;

typedef struct sr_api_route_metrics {
    mw_counter_t *requests[SR_API_CLASS_CNT];
    mw_histogram_t *latency;
} sr_api_route_metrics_t;

struct sr_api {
    struct event_base *base;
    struct evhttp *http;
    sr_state_t *state;
    sr_store_t *store;
    mw_metrics_t *metrics;
    sr_api_conf_t conf;
    int port;
    sr_api_route_metrics_t *route_metrics; /* one per route + 1 (unrouted) */
    /* sr_api_register.c: registrations being served (arrival order; the
     * first of a subject runs, later ones of that subject wait), so an
     * instance never races itself for an id or a version. */
    struct sr_api_reg *reg_head, *reg_tail;
    bool reg_draining; /* resuming waiting registrations */
    bool reg_closing;  /* sr_api_register_close ran: resume nothing */
};

/* Called when every append of a request is done; r->store_err says how. */
typedef void(sr_api_done_t)(sr_api_req_t *r);

struct sr_api_req {
    sr_api_t *api;
    struct evhttp_request *req;
    size_t route;               /* index for metrics */
    const char *ctype;          /* response Content-Type */
    struct timespec t0;
    char *seg[SR_API_SEG_MAX];     /* URL-decoded path segments */
    size_t seg_cnt;
    char *qname[SR_API_QUERY_MAX], *qval[SR_API_QUERY_MAX];
    size_t q_cnt;
    json_t *body;               /* parsed body (POST/PUT) or NULL */
    /* Store appends in flight (see sr_api_append). */
    int pending;
    bool issuing;
    mw_err_t store_err;
    sr_api_done_t *on_done;
    /* Handler state carried across the store round trip. */
    void *ctx;
    void (*ctx_free)(void *ctx);
};

/* ---- sr_api.c ---- */
extern const sr_api_route_t sr_api_routes[];
extern const size_t sr_api_route_cnt;

/* Query parameter value (decoded) or NULL. */
const char *sr_api_query(const sr_api_req_t *r, const char *name);
/* "true" in any case is true; anything else (or absent) is false. */
bool sr_api_query_bool(const sr_api_req_t *r, const char *name);

/* Replies and frees r.  body_json is consumed. */
void sr_api_reply_json(sr_api_req_t *r, int status, json_t *body_json);
void sr_api_reply_text(sr_api_req_t *r, int status, const char *body,
                       size_t len);
/* Error reply with a free-text message. */
void sr_api_reply_err(sr_api_req_t *r, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Error reply with the code's Confluent template. */
void sr_api_reply_code(sr_api_req_t *r, int code, const char *subject,
                    const char *version);

/* Validates a subject name (42208 replied when invalid, false returned). */
bool sr_api_subject_ok(sr_api_req_t *r, const char *subject);
/* Parses a version (42202 replied when invalid, false returned). */
bool sr_api_version_ok(sr_api_req_t *r, const char *text, int *version);
/* Mode check for writes: false (42205 replied) when read-only. */
bool sr_api_writable(sr_api_req_t *r, const char *subject);

/* Appends a record (value NULL = tombstone); key and value consumed.
 * r->on_done runs once all appends issued between sr_api_append_begin and
 * sr_api_append_end are done (possibly inside sr_api_append_end). */
void sr_api_append_begin(sr_api_req_t *r, sr_api_done_t *on_done);
void sr_api_append(sr_api_req_t *r, json_t *key, json_t *value);
void sr_api_append_end(sr_api_req_t *r);
/* Replies 50001/50002 for r->store_err; true when it did. */
bool sr_api_store_failed(sr_api_req_t *r);

/* Record keys in the `_schemas` format. */
json_t *sr_api_key_schema(const char *subject, int version);
json_t *sr_api_key_setting(const char *keytype, const char *subject);

/* ---- handlers ---- */
void sr_api_subjects_list(sr_api_req_t *r);
void sr_api_versions_list(sr_api_req_t *r);
void sr_api_version_get(sr_api_req_t *r);
void sr_api_version_schema_get(sr_api_req_t *r);
void sr_api_version_referencedby(sr_api_req_t *r);
void sr_api_version_delete(sr_api_req_t *r);
void sr_api_subject_lookup(sr_api_req_t *r);
void sr_api_subject_delete(sr_api_req_t *r);
void sr_api_register(sr_api_req_t *r);
/* Answers (50002) every registration still waiting for its turn or for a
 * retry; for shutdown, after sr_store_close (whose done callbacks answered
 * those in the store) and before evhttp_free. */
void sr_api_register_close(sr_api_t *api);
void sr_api_schema_by_id(sr_api_req_t *r);
void sr_api_schema_by_id_raw(sr_api_req_t *r);
void sr_api_schema_id_versions(sr_api_req_t *r);
void sr_api_schema_id_subjects(sr_api_req_t *r);
void sr_api_schemas_list(sr_api_req_t *r);
void sr_api_schema_types(sr_api_req_t *r);
void sr_api_config_get(sr_api_req_t *r);
void sr_api_config_put(sr_api_req_t *r);
void sr_api_config_delete(sr_api_req_t *r);
void sr_api_mode_get(sr_api_req_t *r);
void sr_api_mode_put(sr_api_req_t *r);
void sr_api_mode_delete(sr_api_req_t *r);
void sr_api_compat_check(sr_api_req_t *r);

/* ---- sr_api_register.c: the candidate schema of a request body ---- */
typedef struct sr_api_candidate {
    sr_schema_t *parsed;   /* kept */
    const char *text;      /* normalised text (parsed's, borrowed) */
    json_t *refs;          /* references array or NULL (kept) */
    const char *key;       /* identity key (sr_state_key): text itself
                            * without references */
    char *key_owned;       /* key when built for references, else NULL */
} sr_api_candidate_t;

/* Reads schema, schemaType, references from r->body and parses them.
 * Replies (42201, 42209, 422) and returns false on bad input. */
bool sr_api_candidate_parse(sr_api_req_t *r, sr_api_candidate_t *cand);
void sr_api_candidate_clear(sr_api_candidate_t *cand);

/* Runs the compatibility level against previous[0..n-1]; fills messages
 * (may be NULL) with Confluent's verbose strings.  1 compatible, 0 not,
 * negative on ENOMEM. */
int sr_api_compat_run(int level, const sr_schema_t *candidate,
                   sr_schema_t *const *previous, const int *versions,
                   const char *const *texts, size_t n, json_t *messages);

/* Live versions of subj, oldest first: parsed schemas, versions and texts
 * into malloc'd arrays (caller frees the arrays, not the entries).  *n = 0
 * and arrays NULL when none.  0 or MW_ERR_NOMEM. */
int sr_api_live_previous(const sr_state_t *state,
                         const sr_state_subject_t *subj,
                      sr_schema_t ***previous, int **versions,
                      const char ***texts, size_t *n);

/* Schema JSON of a subject version, as GET /subjects/{s}/versions/{v}. */
json_t *sr_api_version_json(const sr_state_t *state, const char *subject,
                         const sr_state_version_t *ver);

#endif /* SR_API_INT_H */
