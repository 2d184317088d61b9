/*
 * fz_pgout: the pgoutput decoder (pr_pgout_decode) and the parsers of
 * PostgreSQL's text output of each built-in type (pr_pg_type_value),
 * which are what the pg source reads off a replication connection.
 * Input: a sequence of messages, each a big-endian 16-bit length and that
 * many bytes.  A Relation message's column types are remembered, and the
 * text values of later Insert/Update/Delete tuples go through the type of
 * their column, into Avro binary and into Avro JSON.  Checks: no crash;
 * every pointer the decoder hands out stays inside the message (each byte
 * is read, so ASan sees one that does not).
 */
#include "fz.h"

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

static void values(const cols_t *cols, const pr_pgout_tuple_t *tup)
{
    mw_buf_t *buf = mw_buf_new(0);

    if (!buf)
        fz_fail("out of memory");
    for (size_t i = 0; i < tup->ncols; i++) {
        const pr_pgout_col_t *c = &tup->cols[i];
        pr_pg_type_t t = {0};

        touch(c->data, c->len);
        if (c->kind != 't' || i >= cols->cnt ||
            !pr_pg_type_builtin(cols->oid[i], cols->typmod[i], &t))
            continue;
        for (int avro = 0; avro < 2; avro++) {
            pr_pg_out_t out = {.buf = buf, .avro = avro};
            mw_err_t err = {0};

            mw_buf_reset(buf);
            if (pr_pg_type_value(&t, c->data, c->len, &out, &err) != 0 &&
                !err.msg[0])
                fz_fail("a value refused without a message");
        }
        pr_pg_type_clear(&t);
    }
    mw_buf_destroy(buf);
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
