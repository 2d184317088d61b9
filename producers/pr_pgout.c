/*
 * pr_pgout: decodes the messages of PostgreSQL's built-in logical decoding
 * output plugin, pgoutput (protocol version 1), as carried in the XLogData
 * of a replication stream.  Every integer is big-endian; strings are
 * NUL-terminated; a tuple is Int16 ncols then per column a kind byte
 * ('n' null, 'u' unchanged TOAST, 't' text with an Int32 length).
 *
 * The decoder never copies: strings and values point into the caller's
 * bytes, and the per-message column arrays are the decoder's own, grown
 * to the widest table seen (so a steady stream allocates nothing).  It
 * checks every length against the end, so a truncated or hostile message
 * is an error, never a read past the buffer.
 *
 * Thread: any; one decoder per thread.
 */
#include "pr_pg_int.h"

#include <stdlib.h>
#include <string.h>

#include "mw_vec.h"

struct pr_pgout {
    pr_pgout_col_t *cols[2]; /* old and new tuple */
    size_t col_cap[2];
    pr_pgout_relcol_t *relcols;
    size_t relcol_cap;
};

/* A cursor over one message. */
typedef struct rd {
    const uint8_t *p, *start, *end;
    char type;
    mw_err_t *err;
} rd_t;

static int rd_fail(rd_t *r, const char *what)
{
    mw_err_set(r->err, MW_ERR_INVALID, "pgoutput message '%c': %s at byte %zu",
               r->type, what, (size_t)(r->p - r->start));
    return MW_ERR_INVALID;
}

static int rd_u8(rd_t *r, uint8_t *v)
{
    if (r->end - r->p < 1)
        return rd_fail(r, "truncated");
    *v = *r->p++;
    return 0;
}

static int rd_u16(rd_t *r, uint16_t *v)
{
    if (r->end - r->p < 2)
        return rd_fail(r, "truncated");
    *v = (uint16_t)((r->p[0] << 8) | r->p[1]);
    r->p += 2;
    return 0;
}

static int rd_u32(rd_t *r, uint32_t *v)
{
    if (r->end - r->p < 4)
        return rd_fail(r, "truncated");
    *v = ((uint32_t)r->p[0] << 24) | ((uint32_t)r->p[1] << 16) |
         ((uint32_t)r->p[2] << 8) | r->p[3];
    r->p += 4;
    return 0;
}

static int rd_u64(rd_t *r, uint64_t *v)
{
    uint32_t hi, lo;

    if (rd_u32(r, &hi) != 0 || rd_u32(r, &lo) != 0)
        return MW_ERR_INVALID;
    *v = ((uint64_t)hi << 32) | lo;
    return 0;
}

static int rd_i64(rd_t *r, int64_t *v)
{
    uint64_t u;

    if (rd_u64(r, &u) != 0)
        return MW_ERR_INVALID;
    memcpy(v, &u, sizeof(*v));
    return 0;
}

static int rd_str(rd_t *r, const char **s)
{
    const uint8_t *nul = memchr(r->p, 0, (size_t)(r->end - r->p));

    if (!nul)
        return rd_fail(r, "unterminated string");
    *s = (const char *)r->p;
    r->p = nul + 1;
    return 0;
}

static int rd_tuple(pr_pgout_t *dec, rd_t *r, int which, pr_pgout_tuple_t *t)
{
    uint16_t n = 0;

    if (rd_u16(r, &n) != 0)
        return MW_ERR_INVALID;
    /* Each column takes at least its kind byte: a count the bytes cannot
     * hold is refused before anything is allocated for it. */
    if ((size_t)(r->end - r->p) < n)
        return rd_fail(r, "column count past the end");
    if (MW_VEC_RESERVE(&dec->cols[which], &dec->col_cap[which], n) != 0)
        return mw_err_set(r->err, MW_ERR_NOMEM, "out of memory for a tuple");
    for (uint16_t i = 0; i < n; i++) {
        pr_pgout_col_t *c = &dec->cols[which][i];
        uint8_t kind = 0;
        uint32_t len = 0;

        if (rd_u8(r, &kind) != 0)
            return MW_ERR_INVALID;
        c->kind = (char)kind;
        c->data = NULL;
        c->len = 0;
        if (kind == 'n' || kind == 'u')
            continue;
        if (kind != 't' && kind != 'b')
            return rd_fail(r, "unknown column kind");
        if (rd_u32(r, &len) != 0)
            return MW_ERR_INVALID;
        if ((uint64_t)(r->end - r->p) < len)
            return rd_fail(r, "value past the end");
        c->data = (const char *)r->p;
        c->len = len;
        r->p += len;
    }
    t->ncols = n;
    t->cols = dec->cols[which];
    return 0;
}

static int rd_relation(pr_pgout_t *dec, rd_t *r, pr_pgout_msg_t *m)
{
    uint8_t ident = 0;
    uint16_t n = 0;

    if (rd_u32(r, &m->u.rel.relid) != 0 || rd_str(r, &m->u.rel.nspname) ||
        rd_str(r, &m->u.rel.relname) != 0 || rd_u8(r, &ident) != 0 ||
        rd_u16(r, &n) != 0)
        return MW_ERR_INVALID;
    m->u.rel.identity = (char)ident;
    /* flags, an empty name and two Int32: 10 bytes at least per column */
    if ((size_t)(r->end - r->p) / 10 < n)
        return rd_fail(r, "column count past the end");
    if (MW_VEC_RESERVE(&dec->relcols, &dec->relcol_cap, n) != 0)
        return mw_err_set(r->err, MW_ERR_NOMEM, "out of memory for columns");
    for (uint16_t i = 0; i < n; i++) {
        pr_pgout_relcol_t *c = &dec->relcols[i];
        uint8_t flags = 0;
        uint32_t typmod = 0;

        if (rd_u8(r, &flags) != 0 || rd_str(r, &c->name) != 0 ||
            rd_u32(r, &c->type_oid) != 0 || rd_u32(r, &typmod) != 0)
            return MW_ERR_INVALID;
        c->key = flags & 1;
        memcpy(&c->typmod, &typmod, sizeof(c->typmod));
    }
    m->u.rel.ncols = n;
    m->u.rel.cols = dec->relcols;
    return 0;
}

/* 'U': [K|O old tuple] N new tuple; 'D': K|O old tuple. */
static int rd_change(pr_pgout_t *dec, rd_t *r, pr_pgout_msg_t *m)
{
    uint8_t tag = 0;

    memset(&m->u.change, 0, sizeof(m->u.change));
    if (rd_u32(r, &m->u.change.relid) != 0 || rd_u8(r, &tag) != 0)
        return MW_ERR_INVALID;
    if (m->type == 'I') {
        if (tag != 'N')
            return rd_fail(r, "expected 'N'");
        return rd_tuple(dec, r, 1, &m->u.change.new_tup);
    }
    if (tag == 'K' || tag == 'O') {
        m->u.change.old_kind = (char)tag;
        if (rd_tuple(dec, r, 0, &m->u.change.old_tup) != 0)
            return MW_ERR_INVALID;
        if (m->type == 'D')
            return 0;
        if (rd_u8(r, &tag) != 0)
            return MW_ERR_INVALID;
    } else if (m->type == 'D') {
        return rd_fail(r, "expected 'K' or 'O'");
    }
    if (tag != 'N')
        return rd_fail(r, "expected 'N'");
    return rd_tuple(dec, r, 1, &m->u.change.new_tup);
}

static int rd_body(pr_pgout_t *dec, rd_t *r, pr_pgout_msg_t *m)
{
    uint8_t u8 = 0;

    switch (m->type) {
    case 'B':
        return rd_u64(r, &m->u.begin.final_lsn) ||
                       rd_i64(r, &m->u.begin.commit_us) ||
                       rd_u32(r, &m->u.begin.xid)
                   ? MW_ERR_INVALID
                   : 0;
    case 'C':
        return rd_u8(r, &u8) || rd_u64(r, &m->u.commit.commit_lsn) ||
                       rd_u64(r, &m->u.commit.end_lsn) ||
                       rd_i64(r, &m->u.commit.commit_us)
                   ? MW_ERR_INVALID
                   : 0;
    case 'O':
        return rd_u64(r, &m->u.origin.lsn) || rd_str(r, &m->u.origin.name)
                   ? MW_ERR_INVALID
                   : 0;
    case 'R':
        return rd_relation(dec, r, m);
    case 'Y':
        return rd_u32(r, &m->u.type.oid) || rd_str(r, &m->u.type.nspname) ||
                       rd_str(r, &m->u.type.typname)
                   ? MW_ERR_INVALID
                   : 0;
    case 'I':
    case 'U':
    case 'D':
        return rd_change(dec, r, m);
    case 'T':
        if (rd_u32(r, &m->u.truncate.nrels) != 0 ||
            rd_u8(r, &m->u.truncate.options) != 0)
            return MW_ERR_INVALID;
        if ((size_t)(r->end - r->p) / 4 < m->u.truncate.nrels)
            return rd_fail(r, "relation count past the end");
        m->u.truncate.relids = r->p;
        r->p += (size_t)m->u.truncate.nrels * 4;
        return 0;
    case 'M':
        if (rd_u8(r, &u8) != 0 || rd_u64(r, &m->u.message.lsn) != 0 ||
            rd_str(r, &m->u.message.prefix) != 0 ||
            rd_u32(r, &m->u.message.len) != 0)
            return MW_ERR_INVALID;
        m->u.message.transactional = u8 & 1;
        if ((uint64_t)(r->end - r->p) < m->u.message.len)
            return rd_fail(r, "content past the end");
        m->u.message.content = (const char *)r->p;
        r->p += m->u.message.len;
        return 0;
    default:
        return rd_fail(r, "unknown message type");
    }
}

int pr_pgout_decode(pr_pgout_t *dec, const uint8_t *p, size_t n,
                    pr_pgout_msg_t *msg, mw_err_t *err)
{
    rd_t r = {.p = p, .start = p, .end = p + n, .type = '?', .err = err};

    memset(msg, 0, sizeof(*msg));
    if (n < 1)
        return rd_fail(&r, "empty message");
    r.type = (char)*r.p++;
    msg->type = r.type;
    if (rd_body(dec, &r, msg) != 0)
        return err ? err->code : MW_ERR_INVALID;
    if (r.p != r.end)
        return rd_fail(&r, "trailing bytes");
    return 0;
}

uint32_t pr_pgout_relid_at(const pr_pgout_msg_t *msg, uint32_t i)
{
    const uint8_t *q = msg->u.truncate.relids + (size_t)i * 4;

    return ((uint32_t)q[0] << 24) | ((uint32_t)q[1] << 16) |
           ((uint32_t)q[2] << 8) | q[3];
}

pr_pgout_t *pr_pgout_new(void)
{
    return calloc(1, sizeof(pr_pgout_t));
}

void pr_pgout_destroy(pr_pgout_t *dec)
{
    if (!dec)
        return;
    free(dec->cols[0]);
    free(dec->cols[1]);
    free(dec->relcols);
    free(dec);
}
