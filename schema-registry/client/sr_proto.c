/*
 * sr_proto: Confluent Schema Registry wire vocabulary.  One table holds every
 * error code the server may answer, with Confluent's constant name and
 * message text, so server and client agree on them and nothing else in the
 * tree spells an error_code.  The messages copy Confluent's wording
 * (including its missing space in "soft deleted.Set permanent=true"),
 * because tools and tests compare them.
 */
#include "sr_proto.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <jansson.h>

typedef struct sr_proto_entry {
    int code;
    const char *name;
    const char *format; /* NULL: free text given by the caller */
} sr_proto_entry_t;

static const sr_proto_entry_t sr_proto_table[] = {
    {SR_PROTO_E_BAD_REQUEST, "BAD_REQUEST", NULL},
    {SR_PROTO_E_UNAUTHORIZED, "UNAUTHORIZED", NULL},
    {SR_PROTO_E_FORBIDDEN, "FORBIDDEN", NULL},
    {SR_PROTO_E_NOT_FOUND, "HTTP_NOT_FOUND", "HTTP 404 Not Found"},
    {SR_PROTO_E_METHOD, "HTTP_METHOD_NOT_ALLOWED",
     "HTTP 405 Method Not Allowed"},
    {SR_PROTO_E_NOT_ACCEPTABLE, "HTTP_NOT_ACCEPTABLE",
     "HTTP 406 Not Acceptable"},
    {SR_PROTO_E_INCOMPATIBLE, "INCOMPATIBLE_SCHEMA", NULL},
    {SR_PROTO_E_TOO_LARGE, "REQUEST_ENTITY_TOO_LARGE", NULL},
    {SR_PROTO_E_MEDIA_TYPE, "HTTP_UNSUPPORTED_MEDIA_TYPE",
     "HTTP 415 Unsupported Media Type"},
    {SR_PROTO_E_UNPROCESSABLE, "UNPROCESSABLE_ENTITY", NULL},
    {SR_PROTO_E_INTERNAL, "INTERNAL_SERVER_ERROR", NULL},
    {SR_PROTO_E_SUBJECT_NOT_FOUND, "SUBJECT_NOT_FOUND",
     "Subject '{subject}' not found."},
    {SR_PROTO_E_VERSION_NOT_FOUND, "VERSION_NOT_FOUND",
     "Version {version} not found."},
    {SR_PROTO_E_SCHEMA_NOT_FOUND, "SCHEMA_NOT_FOUND", "Schema not found"},
    {SR_PROTO_E_SUBJECT_SOFT_DELETED, "SUBJECT_SOFT_DELETED",
     "Subject '{subject}' was soft deleted.Set permanent=true to delete "
     "permanently"},
    {SR_PROTO_E_SUBJECT_NOT_SOFT_DELETED, "SUBJECT_NOT_SOFT_DELETED",
     "Subject '{subject}' was not deleted first before being permanently "
     "deleted"},
    {SR_PROTO_E_VERSION_SOFT_DELETED, "SCHEMAVERSION_SOFT_DELETED",
     "Subject '{subject}' Version {version} was soft deleted.Set "
     "permanent=true to delete "
     "permanently"},
    {SR_PROTO_E_VERSION_NOT_SOFT_DELETED, "SCHEMAVERSION_NOT_SOFT_DELETED",
     "Subject '{subject}' Version {version} was not deleted first before being "
     "permanently deleted"},
    {SR_PROTO_E_COMPAT_NOT_CONFIGURED,
     "SUBJECT_LEVEL_COMPATIBILITY_NOT_CONFIGURED",
     "Subject '{subject}' does not have subject-level compatibility "
     "configured"},
    {SR_PROTO_E_MODE_NOT_CONFIGURED, "SUBJECT_LEVEL_MODE_NOT_CONFIGURED",
     "Subject '{subject}' does not have subject-level mode configured"},
    {SR_PROTO_E_INVALID_SCHEMA, "INVALID_SCHEMA", NULL},
    {SR_PROTO_E_INVALID_VERSION, "INVALID_VERSION", NULL},
    {SR_PROTO_E_INVALID_COMPAT, "INVALID_COMPATIBILITY_LEVEL",
     "Invalid compatibility level. Valid values are none, backward, "
     "forward, full, backward_transitive, forward_transitive, and "
     "full_transitive"},
    {SR_PROTO_E_INVALID_MODE, "INVALID_MODE", NULL},
    {SR_PROTO_E_NOT_PERMITTED, "OPERATION_NOT_PERMITTED", NULL},
    {SR_PROTO_E_REFERENCE_EXISTS, "REFERENCE_EXISTS", NULL},
    {SR_PROTO_E_ID_MISMATCH, "ID_DOES_NOT_MATCH", NULL},
    {SR_PROTO_E_INVALID_SUBJECT, "INVALID_SUBJECT",
     "The specified subject '{subject}' is not a valid subject"},
    {SR_PROTO_E_SCHEMA_TOO_LARGE, "SCHEMA_TOO_LARGE", NULL},
    {SR_PROTO_E_POLICY, "POLICY_VIOLATION", NULL},
    {SR_PROTO_E_STORE, "STORE_ERROR", NULL},
    {SR_PROTO_E_TIMEOUT, "OPERATION_TIMEOUT", NULL},
    {SR_PROTO_E_FORWARDING, "REQUEST_FORWARDING_FAILED", NULL},
};

#define SR_PROTO_TABLE_CNT (sizeof(sr_proto_table) / sizeof(sr_proto_table[0]))

static const sr_proto_entry_t *sr_proto_find(int code)
{
    for (size_t i = 0; i < SR_PROTO_TABLE_CNT; i++)
        if (sr_proto_table[i].code == code)
            return &sr_proto_table[i];
    return NULL;
}

int sr_proto_http_status(int code)
{
    while (code >= 1000)
        code /= 10;
    return code;
}

const char *sr_proto_code_name(int code)
{
    const sr_proto_entry_t *e = sr_proto_find(code);

    return e ? e->name : "UNKNOWN";
}

const char *sr_proto_code_format(int code)
{
    const sr_proto_entry_t *e = sr_proto_find(code);

    return e ? e->format : NULL;
}

void sr_proto_message(int code, char *out, size_t size, const char *subject,
                      const char *version)
{
    const char *fmt = sr_proto_code_format(code);
    size_t n = 0;

    if (!size)
        return;
    if (!fmt)
        fmt = sr_proto_code_name(code);
    /* Placeholders rather than printf conversions: the formats live in a
     * table, and a non-literal printf format cannot be checked. */
    while (*fmt && n + 1 < size) {
        const char *val = NULL;
        size_t skip = 0;

        if (!strncmp(fmt, "{subject}", 9))
            val = subject ? subject : "", skip = 9;
        else if (!strncmp(fmt, "{version}", 9))
            val = version ? version : "", skip = 9;
        if (!val) {
            out[n++] = *fmt++;
            continue;
        }
        for (; *val && n + 1 < size; val++)
            out[n++] = *val;
        fmt += skip;
    }
    out[n] = '\0';
}

char *sr_proto_error_body(int code, const char *msg)
{
    json_t *obj = json_object();
    char *body = NULL;

    if (!obj)
        return NULL;
    /* Confluent puts error_code first; clients only read the fields, but
     * byte-for-byte equal bodies keep golden-file tests simple. */
    if (json_object_set_new(obj, "error_code", json_integer(code)) == 0 &&
        json_object_set_new(obj, "message", json_string(msg ? msg : "")) == 0)
        body = json_dumps(obj, JSON_COMPACT | JSON_PRESERVE_ORDER);
    json_decref(obj);
    return body;
}

static const char *const sr_proto_compat_names[] = {
    [SR_PROTO_COMPAT_BACKWARD] = "BACKWARD",
    [SR_PROTO_COMPAT_BACKWARD_TRANSITIVE] = "BACKWARD_TRANSITIVE",
    [SR_PROTO_COMPAT_FORWARD] = "FORWARD",
    [SR_PROTO_COMPAT_FORWARD_TRANSITIVE] = "FORWARD_TRANSITIVE",
    [SR_PROTO_COMPAT_FULL] = "FULL",
    [SR_PROTO_COMPAT_FULL_TRANSITIVE] = "FULL_TRANSITIVE",
    [SR_PROTO_COMPAT_NONE] = "NONE",
};
_Static_assert(sizeof(sr_proto_compat_names) /
                       sizeof(sr_proto_compat_names[0]) ==
                   SR_PROTO_COMPAT__CNT,
               "sr_proto_compat_names follows sr_proto_compat_t");

const char *sr_proto_compat_name(sr_proto_compat_t level)
{
    return (unsigned)level < SR_PROTO_COMPAT__CNT ? sr_proto_compat_names[level]
                                                  : "UNKNOWN";
}

int sr_proto_compat_parse(const char *name)
{
    for (int i = 0; name && i < SR_PROTO_COMPAT__CNT; i++)
        if (!strcasecmp(name, sr_proto_compat_names[i]))
            return i;
    return -1;
}

int sr_proto_compat_is_transitive(sr_proto_compat_t level)
{
    return level == SR_PROTO_COMPAT_BACKWARD_TRANSITIVE ||
           level == SR_PROTO_COMPAT_FORWARD_TRANSITIVE ||
           level == SR_PROTO_COMPAT_FULL_TRANSITIVE;
}

static const char *const sr_proto_mode_names[] = {
    [SR_PROTO_MODE_READWRITE] = "READWRITE",
    [SR_PROTO_MODE_READONLY] = "READONLY",
    [SR_PROTO_MODE_READONLY_OVERRIDE] = "READONLY_OVERRIDE",
    [SR_PROTO_MODE_IMPORT] = "IMPORT",
};
_Static_assert(sizeof(sr_proto_mode_names) / sizeof(sr_proto_mode_names[0]) ==
                   SR_PROTO_MODE__CNT,
               "sr_proto_mode_names follows sr_proto_mode_t");

const char *sr_proto_mode_name(sr_proto_mode_t mode)
{
    return (unsigned)mode < SR_PROTO_MODE__CNT ? sr_proto_mode_names[mode]
                                               : "UNKNOWN";
}

int sr_proto_mode_parse(const char *name)
{
    for (int i = 0; name && i < SR_PROTO_MODE__CNT; i++)
        if (!strcasecmp(name, sr_proto_mode_names[i]))
            return i;
    return -1;
}

int sr_proto_parse_version(const char *text, int *version, mw_err_t *err)
{
    char *end = NULL;
    long long v;

    if (!text || !*text)
        return mw_err_set(err, MW_ERR_INVALID, "empty version");
    if (!strcasecmp(text, "latest") || !strcmp(text, "-1")) {
        *version = SR_PROTO_VERSION_LATEST;
        return 0;
    }
    /* Only plain decimal digits: strtoll alone would take "+1", " 1" and
     * "0x1", which Confluent's Integer.valueOf refuses. */
    for (const char *p = text; *p; p++)
        if (*p < '0' || *p > '9')
            return mw_err_set(err, MW_ERR_INVALID,
                              "version '%s' is not a number", text);
    errno = 0;
    v = strtoll(text, &end, 10);
    if (errno || *end || v < 1 || v > 2147483647LL)
        return mw_err_set(err, MW_ERR_INVALID,
                          "version '%s' is outside 1..2^31-1", text);
    *version = (int)v;
    return 0;
}

void sr_proto_invalid_version_msg(char *out, size_t size, const char *text)
{
    snprintf(out, size,
             "The specified version '%s' is not a valid version id. Allowed "
             "values are between [1, 2^31-1] and the string \"latest\"",
             text ? text : "");
}
