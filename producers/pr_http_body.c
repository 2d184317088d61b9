/*
 * pr_http_body: what the http source reads of a produce request before
 * anything needs Kafka or the registry: the path (topic, partition) and the
 * JSON body of the REST Proxy v2 produce call, parsed and shape-checked,
 * with the REST Proxy error code of each refusal.  Pure functions over
 * bytes, so the fuzz target tests/fuzz/fz_restbody.c runs them without a
 * connection; pr_http.c calls them from its request callback.
 *
 * Thread: any (the daemon's loop thread in practice).
 */
#include "pr_http_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/http.h>

#include "av_schema.h"

/* One side's schema fields: "<side>_schema_id" (integer or null) and
 * "<side>_schema" (string or null).  422 message into err on bad types;
 * 42205 when the inline schema does not parse. */
static int parse_schema_ref(json_t *root, const char *side,
                            pr_schema_ref_t *ref, int *code, mw_err_t *err)
{
    char name[32];
    snprintf(name, sizeof(name), "%s_schema_id", side);
    json_t *id = json_object_get(root, name);
    if (id && !json_is_null(id)) {
        if (!json_is_integer(id) || json_integer_value(id) <= 0) {
            *code = PR_HTTP_E_UNPROCESSABLE;
            return mw_err_set(err, MW_ERR_INVALID,
                              "%s must be a positive integer", name);
        }
        ref->id = json_integer_value(id);
    }
    snprintf(name, sizeof(name), "%s_schema", side);
    json_t *text = json_object_get(root, name);
    if (!text || json_is_null(text))
        return 0;
    if (!json_is_string(text)) {
        *code = PR_HTTP_E_UNPROCESSABLE;
        return mw_err_set(err, MW_ERR_INVALID, "%s must be a string", name);
    }
    /* Checked here so a bad schema is 42205, not a record error. */
    av_schema_t *schema = av_schema_parse(
        json_string_value(text), json_string_length(text), NULL, 0, err);
    if (!schema) {
        *code = PR_HTTP_E_INVALID_SCHEMA;
        return mw_err_prefix(err, "Invalid schema: %s", name);
    }
    av_schema_release(schema);
    ref->schema = json_string_value(text);
    return 0;
}

/* Checks one record's shape: an object, "partition" an integer in range. */
static int check_record(const json_t *rec, size_t i, int partitions, int *code,
                        mw_err_t *err)
{
    if (!json_is_object(rec)) {
        *code = PR_HTTP_E_UNPROCESSABLE;
        return mw_err_set(err, MW_ERR_INVALID, "records[%zu] must be an object",
                          i);
    }
    json_t *p = json_object_get(rec, "partition");
    if (!p || json_is_null(p))
        return 0;
    if (!json_is_integer(p)) {
        *code = PR_HTTP_E_UNPROCESSABLE;
        return mw_err_set(err, MW_ERR_INVALID,
                          "records[%zu].partition must be an integer", i);
    }
    json_int_t v = json_integer_value(p);
    if (v < 0 || v >= partitions) {
        *code = PR_HTTP_E_PARTITION_NOT_FOUND;
        return mw_err_set(err, MW_ERR_NOT_FOUND, "Partition not found.");
    }
    return 0;
}

int pr_http_body_parse(pr_http_body_t *b, int *code, mw_err_t *err)
{
    json_error_t jerr;
    b->root = json_loadb(b->text, b->text_len, JSON_ALLOW_NUL, &jerr);
    if (!b->root) {
        *code = PR_HTTP_E_BAD_REQUEST;
        return mw_err_set(err, MW_ERR_INVALID,
                          "Unexpected JSON: %s at line %d column %d", jerr.text,
                          jerr.line, jerr.column);
    }
    *code = PR_HTTP_E_UNPROCESSABLE;
    if (!json_is_object(b->root))
        return mw_err_set(err, MW_ERR_INVALID, "body must be a JSON object");
    b->records = json_object_get(b->root, "records");
    if (!json_is_array(b->records))
        return mw_err_set(err, MW_ERR_INVALID, "records must be an array");
    if (json_array_size(b->records) == 0)
        return mw_err_set(err, MW_ERR_INVALID, "records may not be empty");
    int rc = parse_schema_ref(b->root, "key", &b->key_ref, code, err);
    if (rc == 0)
        rc = parse_schema_ref(b->root, "value", &b->value_ref, code, err);
    return rc;
}

int pr_http_body_check(const pr_http_body_t *b, int partitions, int *code,
                       mw_err_t *err)
{
    if (b->forced_partition >= partitions) {
        *code = PR_HTTP_E_PARTITION_NOT_FOUND;
        return mw_err_set(err, MW_ERR_NOT_FOUND, "Partition not found.");
    }
    for (size_t i = 0; i < json_array_size(b->records); i++) {
        int rc = check_record(json_array_get(b->records, i), i, partitions,
                              code, err);
        if (rc != 0)
            return rc;
    }
    return 0;
}

bool pr_http_parse_path(const char *path, char **topic, int32_t *partition)
{
    *topic = NULL;
    *partition = -1;
    if (strncmp(path, "/topics", 7) != 0)
        return false;
    path += 7;
    if (path[0] == '\0' || !strcmp(path, "/"))
        return true;
    if (path[0] != '/')
        return false;
    path++;
    size_t n = strcspn(path, "/");
    const char *rest = path + n;
    if (n == 0 || n > 1024)
        return false;
    if (rest[0] != '\0') {
        char *end = NULL;
        if (strncmp(rest, "/partitions/", 12) != 0)
            return false;
        long p = strtol(rest + 12, &end, 10);
        if (end == rest + 12 || *end != '\0' || p < 0 || p > INT32_MAX)
            return false;
        *partition = (int32_t)p;
    }
    char raw[1025];
    memcpy(raw, path, n);
    raw[n] = '\0';
    *topic = evhttp_uridecode(raw, 0, NULL);
    return *topic != NULL;
}
