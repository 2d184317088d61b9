/*
 * sr_client: a client of a Confluent-compatible schema registry
 * (mesh-registry, Confluent, Karapace), used by producers, consumers and
 * meshctl to turn schema ids into parsed schemas and schemas into ids.
 *
 * Calls are blocking HTTP/1.1 on one keep-alive connection per client, run
 * on a private event_base (never the caller's loop).  Three caches sit in
 * front of the registry:
 *   - id -> parsed schema (ids are immutable: kept forever, bounded);
 *   - (subject, normalised schema) -> id, filled by register and lookup;
 *   - subject -> latest version, trusted for latest_ttl_ms (default 30 s).
 * Transient failures (connection refused or reset, timeouts, 5xx and 429
 * answers) are retried up to SR_CLIENT_RETRIES times after a jittered
 * exponential back-off (a random delay in [w/2, w], w from
 * SR_CLIENT_BACKOFF_MIN_MS doubling to SR_CLIENT_BACKOFF_MAX_MS), all
 * attempts of one call within SR_CLIENT_RETRY_DEADLINE_MS of its first
 * (plus the last attempt's own timeout); other 4xx answers are not
 * retried.  A client keeps one keep-alive connection, whatever the number
 * of threads using it: its calls are serialised.
 *
 * Errors: MW_ERR_NOT_FOUND (404xx), MW_ERR_INVALID (409 incompatible,
 * 422xx), MW_ERR_FATAL (401/403), MW_ERR_TRANSPORT / MW_ERR_TIMEOUT (after
 * the retries); the message carries the registry's error_code and text,
 * and sr_client_last_error_code() returns the code itself.
 *
 * Threads: every call may come from any thread; a client is internally
 * locked, so calls on one client run one at a time (a cache hit takes the
 * lock only briefly).  Use one client per thread for parallel misses.
 */
#ifndef SR_CLIENT_H
#define SR_CLIENT_H

#include <stdint.h>

#include <jansson.h>

#include "mw_conf.h"
#include "mw_err.h"
#include "av_schema.h"

#define SR_CLIENT_RETRIES 5
#define SR_CLIENT_BACKOFF_MIN_MS 50
#define SR_CLIENT_BACKOFF_MAX_MS 1000
#define SR_CLIENT_RETRY_DEADLINE_MS 10000
#define SR_CLIENT_VERSION_LATEST (-1)

typedef struct sr_client sr_client_t;

/* One subject version as the registry returns it. */
typedef struct sr_client_version {
    char *subject; /* malloc'd */
    int version;
    uint32_t id;
    av_schema_t *schema; /* kept; released by sr_client_version_clear */
} sr_client_version_t;

/* New client for url ("http://host:port", a trailing '/' or path prefix
 * allowed); timeout_ms bounds each attempt.  Does not connect yet.  NULL
 * with MW_ERR_INVALID for a bad URL or timeout. */
sr_client_t *sr_client_new(const char *url, int timeout_ms, mw_err_t *err);
void sr_client_destroy(sr_client_t *client);

/* How long get_latest trusts its cache (0 = always ask). */
void sr_client_set_latest_ttl_ms(sr_client_t *client, int ttl_ms);

/* The schema with this global id, fetched once then cached; its schema
 * references are fetched and parsed too.  Returns a kept reference
 * (av_schema_release it) or NULL (MW_ERR_NOT_FOUND for 40403). */
av_schema_t *sr_client_get_schema_by_id(sr_client_t *client, uint32_t id,
                                        mw_err_t *err);

/* Registers schema_text (Avro) under subject; *id is its global id (the
 * existing one when already registered).  Cached per (subject, normalised
 * text), so a producer calling this per message asks the registry once. */
int sr_client_register(sr_client_t *client, const char *subject,
                       const char *schema_text, uint32_t *id, mw_err_t *err);

/* Finds schema_text under subject without registering: *id and *version
 * (either may be NULL).  MW_ERR_NOT_FOUND when absent. */
int sr_client_lookup(sr_client_t *client, const char *subject,
                     const char *schema_text, uint32_t *id, int *version,
                     mw_err_t *err);

/* The subject's latest version (cached for the TTL), or a given version
 * (1..2^31-1, or SR_CLIENT_VERSION_LATEST).  out is filled on success and
 * must be cleared with sr_client_version_clear. */
int sr_client_get_latest(sr_client_t *client, const char *subject,
                         sr_client_version_t *out, mw_err_t *err);
int sr_client_get_version(sr_client_t *client, const char *subject, int version,
                          sr_client_version_t *out, mw_err_t *err);
void sr_client_version_clear(sr_client_version_t *ver);

/* Asks whether schema_text is compatible with the subject's version
 * (SR_CLIENT_VERSION_LATEST for the latest): *compatible = 1 or 0. */
int sr_client_check_compat(sr_client_t *client, const char *subject,
                           int version, const char *schema_text,
                           int *compatible, mw_err_t *err);

/* One call of the registry's REST API that has no typed function above
 * (the admin calls of meshctl: subjects, versions, config, mode, deletes,
 * verbose compatibility).  path starts with '/' and is already encoded
 * (sr_client_encode for a path segment); body (borrowed, may be NULL) is
 * sent as JSON.  *out gets the parsed 2xx answer (a new reference, any
 * JSON value).  Retries and errors as everywhere in the client. */
int sr_client_call(sr_client_t *client, const char *method, const char *path,
                   const json_t *body, json_t **out, mw_err_t *err);

/* s encoded as one URL path segment ('/' included); malloc'd, NULL on
 * ENOMEM. */
char *sr_client_encode(const char *s);

/* The catalog entry of domain/name (version 0: its highest major version)
 * as GET /catalog/products/{d}/{n} answers it: *out a new reference, or
 * MW_ERR_NOT_FOUND when the catalog has none. */
int sr_client_catalog_get(sr_client_t *client, const char *domain,
                          const char *name, int version, json_t **out,
                          mw_err_t *err);

/* Records entry (borrowed; its "domain", "name" and "version" say where)
 * with PUT /catalog/products/{d}/{n}. */
int sr_client_catalog_put(sr_client_t *client, const json_t *entry,
                          mw_err_t *err);

/* Sends HTTP Basic credentials on every later call: user_info is
 * "USER:PASSWORD" (Confluent's basic.auth.user.info with
 * basic.auth.credentials.source=USER_INFO); NULL stops sending them.
 * 0 or MW_ERR_INVALID (no ':') / MW_ERR_NOMEM. */
int sr_client_set_user_info(sr_client_t *client, const char *user_info,
                            mw_err_t *err);

/* Verifies an https:// registry against the PEM CA certificates of
 * ca_file too (Confluent's schema.registry.ssl.ca.location).  0, or
 * MW_ERR_CONFIG / MW_ERR_INVALID (an http:// URL). */
int sr_client_set_ca(sr_client_t *client, const char *ca_file, mw_err_t *err);

/* The Authorization header value for user_info ("USER:PASSWORD"):
 * "Basic <base64>" (RFC 7617), malloc'd into *out.  For programs that
 * call the registry through mw_http directly (the materializer's catalog
 * reports).  0, MW_ERR_INVALID (no ':'), MW_ERR_NOMEM. */
int sr_client_basic_auth(const char *user_info, char **out, mw_err_t *err);

/* The two keys every program that talks to a secured registry declares,
 * beside registry.url, with Confluent's names: for its key table. */
#define SR_CLIENT_KEY_USER_INFO                                                \
    {                                                                          \
        .name = "registry.basic.auth.user.info", .type = MW_CONF_STR,          \
        .secret = true,                                                        \
        .doc = "USER:PASSWORD sent to the registry with HTTP Basic; "          \
               "Confluent's basic.auth.user.info."                             \
    }
#define SR_CLIENT_KEY_CA                                                       \
    {                                                                          \
        .name = "registry.ssl.ca.location", .type = MW_CONF_STR,               \
        .doc = "PEM CA certificates an https:// registry's certificate is "    \
               "verified against, beside the system's; Confluent's "           \
               "schema.registry.ssl.ca.location."                              \
    }

/* A client for conf's registry.url with its registry.basic.auth.user.info
 * and registry.ssl.ca.location (declared with the macros above).  NULL
 * with MW_ERR_CONFIG naming the key. */
sr_client_t *sr_client_from_conf(const mw_conf_t *conf, int timeout_ms,
                                 mw_err_t *err);

/* The registry error_code (40401, 42201, 409, ...) of the calling thread's
 * last sr_client call, 0 when it succeeded or failed before the registry
 * answered (transport, timeout, bad input). */
int sr_client_last_error_code(void);

#endif /* SR_CLIENT_H */
