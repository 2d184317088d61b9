/*
 * sr_client: the registry client's requests, answers and caches, over one
 * keep-alive connection of common's HTTP client (mw_http_conn: a consumer
 * resolving ids or a producer registering per batch would otherwise pay a
 * TCP handshake each time).
 *
 * Every public call takes the client's lock for its whole duration, cache
 * hits included, so the caches need no finer locking; a miss holds it over
 * the HTTP round trip, which serialises the callers of one client.  Cached
 * schemas are handed out with av_schema_keep, so a caller's copy outlives
 * any eviction.  Caches are bounded (CLIENT_CACHE_MAX entries in all); past
 * that, answers are still returned but not remembered.
 */
#include "sr_client.h"

#include <event2/http.h>
#include <jansson.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "mw_hash.h"
#include "mw_http.h"
#include "mw_time.h"
#include "sr_proto.h"

#define CLIENT_CACHE_MAX 100000
#define CLIENT_REF_DEPTH 16
#define CLIENT_DEFAULT_TTL_MS 30000

/* The calling thread's last registry error_code (see the header). */
static _Thread_local int last_error_code;

/* One cache entry; the caches share one table keyed by a string ("id:N",
 * "s:subject\nnormalised", "l:subject"), the key living in the entry. */
typedef struct entry {
    char *key;
    uint32_t id;
    int version;
    av_schema_t *schema; /* kept, or NULL */
    int64_t expires_ms;  /* latest cache only */
} entry_t;

struct sr_client {
    pthread_mutex_t lock; /* held by every public call */
    mw_http_conn_t *conn;
    char *url;
    int latest_ttl_ms;
    mw_htab_t *cache;    /* key -> entry_t, at most CLIENT_CACHE_MAX */
    char *authorization; /* "Basic ..." or NULL (sr_client_set_user_info) */
};

/* ------------------------------------------------------------ caches */

static entry_t *cache_get(sr_client_t *client, const char *key)
{
    return mw_htab_get_str(client->cache, key);
}

/* Inserts or replaces key; schema is kept.  Silently skipped when full or
 * out of memory: a cache miss later is the only cost. */
static void cache_put(sr_client_t *client, const char *key, uint32_t id,
                      int version, av_schema_t *schema, int64_t expires_ms)
{
    entry_t *e = cache_get(client, key);
    if (!e) {
        e = calloc(1, sizeof(*e));
        if (!e || !(e->key = strdup(key)) ||
            mw_htab_put_str(client->cache, e->key, e, NULL) != 0) {
            if (e)
                free(e->key);
            free(e);
            return;
        }
    }
    av_schema_release(e->schema);
    e->schema = schema ? av_schema_keep(schema) : NULL;
    e->id = id;
    e->version = version;
    e->expires_ms = expires_ms;
}

static void cache_clear(sr_client_t *client)
{
    size_t pos = 0;
    void *val;

    while (mw_htab_next(client->cache, &pos, NULL, NULL, &val)) {
        entry_t *e = val;
        av_schema_release(e->schema);
        free(e->key);
        free(e);
    }
    mw_htab_clear(client->cache);
}

/* ------------------------------------------------------------ requests */

/* Maps a registry answer >= 400 to our code, keeping error_code. */
static int answer_error(const char *what, const mw_http_response_t *reply,
                        mw_err_t *err)
{
    json_t *body = reply->body ? json_loads(reply->body, 0, NULL) : NULL;
    json_t *jc = json_object_get(body, "error_code");
    const char *msg = json_string_value(json_object_get(body, "message"));
    int code =
        json_is_integer(jc) ? (int)json_integer_value(jc) : reply->status;
    int status = reply->status, mw;
    last_error_code = code;
    if (status == 404)
        mw = MW_ERR_NOT_FOUND;
    else if (status == 401 || status == 403)
        mw = MW_ERR_FATAL;
    else if (status >= 500)
        mw = MW_ERR_TRANSPORT;
    else
        mw = MW_ERR_INVALID;
    mw_err_set(err, mw, "%s: registry answered %d (%s): %s", what, code,
               sr_proto_code_name(code), msg ? msg : "no message");
    json_decref(body);
    return mw;
}

/* A random number for the back-off's jitter (rand_r on a per-thread seed,
 * so clients in one process do not share a sequence). */
static unsigned backoff_rand(void)
{
    static _Thread_local unsigned seed;

    if (!seed)
        seed = (unsigned)mw_time_mono_ns() ^ (unsigned)(uintptr_t)&seed;
    return (unsigned)rand_r(&seed);
}

/* Sleeps before retry number attempt (0 first): a random delay in
 * [w/2, w], w = SR_CLIENT_BACKOFF_MIN_MS doubling per attempt up to
 * SR_CLIENT_BACKOFF_MAX_MS, so clients refused together (a registry's 503
 * under a storm) come back spread out rather than in step; never past
 * deadline_ms (mw_time_mono_ms).  False when the deadline leaves no time
 * for another attempt. */
static bool backoff(int attempt, int64_t deadline_ms)
{
    long w = SR_CLIENT_BACKOFF_MIN_MS << (attempt < 16 ? attempt : 16);
    long ms;
    int64_t left = deadline_ms - mw_time_mono_ms();
    struct timespec ts;

    if (w > SR_CLIENT_BACKOFF_MAX_MS)
        w = SR_CLIENT_BACKOFF_MAX_MS;
    ms = w / 2 + (long)(backoff_rand() % (unsigned)(w / 2 + 1));
    if (left <= 0)
        return false;
    if (ms > left)
        ms = (long)left;
    ts.tv_sec = ms / 1000;
    ts.tv_nsec = (ms % 1000) * 1000000L;
    nanosleep(&ts, NULL);
    return true;
}

/* Answers worth another attempt: the registry overloaded or failing
 * (5xx, 503 past a listener's bound included) or asking us to slow down
 * (429). */
static bool transient_status(int status)
{
    return status >= 500 || status == 429;
}

/* One request with retries; *out is the parsed 2xx JSON answer. */
static int request(sr_client_t *client, const char *method, const char *path,
                   const json_t *body, json_t **out, mw_err_t *err)
{
    char what[512];
    char *text = body ? json_dumps(body, JSON_COMPACT) : NULL;
    mw_http_response_t reply = {0};
    const mw_http_request_t rq = {.method = method,
                                  .path = path,
                                  .accept =
                                      SR_PROTO_CT_V1 ", " SR_PROTO_CT_JSON,
                                  .content_type = text ? SR_PROTO_CT_V1 : NULL,
                                  .body = text,
                                  .len = text ? strlen(text) : 0,
                                  .authorization = client->authorization};
    int rc = 0;
    snprintf(what, sizeof(what), "%s %s%s", method, client->url, path);
    *out = NULL;
    if (body && !text)
        return mw_err_set(err, MW_ERR_NOMEM, "%s: out of memory", what);
    int64_t deadline_ms = mw_time_mono_ms() + SR_CLIENT_RETRY_DEADLINE_MS;
    for (int attempt = 0; attempt <= SR_CLIENT_RETRIES; attempt++) {
        if (attempt > 0 && !backoff(attempt - 1, deadline_ms))
            break;
        mw_http_response_clear(&reply);
        rc = mw_http_conn_call(client->conn, &rq, &reply, err);
        if (rc == MW_ERR_TRANSPORT || rc == MW_ERR_TIMEOUT)
            continue;
        if (rc == 0 && transient_status(reply.status))
            rc = answer_error(what, &reply, err);
        else
            break;
    }
    if (rc == 0 && reply.status >= 300) {
        rc = answer_error(what, &reply, err);
    } else if (rc == 0) {
        json_error_t jerr;
        *out = json_loads(reply.body ? reply.body : "", JSON_DECODE_ANY, &jerr);
        if (!*out)
            rc = mw_err_set(err, MW_ERR_INVALID,
                            "%s: answer is not JSON: "
                            "%s",
                            what, jerr.text);
    }
    mw_http_response_clear(&reply);
    free(text);
    return rc;
}

/* "/subjects/<encoded subject><suffix>" */
static char *subject_path(const char *subject, const char *suffix)
{
    char *enc = evhttp_uriencode(subject, -1, 0), *path = NULL;
    if (enc && asprintf(&path, "/subjects/%s%s", enc, suffix) < 0)
        path = NULL;
    free(enc);
    return path;
}

/* ------------------------------------------------------------ public */

sr_client_t *sr_client_new(const char *url, int timeout_ms, mw_err_t *err)
{
    sr_client_t *client = calloc(1, sizeof(*client));
    if (!client) {
        mw_err_set(err, MW_ERR_NOMEM, "out of memory");
        return NULL;
    }
    if (!url || timeout_ms <= 0) {
        mw_err_set(err, MW_ERR_INVALID,
                   "registry client needs a URL and a "
                   "positive timeout");
        free(client);
        return NULL;
    }
    client->conn = mw_http_conn_new(url, timeout_ms, err);
    client->url = strdup(url);
    size_t n = client->url ? strlen(client->url) : 0;
    while (n > 0 && client->url[n - 1] == '/')
        client->url[--n] = '\0';
    client->cache = mw_htab_new(CLIENT_CACHE_MAX);
    if (!client->conn || !client->url || !client->cache) {
        if (client->conn)
            mw_err_set(err, MW_ERR_NOMEM, "out of memory");
        mw_http_conn_destroy(client->conn);
        mw_htab_destroy(client->cache);
        free(client->url);
        free(client);
        return NULL;
    }
    client->latest_ttl_ms = CLIENT_DEFAULT_TTL_MS;
    pthread_mutex_init(&client->lock, NULL);
    return client;
}

void sr_client_destroy(sr_client_t *client)
{
    if (!client)
        return;
    cache_clear(client);
    mw_htab_destroy(client->cache);
    mw_http_conn_destroy(client->conn);
    pthread_mutex_destroy(&client->lock);
    free(client->url);
    free(client->authorization);
    free(client);
}

void sr_client_set_latest_ttl_ms(sr_client_t *client, int ttl_ms)
{
    pthread_mutex_lock(&client->lock);
    client->latest_ttl_ms = ttl_ms < 0 ? 0 : ttl_ms;
    pthread_mutex_unlock(&client->lock);
}

int sr_client_last_error_code(void)
{
    return last_error_code;
}

/* ------------------------------------------------------------ schemas */

static av_schema_t *parse_answer(sr_client_t *client, const json_t *obj,
                                 int depth, mw_err_t *err);

static av_schema_t *cached_id(sr_client_t *client, uint32_t id)
{
    char key[32];
    snprintf(key, sizeof(key), "id:%u", id);
    entry_t *e = cache_get(client, key);
    return e && e->schema ? av_schema_keep(e->schema) : NULL;
}

static void remember_id(sr_client_t *client, uint32_t id, av_schema_t *sch)
{
    char key[32];
    snprintf(key, sizeof(key), "id:%u", id);
    if (!cache_get(client, key))
        cache_put(client, key, id, 0, sch, 0);
}

/* The schema of one reference: /subjects/{subject}/versions/{version}. */
static av_schema_t *fetch_ref(sr_client_t *client, const json_t *ref, int depth,
                              mw_err_t *err)
{
    const char *subject = json_string_value(json_object_get(ref, "subject"));
    json_t *jv = json_object_get(ref, "version");
    char suffix[48];
    if (!subject || !json_is_integer(jv)) {
        mw_err_set(err, MW_ERR_INVALID,
                   "schema reference without subject "
                   "and version");
        return NULL;
    }
    snprintf(suffix, sizeof(suffix), "/versions/%lld",
             (long long)json_integer_value(jv));
    char *path = subject_path(subject, suffix);
    json_t *ans = NULL;
    av_schema_t *sch = NULL;
    if (!path)
        mw_err_set(err, MW_ERR_NOMEM, "out of memory");
    else if (request(client, "GET", path, NULL, &ans, err) == 0)
        sch = parse_answer(client, ans, depth + 1, err);
    json_decref(ans);
    free(path);
    return sch;
}

/* Parses {"schema": text, "schemaType"?, "references"?, "id"?} with its
 * references resolved first (bounded depth: a reference cycle fails). */
static av_schema_t *parse_answer(sr_client_t *client, const json_t *obj,
                                 int depth, mw_err_t *err)
{
    const char *text = json_string_value(json_object_get(obj, "schema"));
    const char *type = json_string_value(json_object_get(obj, "schemaType"));
    const json_t *refs = json_object_get(obj, "references");
    size_t n = json_array_size(refs);
    json_t *jid = json_object_get(obj, "id");
    if (jid && json_is_integer(jid)) {
        av_schema_t *hit = cached_id(client, (uint32_t)json_integer_value(jid));
        if (hit)
            return hit;
    }
    if (!text || depth > CLIENT_REF_DEPTH || (type && strcmp(type, "AVRO"))) {
        mw_err_set(err,
                   type && strcmp(type, "AVRO") ? MW_ERR_UNSUPPORTED
                                                : MW_ERR_INVALID,
                   "registry answer: %s",
                   !text                      ? "no schema text"
                   : depth > CLIENT_REF_DEPTH ? "references nested too deep"
                                              : "schema type is not AVRO");
        return NULL;
    }
    av_schema_t **deps = calloc(n ? n : 1, sizeof(*deps));
    av_schema_t *sch = NULL;
    size_t got = 0;
    while (
        deps && got < n &&
        (deps[got] = fetch_ref(client, json_array_get(refs, got), depth, err)))
        got++;
    if (deps && got == n)
        sch = av_schema_parse(text, strlen(text), deps, n, err);
    if (!deps)
        mw_err_set(err, MW_ERR_NOMEM, "out of memory");
    while (got > 0)
        av_schema_release(deps[--got]);
    free(deps);
    if (sch && jid && json_is_integer(jid))
        remember_id(client, (uint32_t)json_integer_value(jid), sch);
    return sch;
}

av_schema_t *sr_client_get_schema_by_id(sr_client_t *client, uint32_t id,
                                        mw_err_t *err)
{
    char path[48];
    json_t *ans = NULL;
    pthread_mutex_lock(&client->lock);
    last_error_code = 0;
    av_schema_t *sch = cached_id(client, id);
    snprintf(path, sizeof(path), "/schemas/ids/%u", id);
    if (!sch && request(client, "GET", path, NULL, &ans, err) == 0) {
        sch = parse_answer(client, ans, 0, err);
        if (sch)
            remember_id(client, id, sch);
        else
            mw_err_prefix(err, "schema id %u", id);
    }
    json_decref(ans);
    pthread_mutex_unlock(&client->lock);
    return sch;
}

/* ------------------------------------------------------------ subjects */

/* "<prefix>subject\n<normalised text>" (the raw text when it does not
 * parse locally, e.g. it needs references); *parsed gets the schema. */
static char *schema_key(const char *prefix, const char *subject,
                        const char *text, av_schema_t **parsed)
{
    char *key = NULL;
    *parsed = av_schema_parse(text, strlen(text), NULL, 0, NULL);
    const char *norm = *parsed ? av_schema_normalized(*parsed) : text;
    if (asprintf(&key, "%s%s\n%s", prefix, subject, norm) < 0)
        key = NULL;
    return key;
}

static int post_schema(sr_client_t *client, const char *path, const char *text,
                       json_t **ans, mw_err_t *err)
{
    json_t *body = json_pack("{s:s}", "schema", text);
    if (!body)
        return mw_err_set(err, MW_ERR_INVALID,
                          "schema text is not valid "
                          "UTF-8");
    int rc = request(client, "POST", path, body, ans, err);
    json_decref(body);
    return rc;
}

/* A register (registering = 1) or lookup (0) of text under subject. */
typedef struct subject_req {
    const char *subject;
    const char *text;
    int registering;
} subject_req_t;

static int subject_schema(sr_client_t *client, const subject_req_t *req,
                          uint32_t *id, int *version, mw_err_t *err)
{
    const char *subject = req->subject, *text = req->text;
    int registering = req->registering;
    av_schema_t *parsed = NULL;
    json_t *ans = NULL;
    char *key = schema_key("s:", subject, text, &parsed);
    char *path = subject_path(subject, registering ? "/versions" : "");
    entry_t *e = key ? cache_get(client, key) : NULL;
    int rc = 0;
    if (!key || !path) {
        rc = mw_err_set(err, MW_ERR_NOMEM, "out of memory");
    } else if (!e || (version && e->version == 0)) {
        rc = post_schema(client, path, text, &ans, err);
        json_t *jid = json_object_get(ans, "id");
        json_t *jv = json_object_get(ans, "version");
        if (rc == 0 && !json_is_integer(jid))
            rc = mw_err_set(err, MW_ERR_INVALID,
                            "POST %s: answer without "
                            "an id",
                            path);
        if (rc == 0) {
            cache_put(client, key, (uint32_t)json_integer_value(jid),
                      json_is_integer(jv) ? (int)json_integer_value(jv) : 0,
                      NULL, 0);
            if (parsed)
                remember_id(client, (uint32_t)json_integer_value(jid), parsed);
            e = cache_get(client, key);
        }
    }
    if (rc == 0 && e) {
        if (id)
            *id = e->id;
        if (version)
            *version = e->version;
    }
    if (rc != 0)
        mw_err_prefix(err, "subject %s", subject);
    json_decref(ans);
    av_schema_release(parsed);
    free(path);
    free(key);
    return rc;
}

int sr_client_register(sr_client_t *client, const char *subject,
                       const char *schema_text, uint32_t *id, mw_err_t *err)
{
    pthread_mutex_lock(&client->lock);
    last_error_code = 0;
    const subject_req_t req = {subject, schema_text, 1};
    int rc = subject_schema(client, &req, id, NULL, err);
    pthread_mutex_unlock(&client->lock);
    return rc;
}

int sr_client_lookup(sr_client_t *client, const char *subject,
                     const char *schema_text, uint32_t *id, int *version,
                     mw_err_t *err)
{
    int v = 0;
    const subject_req_t req = {subject, schema_text, 0};
    pthread_mutex_lock(&client->lock);
    last_error_code = 0;
    int rc = subject_schema(client, &req, id, &v, err);
    pthread_mutex_unlock(&client->lock);
    if (rc == 0 && version)
        *version = v;
    return rc;
}

static int fill_version(sr_client_t *client, const char *subject,
                        const entry_t *e, sr_client_version_t *out,
                        mw_err_t *err)
{
    out->subject = strdup(subject);
    if (!out->subject)
        return mw_err_set(err, MW_ERR_NOMEM, "out of memory");
    (void)client;
    out->version = e->version;
    out->id = e->id;
    out->schema = av_schema_keep(e->schema);
    return 0;
}

/* GET /subjects/{subject}/versions/{v}; cached under key until
 * expires_ms (0 = for good: a version's schema never changes). */
typedef struct fetch_req {
    const char *subject;
    const char *v;
    const char *key;
    int64_t expires_ms;
} fetch_req_t;

static int fetch_version(sr_client_t *client, const fetch_req_t *req,
                         sr_client_version_t *out, mw_err_t *err)
{
    const char *subject = req->subject, *v = req->v, *key = req->key;
    int64_t expires_ms = req->expires_ms;
    char suffix[48];
    json_t *ans = NULL;
    snprintf(suffix, sizeof(suffix), "/versions/%s", v);
    char *path = subject_path(subject, suffix);
    int rc = path ? request(client, "GET", path, NULL, &ans, err)
                  : mw_err_set(err, MW_ERR_NOMEM, "out of memory");
    json_t *jid = json_object_get(ans, "id");
    json_t *jv = json_object_get(ans, "version");
    if (rc == 0 && (!json_is_integer(jid) || !json_is_integer(jv)))
        rc = mw_err_set(err, MW_ERR_INVALID,
                        "GET %s: answer without id or "
                        "version",
                        path);
    av_schema_t *sch = rc == 0 ? parse_answer(client, ans, 0, err) : NULL;
    if (rc == 0 && !sch)
        rc = err ? err->code : MW_ERR_INVALID;
    if (rc == 0) {
        uint32_t id = (uint32_t)json_integer_value(jid);
        remember_id(client, id, sch);
        cache_put(client, key, id, (int)json_integer_value(jv), sch,
                  expires_ms);
        rc = fill_version(client, subject, cache_get(client, key), out, err);
    }
    if (rc != 0)
        mw_err_prefix(err, "subject %s version %s", subject, v);
    av_schema_release(sch);
    json_decref(ans);
    free(path);
    return rc;
}

int sr_client_get_version(sr_client_t *client, const char *subject, int version,
                          sr_client_version_t *out, mw_err_t *err)
{
    char *key = NULL, v[16];
    memset(out, 0, sizeof(*out));
    if (version != SR_CLIENT_VERSION_LATEST && version < 1)
        return mw_err_set(err, MW_ERR_INVALID, "subject %s: bad version %d",
                          subject, version);
    int latest = version == SR_CLIENT_VERSION_LATEST;
    if ((latest ? asprintf(&key, "l:%s", subject)
                : asprintf(&key, "v:%s\n%d", subject, version)) < 0)
        return mw_err_set(err, MW_ERR_NOMEM, "out of memory");
    snprintf(v, sizeof(v), latest ? "latest" : "%d", version);
    pthread_mutex_lock(&client->lock);
    last_error_code = 0;
    int64_t now = mw_time_mono_ms();
    entry_t *e = cache_get(client, key);
    int rc;
    if (e && e->schema && (!latest || now < e->expires_ms))
        rc = fill_version(client, subject, e, out, err);
    else {
        const fetch_req_t req = {subject, v, key,
                                 latest ? now + client->latest_ttl_ms : 0};
        rc = fetch_version(client, &req, out, err);
    }
    pthread_mutex_unlock(&client->lock);
    free(key);
    return rc;
}

int sr_client_get_latest(sr_client_t *client, const char *subject,
                         sr_client_version_t *out, mw_err_t *err)
{
    return sr_client_get_version(client, subject, SR_CLIENT_VERSION_LATEST, out,
                                 err);
}

void sr_client_version_clear(sr_client_version_t *ver)
{
    if (!ver)
        return;
    free(ver->subject);
    av_schema_release(ver->schema);
    memset(ver, 0, sizeof(*ver));
}

int sr_client_check_compat(sr_client_t *client, const char *subject,
                           int version, const char *schema_text,
                           int *compatible, mw_err_t *err)
{
    char suffix[48], *path = NULL, *enc = evhttp_uriencode(subject, -1, 0);
    json_t *ans = NULL;
    if (version == SR_CLIENT_VERSION_LATEST)
        snprintf(suffix, sizeof(suffix), "latest");
    else
        snprintf(suffix, sizeof(suffix), "%d", version);
    if (enc && asprintf(&path, "/compatibility/subjects/%s/versions/%s", enc,
                        suffix) < 0)
        path = NULL;
    free(enc);
    if (!path)
        return mw_err_set(err, MW_ERR_NOMEM, "out of memory");
    pthread_mutex_lock(&client->lock);
    last_error_code = 0;
    int rc = post_schema(client, path, schema_text, &ans, err);
    pthread_mutex_unlock(&client->lock);
    json_t *jc = json_object_get(ans, "is_compatible");
    if (rc == 0 && !json_is_boolean(jc))
        rc = mw_err_set(err, MW_ERR_INVALID,
                        "POST %s: answer without "
                        "is_compatible",
                        path);
    if (rc == 0 && compatible)
        *compatible = json_is_true(jc);
    json_decref(ans);
    free(path);
    return rc;
}

/* ------------------------------------------------------------ admin */

int sr_client_call(sr_client_t *client, const char *method, const char *path,
                   const json_t *body, json_t **out, mw_err_t *err)
{
    json_t *ans = NULL;
    int rc;

    pthread_mutex_lock(&client->lock);
    last_error_code = 0;
    rc = request(client, method, path, body, &ans, err);
    pthread_mutex_unlock(&client->lock);
    if (out)
        *out = ans;
    else
        json_decref(ans);
    return rc;
}

char *sr_client_encode(const char *s)
{
    return evhttp_uriencode(s, -1, 0);
}

/* "/catalog/products/<domain>/<name>" plus suffix, encoded. */
static char *catalog_path(const char *domain, const char *name,
                          const char *suffix)
{
    char *d = evhttp_uriencode(domain, -1, 0),
         *n = evhttp_uriencode(name, -1, 0);
    char *path = NULL;

    if (d && n &&
        asprintf(&path, "/catalog/products/%s/%s%s", d, n, suffix) < 0)
        path = NULL;
    free(d);
    free(n);
    return path;
}

int sr_client_catalog_get(sr_client_t *client, const char *domain,
                          const char *name, int version, json_t **out,
                          mw_err_t *err)
{
    char suffix[32] = "";
    char *path;
    int rc;

    if (version > 0)
        snprintf(suffix, sizeof(suffix), "?version=%d", version);
    if (!(path = catalog_path(domain, name, suffix)))
        return mw_err_set(err, MW_ERR_NOMEM, "out of memory");
    rc = sr_client_call(client, "GET", path, NULL, out, err);
    free(path);
    return rc;
}

int sr_client_catalog_put(sr_client_t *client, const json_t *entry,
                          mw_err_t *err)
{
    const char *domain = json_string_value(json_object_get(entry, "domain"));
    const char *name = json_string_value(json_object_get(entry, "name"));
    char *path;
    int rc;

    if (!domain || !name)
        return mw_err_set(err, MW_ERR_INVALID,
                          "catalog entry without domain and name");
    if (!(path = catalog_path(domain, name, "")))
        return mw_err_set(err, MW_ERR_NOMEM, "out of memory");
    rc = sr_client_call(client, "PUT", path, entry, NULL, err);
    free(path);
    return rc;
}

int sr_client_basic_auth(const char *user_info, char **out, mw_err_t *err)
{
    static const char abc[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    size_t len = user_info ? strlen(user_info) : 0, o = 6;
    char *hdr;

    *out = NULL;
    if (!user_info || !strchr(user_info, ':'))
        return mw_err_set(err, MW_ERR_INVALID,
                          "basic auth user info must be USER:PASSWORD");
    /* "Basic " and the base64 of user_info (RFC 7617) */
    if (!(hdr = malloc(6 + (len + 2) / 3 * 4 + 1)))
        return mw_err_set(err, MW_ERR_NOMEM, "out of memory");
    memcpy(hdr, "Basic ", 6);
    for (size_t i = 0; i < len; i += 3) {
        unsigned v = (unsigned)(unsigned char)user_info[i] << 16;
        if (i + 1 < len)
            v |= (unsigned)(unsigned char)user_info[i + 1] << 8;
        if (i + 2 < len)
            v |= (unsigned char)user_info[i + 2];
        hdr[o++] = abc[(v >> 18) & 63];
        hdr[o++] = abc[(v >> 12) & 63];
        hdr[o++] = i + 1 < len ? abc[(v >> 6) & 63] : '=';
        hdr[o++] = i + 2 < len ? abc[v & 63] : '=';
    }
    hdr[o] = '\0';
    *out = hdr;
    return 0;
}

int sr_client_set_user_info(sr_client_t *client, const char *user_info,
                            mw_err_t *err)
{
    char *hdr = NULL;

    if (user_info && sr_client_basic_auth(user_info, &hdr, err) != 0)
        return err ? err->code : MW_ERR_INVALID;
    pthread_mutex_lock(&client->lock);
    free(client->authorization);
    client->authorization = hdr;
    pthread_mutex_unlock(&client->lock);
    return 0;
}

int sr_client_set_ca(sr_client_t *client, const char *ca_file, mw_err_t *err)
{
    int rc;

    pthread_mutex_lock(&client->lock);
    rc = mw_http_conn_set_ca(client->conn, ca_file, err);
    pthread_mutex_unlock(&client->lock);
    return rc;
}

sr_client_t *sr_client_from_conf(const mw_conf_t *conf, int timeout_ms,
                                 mw_err_t *err)
{
    const char *url = mw_conf_get_str(conf, "registry.url");
    const char *user = mw_conf_get_str(conf, "registry.basic.auth.user.info");
    const char *ca = mw_conf_get_str(conf, "registry.ssl.ca.location");
    sr_client_t *client = sr_client_new(url ? url : "", timeout_ms, err);

    if (!client) {
        if (err)
            err->code = MW_ERR_CONFIG;
        mw_err_prefix(err, "key 'registry.url'");
        return NULL;
    }
    if (user && *user && sr_client_set_user_info(client, user, err) != 0) {
        err->code = MW_ERR_CONFIG;
        mw_err_prefix(err, "key 'registry.basic.auth.user.info'");
        sr_client_destroy(client);
        return NULL;
    }
    if (ca && *ca && sr_client_set_ca(client, ca, err) != 0) {
        err->code = MW_ERR_CONFIG;
        mw_err_prefix(err, "key 'registry.ssl.ca.location'");
        sr_client_destroy(client);
        return NULL;
    }
    return client;
}
