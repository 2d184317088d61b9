/*
 * fz_serde: the Avro binary decoder (av_serde_avro_to_json), with and
 * without resolution against a reader schema.  Input: the writer schema,
 * NUL, the reader schema (empty: none, decode as written), NUL, the
 * binary body (no Confluent header).  Checks:
 *   1. decoding never crashes and refuses bad bytes with an error;
 *   2. without a reader schema, a decoded value encodes again
 *      (av_serde_json_to_avro) and that encoding decodes to the same
 *      JSON: the two directions agree on every value the decoder emits;
 *   3. with a reader schema, the decoded value is in the reader's shape
 *      (av_serde.h's promise): the reader's own plan encodes it, and that
 *      encoding decodes to the same JSON.
 */
#include "fz.h"

#include "av_schema.h"
#include "av_serde.h"
#include "mw_buf.h"

static av_schema_t *schema_of(const char *p, size_t len)
{
    mw_err_t err = {0};
    char *text = fz_dup(p, len);
    av_schema_t *s = av_schema_parse(text, len, NULL, 0, &err);

    free(text);
    return s;
}

/* Property 2 on a value the plan (writer only) decoded. */
static void round_trip(const av_serde_plan_t *plan, const json_t *value)
{
    mw_buf_t *buf = mw_buf_new(0);
    mw_err_t err = {0};
    json_t *again = NULL;

    if (!buf)
        fz_fail("out of memory");
    if (av_serde_json_to_avro(plan, value, buf, &err) != 0) {
        char *t = json_dumps(value, JSON_ENCODE_ANY);
        fz_fail("a decoded value does not encode (%s): %s", err.msg, t);
    }
    if (av_serde_avro_to_json(plan, mw_buf_data(buf), mw_buf_len(buf), &again,
                              &err) != 0)
        fz_fail("the re-encoded value does not decode: %s", err.msg);
    if (!json_equal(value, again)) {
        char *a = json_dumps(value, JSON_ENCODE_ANY);
        char *b = json_dumps(again, JSON_ENCODE_ANY);
        fz_fail("decode(encode(v)) != v: %s vs %s", a, b);
    }
    json_decref(again);
    mw_buf_destroy(buf);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *wp = NULL, *rp = NULL, *bin = NULL;
    size_t wlen = 0, rlen = 0, blen = 0;
    av_schema_t *writer = NULL, *reader = NULL;
    av_serde_plan_t *plan = NULL;
    mw_err_t err = {0};

    if (!fz_next(&data, &size, &wp, &wlen) ||
        !fz_next(&data, &size, &rp, &rlen))
        return 0;
    if (!fz_next(&data, &size, &bin, &blen))
        bin = "", blen = 0;
    if (!(writer = schema_of(wp, wlen)))
        return 0;
    if (rlen && !(reader = schema_of(rp, rlen)))
        goto out;
    plan = av_serde_plan_new(writer, reader, &err);
    if (!plan)
        goto out;
    uint8_t *body = (uint8_t *)fz_dup(bin, blen);
    json_t *value = NULL;
    if (av_serde_avro_to_json(plan, body, blen, &value, &err) == 0) {
        if (!value)
            fz_fail("decoding succeeded without a value");
        if (!reader) {
            round_trip(plan, value);
        } else {
            av_serde_plan_t *own = av_serde_plan_new(reader, NULL, &err);
            if (!own)
                fz_fail("the reader has no plan of its own: %s", err.msg);
            round_trip(own, value);
            av_serde_plan_destroy(own);
        }
        json_decref(value);
    } else if (value) {
        fz_fail("a failed decode returned a value");
    } else if (!err.msg[0]) {
        fz_fail("a failed decode without a message");
    }
    free(body);
out:
    av_serde_plan_destroy(plan);
    av_schema_release(reader);
    av_schema_release(writer);
    return 0;
}
