/*
 * pr_pg_event: one change as Debezium's envelope, written as Avro JSON
 * text for the emitter's transcoder (no jansson tree per event): the key
 * record of the primary-key columns, and the value {before, after,
 * source, transaction, op, ts_ms, ts_us, ts_ns} with the schemas of
 * pr_pg_rel.c.  Also the transaction topic's BEGIN / END records.
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

/* What a NOT NULL column holds in a before image that only has the key
 * (REPLICA IDENTITY DEFAULT): its type's empty value. */
static int empty_value(const pr_pg_type_t *t, mw_buf_t *out)
{
    switch (t->kind) {
    case PR_PG_BOOL:
        return mw_buf_appendf(out, "false");
    case PR_PG_BYTES:
        return mw_buf_appendf(out, "\"\"");
    case PR_PG_DECIMAL:
        return mw_buf_appendf(out, "\"\\u0000\"");
    case PR_PG_VARDEC:
        return mw_buf_appendf(out, "{\"scale\":0,\"value\":\"\\u0000\"}");
    case PR_PG_ARRAY:
        return mw_buf_appendf(out, "[]");
    case PR_PG_STRING:
    case PR_PG_TIMETZ:
    case PR_PG_TSTZ:
    case PR_PG_UUID:
    case PR_PG_JSON:
    case PR_PG_ENUM:
        return mw_buf_appendf(out, "\"\"");
    default:
        return mw_buf_appendf(out, "0");
    }
}

/* One field's value: v may be NULL (no column at all in the image). */
static int field_value(const pr_pg_col_t *c, const pr_pgout_col_t *v,
                       const pr_pgout_col_t *old, mw_buf_t *out, mw_err_t *err)
{
    int rc;

    if (v && v->kind == 'u' && old && (old->kind == 't'))
        v = old;
    if (!v || v->kind == 'n') {
        if (c->optional)
            return mw_buf_append(out, "null", 4);
        return empty_value(&c->type, out);
    }
    if (c->optional &&
        mw_buf_appendf(out, "{\"%s\":", pr_pg_type_branch(&c->type)) != 0)
        return MW_ERR_NOMEM;
    if (v->kind == 'u') {
        if (!pr_pg_type_placeholder(&c->type, out))
            return mw_err_set(err, MW_ERR_UNSUPPORTED,
                              "column %s: unchanged TOASTed value without a "
                              "placeholder",
                              c->name);
        rc = 0;
    } else if (v->kind == 'b') {
        return mw_err_set(err, MW_ERR_UNSUPPORTED,
                          "column %s: binary values are not requested",
                          c->name);
    } else {
        rc = pr_pg_type_value(&c->type, v->data, v->len, out, err);
        if (rc != 0)
            return mw_err_prefix(err, "column %s", c->name);
    }
    if (rc == 0 && c->optional)
        rc = mw_buf_append(out, "}", 1);
    return rc;
}

static const pr_pgout_col_t *img_at(const pr_pg_image_t *img, size_t i)
{
    return img && i < img->nvals ? &img->vals[i] : NULL;
}

int pr_pg_event_key(const pr_pg_rel_t *rel, const pr_pg_image_t *img,
                    mw_buf_t *out, mw_err_t *err)
{
    int rc;

    mw_buf_reset(out);
    if (!rel->nkeys)
        return mw_buf_append(out, "null", 4);
    rc = mw_buf_append(out, "{", 1);
    for (size_t k = 0; rc == 0 && k < rel->nkeys; k++) {
        const pr_pg_col_t *c = &rel->cols[rel->keys[k]];

        rc = mw_buf_appendf(out, "%s\"%s\":", k ? "," : "", c->avro_name);
        if (rc == 0)
            rc = field_value(c, img_at(img, rel->keys[k]), NULL, out, err);
    }
    if (rc == 0)
        rc = mw_buf_append(out, "}", 1);
    return rc;
}

static int row_value(const pr_pg_rel_t *rel, const pr_pg_image_t *img,
                     const pr_pg_image_t *old, mw_buf_t *out, mw_err_t *err)
{
    int rc;

    if (!img)
        return mw_buf_append(out, "null", 4);
    rc = mw_buf_appendf(out, "{\"%s\":{", rel->value_name);
    for (size_t i = 0; rc == 0 && i < rel->ncols; i++) {
        const pr_pg_col_t *c = &rel->cols[i];

        rc = mw_buf_appendf(out, "%s\"%s\":", i ? "," : "", c->avro_name);
        if (rc == 0)
            rc = field_value(c, img_at(img, i), img_at(old, i), out, err);
    }
    if (rc == 0)
        rc = mw_buf_append(out, "}}", 2);
    return rc;
}

/* LSNs as Debezium's source.sequence: ["<last commit>","<this change>"]. */
static int sequence_value(const pr_pg_origin_t *org, mw_buf_t *out)
{
    char seq[64];

    if (!org->lsn)
        return mw_buf_append(out, "null", 4);
    if (org->last_commit_lsn)
        snprintf(seq, sizeof(seq), "[\"%llu\",\"%llu\"]",
                 (unsigned long long)org->last_commit_lsn,
                 (unsigned long long)org->lsn);
    else
        snprintf(seq, sizeof(seq), "[null,\"%llu\"]",
                 (unsigned long long)org->lsn);
    if (mw_buf_append(out, "{\"string\":", 10) != 0 ||
        pr_pg_json_str(out, seq, strlen(seq)) != 0)
        return MW_ERR_NOMEM;
    return mw_buf_append(out, "}", 1);
}

static int source_value(const pr_pg_rel_t *rel, const pr_pg_origin_t *org,
                        mw_buf_t *out)
{
    int rc = mw_buf_appendf(out,
                            "{\"version\":\"%s\",\"connector\":\"%s\","
                            "\"name\":",
                            PR_PG_VERSION, PR_PG_CONNECTOR);

    if (rc == 0)
        rc = pr_pg_json_str(out, org->server, strlen(org->server));
    if (rc == 0)
        rc = mw_buf_appendf(out,
                            ",\"ts_ms\":%lld,\"snapshot\":{\"string\":\"%s\"},"
                            "\"db\":",
                            (long long)org->ts_ms,
                            org->snapshot ? org->snapshot_mark : "false");
    if (rc == 0)
        rc = pr_pg_json_str(out, org->db, strlen(org->db));
    if (rc == 0)
        rc = mw_buf_append(out, ",\"sequence\":", 12);
    if (rc == 0)
        rc = sequence_value(org, out);
    if (rc == 0)
        rc = mw_buf_appendf(out,
                            ",\"ts_us\":{\"long\":%lld},\"ts_ns\":{\"long\":"
                            "%lld},\"schema\":",
                            (long long)org->ts_ms * 1000,
                            (long long)org->ts_ms * 1000000);
    if (rc == 0)
        rc = pr_pg_json_str(out, rel->nspname, strlen(rel->nspname));
    if (rc == 0)
        rc = mw_buf_append(out, ",\"table\":", 9);
    if (rc == 0)
        rc = pr_pg_json_str(out, rel->relname, strlen(rel->relname));
    if (rc == 0 && org->xid)
        rc = mw_buf_appendf(out, ",\"txId\":{\"long\":%u}", org->xid);
    else if (rc == 0)
        rc = mw_buf_appendf(out, ",\"txId\":null");
    if (rc == 0 && org->lsn)
        rc = mw_buf_appendf(out, ",\"lsn\":{\"long\":%llu}",
                            (unsigned long long)org->lsn);
    else if (rc == 0)
        rc = mw_buf_appendf(out, ",\"lsn\":null");
    if (rc == 0)
        rc = mw_buf_appendf(out, ",\"xmin\":null,\"origin\":null,"
                                 "\"origin_lsn\":null}");
    return rc;
}

int pr_pg_event_value(const pr_pg_rel_t *rel, char op,
                      const pr_pg_image_t *before, const pr_pg_image_t *after,
                      const pr_pg_origin_t *org, mw_buf_t *out, mw_err_t *err)
{
    int64_t now_us = mw_time_wall_ms() * 1000;
    int rc;

    mw_buf_reset(out);
    rc = mw_buf_append(out, "{\"before\":", 10);
    if (rc == 0)
        rc = row_value(rel, before, NULL, out, err);
    if (rc == 0)
        rc = mw_buf_append(out, ",\"after\":", 9);
    if (rc == 0)
        rc = row_value(rel, after, before, out, err);
    if (rc == 0)
        rc = mw_buf_append(out, ",\"source\":", 10);
    if (rc == 0)
        rc = source_value(rel, org, out);
    if (rc == 0 && org->tx_id) {
        rc = mw_buf_appendf(out, ",\"transaction\":{\"event.block\":{\"id\":");
        if (rc == 0)
            rc = pr_pg_json_str(out, org->tx_id, strlen(org->tx_id));
        if (rc == 0)
            rc = mw_buf_appendf(out,
                                ",\"total_order\":%llu,"
                                "\"data_collection_order\":%llu}}",
                                (unsigned long long)org->total_order,
                                (unsigned long long)org->collection_order);
    } else if (rc == 0) {
        rc = mw_buf_appendf(out, ",\"transaction\":null");
    }
    if (rc == 0)
        rc = mw_buf_appendf(out,
                            ",\"op\":\"%c\",\"ts_ms\":{\"long\":%lld},"
                            "\"ts_us\":{\"long\":%lld},\"ts_ns\":{\"long\":"
                            "%lld}}",
                            op, (long long)(now_us / 1000), (long long)now_us,
                            (long long)now_us * 1000);
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
