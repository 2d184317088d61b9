/*
 * reg_api_int.h: what the files of the REST API share (reg_api.c: server,
 * routing, negotiation, replies; reg_api_subjects.c, reg_api_register.c,
 * reg_api_schemas.c, reg_api_config.c: the handlers).  Not included outside
 * reg_api*.c.
 *
 * A request (reg_api_req_t) lives from the evhttp callback until one of the
 * reg_api_reply_* functions answers it; every handler path ends in exactly one
 * reply, possibly later, from a store done callback.
 */
#ifndef REG_API_INT_H
#define REG_API_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include <event2/http.h>

#include "mw_err.h"
#include "mw_http_limit.h"
#include "mw_time.h"
#include "reg_api.h"
#include "sr_proto.h"

struct evhttp;
struct evhttp_request;
struct reg_api_reg;

#define REG_API_COMPONENT "api"
#define REG_API_SEG_MAX 8     /* path segments of the longest route */
#define REG_API_QUERY_MAX 16  /* query parameters kept */
#define REG_API_DEPTH_MAX 256 /* JSON nesting of a body or a schema */
#define REG_API_RETRY_MAX 20  /* registration attempts (lost races) */
#define REG_API_CLASS_CNT 6   /* status classes 0xx..5xx, for metrics */

typedef struct reg_api_req reg_api_req_t;
typedef void(reg_api_handler_t)(reg_api_req_t *r);

typedef struct reg_api_route {
    const char *name;                     /* metrics label */
    const char *pattern[REG_API_SEG_MAX]; /* "*" = a non-empty parameter */
    reg_api_handler_t *get, *post, *put, *del;
} reg_api_route_t;

typedef struct reg_api_route_metrics {
    mw_counter_t *requests[REG_API_CLASS_CNT];
    mw_histogram_t *latency;
} reg_api_route_metrics_t;

struct reg_api {
    struct event_base *base;
    struct evhttp *http;
    mw_http_limit_t *limit; /* listener.max.connections */
    reg_state_t *state;
    reg_store_t *store;
    reg_catalog_t *catalog;     /* the data-product catalog */
    reg_store_t *catalog_store; /* the catalog's log */
    reg_gov_t *gov;             /* the policies (in the catalog's log) */
    mw_metrics_t *metrics;
    reg_api_conf_t conf;
    int port;
    reg_api_route_metrics_t *route_metrics; /* one per route + 1 (unrouted) */
    /* reg_api_register.c: registrations being served (arrival order; the
     * first of a subject runs, later ones of that subject wait), so an
     * instance never races itself for an id or a version. */
    struct reg_api_reg *reg_head, *reg_tail;
    bool reg_draining; /* resuming waiting registrations */
    bool reg_closing;  /* reg_api_register_close ran: resume nothing */
    mw_counter_t **auth_refused; /* per route: refused writes */
};

/* Called when every append of a request is done; r->store_err says how. */
typedef void(reg_api_done_t)(reg_api_req_t *r);

struct reg_api_req {
    reg_api_t *api;
    struct evhttp_request *req;
    size_t route;               /* index for metrics */
    const char *ctype;          /* response Content-Type */
    int64_t t0_us;              /* mw_time_mono_us at arrival */
    char *seg[REG_API_SEG_MAX]; /* URL-decoded path segments */
    size_t seg_cnt;
    char *qname[REG_API_QUERY_MAX], *qval[REG_API_QUERY_MAX];
    size_t q_cnt;
    json_t *body;                          /* parsed body (POST/PUT) or NULL */
    const reg_auth_principal_t *principal; /* authenticated, or NULL */
    /* Store appends in flight (see reg_api_append). */
    int pending;
    bool issuing;
    mw_err_t store_err;
    reg_api_done_t *on_done;
    /* Handler state carried across the store round trip. */
    void *ctx;
    void (*ctx_free)(void *ctx);
};

/* ---- reg_api_parse.c ---- */
/* What evhttp read of a request, borrowed: the still encoded path (NULL:
 * "/") and query (NULL: none), the Accept and Content-Type headers (NULL:
 * absent), the body of a POST or PUT. */
typedef struct reg_api_in {
    enum evhttp_cmd_type cmd;
    const char *path, *query;
    const char *accept, *content_type;
    const char *body;
    size_t body_len;
    size_t max_body_bytes; /* request.max.bytes */
} reg_api_in_t;

/* Fills r's segments, query parameters, response type and route from in
 * and finds the handler (*h).  0, or the Confluent error code to answer
 * (404 unknown path or a segment decoding to NUL, 405 known path with
 * another method, 406 nothing acceptable); err->msg is then empty (the
 * code's template applies).  What it allocated in r is freed with r. */
int reg_api_parse_head(reg_api_req_t *r, const reg_api_in_t *in,
                       reg_api_handler_t **h, mw_err_t *err);

/* Parses a POST/PUT body into r->body (an empty body reads as JSON null:
 * handlers answer 422).  0, or 415 (Content-Type), 413 (over
 * max_body_bytes) or 400 (nesting past REG_API_DEPTH_MAX, bad JSON) with
 * err->msg the reply's message ("" for 415's template). */
int reg_api_parse_body(reg_api_req_t *r, const reg_api_in_t *in, mw_err_t *err);

/* Frees a request that is not answered (the fuzz target's: every request
 * of the server ends in a reply, which frees it). */
void reg_api_req_free(reg_api_req_t *r);

/* ---- reg_api.c ---- */
extern const reg_api_route_t reg_api_routes[];
extern const size_t reg_api_route_cnt;

/* Query parameter value (decoded) or NULL. */
const char *reg_api_query(const reg_api_req_t *r, const char *name);
/* "true" in any case is true; anything else (or absent) is false. */
bool reg_api_query_bool(const reg_api_req_t *r, const char *name);

/* Replies and frees r.  body_json is consumed. */
void reg_api_reply_json(reg_api_req_t *r, int status, json_t *body_json);
void reg_api_reply_text(reg_api_req_t *r, int status, const char *body,
                        size_t len);
/* Error reply with a free-text message. */
void reg_api_reply_err(reg_api_req_t *r, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Error reply with the code's Confluent template. */
void reg_api_reply_code(reg_api_req_t *r, int code, const char *subject,
                        const char *version);

/* Validates a subject name (42208 replied when invalid, false returned). */
bool reg_api_subject_ok(reg_api_req_t *r, const char *subject);
/* Parses a version (42202 replied when invalid, false returned). */
bool reg_api_version_ok(reg_api_req_t *r, const char *text, int *version);
/* Mode check for writes: false (42205 replied) when read-only. */
bool reg_api_writable(reg_api_req_t *r, const char *subject);

/* Appends a record (value NULL = tombstone); key and value consumed.
 * r->on_done runs once all appends issued between reg_api_append_begin and
 * reg_api_append_end are done (possibly inside reg_api_append_end). */
void reg_api_append_begin(reg_api_req_t *r, reg_api_done_t *on_done);
void reg_api_append(reg_api_req_t *r, json_t *key, json_t *value);
void reg_api_append_end(reg_api_req_t *r);
/* reg_api_append to another store than the schemas' (the catalog's). */
void reg_api_append_to(reg_api_req_t *r, reg_store_t *store, json_t *key,
                       json_t *value);
/* Replies 50001/50002 for r->store_err; true when it did. */
bool reg_api_store_failed(reg_api_req_t *r);

/* Record keys in the `_schemas` format. */
json_t *reg_api_key_schema(const char *subject, int version);
json_t *reg_api_key_setting(const char *keytype, const char *subject);

/* ---- handlers ---- */
void reg_api_subjects_list(reg_api_req_t *r);
void reg_api_versions_list(reg_api_req_t *r);
void reg_api_version_get(reg_api_req_t *r);
void reg_api_version_schema_get(reg_api_req_t *r);
void reg_api_version_referencedby(reg_api_req_t *r);
void reg_api_version_delete(reg_api_req_t *r);
void reg_api_subject_lookup(reg_api_req_t *r);
void reg_api_subject_delete(reg_api_req_t *r);
void reg_api_register(reg_api_req_t *r);
/* Answers (50002) every registration still waiting for its turn or for a
 * retry; for shutdown, after reg_store_close (whose done callbacks answered
 * those in the store) and before evhttp_free. */
void reg_api_register_close(reg_api_t *api);
void reg_api_schema_by_id(reg_api_req_t *r);
void reg_api_schema_by_id_raw(reg_api_req_t *r);
void reg_api_schema_id_versions(reg_api_req_t *r);
void reg_api_schema_id_subjects(reg_api_req_t *r);
void reg_api_schemas_list(reg_api_req_t *r);
void reg_api_schema_types(reg_api_req_t *r);
void reg_api_config_get(reg_api_req_t *r);
void reg_api_config_put(reg_api_req_t *r);
void reg_api_config_delete(reg_api_req_t *r);
void reg_api_mode_get(reg_api_req_t *r);
void reg_api_mode_put(reg_api_req_t *r);
void reg_api_mode_delete(reg_api_req_t *r);
void reg_api_compat_check(reg_api_req_t *r);
void reg_api_catalog_list(reg_api_req_t *r);
void reg_api_catalog_get(reg_api_req_t *r);
void reg_api_catalog_put(reg_api_req_t *r);
void reg_api_catalog_delete(reg_api_req_t *r);
void reg_api_catalog_status_put(reg_api_req_t *r);
void reg_api_catalog_lineage(reg_api_req_t *r);
void reg_api_gov_policies(reg_api_req_t *r);
void reg_api_gov_policy_get(reg_api_req_t *r);
void reg_api_gov_policy_put(reg_api_req_t *r);
void reg_api_gov_report(reg_api_req_t *r);

/* ---- reg_api_auth.c ---- */
/* Authentication and the roles for r (routed; cmd its method): true to
 * go on; false after replying 401 or 403. */
bool reg_api_auth_allows(reg_api_req_t *r, enum evhttp_cmd_type cmd);

/* ---- reg_api_gov.c: enforcement ---- */
/* Checks a candidate schema under subject against the policies in force
 * (none: true at once).  Error-level violations: counted, logged, 42280
 * replied naming each rule and JSON path, false returned.  Warnings:
 * counted, logged, and their lines put into *warnings (a new array, or
 * NULL when none) for the answer. */
bool reg_api_gov_schema_ok(reg_api_req_t *r, const char *subject,
                           const av_schema_t *schema, const char *text,
                           json_t **warnings);
/* The same for a catalog entry (PUT /catalog/products/{d}/{n}). */
bool reg_api_gov_entry_ok(reg_api_req_t *r, const json_t *entry,
                          json_t **warnings);

/* ---- reg_api_register.c: the candidate schema of a request body ---- */
typedef struct reg_api_candidate {
    av_schema_t *parsed;    /* kept */
    const char *text;       /* normalised text (parsed's, borrowed) */
    json_t *refs;           /* references array or NULL (kept) */
    json_t *body_metadata;  /* the body's data contract, checked and */
    json_t *body_rule_set;  /* cleaned (kept), or NULL when absent */
    const json_t *metadata; /* in force: the body's, else inherited */
    const json_t *rule_set; /* (reg_api_candidate_settle; borrowed) */
    const char *key;        /* identity key (reg_state_key): text itself
                             * without references and data contract */
    char *key_owned;        /* key when built for them, else NULL */
} reg_api_candidate_t;

/* Reads schema, schemaType, references, metadata and ruleSet from r->body
 * and parses them; the key counts the body's data contract only.  Replies
 * (42201, 42209, 422) and returns false on bad input. */
bool reg_api_candidate_parse(reg_api_req_t *r, reg_api_candidate_t *cand);
void reg_api_candidate_clear(reg_api_candidate_t *cand);

/* ---- reg_api_contract.c: data contracts (metadata, ruleSet) ---- */
/* Checks r->body's "metadata" and "ruleSet" into cand->body_*; false after
 * replying 422 naming the JSON path of the bad field. */
bool reg_api_contract_parse(reg_api_req_t *r, reg_api_candidate_t *cand);
/* Sets cand's metadata and rule set in force under subj (a part the body
 * left out is the latest live version's, as Confluent without default or
 * override configs) and its key; borrowed from cand and the state until
 * the next apply.  0 or MW_ERR_NOMEM. */
int reg_api_candidate_settle(const reg_state_t *state,
                             const reg_state_subject_t *subj,
                             reg_api_candidate_t *cand);
/* Adds "metadata" and "ruleSet" (copies) to o when not NULL. */
void reg_api_contract_set(json_t *o, const json_t *metadata,
                          const json_t *rule_set);
/* GET /subjects/{s}/metadata?key=K&value=V...[&deleted=true]. */
void reg_api_subject_metadata(reg_api_req_t *r);

/* The versions a candidate is checked against, oldest first: parsed
 * schemas, version numbers and texts, n of each, in malloc'd arrays (the
 * arrays are the holder's, the entries the state's). */
typedef struct reg_api_history {
    av_schema_t **schemas;
    int *versions;
    const char **texts;
    size_t n;
} reg_api_history_t;

/* Runs the compatibility level against prev; fills messages (may be NULL)
 * with Confluent's verbose strings.  1 compatible, 0 not, negative on
 * ENOMEM. */
int reg_api_compat_run(int level, const av_schema_t *candidate,
                       const reg_api_history_t *prev, json_t *messages);

/* Live versions of subj, oldest first: parsed schemas, versions and texts
 * into malloc'd arrays (caller frees the arrays, not the entries).  *n = 0
 * and arrays NULL when none.  0 or MW_ERR_NOMEM. */
int reg_api_live_previous(const reg_state_t *state,
                          const reg_state_subject_t *subj,
                          av_schema_t ***previous, int **versions,
                          const char ***texts, size_t *n);

/* Schema JSON of a subject version, as GET /subjects/{s}/versions/{v}. */
json_t *reg_api_version_json(const reg_state_t *state, const char *subject,
                             const reg_state_version_t *ver);

#endif /* REG_API_INT_H */
