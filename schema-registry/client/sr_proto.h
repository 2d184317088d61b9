/*
 * sr_proto: what travels on the wire between a Confluent-compatible schema
 * registry and its clients, shared by mesh-registry (server) and sr_client.
 *
 *  - The table of Confluent `error_code` values: each has its HTTP status
 *    and its message format, so the server answers with Confluent's exact
 *    texts and the client can name a code it received.
 *  - Compatibility levels and modes, with their wire spellings.
 *  - Version parsing ("latest", -1, 1..2^31-1) and error bodies.
 *
 * Pure functions and static tables: any thread.
 */
#ifndef SR_PROTO_H
#define SR_PROTO_H

#include <stdarg.h>
#include <stddef.h>

#include "mw_err.h"

/* Media types a Confluent registry consumes and produces, preferred first. */
#define SR_PROTO_CT_V1 "application/vnd.schemaregistry.v1+json"
#define SR_PROTO_CT_ANY "application/vnd.schemaregistry+json"
#define SR_PROTO_CT_JSON "application/json"

/* Confluent error codes (io.confluent.kafka.schemaregistry.rest.exceptions.
 * Errors) plus the plain HTTP ones its REST layer answers with. */
typedef enum sr_proto_code {
    SR_PROTO_E_BAD_REQUEST = 400,    /* unparseable JSON body */
    SR_PROTO_E_UNAUTHORIZED = 401,   /* no or bad credentials */
    SR_PROTO_E_FORBIDDEN = 403,      /* the principal lacks the role */
    SR_PROTO_E_NOT_FOUND = 404,      /* unknown route */
    SR_PROTO_E_METHOD = 405,         /* wrong method for the route */
    SR_PROTO_E_NOT_ACCEPTABLE = 406, /* Accept has none of our types */
    SR_PROTO_E_INCOMPATIBLE = 409,   /* schema incompatible (HTTP 409) */
    SR_PROTO_E_TOO_LARGE = 413,      /* body over request.max.bytes */
    SR_PROTO_E_MEDIA_TYPE = 415,     /* unsupported Content-Type */
    SR_PROTO_E_UNPROCESSABLE = 422,  /* JSON of the wrong shape */
    SR_PROTO_E_INTERNAL = 500,
    SR_PROTO_E_SUBJECT_NOT_FOUND = 40401,
    SR_PROTO_E_VERSION_NOT_FOUND = 40402,
    SR_PROTO_E_SCHEMA_NOT_FOUND = 40403,
    SR_PROTO_E_SUBJECT_SOFT_DELETED = 40404,
    SR_PROTO_E_SUBJECT_NOT_SOFT_DELETED = 40405,
    SR_PROTO_E_VERSION_SOFT_DELETED = 40406,
    SR_PROTO_E_VERSION_NOT_SOFT_DELETED = 40407,
    SR_PROTO_E_COMPAT_NOT_CONFIGURED = 40408,
    SR_PROTO_E_MODE_NOT_CONFIGURED = 40409,
    SR_PROTO_E_INVALID_SCHEMA = 42201,
    SR_PROTO_E_INVALID_VERSION = 42202,
    SR_PROTO_E_INVALID_COMPAT = 42203,
    SR_PROTO_E_INVALID_MODE = 42204,
    SR_PROTO_E_NOT_PERMITTED = 42205,
    SR_PROTO_E_REFERENCE_EXISTS = 42206,
    SR_PROTO_E_ID_MISMATCH = 42207,
    SR_PROTO_E_INVALID_SUBJECT = 42208,
    SR_PROTO_E_SCHEMA_TOO_LARGE = 42209,
    /* Meshwork's own, in Confluent's 422xx style past its range: a
     * schema or a catalog entry breaks an error-level governance policy
     * (docs/GOVERNANCE.md). */
    SR_PROTO_E_POLICY = 42280,
    SR_PROTO_E_STORE = 50001,
    SR_PROTO_E_TIMEOUT = 50002,
    SR_PROTO_E_FORWARDING = 50003
} sr_proto_code_t;

/* HTTP status of a code: the code itself for 3-digit codes, its first three
 * digits for Confluent's 5-digit ones (40401 -> 404). */
int sr_proto_http_status(int code);

/* Confluent's constant name for a code ("SUBJECT_NOT_FOUND"), or
 * "UNKNOWN". */
const char *sr_proto_code_name(int code);

/* Confluent's message template for codes whose text is fixed or takes the
 * subject and/or version ("Subject '{subject}' not found."); NULL for codes
 * whose message is free text (invalid schema, incompatible). */
const char *sr_proto_code_format(int code);

/* Expands code's template into out (size bytes, always NUL-terminated,
 * truncated), {subject} and {version} replaced by the arguments (NULL reads
 * as ""); codes without a template give their constant name. */
void sr_proto_message(int code, char *out, size_t size, const char *subject,
                      const char *version);

/* Compact JSON error body {"error_code":code,"message":msg}, malloc'd
 * (caller frees); NULL on ENOMEM. */
char *sr_proto_error_body(int code, const char *msg);

/* Compatibility levels, in Confluent's order. */
typedef enum sr_proto_compat {
    SR_PROTO_COMPAT_BACKWARD = 0,
    SR_PROTO_COMPAT_BACKWARD_TRANSITIVE,
    SR_PROTO_COMPAT_FORWARD,
    SR_PROTO_COMPAT_FORWARD_TRANSITIVE,
    SR_PROTO_COMPAT_FULL,
    SR_PROTO_COMPAT_FULL_TRANSITIVE,
    SR_PROTO_COMPAT_NONE,
    SR_PROTO_COMPAT__CNT
} sr_proto_compat_t;

/* "BACKWARD", ... */
const char *sr_proto_compat_name(sr_proto_compat_t level);
/* Parses a level name (any case); -1 when unknown. */
int sr_proto_compat_parse(const char *name);
int sr_proto_compat_is_transitive(sr_proto_compat_t level);

typedef enum sr_proto_mode {
    SR_PROTO_MODE_READWRITE = 0,
    SR_PROTO_MODE_READONLY,
    SR_PROTO_MODE_READONLY_OVERRIDE,
    SR_PROTO_MODE_IMPORT,
    SR_PROTO_MODE__CNT
} sr_proto_mode_t;

const char *sr_proto_mode_name(sr_proto_mode_t mode);
/* Parses a mode name (any case); -1 when unknown. */
int sr_proto_mode_parse(const char *name);

/* Version of a path or body: "latest" (any case) and "-1" give
 * SR_PROTO_VERSION_LATEST; a decimal in 1..2^31-1 gives itself; anything
 * else MW_ERR_INVALID (the caller answers 42202 before any existence
 * check). */
#define SR_PROTO_VERSION_LATEST (-1)
int sr_proto_parse_version(const char *text, int *version, mw_err_t *err);

/* Message of 42202 for text, Confluent's wording, into out. */
void sr_proto_invalid_version_msg(char *out, size_t size, const char *text);

#endif /* SR_PROTO_H */
