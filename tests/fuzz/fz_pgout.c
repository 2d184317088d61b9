/*
 * fz_pgout: the pgoutput decoder (pr_pgout_decode) and the parsers of
 * PostgreSQL's text output of each built-in type (pr_pg_type_value),
 * which are what the pg source reads off a replication connection.
 * Input: a sequence of messages, each a big-endian 16-bit length and that
 * many bytes.  A Relation message's column types are remembered, and the
 * text values of later Insert/Update/Delete tuples go through the type of
 * their column, into Avro binary and into Avro JSON.  Checks: no crash;
 * every pointer the decoder hands out stays inside the message (each byte
 * is read, so ASan sees one that does not); a value text is accepted by
 * both outputs or by neither; and, as pr_pg_int.h promises, the binary
 * decoded by the registry's codec against the type's own Avro schema
 * (pr_pg_type_schema) is the JSON form.
 */
#include "fz.h"

#include <math.h>

#include "av_schema.h"
#include "av_serde.h"
#include "mw_buf.h"
#include "pr_pg_int.h"

#define FZ_PG_COLS 64

typedef struct cols {
    uint32_t oid[FZ_PG_COLS];
    int32_t typmod[FZ_PG_COLS];
    size_t cnt;
} cols_t;

static volatile unsigned sink_byte;

static void touch(const char *p, size_t len)
{
    for (size_t i = 0; p && i < len; i++)
        sink_byte += (unsigned char)p[i];
}

static void touch_str(const char *s)
{
    if (s)
        touch(s, strlen(s));
}

/* The plan of t's own Avro schema; aborts when the schema does not parse,
 * which no value could then be read with. */
static av_serde_plan_t *plan_of(const pr_pg_type_t *t)
{
    mw_buf_t *sch = mw_buf_new(0);
    mw_err_t err = {0};
    bool named = false;

    if (!sch || pr_pg_type_schema(t, &named, sch) != 0)
        fz_fail("no schema for type %u", t->oid);
    av_schema_t *schema =
        av_schema_parse(mw_buf_data(sch), mw_buf_len(sch), NULL, 0, &err);
    if (!schema)
        fz_fail("type %u: its schema does not parse: %s", t->oid, err.msg);
    av_serde_plan_t *plan = av_serde_plan_new(schema, NULL, &err);
    if (!plan)
        fz_fail("type %u: no plan: %s", t->oid, err.msg);
    av_schema_release(schema);
    mw_buf_destroy(sch);
    return plan;
}

/* json_equal, except that for the real types numbers are compared by
 * value and sign (PostgreSQL prints 2.0 as "2", which jansson loads as an
 * integer), and as floats for float4: its JSON form is the text's
 * shortest digits, which the decoder, widening to a double, extends. */
static bool same_json(const json_t *a, const json_t *b, int as_float)
{
    size_t i;
    const char *k;
    json_t *v;

    if (!as_float)
        return json_equal(a, b);
    if (json_is_number(a) && json_is_number(b)) {
        double x = json_number_value(a), y = json_number_value(b);

        if (signbit(x) != signbit(y))
            return false;
        return as_float == 2 ? (float)x == (float)y : x == y;
    }
    if (json_is_array(a) && json_is_array(b)) {
        if (json_array_size(a) != json_array_size(b))
            return false;
        json_array_foreach(a, i, v) if (!same_json(v, json_array_get(b, i),
                                                   as_float)) return false;
        return true;
    }
    if (json_is_object(a) && json_is_object(b)) {
        if (json_object_size(a) != json_object_size(b))
            return false;
        json_object_foreach(
            (json_t *)a, k,
            v) if (!same_json(v, json_object_get(b, k), as_float)) return false;
        return true;
    }
    return json_equal(a, b);
}

/* One text value through t into both outputs; the properties above. */
static void one_value(const pr_pg_type_t *t, const pr_pgout_col_t *c,
                      mw_buf_t *bin, mw_buf_t *txt)
{
    pr_pg_out_t ob = {.buf = bin, .avro = true};
    pr_pg_out_t oj = {.buf = txt, .avro = false};
    mw_err_t err = {0};
    json_t *got = NULL, *want;

    mw_buf_reset(bin);
    mw_buf_reset(txt);
    int rb = pr_pg_type_value(t, c->data, c->len, &ob, &err);
    if (rb != 0 && !err.msg[0])
        fz_fail("a value refused without a message");
    int rj = pr_pg_type_value(t, c->data, c->len, &oj, &err);
    if ((rb == 0) != (rj == 0))
        fz_fail("type %u: binary %s, JSON %s the same text", t->oid,
                rb ? "refuses" : "accepts", rj ? "refuses" : "accepts");
    if (rb != 0)
        return;
    av_serde_plan_t *plan = plan_of(t);
    if (av_serde_avro_to_json(plan, mw_buf_data(bin), mw_buf_len(bin), &got,
                              &err) != 0)
        fz_fail("type %u: the binary does not decode: %s", t->oid, err.msg);
    want = json_loadb(mw_buf_data(txt), mw_buf_len(txt),
                      JSON_DECODE_ANY | JSON_ALLOW_NUL, NULL);
    if (!want)
        fz_fail("type %u: the JSON form is not JSON: %.*s", t->oid,
                (int)mw_buf_len(txt), mw_buf_data(txt));
    pr_pg_kind_t k = t->kind == PR_PG_ARRAY ? t->elem->kind : t->kind;
    int as_float = k == PR_PG_FLOAT32 ? 2 : k == PR_PG_FLOAT64 ? 1 : 0;
    if (!same_json(got, want, as_float)) {
        char *g = json_dumps(got, JSON_ENCODE_ANY);
        fz_fail("type %u: the binary decodes to %s, the JSON form is %.*s",
                t->oid, g, (int)mw_buf_len(txt), mw_buf_data(txt));
    }
    json_decref(got);
    json_decref(want);
    av_serde_plan_destroy(plan);
}

static void values(const cols_t *cols, const pr_pgout_tuple_t *tup)
{
    mw_buf_t *bin = mw_buf_new(0), *txt = mw_buf_new(0);

    if (!bin || !txt)
        fz_fail("out of memory");
    for (size_t i = 0; i < tup->ncols; i++) {
        const pr_pgout_col_t *c = &tup->cols[i];
        pr_pg_type_t t = {0};

        touch(c->data, c->len);
        if (c->kind != 't' || i >= cols->cnt ||
            !pr_pg_type_builtin(cols->oid[i], cols->typmod[i], &t))
            continue;
        one_value(&t, c, bin, txt);
        pr_pg_type_clear(&t);
    }
    mw_buf_destroy(bin);
    mw_buf_destroy(txt);
}

static void message(const pr_pgout_msg_t *m, cols_t *cols)
{
    switch (m->type) {
    case 'R':
        touch_str(m->u.rel.nspname);
        touch_str(m->u.rel.relname);
        cols->cnt = 0;
        for (size_t i = 0; i < m->u.rel.ncols; i++) {
            touch_str(m->u.rel.cols[i].name);
            if (i < FZ_PG_COLS) {
                cols->oid[i] = m->u.rel.cols[i].type_oid;
                cols->typmod[i] = m->u.rel.cols[i].typmod;
                cols->cnt = i + 1;
            }
        }
        break;
    case 'Y':
        touch_str(m->u.type.nspname);
        touch_str(m->u.type.typname);
        break;
    case 'O':
        touch_str(m->u.origin.name);
        break;
    case 'I':
    case 'U':
    case 'D':
        values(cols, &m->u.change.old_tup);
        values(cols, &m->u.change.new_tup);
        break;
    case 'T':
        for (uint32_t i = 0; i < m->u.truncate.nrels; i++)
            sink_byte += pr_pgout_relid_at(m, i);
        break;
    case 'M':
        touch_str(m->u.message.prefix);
        touch(m->u.message.content, m->u.message.len);
        break;
    default:
        break;
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    pr_pgout_t *dec = pr_pgout_new();
    cols_t cols = {.cnt = 0};

    if (!dec)
        fz_fail("out of memory");
    while (size >= 2) {
        size_t n = (size_t)data[0] << 8 | data[1];
        pr_pgout_msg_t m;
        mw_err_t err = {0};

        data += 2, size -= 2;
        if (n > size)
            n = size;
        /* An exact copy: a read past the message is ASan's to see. */
        uint8_t *copy = (uint8_t *)fz_dup((const char *)data, n);
        memset(&m, 0, sizeof(m));
        if (pr_pgout_decode(dec, copy, n, &m, &err) == 0)
            message(&m, &cols);
        else if (!err.msg[0])
            fz_fail("a message refused without a reason");
        free(copy);
        data += n, size -= n;
    }
    pr_pgout_destroy(dec);
    return 0;
}
