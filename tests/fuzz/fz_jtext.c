/*
 * fz_jtext: the JSON text -> Avro transcoder (av_jtext_encode), run
 * differentially against the reference path (json_loadb, then
 * av_serde_json_to_avro).  Input: a schema text, NUL, one JSON text.  The
 * contract of av_jtext.h, checked on every input:
 *   1. when the transcoder accepts, the reference accepts too and the
 *      bytes are identical;
 *   2. when the transcoder declines, it answers MW_ERR_UNSUPPORTED and
 *      leaves what was already in the output buffer untouched.
 * A text both refuse, or one only the transcoder declines, is fine.
 */
#include "fz.h"

#include "av_jtext.h"
#include "av_schema.h"
#include "av_serde.h"
#include "mw_buf.h"

static void check(const av_serde_plan_t *plan, const char *text, size_t len)
{
    mw_buf_t *slow = mw_buf_new(0), *fast = mw_buf_new(0);
    mw_err_t err = {0}, ferr = {0};
    json_error_t jerr;
    json_t *doc;
    int slow_ok, rc;

    if (!slow || !fast || mw_buf_append(fast, "HDR", 3) != 0)
        fz_fail("out of memory");
    doc = json_loadb(text, len, JSON_DECODE_ANY | JSON_ALLOW_NUL, &jerr);
    slow_ok = doc && av_serde_json_to_avro(plan, doc, slow, &err) == 0;
    json_decref(doc);
    rc = av_jtext_encode(plan, text, len, fast, &ferr);
    if (rc == 0) {
        if (!slow_ok)
            fz_fail("the transcoder accepted what the reference refuses "
                    "(%s)",
                    doc ? err.msg : jerr.text);
        if (mw_buf_len(fast) != mw_buf_len(slow) + 3 ||
            memcmp(mw_buf_data(fast) + 3, mw_buf_data(slow), mw_buf_len(slow)))
            fz_fail("different bytes: reference %zu, transcoder %zu",
                    mw_buf_len(slow), mw_buf_len(fast) - 3);
    } else {
        if (rc != MW_ERR_UNSUPPORTED)
            fz_fail("the transcoder answered %s (%s), not UNSUPPORTED",
                    mw_err_name(rc), ferr.msg);
        if (mw_buf_len(fast) != 3 || memcmp(mw_buf_data(fast), "HDR", 3))
            fz_fail("a declined text changed the output buffer");
    }
    mw_buf_destroy(slow);
    mw_buf_destroy(fast);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *sp, *tp = "";
    size_t slen, tlen = 0;
    mw_err_t err = {0};

    if (!fz_next(&data, &size, &sp, &slen))
        return 0;
    if (!fz_next(&data, &size, &tp, &tlen))
        tp = "", tlen = 0;
    char *stext = fz_dup(sp, slen);
    av_schema_t *schema = av_schema_parse(stext, slen, NULL, 0, &err);
    free(stext);
    if (!schema)
        return 0;
    av_serde_plan_t *plan = av_serde_plan_new(schema, NULL, &err);
    if (plan) {
        char *text = fz_dup(tp, tlen);
        check(plan, text, tlen);
        free(text);
    }
    av_serde_plan_destroy(plan);
    av_schema_release(schema);
    return 0;
}
