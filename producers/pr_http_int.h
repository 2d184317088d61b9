/*
 * pr_http_int.h: declarations shared by the http source's two files and
 * nowhere else: pr_http.c (listener, routing, the produce call and its
 * request lifecycle) and pr_http_topics.c (which topics exist, with a
 * cache, and the discovery calls GET /topics and GET /topics/{topic}) and
 * pr_http_body.c (the produce path and body, parsed and checked without a
 * connection, so tests/fuzz/fz_restbody.c reaches them).
 *
 * Thread: the daemon's loop thread, everything.
 */
#ifndef PR_HTTP_INT_H
#define PR_HTTP_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "mw_conf.h"
#include "mw_err.h"
#include "pr_emit.h"

struct evhttp_request;

/* Media type of every reply, as the REST Proxy v2 answers. */
#define PR_HTTP_CT_REPLY "application/vnd.kafka.v2+json"

/* Confluent REST Proxy v2 error codes (kafka-rest Errors.java), plus the
 * plain HTTP statuses its REST layer answers with.  The HTTP status of a
 * five-digit code is its first three digits. */
typedef enum pr_http_code {
    PR_HTTP_E_BAD_REQUEST = 400,   /* unparseable JSON body */
    PR_HTTP_E_NOT_FOUND = 404,     /* unknown route */
    PR_HTTP_E_METHOD = 405,        /* wrong method for the route */
    PR_HTTP_E_TOO_LARGE = 413,     /* body over http.max.body.bytes */
    PR_HTTP_E_MEDIA_TYPE = 415,    /* unsupported Content-Type */
    PR_HTTP_E_UNPROCESSABLE = 422, /* JSON of the wrong shape */
    PR_HTTP_E_INTERNAL = 500,
    PR_HTTP_E_TOPIC_NOT_FOUND = 40401,
    PR_HTTP_E_PARTITION_NOT_FOUND = 40402,
    PR_HTTP_E_SCHEMA_LOOKUP = 40801, /* registry unreachable */
    PR_HTTP_E_KEY_SCHEMA_MISSING = 42201,
    PR_HTTP_E_VALUE_SCHEMA_MISSING = 42202,
    PR_HTTP_E_JSON_AVRO = 42203,      /* a record does not fit */
    PR_HTTP_E_INVALID_SCHEMA = 42205, /* inline schema does not parse */
    PR_HTTP_E_KAFKA = 50002,
    PR_HTTP_E_KAFKA_RETRIABLE = 50003
} pr_http_code_t;

/* HTTP status of a code: its first three digits, except 50003, which the
 * http source answers as 503 (with Retry-After) because the issue asks
 * clients to back off and retry, where the REST Proxy says 500. */
int pr_http_status(int code);

/* Replies {"error_code": code, "message": ...} with the code's HTTP status
 * and the REST Proxy media type; 503s carry Retry-After: 1. */
void pr_http_reply_error(struct evhttp_request *req, int code, const char *fmt,
                         ...) __attribute__((format(printf, 3, 4)));

/* Replies status with body (consumed, compact JSON). */
void pr_http_reply_json(struct evhttp_request *req, int status, json_t *body);

/* A produce body: its text (borrowed) and, once parsed, its parts
 * (strings borrowed from root). */
typedef struct pr_http_body {
    const char *text;
    size_t text_len;
    json_t *root;
    json_t *records;
    pr_schema_ref_t key_ref, value_ref;
    int32_t forced_partition; /* -1 unless .../partitions/{p} */
} pr_http_body_t;

/* Parses b->text and checks the body's shape: an object whose "records"
 * is a non-empty array, "key_schema_id"/"value_schema_id" positive
 * integers or null, "key_schema"/"value_schema" strings (which must parse
 * as Avro) or null.  b->root is then the caller's to json_decref, on
 * failure too.  0, or MW_ERR_INVALID with *code the REST Proxy code (400
 * unparseable, 422 wrong shape, 42205 bad inline schema) and err the
 * reply's message. */
int pr_http_body_parse(pr_http_body_t *b, int *code, mw_err_t *err);

/* After pr_http_body_parse, against a topic of partitions partitions:
 * every record an object, its "partition" (and the path's) an integer in
 * range.  0, or MW_ERR_INVALID (422) / MW_ERR_NOT_FOUND (40402). */
int pr_http_body_check(const pr_http_body_t *b, int partitions, int *code,
                       mw_err_t *err);

/* Splits "/topics[/{topic}[/partitions/{p}]]"; *topic is malloc'd (URL
 * decoded) or NULL for "/topics", *partition -1 without one.  false for
 * any other path (then *topic is NULL). */
bool pr_http_parse_path(const char *path, char **topic, int32_t *partition);

typedef struct pr_http_topics pr_http_topics_t;

/* New topic cache with its own admin client from conf's kafka.* keys (conf
 * borrowed, outlives the cache).  NULL with err. */
pr_http_topics_t *pr_http_topics_new(const mw_conf_t *conf, mw_err_t *err);
void pr_http_topics_destroy(pr_http_topics_t *tc);

/* Whether topic exists and its partition count (*partitions).  0;
 * MW_ERR_NOT_FOUND; MW_ERR_TRANSPORT / MW_ERR_TIMEOUT when the cluster
 * cannot say and nothing is cached.  May block on the admin client on a
 * cache miss (see pr_http_topics.c). */
int pr_http_topics_lookup(pr_http_topics_t *tc, const char *topic,
                          int *partitions, mw_err_t *err);

/* GET /topics and GET /topics/{topic}: answer req. */
void pr_http_topics_get_list(pr_http_topics_t *tc, struct evhttp_request *req);
void pr_http_topics_get_one(pr_http_topics_t *tc, struct evhttp_request *req,
                            const char *topic);

#endif /* PR_HTTP_INT_H */
