/*
 * fz_envelope: the file source's reading of one JSON line (producers/
 * pr_file.c): the fast path finds the envelope's members with
 * av_jtext_members (schema-registry/avro) without building a tree, the
 * slow path loads the line with jansson and takes the members from the
 * object.  Input: one line.  The contract of av_jtext.h, checked
 * differentially against jansson on every input:
 *   1. when av_jtext_members accepts, jansson loads the line as an object;
 *      each name's span is absent exactly when jansson has no such member,
 *      and the span's text loads to the value jansson holds;
 *   2. a refusal is MW_ERR_UNSUPPORTED (the caller's cue for the slow
 *      path), never another code;
 *   3. av_jtext_member agrees with av_jtext_members on each name;
 *   4. a "traceparent" string span without a backslash, which pr_file.c
 *      uses as its own text, is the string jansson decodes.
 * The names are the envelope's three and "id", standing for
 * file.key.field.
 */
#include "fz.h"

#include <jansson.h>

#include "av_jtext.h"

#define FZ_LOAD_FLAGS (JSON_DECODE_ANY | JSON_ALLOW_NUL)

static const char *const names[] = {"key", "value", "traceparent", "id"};
#define NAME_CNT (sizeof(names) / sizeof(names[0]))

/* Property 1 for one member; span is the transcoder's, member jansson's. */
static void same_member(const char *name, const av_jtext_span_t *span,
                        const json_t *member)
{
    json_error_t jerr;
    json_t *v;

    if (!span->ptr != !member)
        fz_fail("member '%s': %s by the scan, %s by jansson", name,
                span->ptr ? "found" : "absent", member ? "found" : "absent");
    if (!span->ptr)
        return;
    v = json_loadb(span->ptr, span->len, FZ_LOAD_FLAGS, &jerr);
    if (!v)
        fz_fail("member '%s': its span does not load: %s", name, jerr.text);
    if (!json_equal(v, member))
        fz_fail("member '%s': the span's value is not jansson's", name);
    json_decref(v);
}

/* Property 4: the traceparent taken as its own text. */
static void same_traceparent(const av_jtext_span_t *span, const json_t *tp)
{
    if (!span->ptr || span->ptr[0] != '"' || memchr(span->ptr, '\\', span->len))
        return;
    if (span->len < 2 || !json_is_string(tp))
        fz_fail("a traceparent span that is not a string");
    if (json_string_length(tp) != span->len - 2 ||
        memcmp(json_string_value(tp), span->ptr + 1, span->len - 2))
        fz_fail("the traceparent's raw text is not its value");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *line = fz_dup((const char *)data, size);
    av_jtext_span_t spans[NAME_CNT];
    int rc = av_jtext_members(line, size, names, NAME_CNT, spans, NULL);

    if (rc != 0 && rc != MW_ERR_UNSUPPORTED)
        fz_fail("av_jtext_members answered %s", mw_err_name(rc));
    for (size_t i = 0; i < NAME_CNT; i++) {
        const char *val = NULL;
        size_t val_len = 0;
        int one = av_jtext_member(line, size, names[i], &val, &val_len);

        /* With rc != 0 one name alone may still be fine (the refusal can
         * be another name's duplicate): only the codes are checked. */
        if (one != 0 && one != MW_ERR_NOT_FOUND && one != MW_ERR_UNSUPPORTED)
            fz_fail("av_jtext_member('%s') answered %s", names[i],
                    mw_err_name(one));
        if (rc == 0 && (spans[i].ptr ? one != 0 || val != spans[i].ptr ||
                                           val_len != spans[i].len
                                     : one != MW_ERR_NOT_FOUND))
            fz_fail("av_jtext_member('%s') answered %s where "
                    "av_jtext_members found %s",
                    names[i], mw_err_name(one),
                    spans[i].ptr ? "the member" : "none");
    }
    if (rc == 0) {
        json_error_t jerr;
        json_t *doc = json_loadb(line, size, FZ_LOAD_FLAGS, &jerr);

        if (!json_is_object(doc))
            fz_fail("accepted by the scan, but jansson %s",
                    doc ? "loads no object" : jerr.text);
        for (size_t i = 0; i < NAME_CNT; i++)
            same_member(names[i], &spans[i], json_object_get(doc, names[i]));
        same_traceparent(&spans[2], json_object_get(doc, "traceparent"));
        json_decref(doc);
    }
    free(line);
    return 0;
}
