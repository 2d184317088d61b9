/*
 * fz_restbody: what the http source reads of a REST Proxy v2 produce call
 * before it needs Kafka or the registry (producers/pr_http_body.c): the
 * path (pr_http_parse_path) and the JSON body (pr_http_body_parse, then
 * pr_http_body_check against a topic of three partitions).  Input: the
 * path, NUL, the body.  Checks:
 *   1. a path is refused, or names a non-empty topic (or none, /topics)
 *      and a partition of -1 or more;
 *   2. a refused body has a message and one of the REST Proxy codes the
 *      header lists for that step;
 *   3. an accepted body is an object with a non-empty "records" array,
 *      whose schema ids are positive and whose inline schemas parse; an
 *      accepted check leaves every record an object with a partition in
 *      range.
 */
#include "fz.h"

#include "av_schema.h"
#include "pr_http_int.h"

#define FZ_PARTITIONS 3

static void check_ref(const pr_schema_ref_t *ref)
{
    mw_err_t err = {0};

    if (ref->id < 0)
        fz_fail("a negative schema id was accepted");
    if (!ref->schema)
        return;
    av_schema_t *s =
        av_schema_parse(ref->schema, strlen(ref->schema), NULL, 0, &err);
    if (!s)
        fz_fail("an accepted inline schema does not parse: %s", err.msg);
    av_schema_release(s);
}

static void check_accepted(const pr_http_body_t *b)
{
    for (size_t i = 0; i < json_array_size(b->records); i++) {
        json_t *rec = json_array_get(b->records, i);
        json_t *p = json_object_get(rec, "partition");

        if (!json_is_object(rec))
            fz_fail("records[%zu] accepted but not an object", i);
        if (p && !json_is_null(p) &&
            (!json_is_integer(p) || json_integer_value(p) < 0 ||
             json_integer_value(p) >= FZ_PARTITIONS))
            fz_fail("records[%zu].partition accepted out of range", i);
    }
    if (b->forced_partition >= FZ_PARTITIONS)
        fz_fail("the path's partition accepted out of range");
}

static void body(const char *text, size_t len, int32_t partition)
{
    pr_http_body_t b = {
        .text = text, .text_len = len, .forced_partition = partition};
    mw_err_t err = {0};
    int code = 0;

    if (pr_http_body_parse(&b, &code, &err) != 0) {
        if (!err.msg[0] ||
            (code != PR_HTTP_E_BAD_REQUEST && code != PR_HTTP_E_UNPROCESSABLE &&
             code != PR_HTTP_E_INVALID_SCHEMA))
            fz_fail("a body refused with code %d: '%s'", code, err.msg);
        json_decref(b.root);
        return;
    }
    if (!json_is_object(b.root) || !json_is_array(b.records) ||
        json_array_size(b.records) == 0)
        fz_fail("an accepted body without records");
    check_ref(&b.key_ref);
    check_ref(&b.value_ref);
    if (pr_http_body_check(&b, FZ_PARTITIONS, &code, &err) == 0)
        check_accepted(&b);
    else if (!err.msg[0] || (code != PR_HTTP_E_UNPROCESSABLE &&
                             code != PR_HTTP_E_PARTITION_NOT_FOUND))
        fz_fail("records refused with code %d: '%s'", code, err.msg);
    json_decref(b.root);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *pp, *bp = "";
    size_t plen, blen = 0;
    char *topic = NULL;
    int32_t partition = -1;

    if (!fz_next(&data, &size, &pp, &plen))
        return 0;
    if (!fz_next(&data, &size, &bp, &blen))
        bp = "", blen = 0;
    /* The path as evhttp hands it over: a C string. */
    char *path = malloc(plen + 1);
    if (!path)
        fz_fail("out of memory");
    memcpy(path, pp, plen);
    path[plen] = '\0';
    bool ok = pr_http_parse_path(path, &topic, &partition);
    free(path);
    if (ok && ((topic && !topic[0]) || partition < -1))
        fz_fail("a path accepted with topic '%s', partition %d",
                topic ? topic : "(none)", (int)partition);
    if (!ok && topic)
        fz_fail("a refused path left a topic");
    free(topic);
    if (!ok)
        partition = -1;
    char *text = fz_dup(bp, blen);
    body(text, blen, partition);
    free(text);
    return 0;
}
