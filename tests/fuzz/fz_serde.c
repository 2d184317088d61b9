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
 *      encoding decodes to the same JSON;
 *   4. the projection reader (av_proj) accepts exactly the bytes the
 *      decoder accepts, with no path (a pure check) and with a path per
 *      top-level scalar field of a record, and an int slot holds the
 *      decoded integer.
 */
#include "fz.h"

#include "av_proj.h"
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

static bool scalar_type(const av_node_t *n)
{
    if (n->type == AV_RECORD || n->type == AV_ARRAY || n->type == AV_MAP)
        return false;
    for (size_t i = 0; n->type == AV_UNION && i < n->branch_cnt; i++)
        if (!scalar_type(n->branches[i]))
            return false;
    return true;
}

/* Property 4: value is the decoder's result (NULL: it refused). */
static void projection(const av_serde_plan_t *plan, const av_node_t *root,
                       const uint8_t *body, size_t len, const json_t *value)
{
    enum { MAXP = 64 };
    const char *names[MAXP];
    av_proj_path_t paths[MAXP];
    av_pv_t slots[MAXP];
    size_t n = 0;
    for (size_t i = 0; root->type == AV_RECORD && i < root->field_cnt; i++)
        if (n < MAXP && scalar_type(root->fields[i].type)) {
            names[n] = root->fields[i].name;
            paths[n] = (av_proj_path_t){&names[n], 1};
            n++;
        }
    for (size_t use = 0; use <= n; use += n ? n : 1) {
        mw_err_t err = {0};
        av_proj_t *proj = av_proj_new(plan, paths, use, &err);
        /* A field the reader fills from its default is the decoder's. */
        if (!proj && use && err.code == MW_ERR_UNSUPPORTED)
            break;
        if (!proj)
            fz_fail("a projection of %zu scalar paths does not compile: %s",
                    use, err.msg);
        int rc = av_proj_read(proj, body, len, slots);
        if ((rc == 0) != (value != NULL))
            fz_fail("av_proj %s what the decoder %s", rc ? "refuses" : "takes",
                    value ? "takes" : "refuses");
        for (size_t i = 0; rc == 0 && i < use; i++) {
            const json_t *v = json_object_get(value, names[i]);
            if (slots[i].kind == AV_PV_INT && json_is_integer(v) &&
                slots[i].u.i != json_integer_value(v))
                fz_fail("slot %s differs from the decoded value", names[i]);
        }
        av_proj_destroy(proj);
        if (!n)
            break;
    }
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
    } else if (value) {
        fz_fail("a failed decode returned a value");
    } else if (!err.msg[0]) {
        fz_fail("a failed decode without a message");
    }
    projection(plan, av_schema_root(reader ? reader : writer), body, blen,
               value);
    json_decref(value);
    free(body);
out:
    av_serde_plan_destroy(plan);
    av_schema_release(reader);
    av_schema_release(writer);
    return 0;
}
