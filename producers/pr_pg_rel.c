/*
 * pr_pg_rel: the captured tables.  Each table's shape comes from two
 * places: pgoutput's Relation messages (the columns, their types and
 * typmods, as the stream has them at that point of the WAL) and the
 * catalog (what the messages lack: NOT NULL, comments, the primary key,
 * enum labels, domains and array element types).  The message is the
 * authority on which columns exist; the catalog only fills in details, so
 * a later ALTER already visible in the catalog never adds a column the
 * stream does not carry yet.
 *
 * From the shape come the schemas, as Debezium names them: the key record
 * `<prefix>.<schema>.<table>.Key` (the primary key's columns; no key and
 * no key schema for a table without one) and the envelope
 * `<prefix>.<schema>.<table>.Envelope` whose before/after are the
 * `...Value` row record.  They are registered (pr_emit_register) whenever
 * the shape changes; the registry's compatibility rules decide whether the
 * change may go on.
 *
 * Thread: the daemon's loop thread; catalog queries block it briefly.
 */
#include "pr_pg_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mw_log.h"
#include "mw_vec.h"

#define PR_PG_TYPE_DEPTH 8 /* domains over arrays over domains ... */

struct pr_pg_rels {
    char *prefix;
    const mw_conf_t *conf;
    pr_emit_t *emit;
    pr_pg_rel_t **rels;
    size_t cnt, cap;
};

static void col_clear(pr_pg_col_t *c)
{
    free(c->name);
    free(c->avro_name);
    free(c->doc);
    pr_pg_type_clear(&c->type);
}

static void rel_free(pr_pg_rel_t *r)
{
    if (!r)
        return;
    for (size_t i = 0; i < r->ncols; i++)
        col_clear(&r->cols[i]);
    free(r->cols);
    free(r->keys);
    free(r->nspname);
    free(r->relname);
    free(r->topic);
    free(r->value_name);
    free(r->src_head);
    free(r->src_tail);
    free(r->key_schema);
    free(r->value_schema);
    free(r);
}

pr_pg_rels_t *pr_pg_rels_new(const pr_pg_rels_conf_t *rc)
{
    pr_pg_rels_t *rels = calloc(1, sizeof(*rels));

    if (!rels)
        return NULL;
    rels->prefix = strdup(rc->prefix);
    rels->conf = rc->conf;
    rels->emit = rc->emit;
    if (!rels->prefix) {
        free(rels);
        return NULL;
    }
    return rels;
}

void pr_pg_rels_destroy(pr_pg_rels_t *rels)
{
    if (!rels)
        return;
    for (size_t i = 0; i < rels->cnt; i++)
        rel_free(rels->rels[i]);
    free(rels->rels);
    free(rels->prefix);
    free(rels);
}

pr_pg_rel_t *pr_pg_rels_find(pr_pg_rels_t *rels, uint32_t relid)
{
    for (size_t i = 0; i < rels->cnt; i++)
        if (rels->rels[i]->relid == relid)
            return rels->rels[i];
    return NULL;
}

pr_pg_rel_t *pr_pg_rels_find_name(pr_pg_rels_t *rels, const char *nspname,
                                  const char *relname)
{
    for (size_t i = 0; i < rels->cnt; i++)
        if (!strcmp(rels->rels[i]->nspname, nspname) &&
            !strcmp(rels->rels[i]->relname, relname))
            return rels->rels[i];
    return NULL;
}

void pr_pg_rels_each(pr_pg_rels_t *rels, void (*cb)(pr_pg_rel_t *, void *),
                     void *opaque)
{
    for (size_t i = 0; i < rels->cnt; i++)
        cb(rels->rels[i], opaque);
}

/* An Avro name from a PostgreSQL identifier: [A-Za-z_][A-Za-z0-9_]*, each
 * other byte replaced by '_' (Debezium's "avro" field-name adjustment). */
static char *avro_name(const char *s)
{
    size_t n = strlen(s);
    char *out = malloc(n + 2), *o = out;

    if (!out)
        return NULL;
    if (n == 0 || (s[0] >= '0' && s[0] <= '9'))
        *o++ = '_';
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                  (c >= '0' && c <= '9') || c == '_';

        *o++ = ok ? c : '_';
    }
    *o = 0;
    return out;
}

/* ----------------------------------------------------------- catalog */

static int db_error(mw_err_t *err, PGconn *qc, const char *what)
{
    return mw_err_set(err, MW_ERR_TRANSPORT, "postgres: %s: %s", what,
                      PQerrorMessage(qc));
}

/* A non-built-in type through pg_type: enum, domain, array, else its text
 * form as a string. */
static int type_resolve(PGconn *qc, uint32_t oid, int32_t typmod, int depth,
                        pr_pg_type_t *t, mw_err_t *err)
{
    static const char sql[] =
        "SELECT t.typtype, t.typbasetype, t.typtypmod, t.typelem, "
        "t.typcategory, (SELECT string_agg(e.enumlabel, ',' ORDER BY "
        "e.enumsortorder) FROM pg_enum e WHERE e.enumtypid = t.oid) "
        "FROM pg_type t WHERE t.oid = $1";
    char oidtxt[16];
    const char *params[1] = {oidtxt};
    PGresult *res;
    int rc = 0;

    if (pr_pg_type_builtin(oid, typmod, t))
        return 0;
    if (depth > PR_PG_TYPE_DEPTH)
        return mw_err_set(err, MW_ERR_UNSUPPORTED, "type %u nests too deeply",
                          oid);
    snprintf(oidtxt, sizeof(oidtxt), "%u", oid);
    res = PQexecParams(qc, sql, 1, NULL, params, NULL, NULL, 0);
    if (PQresultStatus(res) != PGRES_TUPLES_OK) {
        PQclear(res);
        return db_error(err, qc, "reading pg_type");
    }
    memset(t, 0, sizeof(*t));
    t->oid = oid;
    t->precision = -1;
    t->kind = PR_PG_STRING;
    if (PQntuples(res) == 1) {
        char typtype = PQgetvalue(res, 0, 0)[0];
        uint32_t base = (uint32_t)strtoul(PQgetvalue(res, 0, 1), NULL, 10);
        int32_t base_mod = (int32_t)strtol(PQgetvalue(res, 0, 2), NULL, 10);
        uint32_t elem = (uint32_t)strtoul(PQgetvalue(res, 0, 3), NULL, 10);
        char cat = PQgetvalue(res, 0, 4)[0];

        if (typtype == 'e') {
            t->kind = PR_PG_ENUM;
            t->labels = strdup(PQgetvalue(res, 0, 5));
            if (!t->labels)
                rc = MW_ERR_NOMEM;
        } else if (typtype == 'd') {
            rc = type_resolve(qc, base, base_mod, depth + 1, t, err);
            t->oid = oid;
        } else if (cat == 'A' && elem) {
            t->kind = PR_PG_ARRAY;
            t->elem = calloc(1, sizeof(*t->elem));
            rc = t->elem
                     ? type_resolve(qc, elem, typmod, depth + 1, t->elem, err)
                     : MW_ERR_NOMEM;
        }
    }
    PQclear(res);
    return rc;
}

/* One column as the catalog has it. */
typedef struct cat_col {
    char *name;
    uint32_t oid;
    int32_t typmod;
    bool notnull;
    char *doc;
    int keypos; /* 1-based position in the primary key, 0: not in it */
} cat_col_t;

typedef struct cat_rel {
    uint32_t relid;
    char identity;
    size_t ncols;
    cat_col_t *cols;
} cat_rel_t;

static void cat_clear(cat_rel_t *c)
{
    for (size_t i = 0; i < c->ncols; i++) {
        free(c->cols[i].name);
        free(c->cols[i].doc);
    }
    free(c->cols);
    memset(c, 0, sizeof(*c));
}

static int cat_read(PGconn *qc, const char *nspname, const char *relname,
                    cat_rel_t *cat, mw_err_t *err)
{
    static const char sql[] =
        "SELECT c.oid, c.relreplident, a.attname, a.atttypid, a.atttypmod, "
        "a.attnotnull, col_description(c.oid, a.attnum), "
        "coalesce((SELECT k.n FROM unnest(i.indkey) WITH ORDINALITY "
        "AS k(attnum, n) WHERE k.attnum = a.attnum), 0) "
        "FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
        "JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND "
        "NOT a.attisdropped LEFT JOIN pg_index i ON i.indrelid = c.oid AND "
        "i.indisprimary WHERE n.nspname = $1 AND c.relname = $2 AND "
        "c.relkind IN ('r', 'p') ORDER BY a.attnum";
    const char *params[2] = {nspname, relname};
    PGresult *res = PQexecParams(qc, sql, 2, NULL, params, NULL, NULL, 0);
    int n;

    memset(cat, 0, sizeof(*cat));
    if (PQresultStatus(res) != PGRES_TUPLES_OK) {
        PQclear(res);
        return db_error(err, qc, "reading the catalog");
    }
    n = PQntuples(res);
    if (n == 0) {
        PQclear(res);
        return mw_err_set(err, MW_ERR_NOT_FOUND,
                          "table %s.%s does not exist (or has no columns)",
                          nspname, relname);
    }
    cat->cols = calloc((size_t)n, sizeof(*cat->cols));
    if (!cat->cols) {
        PQclear(res);
        return MW_ERR_NOMEM;
    }
    cat->relid = (uint32_t)strtoul(PQgetvalue(res, 0, 0), NULL, 10);
    cat->identity = PQgetvalue(res, 0, 1)[0];
    for (int i = 0; i < n; i++) {
        cat_col_t *c = &cat->cols[i];

        c->name = strdup(PQgetvalue(res, i, 2));
        c->oid = (uint32_t)strtoul(PQgetvalue(res, i, 3), NULL, 10);
        c->typmod = (int32_t)strtol(PQgetvalue(res, i, 4), NULL, 10);
        c->notnull = PQgetvalue(res, i, 5)[0] == 't';
        if (!PQgetisnull(res, i, 6))
            c->doc = strdup(PQgetvalue(res, i, 6));
        c->keypos = atoi(PQgetvalue(res, i, 7));
        cat->ncols++;
        if (!c->name) {
            PQclear(res);
            cat_clear(cat);
            return MW_ERR_NOMEM;
        }
    }
    PQclear(res);
    return 0;
}

static const cat_col_t *cat_find(const cat_rel_t *cat, const char *name)
{
    for (size_t i = 0; i < cat->ncols; i++)
        if (!strcmp(cat->cols[i].name, name))
            return &cat->cols[i];
    return NULL;
}

/* ----------------------------------------------------------- schemas */

static int field_schema(const pr_pg_col_t *c, bool *named, mw_buf_t *out)
{
    int rc = mw_buf_appendf(out, "{\"name\":\"%s\",\"type\":", c->avro_name);

    if (rc == 0 && c->optional)
        rc = mw_buf_appendf(out, "[\"null\",");
    if (rc == 0)
        rc = pr_pg_type_schema(&c->type, named, out);
    if (rc == 0 && c->optional)
        rc = mw_buf_appendf(out, "],\"default\":null");
    if (rc == 0 && c->doc) {
        rc = mw_buf_appendf(out, ",\"doc\":");
        if (rc == 0)
            rc = pr_pg_json_str(out, c->doc, strlen(c->doc));
    }
    if (rc == 0)
        rc = mw_buf_append(out, "}", 1);
    return rc;
}

/* The row record (or the key record: key_only) of rel, in namespace ns. */
static int row_schema(const pr_pg_rel_t *rel, const char *ns, bool key_only,
                      bool *named, mw_buf_t *out)
{
    const char *name = key_only ? "Key" : "Value";
    size_t n = key_only ? rel->nkeys : rel->ncols;
    int rc = mw_buf_appendf(out,
                            "{\"type\":\"record\",\"name\":\"%s\","
                            "\"namespace\":\"%s\",\"fields\":[",
                            name, ns);

    for (size_t i = 0; rc == 0 && i < n; i++) {
        const pr_pg_col_t *c = &rel->cols[key_only ? rel->keys[i] : i];

        if (i)
            rc = mw_buf_append(out, ",", 1);
        if (rc == 0)
            rc = field_schema(c, named, out);
    }
    if (rc == 0)
        rc = mw_buf_appendf(out, "],\"connect.name\":\"%s.%s\"}", ns, name);
    return rc;
}

/* Debezium's source block for PostgreSQL. */
static const char source_schema[] =
    "{\"type\":\"record\",\"name\":\"Source\",\"namespace\":"
    "\"io.debezium.connector.postgresql\",\"fields\":["
    "{\"name\":\"version\",\"type\":\"string\"},"
    "{\"name\":\"connector\",\"type\":\"string\"},"
    "{\"name\":\"name\",\"type\":\"string\"},"
    "{\"name\":\"ts_ms\",\"type\":\"long\"},"
    "{\"name\":\"snapshot\",\"type\":[{\"type\":\"string\","
    "\"connect.version\":1,\"connect.parameters\":{\"allowed\":"
    "\"true,first,first_in_data_collection,last_in_data_collection,last,"
    "false,incremental\"},\"connect.default\":\"false\",\"connect.name\":"
    "\"io.debezium.data.Enum\"},\"null\"],\"default\":\"false\"},"
    "{\"name\":\"db\",\"type\":\"string\"},"
    "{\"name\":\"sequence\",\"type\":[\"null\",\"string\"],\"default\":null},"
    "{\"name\":\"ts_us\",\"type\":[\"null\",\"long\"],\"default\":null},"
    "{\"name\":\"ts_ns\",\"type\":[\"null\",\"long\"],\"default\":null},"
    "{\"name\":\"schema\",\"type\":\"string\"},"
    "{\"name\":\"table\",\"type\":\"string\"},"
    "{\"name\":\"txId\",\"type\":[\"null\",\"long\"],\"default\":null},"
    "{\"name\":\"lsn\",\"type\":[\"null\",\"long\"],\"default\":null},"
    "{\"name\":\"xmin\",\"type\":[\"null\",\"long\"],\"default\":null},"
    "{\"name\":\"origin\",\"type\":[\"null\",\"string\"],\"default\":"
    "null},"
    "{\"name\":\"origin_lsn\",\"type\":[\"null\",\"long\"],\"default\":"
    "null}],"
    "\"connect.name\":\"io.debezium.connector.postgresql.Source\"}";

static const char block_schema[] =
    "{\"type\":\"record\",\"name\":\"block\",\"namespace\":\"event\","
    "\"fields\":[{\"name\":\"id\",\"type\":\"string\"},"
    "{\"name\":\"total_order\",\"type\":\"long\"},"
    "{\"name\":\"data_collection_order\",\"type\":\"long\"}],"
    "\"connect.version\":1,\"connect.name\":\"event.block\"}";

static int envelope_schema(const pr_pg_rel_t *rel, const char *ns,
                           mw_buf_t *out)
{
    bool named = false;
    int rc = mw_buf_appendf(out,
                            "{\"type\":\"record\",\"name\":\"Envelope\","
                            "\"namespace\":\"%s\",\"fields\":[{\"name\":"
                            "\"before\",\"type\":[\"null\",",
                            ns);

    if (rc == 0)
        rc = row_schema(rel, ns, false, &named, out);
    if (rc == 0)
        rc = mw_buf_appendf(
            out,
            "],\"default\":null},{\"name\":\"after\",\"type\":[\"null\","
            "\"%s.Value\"],\"default\":null},{\"name\":\"source\","
            "\"type\":%s},{\"name\":\"transaction\",\"type\":[\"null\",%s],"
            "\"default\":null},{\"name\":\"op\",\"type\":\"string\"},"
            "{\"name\":\"ts_ms\",\"type\":[\"null\",\"long\"],\"default\":"
            "null},{\"name\":\"ts_us\",\"type\":[\"null\",\"long\"],"
            "\"default\":null},{\"name\":\"ts_ns\",\"type\":[\"null\","
            "\"long\"],\"default\":null}],\"connect.version\":2,"
            "\"connect.name\":\"%s.Envelope\"}",
            ns, source_schema, block_schema, ns);
    return rc;
}

/* The constant parts of every event's source record, in Avro binary,
 * made once per shape: version, connector and name; schema and table. */
static int rel_texts(pr_pg_rels_t *rels, pr_pg_rel_t *rel)
{
    mw_buf_t *b = mw_buf_new(0);
    int rc = b ? 0 : MW_ERR_NOMEM;

    free(rel->src_head);
    free(rel->src_tail);
    rel->src_head = rel->src_tail = NULL;
    if (rc == 0)
        rc = pr_pg_avro_str(b, PR_PG_VERSION, strlen(PR_PG_VERSION));
    if (rc == 0)
        rc = pr_pg_avro_str(b, PR_PG_CONNECTOR, strlen(PR_PG_CONNECTOR));
    if (rc == 0)
        rc = pr_pg_avro_str(b, rels->prefix, strlen(rels->prefix));
    if (rc == 0)
        rel->src_head = mw_buf_steal(b, &rel->src_head_len);
    if (rc == 0)
        rc = pr_pg_avro_str(b, rel->nspname, strlen(rel->nspname));
    if (rc == 0)
        rc = pr_pg_avro_str(b, rel->relname, strlen(rel->relname));
    if (rc == 0)
        rel->src_tail = mw_buf_steal(b, &rel->src_tail_len);
    if (rc == 0 && (!rel->src_head || !rel->src_tail))
        rc = MW_ERR_NOMEM;
    mw_buf_destroy(b);
    return rc;
}

/* Derives rel's schema texts and registers them. */
static int rel_register(pr_pg_rels_t *rels, pr_pg_rel_t *rel, mw_err_t *err)
{
    char *ns_parts[3] = {avro_name(rels->prefix), avro_name(rel->nspname),
                         avro_name(rel->relname)};
    mw_buf_t *kb = mw_buf_new(0), *vb = mw_buf_new(0);
    char ns[3 * 2 * PR_PG_NAME_MAX + 256];
    bool named = false;
    int rc = 0;

    if (!ns_parts[0] || !ns_parts[1] || !ns_parts[2] || !kb || !vb) {
        rc = MW_ERR_NOMEM;
        goto out;
    }
    snprintf(ns, sizeof(ns), "%s.%s.%s", ns_parts[0], ns_parts[1], ns_parts[2]);
    free(rel->value_name);
    free(rel->key_schema);
    free(rel->value_schema);
    rel->key_schema = NULL;
    rel->value_name = malloc(strlen(ns) + sizeof(".Value"));
    if (!rel->value_name) {
        rc = MW_ERR_NOMEM;
        goto out;
    }
    sprintf(rel->value_name, "%s.Value", ns);
    if ((rc = rel_texts(rels, rel)) != 0)
        goto out;
    if (rel->nkeys && (rc = row_schema(rel, ns, true, &named, kb)) != 0)
        goto out;
    if ((rc = envelope_schema(rel, ns, vb)) != 0)
        goto out;
    rel->value_schema = mw_buf_steal(vb, NULL);
    if (rel->nkeys)
        rel->key_schema = mw_buf_steal(kb, NULL);
    if (!rel->value_schema || (rel->nkeys && !rel->key_schema)) {
        rc = MW_ERR_NOMEM;
        goto out;
    }
    rel->key_id = 0;
    if (rel->key_schema &&
        (rc = pr_emit_register(rels->emit, rel->topic, true, rel->key_schema,
                               &rel->key_id, err)) != 0) {
        mw_err_prefix(err, "table %s.%s: key schema", rel->nspname,
                      rel->relname);
        goto out;
    }
    if ((rc = pr_emit_register(rels->emit, rel->topic, false, rel->value_schema,
                               &rel->value_id, err)) != 0) {
        mw_err_prefix(err, "table %s.%s: value schema", rel->nspname,
                      rel->relname);
        goto out;
    }
    mw_log_info(PR_PG_COMP, "table schema registered",
                "table=%s.%s topic=%s key_id=%u value_id=%u", rel->nspname,
                rel->relname, rel->topic, rel->key_id, rel->value_id);
out:
    for (int i = 0; i < 3; i++)
        free(ns_parts[i]);
    mw_buf_destroy(kb);
    mw_buf_destroy(vb);
    if (rc == MW_ERR_NOMEM)
        mw_err_set(err, rc, "out of memory for a table's schemas");
    return rc;
}

typedef struct topic_find {
    const char *want; /* "schema.table" */
    const char *got;
} topic_find_t;

static int topic_find_cb(const char *subkey, const char *value,
                         const char *origin, void *opaque)
{
    topic_find_t *f = opaque;

    (void)origin;
    if (strcmp(subkey, f->want) != 0)
        return 0;
    f->got = value;
    return 1;
}

/* topic.map.<schema.table>, else <prefix>.<schema>.<table>. */
static char *topic_for(pr_pg_rels_t *rels, const char *nspname,
                       const char *relname)
{
    char want[2 * PR_PG_NAME_MAX + 4], *t;
    topic_find_t f = {want, NULL};
    size_t n;

    snprintf(want, sizeof(want), "%s.%s", nspname, relname);
    mw_conf_foreach_prefix(rels->conf, "topic.map.", topic_find_cb, &f);
    if (f.got)
        return strdup(f.got);
    n = strlen(rels->prefix) + strlen(nspname) + strlen(relname) + 3;
    t = malloc(n);
    if (t)
        snprintf(t, n, "%s.%s.%s", rels->prefix, nspname, relname);
    return t;
}

/* Builds a relation: columns from the stream's list (names, oids,
 * typmods) or, without one, from the catalog; details from the catalog. */
static int rel_build(pr_pg_rels_t *rels, PGconn *qc, const cat_rel_t *cat,
                     const char *nspname, const char *relname,
                     const pr_pgout_msg_t *msg, pr_pg_rel_t **out,
                     mw_err_t *err)
{
    pr_pg_rel_t *rel = calloc(1, sizeof(*rel));
    size_t n = msg ? msg->u.rel.ncols : cat->ncols;
    int rc = 0;

    *out = NULL;
    if (!rel)
        return MW_ERR_NOMEM;
    rel->relid = msg ? msg->u.rel.relid : cat->relid;
    rel->identity = msg ? msg->u.rel.identity : cat->identity;
    rel->nspname = strdup(nspname);
    rel->relname = strdup(relname);
    rel->topic = topic_for(rels, nspname, relname);
    rel->cols = calloc(n ? n : 1, sizeof(*rel->cols));
    rel->keys = calloc(n ? n : 1, sizeof(*rel->keys));
    if (!rel->nspname || !rel->relname || !rel->topic || !rel->cols ||
        !rel->keys) {
        rel_free(rel);
        return mw_err_set(err, MW_ERR_NOMEM, "out of memory for a table");
    }
    for (size_t i = 0; rc == 0 && i < n; i++) {
        pr_pg_col_t *c = &rel->cols[i];
        const char *name = msg ? msg->u.rel.cols[i].name : cat->cols[i].name;
        const cat_col_t *cc = cat_find(cat, name);

        c->name = strdup(name);
        c->avro_name = avro_name(name);
        c->type_oid = msg ? msg->u.rel.cols[i].type_oid : cc->oid;
        c->typmod = msg ? msg->u.rel.cols[i].typmod : cc->typmod;
        /* a column the catalog no longer has (dropped since) may be null */
        c->optional = !(cc && cc->notnull);
        if (cc && cc->doc)
            c->doc = strdup(cc->doc);
        rel->ncols++;
        if (!c->name || !c->avro_name)
            rc = MW_ERR_NOMEM;
        else
            rc = type_resolve(qc, c->type_oid, c->typmod, 0, &c->type, err);
    }
    /* the primary key, in key order */
    for (int pos = 1; rc == 0; pos++) {
        bool found = false;

        for (size_t i = 0; i < rel->ncols; i++) {
            const cat_col_t *cc = cat_find(cat, rel->cols[i].name);

            if (cc && cc->keypos == pos) {
                rel->cols[i].key = true;
                rel->keys[rel->nkeys++] = i;
                found = true;
            }
        }
        if (!found)
            break;
    }
    if (rc == 0)
        rc = rel_register(rels, rel, err);
    if (rc != 0) {
        rel_free(rel);
        return rc == MW_ERR_NOMEM
                   ? mw_err_set(err, rc, "out of memory for a table")
                   : rc;
    }
    *out = rel;
    return 0;
}

/* Puts rel in the table, replacing the one with its name or relid. */
static int rels_put(pr_pg_rels_t *rels, pr_pg_rel_t *rel)
{
    for (size_t i = 0; i < rels->cnt; i++) {
        pr_pg_rel_t *old = rels->rels[i];

        if (old->relid == rel->relid || (!strcmp(old->nspname, rel->nspname) &&
                                         !strcmp(old->relname, rel->relname))) {
            rel->events = old->events;
            rel_free(old);
            rels->rels[i] = rel;
            return 0;
        }
    }
    if (MW_VEC_RESERVE(&rels->rels, &rels->cap, rels->cnt + 1) != 0)
        return MW_ERR_NOMEM;
    rels->rels[rels->cnt++] = rel;
    return 0;
}

int pr_pg_rels_load(pr_pg_rels_t *rels, PGconn *qc, const char *nspname,
                    const char *relname, pr_pg_rel_t **out, mw_err_t *err)
{
    cat_rel_t cat;
    pr_pg_rel_t *rel;
    int rc = cat_read(qc, nspname, relname, &cat, err);

    if (rc != 0)
        return rc;
    rc = rel_build(rels, qc, &cat, nspname, relname, NULL, &rel, err);
    cat_clear(&cat);
    if (rc != 0)
        return rc;
    if (rels_put(rels, rel) != 0) {
        rel_free(rel);
        return mw_err_set(err, MW_ERR_NOMEM, "out of memory for a table");
    }
    if (out)
        *out = rel;
    return 0;
}

/* Same shape: same columns with the same types, in the same order. */
static bool same_shape(const pr_pg_rel_t *rel, const pr_pgout_msg_t *msg)
{
    if (rel->ncols != msg->u.rel.ncols || rel->identity != msg->u.rel.identity)
        return false;
    for (size_t i = 0; i < rel->ncols; i++) {
        const pr_pgout_relcol_t *m = &msg->u.rel.cols[i];

        if (strcmp(rel->cols[i].name, m->name) ||
            rel->cols[i].type_oid != m->type_oid ||
            rel->cols[i].typmod != m->typmod)
            return false;
    }
    return true;
}

int pr_pg_rels_on_relation(pr_pg_rels_t *rels, PGconn *qc,
                           const pr_pgout_msg_t *msg, bool *changed,
                           mw_err_t *err)
{
    const char *nsp = *msg->u.rel.nspname ? msg->u.rel.nspname : "pg_catalog";
    pr_pg_rel_t *rel = pr_pg_rels_find(rels, msg->u.rel.relid), *fresh;
    cat_rel_t cat;
    int rc;

    *changed = false;
    if (!rel)
        rel = pr_pg_rels_find_name(rels, nsp, msg->u.rel.relname);
    if (rel && same_shape(rel, msg)) {
        rel->relid = msg->u.rel.relid;
        return 0;
    }
    rc = cat_read(qc, nsp, msg->u.rel.relname, &cat, err);
    if (rc == MW_ERR_NOT_FOUND)
        cat = (cat_rel_t){.relid = msg->u.rel.relid}; /* dropped since */
    else if (rc != 0)
        return rc;
    rc = rel_build(rels, qc, &cat, nsp, msg->u.rel.relname, msg, &fresh, err);
    cat_clear(&cat);
    if (rc != 0)
        return rc;
    if (rels_put(rels, fresh) != 0) {
        rel_free(fresh);
        return mw_err_set(err, MW_ERR_NOMEM, "out of memory for a table");
    }
    *changed = true;
    return 0;
}
