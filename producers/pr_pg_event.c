/*
 * pr_pg_event: one change as Debezium's envelope, encoded straight to
 * Avro binary against the schemas the source derived and registered
 * (pr_pg_rel.c): the key record of the primary-key columns, and the value
 * {before, after, source, transaction, op, ts_ms, ts_us, ts_ns}.  No JSON
 * text and no jansson tree per event: the emitter only adds the
 * framing.  Also the transaction topic's BEGIN / END records (as Avro
 * JSON text: two per transaction, through the emitter's transcoder).
 *
 * Images (before / after) hold pgoutput's columns: text, null ('n') or
 * unchanged TOAST ('u').  An unchanged TOASTed value is never sent as a
 * null that would overwrite the stored one: it is taken from the before
 * image when REPLICA IDENTITY FULL sent the whole old row, else it is
 * Debezium's placeholder (string and bytes columns), which
 * mesh-materializer honours by keeping the stored value; other types have
 * no placeholder and MW_ERR_UNSUPPORTED lets the caller read the value
 * back from the table.
 *
 * Thread: any; plain functions over borrowed data.
 */
#include "pr_pg_int.h"

#include <stdio.h>
#include <string.h>

#include "mw_time.h"

static bool is_special_numeric(const pr_pg_type_t *t, const pr_pgout_col_t *v)
{
    if (t->kind != PR_PG_DECIMAL && t->kind != PR_PG_VARDEC)
        return false;
    return (v->len == 3 && !memcmp(v->data, "NaN", 3)) ||
           (v->len == 8 && !memcmp(v->data, "Infinity", 8)) ||
           (v->len == 9 && !memcmp(v->data, "-Infinity", 9));
}

/* One field's value: v may be NULL (no column at all in the image).  An
 * optional field is the union ["null", T]: its branch index first. */
static int field_value(const pr_pg_col_t *c, const pr_pgout_col_t *v,
                       const pr_pgout_col_t *old, pr_pg_out_t *o, mw_err_t *err)
{
    int rc;

    if (v && v->kind == 'u' && old && old->kind == 't')
        v = old;
    /* numeric's NaN and infinities have no decimal form: null (the
     * column's empty value when NOT NULL), as Debezium's precise mode */
    if (v && v->kind == 't' && is_special_numeric(&c->type, v))
        v = NULL;
    if (!v || v->kind == 'n') {
        if (c->optional)
            return pr_pg_avro_long(o->buf, 0);
        return pr_pg_type_empty(&c->type, o);
    }
    if (c->optional && pr_pg_avro_long(o->buf, 1) != 0)
        return MW_ERR_NOMEM;
    if (v->kind == 'u') {
        if (!pr_pg_type_placeholder(&c->type, o))
            return mw_err_set(err, MW_ERR_UNSUPPORTED,
                              "column %s: unchanged TOASTed value without a "
                              "placeholder",
                              c->name);
        return 0;
    }
    if (v->kind == 'b')
        return mw_err_set(err, MW_ERR_UNSUPPORTED,
                          "column %s: binary values are not requested",
                          c->name);
    rc = pr_pg_type_value(&c->type, v->data, v->len, o, err);
    if (rc != 0)
        return mw_err_prefix(err, "column %s", c->name);
    return 0;
}

static const pr_pgout_col_t *img_at(const pr_pg_image_t *img, size_t i)
{
    return img && i < img->nvals ? &img->vals[i] : NULL;
}

int pr_pg_event_key(const pr_pg_rel_t *rel, const pr_pg_image_t *img,
                    mw_buf_t *out, mw_err_t *err)
{
    pr_pg_out_t o = {out, true};
    int rc = 0;

    mw_buf_reset(out);
    for (size_t k = 0; rc == 0 && k < rel->nkeys; k++)
        rc = field_value(&rel->cols[rel->keys[k]], img_at(img, rel->keys[k]),
                         NULL, &o, err);
    return rc;
}

/* before / after: the union ["null", Value]. */
static int row_value(const pr_pg_rel_t *rel, const pr_pg_image_t *img,
                     const pr_pg_image_t *old, pr_pg_out_t *o, mw_err_t *err)
{
    int rc = pr_pg_avro_long(o->buf, img ? 1 : 0);

    for (size_t i = 0; rc == 0 && img && i < rel->ncols; i++)
        rc = field_value(&rel->cols[i], img_at(img, i), img_at(old, i), o, err);
    return rc;
}

/* A ["null", "long"] union holding v. */
static int opt_long(mw_buf_t *out, int64_t v)
{
    if (pr_pg_avro_long(out, 1) != 0)
        return MW_ERR_NOMEM;
    return pr_pg_avro_long(out, v);
}

/* Debezium's source.sequence: ["<last commit>","<this change>"], a JSON
 * array of LSN strings in a ["null", "string"] union. */
static int sequence_value(const pr_pg_origin_t *org, mw_buf_t *out)
{
    char seq[64];
    int n;

    if (!org->lsn)
        return pr_pg_avro_long(out, 0);
    if (org->last_commit_lsn)
        n = snprintf(seq, sizeof(seq), "[\"%llu\",\"%llu\"]",
                     (unsigned long long)org->last_commit_lsn,
                     (unsigned long long)org->lsn);
    else
        n = snprintf(seq, sizeof(seq), "[null,\"%llu\"]",
                     (unsigned long long)org->lsn);
    if (pr_pg_avro_long(out, 1) != 0)
        return MW_ERR_NOMEM;
    return pr_pg_avro_str(out, seq, (size_t)n);
}

/* The source record, field by field in the schema's order (pr_pg_rel.c):
 * version, connector, name (the constant head), ts_ms, snapshot, db,
 * sequence, ts_us, ts_ns, schema, table (the constant tail), txId, lsn,
 * xmin, origin, origin_lsn. */
static int source_value(const pr_pg_rel_t *rel, const pr_pg_origin_t *org,
                        mw_buf_t *out)
{
    const char *mark = org->snapshot ? org->snapshot_mark : "false";
    int rc = mw_buf_append(out, rel->src_head, rel->src_head_len);

    if (rc == 0)
        rc = pr_pg_avro_long(out, org->ts_ms);
    /* snapshot: [Enum string, "null"], branch 0 */
    if (rc == 0)
        rc = pr_pg_avro_long(out, 0);
    if (rc == 0)
        rc = pr_pg_avro_str(out, mark, strlen(mark));
    if (rc == 0)
        rc = pr_pg_avro_str(out, org->db, strlen(org->db));
    if (rc == 0)
        rc = sequence_value(org, out);
    if (rc == 0)
        rc = opt_long(out, org->ts_ms * 1000);
    if (rc == 0)
        rc = opt_long(out, org->ts_ms * 1000000);
    if (rc == 0)
        rc = mw_buf_append(out, rel->src_tail, rel->src_tail_len);
    if (rc == 0)
        rc = org->xid ? opt_long(out, org->xid) : pr_pg_avro_long(out, 0);
    if (rc == 0)
        rc = org->lsn ? opt_long(out, (int64_t)org->lsn)
                      : pr_pg_avro_long(out, 0);
    /* xmin, origin, origin_lsn: null */
    if (rc == 0)
        rc = mw_buf_append(out, "\0\0\0", 3);
    return rc;
}

int pr_pg_event_value(const pr_pg_rel_t *rel, char op,
                      const pr_pg_image_t *before, const pr_pg_image_t *after,
                      const pr_pg_origin_t *org, mw_buf_t *out, mw_err_t *err)
{
    int64_t now_us = mw_time_wall_ms() * 1000;
    pr_pg_out_t o = {out, true};
    char opstr[1] = {op};
    int rc;

    mw_buf_reset(out);
    rc = row_value(rel, before, NULL, &o, err);
    if (rc == 0)
        rc = row_value(rel, after, before, &o, err);
    if (rc == 0)
        rc = source_value(rel, org, out);
    /* transaction: ["null", event.block] */
    if (rc == 0 && org->tx_id) {
        rc = pr_pg_avro_long(out, 1);
        if (rc == 0)
            rc = pr_pg_avro_str(out, org->tx_id, strlen(org->tx_id));
        if (rc == 0)
            rc = pr_pg_avro_long(out, (int64_t)org->total_order);
        if (rc == 0)
            rc = pr_pg_avro_long(out, (int64_t)org->collection_order);
    } else if (rc == 0) {
        rc = pr_pg_avro_long(out, 0);
    }
    if (rc == 0)
        rc = pr_pg_avro_str(out, opstr, 1);
    if (rc == 0)
        rc = opt_long(out, now_us / 1000);
    if (rc == 0)
        rc = opt_long(out, now_us);
    if (rc == 0)
        rc = opt_long(out, now_us * 1000);
    if (rc == MW_ERR_NOMEM || rc == MW_ERR_FULL)
        return mw_err_set(err, rc, "table %s.%s: event too large", rel->nspname,
                          rel->relname);
    return rc;
}

/* ------------------------------------------------------- transactions */

const char *pr_pg_tx_key_schema(void)
{
    return "{\"type\":\"record\",\"name\":\"TransactionMetadataKey\","
           "\"namespace\":\"io.debezium.connector.common\",\"fields\":["
           "{\"name\":\"id\",\"type\":\"string\"}],\"connect.name\":"
           "\"io.debezium.connector.common.TransactionMetadataKey\"}";
}

const char *pr_pg_tx_value_schema(void)
{
    return "{\"type\":\"record\",\"name\":\"TransactionMetadataValue\","
           "\"namespace\":\"io.debezium.connector.common\",\"fields\":["
           "{\"name\":\"status\",\"type\":\"string\"},"
           "{\"name\":\"id\",\"type\":\"string\"},"
           "{\"name\":\"event_count\",\"type\":[\"null\",\"long\"],"
           "\"default\":null},"
           "{\"name\":\"data_collections\",\"type\":[\"null\",{\"type\":"
           "\"array\",\"items\":{\"type\":\"record\",\"name\":"
           "\"ConnectDefault\",\"namespace\":\"io.confluent.connect.avro\","
           "\"fields\":[{\"name\":\"data_collection\",\"type\":\"string\"},"
           "{\"name\":\"event_count\",\"type\":\"long\"}]}}],\"default\":"
           "null},{\"name\":\"ts_ms\",\"type\":\"long\"}],\"connect.name\":"
           "\"io.debezium.connector.common.TransactionMetadataValue\"}";
}

typedef struct tx_walk {
    mw_buf_t *out;
    bool first;
    int rc;
} tx_walk_t;

static void tx_collection(pr_pg_rel_t *rel, void *opaque)
{
    tx_walk_t *w = opaque;
    char name[2 * PR_PG_NAME_MAX + 4];

    if (!rel->events || w->rc)
        return;
    snprintf(name, sizeof(name), "%s.%s", rel->nspname, rel->relname);
    w->rc =
        mw_buf_appendf(w->out, "%s{\"data_collection\":", w->first ? "" : ",");
    if (w->rc == 0)
        w->rc = pr_pg_json_str(w->out, name, strlen(name));
    if (w->rc == 0)
        w->rc = mw_buf_appendf(w->out, ",\"event_count\":%llu}",
                               (unsigned long long)rel->events);
    w->first = false;
}

int pr_pg_tx_value(mw_buf_t *out, bool begin, const char *tx_id, int64_t ts_ms,
                   uint64_t events, pr_pg_rels_t *rels)
{
    tx_walk_t w = {out, true, 0};

    mw_buf_reset(out);
    w.rc = mw_buf_appendf(
        out, "{\"status\":\"%s\",\"id\":", begin ? "BEGIN" : "END");
    if (w.rc == 0)
        w.rc = pr_pg_json_str(out, tx_id, strlen(tx_id));
    if (w.rc == 0 && begin)
        return mw_buf_appendf(out,
                              ",\"event_count\":null,\"data_collections\":"
                              "null,\"ts_ms\":%lld}",
                              (long long)ts_ms);
    if (w.rc == 0)
        w.rc = mw_buf_appendf(out,
                              ",\"event_count\":{\"long\":%llu},"
                              "\"data_collections\":{\"array\":[",
                              (unsigned long long)events);
    if (w.rc == 0)
        pr_pg_rels_each(rels, tx_collection, &w);
    if (w.rc == 0)
        w.rc = mw_buf_appendf(out, "]},\"ts_ms\":%lld}", (long long)ts_ms);
    return w.rc;
}
