/*
 * mat_pg_rows: a PostgreSQL table's pending changes within one batch, and
 * how they are written.
 *
 * apply() encodes each change right away (the change is only borrowed) as
 * a tuple of PostgreSQL's binary COPY format, appended to one of the
 * table's two buffers (rows to write, keys to delete), and files it under
 * its key in a small open-addressing hash: a later change of the same key
 * replaces the earlier one (its bytes stay behind, unsent).  That is exact
 * because every upsert carries the whole after-image: within one batch
 * only a key's last change decides its final state (insert-delete ends
 * absent, delete-insert ends as the insert), and it also satisfies INSERT
 * ... ON CONFLICT, which refuses to touch one row twice in a statement.
 * Rows without a key (append) are kept in order.  No allocation per row:
 * the buffers, the row index and the hash grow by doubling (see slots_grow
 * for why the hash is its own index, not an mw_htab).
 *
 * Binary rather than text COPY: the server skips parsing numeric,
 * timestamp and float text (COPY of 200,000 rows of the benchmark table
 * into a temporary table took 168 ms as text, 72 ms binary), and encoding
 * needs no printf.  Values PostgreSQL's binary input would refuse (a date
 * or timestamp outside its range, a malformed uuid or decimal, an integer
 * too wide for its column) are refused here, naming the column.
 *
 * flush() writes the pending rows inside the batch's open transaction:
 *
 *   1. keyless table: COPY table FROM STDIN, the rows in order;
 *   2. direct (MAT_PG_ADAPTIVE, while the table's last flush found no
 *      existing key): SAVEPOINT, the deletes as in 3, COPY of the rows
 *      straight into the table, RELEASE.  A unique violation (some key
 *      exists after all) rolls back to the savepoint and the flush runs
 *      again as 3; nothing else changes meaning.  COPY into the table is
 *      what a bulk load of new keys (snapshot, initial catch-up) costs at
 *      best; the merge below costs 2-3 times that.
 *   3. merge: CREATE TEMP TABLE IF NOT EXISTS staging (ON COMMIT DELETE
 *      ROWS; the table's columns plus `_mesh_del`, no constraints, named
 *      after the table's index and shape version), COPY the rows and the
 *      deleted keys into it, DELETE ... USING staging, INSERT ... SELECT
 *      FROM staging ON CONFLICT DO UPDATE, all in one round trip.  Under
 *      MAT_PG_ADAPTIVE the INSERT also counts the rows it inserted rather
 *      than updated (`xmax = 0` in RETURNING, true only for a new row
 *      version that no updater locked): when all were new, the next flush
 *      tries 2; when none was, the next flush is 4.  That count only
 *      steers the choice; correctness never depends on it.
 *   4. update (MAT_PG_ADAPTIVE, while the table's last flush found every
 *      key stored, and the table has a column besides its key): as 3, but
 *      UPDATE ... FROM staging in place of the INSERT, counting the rows
 *      it updated.  An update skips what ON CONFLICT does on top of it
 *      for each row (the speculative insertion's check, a row lock and
 *      its WAL record): the statement took 10-20 % less time for the same
 *      5,000-row batches (mat_pg_sql.c's join settings make it probe the
 *      key).  When it updated fewer rows than it staged, the staged
 *      upserts whose key has no row are inserted by INSERT ... ON
 *      CONFLICT in a second round trip, and the next flush is 3 again.
 *      The statements are built by mat_pg_sql.c.

 * The order of deletes and upserts within a flush does not matter: after
 * deduplication each key has one change.
 *
 * Debezium's unavailable-value placeholder in an upsert is resolved by
 * mat_pg_keep.c: when the upsert replaces the key's pending change, and
 * in the staging table of a flush whose rows hold one (which therefore
 * always merges).
 */
#include "mat_pg_int.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mw_hash.h"
#include "mw_hex.h"
#include "mw_vec.h"

#define COPY_CHUNK_BYTES (1u << 20)
#define SQLSTATE_UNIQUE_VIOLATION "23505"

/* PostgreSQL's epoch (2000-01-01) from the Unix epoch, and the ranges its
 * binary input accepts (datatype/timestamp.h: Julian day 0 = 4714-11-24
 * BC up to 5874898-01-01 for dates, to 294277-01-01 for timestamps). */
#define PG_EPOCH_DAYS INT64_C(10957)
#define PG_US_PER_DAY INT64_C(86400000000)
#define PG_EPOCH_US (PG_EPOCH_DAYS * PG_US_PER_DAY)
#define PG_DATE_MIN INT64_C(-2451545)
#define PG_DATE_END INT64_C(2145031949)
#define PG_TS_MIN INT64_C(-211813488000000000)
#define PG_TS_END INT64_C(9223371331200000000)
/* numeric's binary form: base-10000 digits, a 14-bit display scale. */
#define PG_NUMERIC_POS 0x0000
#define PG_NUMERIC_NEG 0x4000
#define PG_NUMERIC_DSCALE_MAX 0x3FFF
#define DECIMAL_TEXT_MAX 4000

static const char copy_header[19] = "PGCOPY\n\377\r\n\0\0\0\0\0\0\0\0\0";
static const char copy_trailer[2] = {'\xff', '\xff'};

const char *mat_pg_strategy_name(mat_pg_strategy_t strategy)
{
    static const char *const names[] = {
        [MAT_PG_ADAPTIVE] = "adaptive",
        [MAT_PG_MERGE] = "merge",
    };
    _Static_assert(sizeof(names) / sizeof(names[0]) == MAT_PG__STRATEGY_CNT,
                   "strategy names match the enum");
    if ((unsigned)strategy >= MAT_PG__STRATEGY_CNT)
        return "unknown";
    return names[strategy];
}

/* ---- binary encoding ---------------------------------------------- */

static void be16(unsigned char *p, uint16_t v)
{
    p[0] = (unsigned char)(v >> 8);
    p[1] = (unsigned char)v;
}

static void be32(unsigned char *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (unsigned char)(v >> (24 - 8 * i));
}

static void be64(unsigned char *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (unsigned char)(v >> (56 - 8 * i));
}

/* A field: its 4-byte length, then len bytes (two parts, either empty). */
static int put_field(mw_buf_t *buf, const void *a, size_t alen, const void *b,
                     size_t blen)
{
    unsigned char len[4];
    if (alen + blen > INT32_MAX)
        return MW_ERR_FULL;
    be32(len, (uint32_t)(alen + blen));
    int rc = mw_buf_append(buf, len, 4);
    if (rc == 0 && alen)
        rc = mw_buf_append(buf, a, alen);
    if (rc == 0 && blen)
        rc = mw_buf_append(buf, b, blen);
    return rc;
}

/* A fixed-size field: length and value in one append. */
static int put_fixed(mw_buf_t *buf, uint64_t v, size_t size)
{
    unsigned char f[12];
    be32(f, (uint32_t)size);
    if (size == 1)
        f[4] = (unsigned char)v;
    else if (size == 4)
        be32(f + 4, (uint32_t)v);
    else
        be64(f + 4, v);
    return mw_buf_append(buf, f, 4 + size);
}

/* uuid text as uuid_in() reads it: optional braces, 32 hex digits, a
 * hyphen allowed after any group of four. */
static int parse_uuid(const char *s, size_t len, unsigned char out[16])
{
    size_t i = 0;
    bool braces = len > 0 && s[0] == '{';
    i += braces;
    for (int b = 0; b < 16; b++) {
        if (i + 2 > len)
            return -1;
        int hi = mw_hex_val(s[i]), lo = mw_hex_val(s[i + 1]);
        if (hi < 0 || lo < 0)
            return -1;
        out[b] = (unsigned char)(hi << 4 | lo);
        i += 2;
        if (i < len && s[i] == '-' && b % 2 == 1 && b < 15)
            i++;
    }
    if (braces && (i >= len || s[i++] != '}'))
        return -1;
    return i == len ? 0 : -1;
}

/* Decimal text "-123.4500" as numeric's binary form: ndigits, weight,
 * sign, dscale, then base-10000 digits (the first one's weight is
 * `weight`; the integer part is grouped from the point leftwards, the
 * fraction rightwards).  The server applies the column's typmod. */
static int put_numeric(mw_buf_t *buf, const char *s, size_t len)
{
    uint16_t digits[DECIMAL_TEXT_MAX / 4 + 3];
    size_t i = 0, int_start, int_len, frac_start = 0, frac_len = 0;
    bool neg = len > 0 && s[0] == '-';
    i += len > 0 && (s[0] == '-' || s[0] == '+');
    int_start = i;
    while (i < len && s[i] >= '0' && s[i] <= '9')
        i++;
    int_len = i - int_start;
    if (i < len && s[i] == '.') {
        frac_start = ++i;
        while (i < len && s[i] >= '0' && s[i] <= '9')
            i++;
        frac_len = i - frac_start;
    }
    if (i != len || int_len + frac_len == 0 || len > DECIMAL_TEXT_MAX ||
        frac_len > PG_NUMERIC_DSCALE_MAX)
        return MW_ERR_INVALID;
    while (int_len > 0 && s[int_start] == '0') {
        int_start++;
        int_len--;
    }
    size_t int_groups = (int_len + 3) / 4, nd = 0;
    /* Integer part: the first group takes the leftover digits. */
    size_t pos = int_start,
           first = int_len - 4 * (int_groups ? int_groups - 1 : 0);
    for (size_t g = 0; g < int_groups; g++) {
        size_t take = g == 0 ? first : 4;
        unsigned v = 0;
        for (size_t k = 0; k < take; k++)
            v = v * 10 + (unsigned)(s[pos++] - '0');
        digits[nd++] = (uint16_t)v;
    }
    for (size_t f = 0; f < frac_len; f += 4) {
        unsigned v = 0;
        for (size_t k = 0; k < 4; k++)
            v = v * 10 + (f + k < frac_len
                              ? (unsigned)(s[frac_start + f + k] - '0')
                              : 0);
        digits[nd++] = (uint16_t)v;
    }
    int weight = (int)int_groups - 1;
    size_t lead = 0;
    while (lead < nd && digits[lead] == 0) {
        lead++;
        weight--;
    }
    while (nd > lead && digits[nd - 1] == 0)
        nd--;
    nd -= lead;
    if (nd == 0)
        weight = 0;
    unsigned char head[8];
    be16(head, (uint16_t)nd);
    be16(head + 2, (uint16_t)(int16_t)weight);
    be16(head + 4, neg && nd ? PG_NUMERIC_NEG : PG_NUMERIC_POS);
    be16(head + 6, (uint16_t)frac_len);
    unsigned char body[sizeof digits];
    for (size_t k = 0; k < nd; k++)
        be16(body + 2 * k, digits[lead + k]);
    return put_field(buf, head, sizeof head, body, 2 * nd);
}

static int value_error(const mat_pg_tab_t *tab, const mat_pg_col_t *col,
                       const char *what, mw_err_t *err)
{
    return mw_err_set(err, MW_ERR_INVALID, "table '%s' column '%s': %s",
                      tab->name, col->name, what);
}

/* Text-like values: bytes as given, NUL refused (PostgreSQL text cannot
 * hold one); jsonb's binary form is a version byte, then the text. */
static int put_text(mw_buf_t *buf, const mat_pg_tab_t *tab,
                    const mat_pg_col_t *col, const mat_value_t *v,
                    mw_err_t *err)
{
    static const char jsonb_version = 1;
    const char *p = v->u.s.ptr ? v->u.s.ptr : "";
    if (memchr(p, '\0', v->u.s.len))
        return value_error(tab, col,
                           "text holds a NUL byte, which "
                           "PostgreSQL cannot store",
                           err);
    if (col->type == MAT_COL_JSON)
        return put_field(buf, &jsonb_version, 1, p, v->u.s.len);
    return put_field(buf, p, v->u.s.len, NULL, 0);
}

/* Appends v as one binary COPY field of col's type. */
static int put_value(mw_buf_t *buf, const mat_pg_tab_t *tab,
                     const mat_pg_col_t *col, const mat_value_t *v,
                     mw_err_t *err)
{
    union {
        float f;
        uint32_t u;
    } f4;
    union {
        double d;
        uint64_t u;
    } f8;
    unsigned char uuid[16];
    int64_t x = v->u.i;
    switch (col->type) {
    case MAT_COL_BOOL:
        return put_fixed(buf, v->u.b ? 1 : 0, 1);
    case MAT_COL_INT32:
        if (x < INT32_MIN || x > INT32_MAX)
            return value_error(tab, col,
                               "value does not fit an integer "
                               "column",
                               err);
        return put_fixed(buf, (uint32_t)(int32_t)x, 4);
    case MAT_COL_INT64:
        return put_fixed(buf, (uint64_t)x, 8);
    case MAT_COL_FLOAT:
        f4.f = (float)v->u.d;
        return put_fixed(buf, f4.u, 4);
    case MAT_COL_DOUBLE:
        f8.d = v->u.d;
        return put_fixed(buf, f8.u, 8);
    case MAT_COL_BYTES:
        return put_field(buf, v->u.s.ptr, v->u.s.ptr ? v->u.s.len : 0, NULL, 0);
    case MAT_COL_DECIMAL:
        if (put_numeric(buf, v->u.s.ptr ? v->u.s.ptr : "", v->u.s.len) ==
            MW_ERR_INVALID)
            return value_error(tab, col, "not a decimal number", err);
        return 0;
    case MAT_COL_UUID:
        if (parse_uuid(v->u.s.ptr ? v->u.s.ptr : "", v->u.s.len, uuid) != 0)
            return value_error(tab, col, "not a uuid", err);
        return put_field(buf, uuid, 16, NULL, 0);
    case MAT_COL_DATE:
        if (x < PG_DATE_MIN + PG_EPOCH_DAYS || x >= PG_DATE_END + PG_EPOCH_DAYS)
            return value_error(tab, col, "date outside PostgreSQL's range",
                               err);
        return put_fixed(buf, (uint32_t)(int32_t)(x - PG_EPOCH_DAYS), 4);
    case MAT_COL_TIME_MICROS:
        if (x < 0 || x > PG_US_PER_DAY)
            return value_error(tab, col, "time outside one day", err);
        return put_fixed(buf, (uint64_t)x, 8);
    case MAT_COL_TIMESTAMP_MICROS:
        if (x < PG_TS_MIN + PG_EPOCH_US || x - PG_EPOCH_US >= PG_TS_END)
            return value_error(tab, col,
                               "timestamp outside PostgreSQL's "
                               "range",
                               err);
        return put_fixed(buf, (uint64_t)(x - PG_EPOCH_US), 8);
    default: /* TEXT, JSON */
        return put_text(buf, tab, col, v, err);
    }
}

/* Appends change's tuple to buf: every column (upsert, append), or the key
 * columns and `true` for the staging table's _mesh_del (delete).  Sets
 * *key_len to the bytes of the key fields, which come first. */
static int put_tuple(mw_buf_t *buf, const mat_pg_tab_t *tab,
                     const mat_change_t *change, bool del, uint32_t *key_len,
                     mw_err_t *err)
{
    unsigned char cnt[2];
    size_t n = del ? tab->key_cnt : tab->col_cnt, start = mw_buf_len(buf);
    be16(cnt, (uint16_t)(n + del));
    int rc = mw_buf_append(buf, cnt, 2);
    for (size_t i = 0; rc == 0 && i < n; i++) {
        const mat_pg_col_t *col = &tab->cols[i];
        const mat_value_t *v = &change->values[i];
        if (v->is_null && col->is_key)
            return mw_err_set(err, MW_ERR_INVALID,
                              "table '%s': key column "
                              "'%s' is null",
                              tab->name, col->name);
        if (v->is_null) {
            static const unsigned char null_len[4] = {0xff, 0xff, 0xff, 0xff};
            rc = mw_buf_append(buf, null_len, 4);
        } else {
            rc = put_value(buf, tab, col, v, err);
            if (rc == MW_ERR_INVALID)
                return rc;
        }
        if (i + 1 == tab->key_cnt)
            *key_len = (uint32_t)(mw_buf_len(buf) - start - 2);
    }
    if (rc == 0 && del)
        rc = put_fixed(buf, 1, 1);
    return rc;
}

/* ---- pending rows ------------------------------------------------- */

static const unsigned char *row_bytes(const mat_pg_tab_t *tab,
                                      const mat_pg_row_t *row)
{
    int kind =
        row->op == MAT_OP_DELETE ? MAT_PG_DATA_DELETES : MAT_PG_DATA_ROWS;
    return (const unsigned char *)mw_buf_data(tab->data[kind]) + row->off;
}

/* mw_hash_bytes over the key fields' COPY bytes (lengths included, so
 * "ab","c" and "a","bc" differ), kept to 32 bits: the slot mask never uses
 * more, and the row index stays small. */
static uint32_t key_hash(const unsigned char *key, uint32_t len)
{
    return (uint32_t)mw_hash_bytes(key, len);
}

static bool key_equal(const mat_pg_tab_t *tab, const mat_pg_row_t *a,
                      const mat_pg_row_t *b)
{
    return a->key_len == b->key_len &&
           memcmp(row_bytes(tab, a) + 2, row_bytes(tab, b) + 2, a->key_len) ==
               0;
}

/* The key index stays specialised rather than an mw_htab: this is the
 * per-row hot path of the postgres sink, and the generic table would cost
 * there.  Its keys live inside the COPY buffers, which move when they
 * grow, so an mw_htab's borrowed key pointers would go stale; the index
 * holds int32 row numbers with the hash cached in the row instead, so a
 * rebuild never touches a key's bytes and a probe compares bytes only on
 * a hash match.  Doubling here is a rehash into a new power-of-two array,
 * not an append, hence no MW_VEC_RESERVE. */
static int slots_grow(mat_pg_tab_t *tab)
{
    size_t cap = tab->slot_cap ? tab->slot_cap * 2 : 1024;
    int32_t *slots = malloc(cap * sizeof(*slots));
    if (!slots)
        return MW_ERR_NOMEM;
    memset(slots, 0xff, cap * sizeof(*slots)); /* -1 everywhere */
    for (size_t r = 0; r < tab->row_cnt; r++) {
        if (tab->rows[r].op == MAT_OP_APPEND)
            continue;
        size_t s = tab->rows[r].hash & (cap - 1);
        while (slots[s] >= 0)
            s = (s + 1) & (cap - 1);
        slots[s] = (int32_t)r;
    }
    free(tab->slots);
    tab->slots = slots;
    tab->slot_cap = cap;
    return 0;
}

static int rows_push(mat_pg_tab_t *tab, const mat_pg_row_t *row)
{
    if (MW_VEC_RESERVE(&tab->rows, &tab->row_cap, tab->row_cnt + 1))
        return MW_ERR_NOMEM;
    tab->rows[tab->row_cnt++] = *row;
    return 0;
}

/* Files a keyed row: replaces the pending change of its key if any
 * (merging the placeholders of row, an upsert holding one, into it). */
static int rows_put_keyed(mat_pg_tab_t *tab, mat_pg_row_t *row,
                          bool placeholder)
{
    if (2 * (tab->row_cnt + 1) > tab->slot_cap && slots_grow(tab) != 0)
        return MW_ERR_NOMEM;
    row->hash = key_hash(row_bytes(tab, row) + 2, row->key_len);
    size_t s = row->hash & (tab->slot_cap - 1);
    for (; tab->slots[s] >= 0; s = (s + 1) & (tab->slot_cap - 1)) {
        mat_pg_row_t *old = &tab->rows[tab->slots[s]];
        if (old->hash != row->hash || !key_equal(tab, old, row))
            continue;
        int rc = placeholder ? mat_pg_keep_merge(tab, old, row) : 0;
        if (rc != 0)
            return rc;
        tab->del_cnt -= old->op == MAT_OP_DELETE;
        tab->del_cnt += row->op == MAT_OP_DELETE;
        *old = *row;
        return 0;
    }
    if (rows_push(tab, row) != 0)
        return MW_ERR_NOMEM;
    tab->slots[s] = (int32_t)(tab->row_cnt - 1);
    tab->del_cnt += row->op == MAT_OP_DELETE;
    return 0;
}

int mat_pg_rows_add(mat_pg_tab_t *tab, const mat_change_t *change,
                    mw_err_t *err)
{
    /* A keyed table takes appends as upserts (its key must stay unique);
     * an unkeyed one only appends. */
    bool keyed = tab->key_cnt > 0, del = change->op == MAT_OP_DELETE;
    if (!keyed && del)
        return mw_err_set(err, MW_ERR_INVALID,
                          "table '%s' has no key: "
                          "cannot delete",
                          tab->name);
    int kind = del ? MAT_PG_DATA_DELETES : MAT_PG_DATA_ROWS;
    if (!tab->data[kind] && !(tab->data[kind] = mw_buf_new(0)))
        return mw_err_set(err, MW_ERR_NOMEM,
                          "table '%s': out of memory "
                          "for pending rows",
                          tab->name);
    mw_buf_t *buf = tab->data[kind];
    mat_pg_row_t row = {.off = (uint32_t)mw_buf_len(buf),
                        .op = keyed ? (del ? MAT_OP_DELETE : MAT_OP_UPSERT)
                                    : MAT_OP_APPEND};
    /* A row that fails half-way leaves bytes no row points at: harmless,
     * they are never sent and go with the next clear. */
    int rc = put_tuple(buf, tab, change, del, &row.key_len, err);
    bool placeholder =
        keyed && !del && rc == 0 && mat_pg_keep_has_placeholder(tab, change);
    if (rc == 0) {
        row.len = (uint32_t)(mw_buf_len(buf) - row.off);
        rc = keyed ? rows_put_keyed(tab, &row, placeholder)
                   : rows_push(tab, &row);
    }
    /* Conservative: a placeholder merged away costs a merge. */
    tab->has_placeholders = tab->has_placeholders || (rc == 0 && placeholder);
    if (rc == MW_ERR_NOMEM || (rc == MW_ERR_FULL && row.off == 0))
        return mw_err_set(err, rc,
                          "table '%s': row too large or out of "
                          "memory for pending rows",
                          tab->name);
    if (rc == MW_ERR_FULL)
        return mw_err_set(err, rc, "table '%s': pending rows full", tab->name);
    return rc;
}

size_t mat_pg_rows_bytes(const mat_pg_tab_t *tab)
{
    size_t n = 0;
    for (int k = 0; k < MAT_PG_DATA__CNT; k++)
        n += tab->data[k] ? mw_buf_len(tab->data[k]) : 0;
    return n;
}

void mat_pg_rows_clear(mat_pg_tab_t *tab)
{
    for (int k = 0; k < MAT_PG_DATA__CNT; k++)
        if (tab->data[k])
            mw_buf_reset(tab->data[k]);
    tab->row_cnt = 0;
    tab->del_cnt = 0;
    tab->has_placeholders = false;
    if (tab->slots)
        memset(tab->slots, 0xff, tab->slot_cap * sizeof(*tab->slots));
}

void mat_pg_rows_free(mat_pg_tab_t *tab)
{
    mat_pg_rows_clear(tab);
    for (int k = 0; k < MAT_PG_DATA__CNT; k++) {
        mw_buf_destroy(tab->data[k]);
        tab->data[k] = NULL;
    }
    free(tab->rows);
    free(tab->slots);
    tab->rows = NULL;
    tab->slots = NULL;
    tab->row_cap = tab->slot_cap = 0;
}

/* ---- sending COPY data -------------------------------------------- */

/* Gathers small pieces into COPY_CHUNK_BYTES messages; large ones go out
 * as they are, in slices. */
typedef struct copy_out {
    PGconn *conn;
    mw_buf_t *gather;
    int rc;
} copy_out_t;

static void copy_flush(copy_out_t *out)
{
    if (out->rc == 0 && mw_buf_len(out->gather) > 0 &&
        PQputCopyData(out->conn, mw_buf_data(out->gather),
                      (int)mw_buf_len(out->gather)) != 1)
        out->rc = MW_ERR_TRANSPORT;
    mw_buf_reset(out->gather);
}

static void copy_put(copy_out_t *out, const char *p, size_t len)
{
    if (out->rc)
        return;
    if (len < COPY_CHUNK_BYTES) {
        if (mw_buf_len(out->gather) + len > COPY_CHUNK_BYTES)
            copy_flush(out);
        if (out->rc == 0 && mw_buf_append(out->gather, p, len) != 0)
            out->rc = MW_ERR_NOMEM;
        return;
    }
    copy_flush(out);
    for (size_t at = 0; out->rc == 0 && at < len; at += COPY_CHUNK_BYTES) {
        size_t n = len - at < COPY_CHUNK_BYTES ? len - at : COPY_CHUNK_BYTES;
        if (PQputCopyData(out->conn, p + at, (int)n) != 1)
            out->rc = MW_ERR_TRANSPORT;
    }
}

/* Streams the live tuples of one kind (deletes, or everything else),
 * joining runs that lie next to each other in the buffer. */
static int copy_tuples(PGconn *conn, const mat_pg_tab_t *tab, bool deletes,
                       mw_buf_t *gather)
{
    copy_out_t out = {.conn = conn, .gather = gather};
    const mw_buf_t *buf =
        tab->data[deletes ? MAT_PG_DATA_DELETES : MAT_PG_DATA_ROWS];
    const char *base = buf ? mw_buf_data(buf) : "";
    size_t run_off = 0, run_len = 0;
    copy_put(&out, copy_header, sizeof copy_header);
    for (size_t r = 0; r < tab->row_cnt; r++) {
        const mat_pg_row_t *row = &tab->rows[r];
        if ((row->op == MAT_OP_DELETE) != deletes)
            continue;
        if (run_len && run_off + run_len == row->off) {
            run_len += row->len;
            continue;
        }
        if (run_len)
            copy_put(&out, base + run_off, run_len);
        run_off = row->off;
        run_len = row->len;
    }
    if (run_len)
        copy_put(&out, base + run_off, run_len);
    copy_put(&out, copy_trailer, sizeof copy_trailer);
    copy_flush(&out);
    return out.rc;
}

/* What one flush statement string feeds and reads back. */
typedef struct flush_run {
    bool copy_kind[3]; /* per COPY FROM STDIN in order: true = deletes */
    size_t copy_cnt;
    long long counts[2]; /* the values of one-row results, in order */
    size_t count_cnt;
    char sqlstate[6]; /* of the first error, "" when none */
} flush_run_t;

/* Sends sql (several statements, with COPY FROM STDIN statements fed as
 * run->copy_kind says) and collects every result; the first error wins
 * and its SQLSTATE is kept. */
static int run_with_copy(PGconn *conn, const mat_pg_tab_t *tab, const char *sql,
                         flush_run_t *run, mw_err_t *err)
{
    run->count_cnt = 0;
    run->sqlstate[0] = '\0';
    if (!PQsendQuery(conn, sql))
        return mat_pg_error(conn, NULL, "sending a COPY", err);
    mw_buf_t *gather = mw_buf_new(2 * COPY_CHUNK_BYTES);
    int rc = gather ? 0 : mw_err_set(err, MW_ERR_NOMEM, "out of memory");
    bool put_failed = false;
    size_t copies = 0;
    PGresult *res;
    while ((res = PQgetResult(conn)) != NULL) {
        ExecStatusType st = PQresultStatus(res);
        if (st == PGRES_COPY_IN) {
            /* A put fails when the server already refused the COPY: its
             * error is the next result. */
            int crc =
                rc || copies >= run->copy_cnt
                    ? -1
                    : copy_tuples(conn, tab, run->copy_kind[copies], gather);
            copies++;
            put_failed = put_failed || crc != 0;
            PQputCopyEnd(conn, crc ? "mesh-materializer gave up" : NULL);
        } else if (st == PGRES_TUPLES_OK && PQntuples(res) == 1 &&
                   PQnfields(res) == 1) {
            if (run->count_cnt < 2)
                run->counts[run->count_cnt++] =
                    strtoll(PQgetvalue(res, 0, 0), NULL, 10);
        } else if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK && rc == 0) {
            const char *state = PQresultErrorField(res, PG_DIAG_SQLSTATE);
            snprintf(run->sqlstate, sizeof run->sqlstate, "%s",
                     state ? state : "");
            rc = mat_pg_error(conn, res, "writing rows", err);
        }
        PQclear(res);
        if (PQstatus(conn) == CONNECTION_BAD)
            break;
    }
    if (rc == 0 && (put_failed || PQstatus(conn) == CONNECTION_BAD))
        rc = mat_pg_error(conn, NULL, "COPY", err);
    mw_buf_destroy(gather);
    if (rc)
        mw_err_prefix(err, "table '%s'", tab->name);
    return rc;
}

/* ---- flushing ------------------------------------------------------ */

/* How a keyed table's upserts reach it in one flush (module comment). */
typedef enum flush_way {
    WAY_DIRECT, /* COPY into the table, in a savepoint */
    WAY_MERGE,  /* staging, INSERT ... ON CONFLICT */
    WAY_UPDATE, /* staging, UPDATE ... FROM (keys expected to exist) */
} flush_way_t;

/* The statement string of a keyed table's flush, and which COPY gets
 * which tuples.  count: the merge counts the rows it inserted (the update
 * always counts the rows it updated). */
static int keyed_sql(mw_buf_t *sql, const mat_pg_tab_t *tab, flush_way_t way,
                     bool count, flush_run_t *run)
{
    size_t upserts = tab->row_cnt - tab->del_cnt;
    bool direct = way == WAY_DIRECT;
    bool staging = tab->del_cnt > 0 || !direct;
    int rc = direct ? mw_buf_appendf(sql, "SAVEPOINT mesh_direct; ") : 0;
    if (rc == 0 && staging)
        rc = mat_pg_sql_staging(sql, tab);
    if (rc == 0 && upserts > 0 && !direct) {
        rc = mat_pg_sql_copy(sql, tab, true, false);
        run->copy_kind[run->copy_cnt++] = false;
    }
    if (rc == 0 && tab->del_cnt > 0) {
        rc = mat_pg_sql_copy(sql, tab, true, true);
        run->copy_kind[run->copy_cnt++] = true;
        if (rc == 0)
            rc = mat_pg_sql_delete(sql, tab);
    }
    if (rc == 0 && upserts > 0 && !direct && tab->has_placeholders)
        rc = mat_pg_keep_resolve_sql(sql, tab);
    if (rc == 0 && upserts > 0 && way == WAY_MERGE)
        rc = mat_pg_sql_upsert(sql, tab, count, false);
    if (rc == 0 && upserts > 0 && way == WAY_UPDATE)
        rc = mat_pg_sql_update(sql, tab);
    if (rc == 0 && upserts > 0 && direct) {
        rc = mat_pg_sql_copy(sql, tab, false, false);
        run->copy_kind[run->copy_cnt++] = false;
    }
    if (rc == 0 && direct)
        rc = mw_buf_appendf(sql, "RELEASE SAVEPOINT mesh_direct; ");
    return rc;
}

static int too_large(const mat_pg_tab_t *tab, mw_err_t *err)
{
    return mw_err_set(err, MW_ERR_NOMEM, "table '%s': statement too large",
                      tab->name);
}

/* One attempt: builds and runs the flush's statements. */
static int flush_once(PGconn *conn, mat_pg_tab_t *tab, flush_way_t way,
                      bool count, flush_run_t *run, mw_err_t *err)
{
    mw_buf_t *sql = mw_buf_new(0);
    int rc = sql ? 0 : MW_ERR_NOMEM;
    *run = (flush_run_t){0};
    if (rc == 0 && tab->key_cnt == 0) {
        rc = mat_pg_sql_copy(sql, tab, false, false);
        run->copy_kind[run->copy_cnt++] = false;
    } else if (rc == 0) {
        rc = keyed_sql(sql, tab, way, count, run);
    }
    if (rc != 0) {
        mw_buf_destroy(sql);
        return too_large(tab, err);
    }
    rc = run_with_copy(conn, tab, mw_buf_data(sql), run, err);
    mw_buf_destroy(sql);
    return rc;
}

/* After an UPDATE that found fewer rows than it staged: the staged upserts
 * whose key has no row yet, by INSERT ... ON CONFLICT (a key another
 * writer inserted meanwhile is updated all the same). */
static int insert_missing(PGconn *conn, const mat_pg_tab_t *tab, mw_err_t *err)
{
    mw_buf_t *sql = mw_buf_new(0);
    if (!sql || mat_pg_sql_upsert(sql, tab, false, true) != 0) {
        mw_buf_destroy(sql);
        return too_large(tab, err);
    }
    int rc = mat_pg_exec(conn, mw_buf_data(sql), "inserting new keys", err);
    mw_buf_destroy(sql);
    if (rc)
        mw_err_prefix(err, "table '%s'", tab->name);
    return rc;
}

/* The direct attempt (module comment, 2.): 1 when some key exists (the
 * attempt is undone, the caller merges), else the flush's result. */
static int flush_direct(PGconn *conn, mat_pg_tab_t *tab, mw_err_t *err)
{
    flush_run_t run;
    int rc = flush_once(conn, tab, WAY_DIRECT, false, &run, err);
    tab->flushed_in_tx = tab->flushed_in_tx || tab->del_cnt > 0;
    if (rc == 0 || strcmp(run.sqlstate, SQLSTATE_UNIQUE_VIOLATION) != 0)
        return rc;
    tab->direct = false;
    mw_err_clear(err);
    rc = mat_pg_exec(conn,
                     "ROLLBACK TO SAVEPOINT mesh_direct; "
                     "RELEASE SAVEPOINT mesh_direct",
                     "ROLLBACK TO SAVEPOINT", err);
    return rc ? rc : 1;
}

/* A keyed table: direct while its keys are new, update while they all
 * exist, else merge (module comment). */
static int flush_keyed(PGconn *conn, mat_pg_tab_t *tab,
                       mat_pg_strategy_t strategy, mw_err_t *err)
{
    bool adaptive = strategy == MAT_PG_ADAPTIVE;
    long long upserts = (long long)(tab->row_cnt - tab->del_cnt);
    bool resolve = tab->has_placeholders && upserts > 0;
    int rc;
    if (adaptive && tab->direct && upserts > 0 && !resolve &&
        (rc = flush_direct(conn, tab, err)) <= 0)
        return rc;
    flush_way_t way =
        adaptive && tab->existing && upserts > 0 && tab->key_cnt < tab->col_cnt
            ? WAY_UPDATE
            : WAY_MERGE;
    bool count = adaptive && upserts > 0;
    flush_run_t run;
    rc = flush_once(conn, tab, way, count, &run, err);
    tab->flushed_in_tx = tab->flushed_in_tx || rc == 0;
    /* The one-row results: the placeholders without a row (resolve), then
     * the rows the merge inserted or the update updated (count). */
    if (rc == 0 && resolve && run.count_cnt > 0)
        tab->unavailable_pending += (uint64_t)run.counts[0];
    long long n = rc == 0 && count && run.count_cnt == 1u + resolve
                      ? run.counts[resolve]
                      : -1;
    if (way == WAY_MERGE && n >= 0) {
        tab->direct = n == upserts;
        tab->existing = n == 0;
    }
    if (rc == 0 && way == WAY_UPDATE && n != upserts) {
        tab->existing = false;
        rc = insert_missing(conn, tab, err);
    }
    return rc;
}

int mat_pg_rows_flush(PGconn *conn, mat_pg_tab_t *tab,
                      mat_pg_strategy_t strategy, mw_err_t *err)
{
    if (tab->row_cnt == 0)
        return 0;
    int rc;
    if (tab->key_cnt == 0) {
        flush_run_t run;
        rc = flush_once(conn, tab, WAY_MERGE, false, &run, err);
    } else {
        rc = flush_keyed(conn, tab, strategy, err);
    }
    mat_pg_rows_clear(tab);
    return rc;
}
