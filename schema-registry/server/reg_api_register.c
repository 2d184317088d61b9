/*
 * reg_api_register: POST /subjects/{s}/versions, the registry's one
 * demanding write, and the candidate-schema and compatibility helpers the
 * lookup and compatibility endpoints share.
 *
 * A registration runs in attempts.  Each attempt reads the current state:
 * mode (read-only refuses, IMPORT takes the body's id and version and
 * skips compatibility), the same schema already live under the subject
 * (answered with its id, nothing written), the compatibility level against
 * the live versions, then picks the id (the id the same schema already has
 * in any subject, else one past the highest id applied or reserved by this
 * instance's appends in flight) and the version (one past the highest the
 * subject still stores, soft-deleted included) and appends the SCHEMA record.
 * When the store reports it applied, the state at (subject, version) tells
 * whether our record won: another instance may have written that version or
 * bound that id first (reg_state's concurrency rule), and then the attempt is
 * retried from the start (compatibility against the new latest included) after
 * a jittered, growing backoff, up to REG_API_RETRY_MAX attempts.
 *
 * So that an instance never races itself, registrations are serialised per
 * subject: one runs, later ones for the same subject wait in arrival order
 * and resume when it is answered (so a text already in flight for the
 * subject is answered with the id that registration got), and ids reserved
 * by appends in flight are never picked again.  Only other instances can
 * make an attempt lose.
 *
 * Thread: the loop thread.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>

#include "mw_log.h"
#include "reg_api_int.h"
#include "av_compat.h"

#define REG_API_REFS_MAX 256
#define REG_API_BACKOFF_MIN_MS 5  /* first retry waits 5..10 ms */
#define REG_API_BACKOFF_MAX_MS 50 /* the window doubles up to 5..50 ms */

typedef struct reg_api_reg {
    struct reg_api_reg *next, *prev; /* api->reg_head list, while linked */
    reg_api_req_t *r;
    struct event *timer; /* retry backoff, created on the first lost race */
    char *subject;
    reg_api_candidate_t cand;
    int want_id;      /* IMPORT: the body's id, else 0 */
    int want_version; /* IMPORT: the body's version, else 0 */
    int id, version;  /* what the current attempt wrote */
    int attempt;
    bool linked;      /* on the api's list */
    bool waiting;     /* another registration of the subject runs first */
    bool ready;       /* its turn came: resume in reg_api_reg_drain */
    bool reserved;    /* its record (id, version) is in the store */
    json_t *warnings; /* policy warnings for the answer, or NULL */
} reg_api_reg_t;

void reg_api_candidate_clear(reg_api_candidate_t *cand)
{
    av_schema_release(cand->parsed);
    free(cand->key_owned);
    json_decref(cand->refs);
    json_decref(cand->body_metadata);
    json_decref(cand->body_rule_set);
    memset(cand, 0, sizeof(*cand));
}

/* Checks the body's fields' shapes; replies 422/42201 and returns false. */
static bool reg_api_candidate_fields(reg_api_req_t *r, const char **text,
                                     json_t **refs)
{
    json_t *body = r->body, *jt;
    const char *type;

    if (!json_is_object(body)) {
        reg_api_reply_err(r, SR_PROTO_E_UNPROCESSABLE,
                          "Request body must be a JSON object");
        return false;
    }
    jt = json_object_get(body, "schema");
    if (!jt || json_is_null(jt) ||
        (json_is_string(jt) && !json_string_length(jt))) {
        reg_api_reply_err(r, SR_PROTO_E_INVALID_SCHEMA, "Empty schema");
        return false;
    }
    *text = json_string_value(jt);
    *refs = json_object_get(body, "references");
    type = json_string_value(json_object_get(body, "schemaType"));
    if (!*text || (*refs && !json_is_null(*refs) && !json_is_array(*refs)) ||
        (json_object_get(body, "schemaType") && !type &&
         !json_is_null(json_object_get(body, "schemaType")))) {
        reg_api_reply_err(r, SR_PROTO_E_UNPROCESSABLE,
                          "Unrecognized field types: schema must be a string, "
                          "schemaType a string, references an array");
        return false;
    }
    if (type && strcasecmp(type, "AVRO")) {
        reg_api_reply_err(r, SR_PROTO_E_INVALID_SCHEMA,
                          "Invalid schema type %s: mesh-registry supports AVRO "
                          "only",
                          type);
        return false;
    }
    return true;
}

bool reg_api_candidate_parse(reg_api_req_t *r, reg_api_candidate_t *cand)
{
    av_schema_t *refv[REG_API_REFS_MAX];
    size_t ref_cnt = 0, len;
    const char *text = NULL;
    json_t *refs = NULL;
    mw_err_t err = {0};

    if (!reg_api_candidate_fields(r, &text, &refs) ||
        !reg_api_contract_parse(r, cand))
        return false;
    len = strlen(text);
    if (len > r->api->conf.schema_max_bytes) {
        reg_api_reply_err(r, SR_PROTO_E_SCHEMA_TOO_LARGE,
                          "Schema of %zu bytes exceeds schema.max.bytes (%zu)",
                          len, r->api->conf.schema_max_bytes);
        return false;
    }
    if (reg_state_resolve_refs(r->api->state, refs, refv, REG_API_REFS_MAX,
                               &ref_cnt, &err) != 0) {
        reg_api_reply_err(r, SR_PROTO_E_INVALID_SCHEMA, "Invalid schema: %s",
                          err.msg);
        return false;
    }
    cand->parsed = av_schema_parse(text, len, refv, ref_cnt, &err);
    if (!cand->parsed) {
        reg_api_reply_err(r, SR_PROTO_E_INVALID_SCHEMA, "Invalid schema: %s",
                          err.msg);
        return false;
    }
    cand->refs =
        json_is_array(refs) && json_array_size(refs) ? json_incref(refs) : NULL;
    cand->text = av_schema_normalized(cand->parsed);
    cand->metadata = cand->body_metadata;
    cand->rule_set = cand->body_rule_set;
    cand->key = reg_state_key(cand->text, cand->refs, cand->metadata,
                              cand->rule_set, &cand->key_owned);
    if (!cand->key) {
        reg_api_reply_err(r, SR_PROTO_E_INTERNAL, "out of memory");
        return false;
    }
    return true;
}

int reg_api_live_previous(const reg_state_t *state,
                          const reg_state_subject_t *subj,
                          av_schema_t ***previous, int **versions,
                          const char ***texts, size_t *n)
{
    size_t cnt = 0;

    *previous = NULL;
    *versions = NULL;
    *texts = NULL;
    *n = 0;
    if (!subj || !subj->live_cnt)
        return 0;
    *previous = calloc(subj->live_cnt, sizeof(**previous));
    *versions = calloc(subj->live_cnt, sizeof(**versions));
    *texts = calloc(subj->live_cnt, sizeof(**texts));
    if (!*previous || !*versions || !*texts)
        return MW_ERR_NOMEM;
    for (size_t i = 0; i < subj->version_cnt && cnt < subj->live_cnt; i++) {
        const reg_state_version_t *ver = &subj->versions[i];
        const reg_state_schema_t *sch;

        if (ver->deleted)
            continue;
        sch = reg_state_schema(state, ver->id);
        /* A schema we could not parse (a foreign type) cannot be compared:
         * Confluent would not compare across types either. */
        if (!sch || !sch->parsed)
            continue;
        (*previous)[cnt] = sch->parsed;
        (*versions)[cnt] = ver->version;
        (*texts)[cnt] = sch->text;
        cnt++;
    }
    *n = cnt;
    return 0;
}

int reg_api_compat_run(int level, const av_schema_t *candidate,
                       const reg_api_history_t *prev, json_t *messages)
{
    size_t n = prev->n;
    av_compat_result_t *res;
    int rc, ok;

    if (level == SR_PROTO_COMPAT_NONE || n == 0)
        return 1;
    if (!(res = av_compat_result_new()))
        return MW_ERR_NOMEM;
    /* sr_proto_compat_t and av_compat_level_t list the levels in the same
     * (Confluent's) order. */
    rc = av_compat_check_mode((av_compat_level_t)level, candidate,
                              prev->schemas, n, res);
    ok = rc == 0 ? av_compat_result_is_compatible(res) : rc;
    if (rc == 0 && messages) {
        char tail[160];

        rc = av_compat_format_messages(res, prev->versions, prev->texts, n,
                                       messages);
        snprintf(tail, sizeof(tail),
                 "{validateFields: 'false', compatibility: '%s'}",
                 sr_proto_compat_name((sr_proto_compat_t)level));
        if (!ok)
            json_array_append_new(messages, json_string(tail));
        if (rc != 0)
            ok = rc;
    }
    av_compat_result_destroy(res);
    return ok;
}

_Static_assert((int)SR_PROTO_COMPAT_NONE == (int)AV_COMPAT_NONE &&
                   (int)SR_PROTO_COMPAT_FULL_TRANSITIVE ==
                       (int)AV_COMPAT_FULL_TRANSITIVE &&
                   (int)SR_PROTO_COMPAT_BACKWARD == (int)AV_COMPAT_BACKWARD,
               "sr_proto_compat_t follows av_compat_level_t");

/* ---- registration ---------------------------------------------------- */

static void reg_api_reg_attempt(reg_api_req_t *r);

static void reg_api_reg_link(reg_api_t *api, reg_api_reg_t *reg)
{
    reg->prev = api->reg_tail;
    if (api->reg_tail)
        api->reg_tail->next = reg;
    else
        api->reg_head = reg;
    api->reg_tail = reg;
    reg->linked = true;
}

static void reg_api_reg_unlink(reg_api_t *api, reg_api_reg_t *reg)
{
    if (reg->prev)
        reg->prev->next = reg->next;
    else
        api->reg_head = reg->next;
    if (reg->next)
        reg->next->prev = reg->prev;
    else
        api->reg_tail = reg->prev;
    reg->next = reg->prev = NULL;
    reg->linked = false;
}

/* Queues reg behind a registration of the same subject already served. */
static void reg_api_reg_enter(reg_api_t *api, reg_api_reg_t *reg)
{
    for (const reg_api_reg_t *o = api->reg_head; o && !reg->waiting;
         o = o->next)
        reg->waiting = !strcmp(o->subject, reg->subject);
    reg_api_reg_link(api, reg);
}

/* The running registration of reg's subject is done: the next waiting one
 * of that subject, in arrival order, gets its turn. */
static void reg_api_reg_hand_on(reg_api_t *api, const reg_api_reg_t *reg)
{
    for (reg_api_reg_t *o = api->reg_head; o; o = o->next)
        if (o->waiting && !strcmp(o->subject, reg->subject)) {
            o->waiting = false;
            o->ready = true;
            return;
        }
}

/* Resumes the registrations whose turn came.  Resuming one may answer it,
 * which frees it and hands its subject's turn on: the flag turns that
 * nested call into a no-op and this loop picks the new turn up, so a long
 * queue does not recurse. */
static void reg_api_reg_drain(reg_api_t *api)
{
    reg_api_reg_t *reg;

    if (api->reg_draining || api->reg_closing)
        return;
    api->reg_draining = true;
    do {
        for (reg = api->reg_head; reg && !reg->ready; reg = reg->next)
            ;
        if (reg) {
            reg->ready = false;
            reg_api_reg_attempt(reg->r);
        }
    } while (reg);
    api->reg_draining = false;
}

/* The request's ctx_free: runs once the registration is answered. */
static void reg_api_reg_free(void *p)
{
    reg_api_reg_t *reg = p;
    reg_api_t *api;

    if (!reg)
        return;
    api = reg->r->api;
    if (reg->linked) {
        reg_api_reg_unlink(api, reg);
        if (!reg->waiting)
            reg_api_reg_hand_on(api, reg);
    }
    if (reg->timer)
        event_free(reg->timer);
    reg_api_candidate_clear(&reg->cand);
    json_decref(reg->warnings);
    free(reg->subject);
    free(reg);
    reg_api_reg_drain(api);
}

void reg_api_register_close(reg_api_t *api)
{
    api->reg_closing = true;
    while (api->reg_head)
        reg_api_reply_err(api->reg_head->r, SR_PROTO_E_TIMEOUT,
                          "mesh-registry is shutting down; the registration "
                          "under subject %s was not written",
                          api->reg_head->subject);
}

/* One past the highest id applied or reserved by this instance's records
 * in the store; or the id such a record reserved for the same schema (a
 * text registered under two subjects at once keeps one id). */
static int reg_api_reg_new_id(const reg_api_t *api, const reg_api_reg_t *reg)
{
    int max = reg_state_max_id(api->state);

    for (const reg_api_reg_t *o = api->reg_head; o; o = o->next) {
        if (o == reg || !o->reserved)
            continue;
        if (!strcmp(o->cand.key, reg->cand.key))
            return o->id;
        if (o->id > max)
            max = o->id;
    }
    return max + 1;
}

/* {"id"} and, when policies warned, "warnings" (Confluent's clients read
 * only "id"). */
static void reg_api_reply_id(reg_api_req_t *r, int id)
{
    const reg_api_reg_t *reg = r->ctx;
    json_t *o = json_object();

    json_object_set_new(o, "id", json_integer(id));
    if (reg->warnings)
        json_object_set(o, "warnings", reg->warnings);
    reg_api_reply_json(r, 200, o);
}

/* The live version of subj holding key, or NULL. */
static const reg_state_version_t *
reg_api_find_key(const reg_state_t *state, const reg_state_subject_t *subj,
                 const char *key, bool include_deleted)
{
    for (size_t i = 0; subj && i < subj->version_cnt; i++) {
        const reg_state_version_t *ver = &subj->versions[i];
        const reg_state_schema_t *sch = reg_state_schema(state, ver->id);

        if ((include_deleted || !ver->deleted) && sch && !strcmp(sch->key, key))
            return ver;
    }
    return NULL;
}

/* Compatibility against the live versions; replies 409 and returns false
 * when incompatible. */
static bool reg_api_reg_compatible(reg_api_req_t *r, reg_api_reg_t *reg,
                                   const reg_state_subject_t *subj)
{
    const reg_state_t *state = r->api->state;
    int level = reg_state_compat_for(state, reg->subject), ok;
    reg_api_history_t prev = {0};
    json_t *msgs = json_array();
    char *details = NULL;

    ok = MW_ERR_NOMEM;
    if (msgs &&
        reg_api_live_previous(state, subj, &prev.schemas, &prev.versions,
                              &prev.texts, &prev.n) == 0)
        ok = reg_api_compat_run(level, reg->cand.parsed, &prev, msgs);
    if (ok == 0)
        details = json_dumps(msgs, JSON_COMPACT | JSON_ENCODE_ANY);
    free(prev.schemas);
    free(prev.versions);
    free(prev.texts);
    json_decref(msgs);
    if (ok < 0)
        reg_api_reply_err(r, SR_PROTO_E_INTERNAL, "out of memory");
    else if (ok == 0)
        reg_api_reply_err(r, SR_PROTO_E_INCOMPATIBLE,
                          "Schema being registered is incompatible with an "
                          "earlier schema for subject \"%s\", details: %s",
                          reg->subject, details ? details : "[]");
    free(details);
    return ok == 1;
}

/* Picks id and version (IMPORT: the body's); false after replying. */
static bool reg_api_reg_pick(reg_api_req_t *r, reg_api_reg_t *reg,
                             const reg_state_subject_t *subj)
{
    const reg_state_t *state = r->api->state;
    const reg_state_schema_t *bound;

    reg->id = reg_state_id_for_key(state, reg->cand.key);
    if (reg->want_id) {
        bound = reg_state_schema(state, reg->want_id);
        if (bound && strcmp(bound->key, reg->cand.key)) {
            reg_api_reply_err(r, SR_PROTO_E_NOT_PERMITTED,
                              "Overwrite new schema with id %d is not "
                              "permitted.",
                              reg->want_id);
            return false;
        }
        reg->id = reg->want_id;
    } else if (!reg->id) {
        reg->id = reg_api_reg_new_id(r->api, reg);
    }
    reg->version = reg_state_next_version(subj);
    if (reg->want_version) {
        if (reg_state_version(subj, reg->want_version, true)) {
            reg_api_reply_err(r, SR_PROTO_E_NOT_PERMITTED,
                              "Version %d already exists in subject %s",
                              reg->want_version, reg->subject);
            return false;
        }
        reg->version = reg->want_version;
    }
    return true;
}

static void reg_api_reg_done(reg_api_req_t *r);

static void reg_api_reg_attempt(reg_api_req_t *r)
{
    reg_api_reg_t *reg = r->ctx;
    const reg_state_t *state = r->api->state;
    const reg_state_subject_t *subj = reg_state_subject(state, reg->subject);
    int mode = reg_state_mode_for(state, reg->subject);
    const reg_state_version_t *have;
    json_t *val;

    if (!reg_api_writable(r, reg->subject))
        return;
    if (reg_api_candidate_settle(state, subj, &reg->cand) != 0) {
        reg_api_reply_err(r, SR_PROTO_E_INTERNAL, "out of memory");
        return;
    }
    if (reg->want_id && mode != SR_PROTO_MODE_IMPORT) {
        reg_api_reply_err(r, SR_PROTO_E_NOT_PERMITTED,
                          "Subject %s is not in import mode", reg->subject);
        return;
    }
    if ((have = reg_api_find_key(state, subj, reg->cand.key, false))) {
        if (reg->want_id && have->id != reg->want_id)
            reg_api_reply_err(r, SR_PROTO_E_ID_MISMATCH,
                              "Schema already registered with id %d instead of "
                              "input id %d",
                              have->id, reg->want_id);
        else
            reg_api_reply_id(r, have->id);
        return;
    }
    /* Governance before compatibility: a schema the policies refuse is
     * refused whatever its history.  IMPORT copies another registry's
     * history as it is, so neither check runs. */
    json_decref(reg->warnings);
    reg->warnings = NULL;
    if (mode != SR_PROTO_MODE_IMPORT &&
        !reg_api_gov_schema_ok(r, reg->subject, reg->cand.parsed,
                               reg->cand.text, &reg->warnings))
        return;
    if ((mode != SR_PROTO_MODE_IMPORT &&
         !reg_api_reg_compatible(r, reg, subj)) ||
        !reg_api_reg_pick(r, reg, subj))
        return;
    val = json_object();
    json_object_set_new(val, "subject", json_string(reg->subject));
    json_object_set_new(val, "version", json_integer(reg->version));
    json_object_set_new(val, "id", json_integer(reg->id));
    json_object_set_new(val, "schema", json_string(reg->cand.text));
    if (reg->cand.refs)
        json_object_set(val, "references", reg->cand.refs);
    reg_api_contract_set(val, reg->cand.metadata, reg->cand.rule_set);
    json_object_set_new(val, "deleted", json_false());
    reg->reserved = true;
    reg_api_append_begin(r, reg_api_reg_done);
    reg_api_append(r, reg_api_key_schema(reg->subject, reg->version), val);
    reg_api_append_end(r);
}

static void reg_api_reg_on_timer(evutil_socket_t fd, short what, void *arg)
{
    reg_api_reg_t *reg = arg;

    (void)fd;
    (void)what;
    reg_api_reg_attempt(reg->r);
}

static unsigned reg_api_reg_rand(void)
{
    static unsigned seed;
    static bool seeded;

    if (!seeded) {
        /* Instances started together must not draw the same delays. */
        seed = (unsigned)getpid() * 2654435761u ^ (unsigned)mw_time_mono_ns();
        seeded = true;
    }
    return (unsigned)rand_r(&seed);
}

/* Schedules the next attempt after a random 5..w ms, w doubling from 10 ms
 * to 50 ms with the attempts: instances that collided draw apart instead
 * of colliding again in lock step. */
static void reg_api_reg_backoff(reg_api_req_t *r, reg_api_reg_t *reg)
{
    int window = REG_API_BACKOFF_MIN_MS
                 << (reg->attempt < 4 ? reg->attempt : 4);
    int ms;
    struct timeval tv;

    if (window > REG_API_BACKOFF_MAX_MS)
        window = REG_API_BACKOFF_MAX_MS;
    ms = REG_API_BACKOFF_MIN_MS +
         (int)(reg_api_reg_rand() %
               (unsigned)(window - REG_API_BACKOFF_MIN_MS + 1));
    tv.tv_sec = 0;
    tv.tv_usec = ms * 1000;
    if (!reg->timer)
        reg->timer = evtimer_new(r->api->base, reg_api_reg_on_timer, reg);
    if (!reg->timer || evtimer_add(reg->timer, &tv) != 0)
        reg_api_reply_err(r, SR_PROTO_E_INTERNAL,
                          "out of memory for a registration retry");
}

/* The record is durable and applied (or failed): did it win? */
static void reg_api_reg_done(reg_api_req_t *r)
{
    reg_api_reg_t *reg = r->ctx;
    const reg_state_t *state = r->api->state;
    const reg_state_version_t *ver;
    const reg_state_schema_t *sch;

    reg->reserved = false;
    if (reg_api_store_failed(r))
        return;
    ver = reg_state_version(reg_state_subject(state, reg->subject),
                            reg->version, true);
    sch = ver ? reg_state_schema(state, ver->id) : NULL;
    if (ver && ver->id == reg->id && sch && !strcmp(sch->key, reg->cand.key)) {
        reg_api_reply_id(r, reg->id);
        return;
    }
    if (++reg->attempt >= REG_API_RETRY_MAX) {
        reg_api_reply_err(r, SR_PROTO_E_STORE,
                          "Registration under subject %s lost %d races with "
                          "other writers; try again",
                          reg->subject, reg->attempt);
        return;
    }
    mw_log_debug(REG_API_COMPONENT, "registration lost a race",
                 "subject=%s "
                 "version=%d id=%d attempt=%d",
                 mw_log_q(reg->subject), reg->version, reg->id, reg->attempt);
    reg_api_reg_backoff(r, reg);
}

/* IMPORT's optional "id" and "version" body fields; false after 422. */
static bool reg_api_reg_import_fields(reg_api_req_t *r, reg_api_reg_t *reg)
{
    json_t *jid = json_object_get(r->body, "id");
    json_t *jver = json_object_get(r->body, "version");

    if ((jid && !json_is_null(jid) && !json_is_integer(jid)) ||
        (jver && !json_is_null(jver) && !json_is_integer(jver))) {
        reg_api_reply_err(r, SR_PROTO_E_UNPROCESSABLE,
                          "id and version must be integers");
        return false;
    }
    if (json_is_integer(jid) && json_integer_value(jid) > 0) {
        if (json_integer_value(jid) > 2147483647LL) {
            reg_api_reply_err(r, SR_PROTO_E_UNPROCESSABLE, "id out of range");
            return false;
        }
        reg->want_id = (int)json_integer_value(jid);
    }
    if (json_is_integer(jver) && json_integer_value(jver) > 0) {
        if (json_integer_value(jver) > 2147483647LL) {
            char msg[512];

            sr_proto_invalid_version_msg(msg, sizeof(msg), "out of range");
            reg_api_reply_err(r, SR_PROTO_E_INVALID_VERSION, "%s", msg);
            return false;
        }
        reg->want_version = (int)json_integer_value(jver);
    }
    return true;
}

void reg_api_register(reg_api_req_t *r)
{
    reg_api_reg_t *reg;

    if (!reg_api_subject_ok(r, r->seg[1]))
        return;
    reg = calloc(1, sizeof(*reg));
    if (!reg || !(reg->subject = strdup(r->seg[1]))) {
        free(reg);
        reg_api_reply_err(r, SR_PROTO_E_INTERNAL, "out of memory");
        return;
    }
    reg->r = r;
    r->ctx = reg;
    r->ctx_free = reg_api_reg_free;
    if (!reg_api_candidate_parse(r, &reg->cand) ||
        !reg_api_reg_import_fields(r, reg))
        return;
    reg_api_reg_enter(r->api, reg);
    if (!reg->waiting)
        reg_api_reg_attempt(r);
}
