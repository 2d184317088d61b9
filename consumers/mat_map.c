/*
 * mat_map: Avro row records -> table shapes and typed rows.
 *
 * Where it sits: mat_loop decodes a record to Avro JSON (av_serde), asks
 * mat_envelope for the row, then mat_map_row() here for one mat_value_t per
 * column, which a sink (mat_sqlite, mat_pg, mat_avro) writes.
 *
 * Each column remembers how to find its value in a decoded row: a path of
 * field names from the row record, each step saying whether the field is a
 * union (so its JSON value is null or {"<branch>": value} and is unwrapped),
 * plus the source encoding (e.g. timestamp-millis read as microseconds).
 * Values are looked up by name, so one shape reads rows of every writer
 * version merged into it: a field an older writer lacks reads as NULL.
 *
 * Invariants: columns only grow; an existing column never changes type,
 * encoding or nullability (mat_map_merge refuses: the sink cannot follow);
 * key columns come first, in key order, and are never nullable.
 *
 * Thread: any; a map is used by one thread at a time.
 */
#include "mat_map.h"

#include <assert.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>

#include "mw_vec.h"

#define MAP_MAX_DEPTH 16   /* flatten depth; deeper (recursive) -> JSON */
#define MAP_MAX_DECIMAL 64 /* bytes of a decimal's unscaled value */
#define MAP_CHUNK_MIN 65536

static const char *const col_type_names[] = {
    [MAT_COL_BOOL] = "bool",
    [MAT_COL_INT32] = "int32",
    [MAT_COL_INT64] = "int64",
    [MAT_COL_FLOAT] = "float",
    [MAT_COL_DOUBLE] = "double",
    [MAT_COL_TEXT] = "text",
    [MAT_COL_BYTES] = "bytes",
    [MAT_COL_DECIMAL] = "decimal",
    [MAT_COL_DATE] = "date",
    [MAT_COL_TIME_MICROS] = "time-micros",
    [MAT_COL_TIMESTAMP_MICROS] = "timestamp-micros",
    [MAT_COL_UUID] = "uuid",
    [MAT_COL_JSON] = "json",
};
_Static_assert(sizeof col_type_names / sizeof col_type_names[0] == MAT_COL__CNT,
               "col_type_names matches mat_col_type_t");

const char *mat_col_type_name(mat_col_type_t type)
{
    return (unsigned)type < MAT_COL__CNT ? col_type_names[type] : "unknown";
}

const char *mat_op_name(mat_op_t op)
{
    switch (op) {
    case MAT_OP_UPSERT:
        return "upsert";
    case MAT_OP_DELETE:
        return "delete";
    case MAT_OP_APPEND:
        return "append";
    }
    return "unknown";
}

/* How a JSON value becomes a mat_value_t. */
typedef enum map_src {
    SRC_BOOL = 0,
    SRC_INT,     /* integer, times mult */
    SRC_REAL,    /* number or "NaN" / "Infinity" / "-Infinity" */
    SRC_STRING,  /* text, uuid, enum symbol */
    SRC_BYTES,   /* Avro JSON bytes: code points 0-255 */
    SRC_DECIMAL, /* bytes/fixed two's complement -> decimal text */
    SRC_JSON     /* any value, serialized */
} map_src_t;

typedef struct map_step {
    char *name;
    bool unwrap; /* the field is a union: null or {"branch": value} */
} map_step_t;

typedef struct map_col {
    map_step_t *steps; /* path in the row record */
    size_t step_cnt;
    map_step_t key_step; /* in a record key (name NULL: whole key) */
    bool from_key;
    map_src_t src;
    int64_t mult; /* SRC_INT: 1000 for millis -> micros */
} map_col_t;

typedef struct map_chunk {
    struct map_chunk *next;
    size_t cap, used;
    char data[];
} map_chunk_t;

struct mat_map {
    mat_table_t table; /* cols points at `cols` */
    mat_column_t *cols;
    map_col_t *how;      /* parallel to cols */
    size_t cap, how_cap; /* of cols, of how */
    mat_nested_t nested;
    char *name, *topic;
    map_chunk_t *scratch; /* values' storage for the current row */
};

/* ---- building ----------------------------------------------------------*/

/* A field's type seen through a union: the one non-null branch (nullable
 * when null is another branch), else the union itself (a JSON column). */
static const av_node_t *map_unwrap_type(const av_node_t *node, bool *is_union,
                                        bool *nullable)
{
    *is_union = node->type == AV_UNION;
    *nullable = node->type == AV_NULL;
    if (node->type != AV_UNION)
        return node;
    const av_node_t *only = NULL;
    size_t other = 0;
    for (size_t i = 0; i < node->branch_cnt; i++) {
        if (node->branches[i]->type == AV_NULL)
            *nullable = true;
        else {
            only = node->branches[i];
            other++;
        }
    }
    return other == 1 ? only : node;
}

/* Column type and source encoding of a (non-union, or multi-branch union)
 * node. */
static void map_classify(const av_node_t *n, mat_column_t *col, map_col_t *how)
{
    how->src = SRC_STRING;
    how->mult = 1;
    switch (n->type) {
    case AV_BOOLEAN:
        col->type = MAT_COL_BOOL;
        how->src = SRC_BOOL;
        return;
    case AV_INT:
        how->src = SRC_INT;
        col->type = n->logical == AV_LOGICAL_DATE          ? MAT_COL_DATE
                    : n->logical == AV_LOGICAL_TIME_MILLIS ? MAT_COL_TIME_MICROS
                                                           : MAT_COL_INT32;
        if (n->logical == AV_LOGICAL_TIME_MILLIS)
            how->mult = 1000;
        return;
    case AV_LONG:
        how->src = SRC_INT;
        col->type = MAT_COL_INT64;
        if (n->logical == AV_LOGICAL_TIME_MICROS)
            col->type = MAT_COL_TIME_MICROS;
        else if (n->logical == AV_LOGICAL_TIMESTAMP_MICROS ||
                 n->logical == AV_LOGICAL_LOCAL_TIMESTAMP_MICROS)
            col->type = MAT_COL_TIMESTAMP_MICROS;
        else if (n->logical == AV_LOGICAL_TIMESTAMP_MILLIS ||
                 n->logical == AV_LOGICAL_LOCAL_TIMESTAMP_MILLIS) {
            col->type = MAT_COL_TIMESTAMP_MICROS;
            how->mult = 1000;
        }
        return;
    case AV_FLOAT:
        col->type = MAT_COL_FLOAT;
        how->src = SRC_REAL;
        return;
    case AV_DOUBLE:
        col->type = MAT_COL_DOUBLE;
        how->src = SRC_REAL;
        return;
    case AV_STRING:
        col->type = n->logical == AV_LOGICAL_UUID ? MAT_COL_UUID : MAT_COL_TEXT;
        return;
    case AV_ENUM:
        col->type = MAT_COL_TEXT;
        return;
    case AV_BYTES:
    case AV_FIXED:
        if (n->logical == AV_LOGICAL_DECIMAL) {
            col->type = MAT_COL_DECIMAL;
            col->precision = n->precision;
            col->scale = n->scale;
            how->src = SRC_DECIMAL;
        } else {
            col->type = MAT_COL_BYTES;
            how->src = SRC_BYTES;
        }
        return;
    default:
        col->type = MAT_COL_JSON;
        how->src = SRC_JSON;
        return;
    }
}

static void map_how_free(map_col_t *how)
{
    for (size_t i = 0; i < how->step_cnt; i++)
        free(how->steps[i].name);
    free(how->steps);
    free(how->key_step.name);
}

static int map_grow(mat_map_t *map, mw_err_t *err)
{
    size_t need = map->table.col_cnt + 1;
    int rc = MW_VEC_RESERVE(&map->cols, &map->cap, need);

    map->table.cols = map->cols;
    if (rc == 0)
        rc = MW_VEC_RESERVE(&map->how, &map->how_cap, need);
    if (rc)
        return mw_err_set(err, MW_ERR_NOMEM, "out of memory mapping '%s'",
                          map->name);
    return 0;
}

static ssize_t map_find(const mat_map_t *map, const char *name)
{
    for (size_t i = 0; i < map->table.col_cnt; i++)
        if (strcmp(map->cols[i].name, name) == 0)
            return (ssize_t)i;
    return -1;
}

/* Appends one column (name and how_proto's steps consumed, on every
 * path). */
static int map_add_col(mat_map_t *map, char *name, const mat_column_t *proto,
                       const map_col_t *how_proto, mw_err_t *err)
{
    map_col_t how = *how_proto;
    int rc = map_find(map, name) >= 0
                 ? mw_err_set(err, MW_ERR_INVALID,
                              "two fields map to column '%s' of '%s'", name,
                              map->name)
                 : map_grow(map, err);
    if (rc != 0) {
        free(name);
        map_how_free(&how);
        return rc;
    }
    mat_column_t *col = &map->cols[map->table.col_cnt];
    *col = *proto;
    col->name = name;
    map->how[map->table.col_cnt++] = how;
    return 0;
}

typedef struct map_walk {
    map_step_t steps[MAP_MAX_DEPTH + 1];
    size_t depth;
    char prefix[1024];
    bool nullable;
} map_walk_t;

static int map_fields(mat_map_t *map, const av_node_t *rec, map_walk_t *w,
                      mw_err_t *err);

static map_step_t *map_steps_dup(const map_walk_t *w)
{
    map_step_t *steps = calloc(w->depth, sizeof *steps);
    for (size_t i = 0; steps && i < w->depth; i++) {
        steps[i].unwrap = w->steps[i].unwrap;
        steps[i].name = strdup(w->steps[i].name);
        if (!steps[i].name) {
            while (i-- > 0)
                free(steps[i].name);
            free(steps);
            return NULL;
        }
    }
    return steps;
}

/* One field at the current walk position: a nested record recurses
 * (flatten), anything else is one column. */
static int map_field(mat_map_t *map, const av_field_t *f, map_walk_t *w,
                     mw_err_t *err)
{
    bool is_union, nullable;
    const av_node_t *t = map_unwrap_type(f->type, &is_union, &nullable);
    size_t plen = strlen(w->prefix);
    if (plen + strlen(f->name) + 2 > sizeof w->prefix)
        return mw_err_set(err, MW_ERR_INVALID, "field name too long: %s%s",
                          w->prefix, f->name);
    w->steps[w->depth] = (map_step_t){.name = (char *)f->name,
                                      .unwrap = is_union && t != f->type};
    /* A union of several non-null branches stays wrapped: the JSON column
     * holds the branch object, which says which branch it is. */
    w->depth++;
    bool saved = w->nullable;
    w->nullable = w->nullable || nullable;
    int rc;
    if (t->type == AV_RECORD && map->nested == MAT_NESTED_FLATTEN &&
        w->depth < MAP_MAX_DEPTH) {
        strcat(w->prefix, f->name);
        strcat(w->prefix, "_");
        rc = map_fields(map, t, w, err);
        w->prefix[plen] = '\0';
    } else {
        mat_column_t col = {.nullable = w->nullable};
        map_col_t how = {0};
        map_classify(t, &col, &how);
        char *name = malloc(plen + strlen(f->name) + 1);
        map_step_t *steps = map_steps_dup(w);
        if (name)
            sprintf(name, "%s%s", w->prefix, f->name);
        if (!name || !steps) {
            free(name);
            free(steps);
            rc = mw_err_set(err, MW_ERR_NOMEM, "out of memory");
        } else {
            how.steps = steps;
            how.step_cnt = w->depth;
            rc = map_add_col(map, name, &col, &how, err);
        }
    }
    w->nullable = saved;
    w->depth--;
    return rc;
}

static int map_fields(mat_map_t *map, const av_node_t *rec, map_walk_t *w,
                      mw_err_t *err)
{
    for (size_t i = 0; i < rec->field_cnt; i++) {
        int rc = map_field(map, &rec->fields[i], w, err);
        if (rc != 0)
            return rc;
    }
    return 0;
}

/* Moves column idx to position pos, shifting the ones between. */
static void map_move(mat_map_t *map, size_t idx, size_t pos)
{
    mat_column_t col = map->cols[idx];
    map_col_t how = map->how[idx];
    memmove(&map->cols[pos + 1], &map->cols[pos],
            (idx - pos) * sizeof *map->cols);
    memmove(&map->how[pos + 1], &map->how[pos], (idx - pos) * sizeof *map->how);
    map->cols[pos] = col;
    map->how[pos] = how;
}

/* A record key: its fields name the key columns. */
static int map_record_key(mat_map_t *map, const av_node_t *key, mw_err_t *err)
{
    for (size_t i = 0; i < key->field_cnt; i++) {
        const av_field_t *f = &key->fields[i];
        ssize_t idx = map_find(map, f->name);
        if (idx < 0)
            return mw_err_set(err, MW_ERR_INVALID,
                              "key field '%s' is not a column of '%s'", f->name,
                              map->name);
        bool is_union, nullable;
        const av_node_t *t = map_unwrap_type(f->type, &is_union, &nullable);
        map_col_t *how = &map->how[idx];
        how->key_step.name = strdup(f->name);
        if (!how->key_step.name)
            return mw_err_set(err, MW_ERR_NOMEM, "out of memory");
        how->key_step.unwrap = is_union && t != f->type;
        how->from_key = true;
        map->cols[idx].is_key = true;
        map->cols[idx].nullable = false;
        map_move(map, (size_t)idx, i);
    }
    map->table.key_cnt = key->field_cnt;
    return 0;
}

/* Any other key: one leading column "key" holding the whole key. */
static int map_scalar_key(mat_map_t *map, const av_node_t *key, mw_err_t *err)
{
    bool is_union, nullable;
    const av_node_t *t = map_unwrap_type(key, &is_union, &nullable);
    mat_column_t col = {.is_key = true};
    map_col_t how = {.from_key = true,
                     .key_step = {.unwrap = is_union && t != key}};
    map_classify(t, &col, &how);
    char *name = strdup("key");
    if (!name)
        return mw_err_set(err, MW_ERR_NOMEM, "out of memory");
    int rc = map_add_col(map, name, &col, &how, err);
    if (rc == 0) {
        map_move(map, map->table.col_cnt - 1, 0);
        map->table.key_cnt = 1;
    }
    return rc;
}

mat_map_t *mat_map_new(const av_node_t *record, const av_node_t *key,
                       mat_nested_t nested, const char *table_name,
                       const char *topic, mw_err_t *err)
{
    if (!record || record->type != AV_RECORD) {
        mw_err_set(err, MW_ERR_INVALID,
                   "topic '%s': the value is %s, not a "
                   "record",
                   topic, record ? av_type_name(record->type) : "missing");
        return NULL;
    }
    mat_map_t *map = calloc(1, sizeof *map);
    if (!map || !(map->name = strdup(table_name)) ||
        !(map->topic = strdup(topic))) {
        mat_map_destroy(map);
        mw_err_set(err, MW_ERR_NOMEM, "out of memory");
        return NULL;
    }
    map->nested = nested;
    map->table.name = map->name;
    map->table.topic = map->topic;
    map->table.version = 1;
    map_walk_t walk = {.depth = 0};
    int rc = map_fields(map, record, &walk, err);
    if (rc == 0 && key && key->type == AV_RECORD)
        rc = map_record_key(map, key, err);
    else if (rc == 0 && key)
        rc = map_scalar_key(map, key, err);
    if (rc != 0) {
        mat_map_destroy(map);
        return NULL;
    }
    return map;
}

void mat_map_destroy(mat_map_t *map)
{
    if (!map)
        return;
    for (size_t i = 0; i < map->table.col_cnt; i++) {
        free((char *)map->cols[i].name);
        map_how_free(&map->how[i]);
    }
    free(map->cols);
    free(map->how);
    while (map->scratch) {
        map_chunk_t *next = map->scratch->next;
        free(map->scratch);
        map->scratch = next;
    }
    free(map->name);
    free(map->topic);
    free(map);
}

const mat_table_t *mat_map_table(const mat_map_t *map)
{
    return &map->table;
}

/* ---- evolution -----------------------------------------------------------*/

static bool map_same_steps(const map_col_t *a, const map_col_t *b)
{
    if (a->step_cnt != b->step_cnt || a->from_key != b->from_key ||
        a->key_step.unwrap != b->key_step.unwrap)
        return false;
    for (size_t i = 0; i < a->step_cnt; i++)
        if (a->steps[i].unwrap != b->steps[i].unwrap ||
            strcmp(a->steps[i].name, b->steps[i].name) != 0)
            return false;
    return true;
}

/* Why column i of old cannot read as column j of nu, or NULL. */
static const char *map_col_change(const mat_map_t *old, size_t i,
                                  const mat_map_t *nu, size_t j)
{
    const mat_column_t *a = &old->cols[i], *b = &nu->cols[j];
    if (a->type != b->type)
        return "type changed";
    if (a->precision != b->precision || a->scale != b->scale)
        return "precision or scale changed";
    if (a->is_key != b->is_key)
        return "key membership changed";
    if (!a->nullable && b->nullable)
        return "became nullable";
    if (old->how[i].src != nu->how[j].src ||
        old->how[i].mult != nu->how[j].mult ||
        !map_same_steps(&old->how[i], &nu->how[j]))
        return "encoding changed";
    return NULL;
}

/* Every check before the first change, so a refused merge changes
 * nothing. */
static int map_merge_check(const mat_map_t *map, const mat_map_t *nu,
                           mw_err_t *err)
{
    if (nu->table.key_cnt != map->table.key_cnt)
        return mw_err_set(err, MW_ERR_INVALID,
                          "incompatible change of the key of '%s': %zu key "
                          "columns, was %zu",
                          map->name, nu->table.key_cnt, map->table.key_cnt);
    for (size_t i = 0; i < map->table.col_cnt; i++) {
        const char *name = map->cols[i].name;
        ssize_t j = map_find(nu, name);
        const char *why = j < 0 ? (map->cols[i].nullable ? NULL : "removed")
                                : map_col_change(map, i, nu, (size_t)j);
        if (why)
            return mw_err_set(err, MW_ERR_INVALID,
                              "incompatible change of column %s of '%s': "
                              "%s (was %s%s)",
                              name, map->name, why,
                              mat_col_type_name(map->cols[i].type),
                              map->cols[i].nullable ? ", nullable" : "");
        if (j >= 0 && i < map->table.key_cnt && (size_t)j != i)
            return mw_err_set(err, MW_ERR_INVALID,
                              "incompatible change of the key of '%s': "
                              "column %s moved",
                              map->name, name);
    }
    return 0;
}

int mat_map_merge(mat_map_t *map, const av_node_t *record, const av_node_t *key,
                  mw_err_t *err)
{
    mat_map_t *nu =
        mat_map_new(record, key, map->nested, map->name, map->topic, err);
    if (!nu)
        return err ? err->code : MW_ERR_INVALID;
    int rc = map_merge_check(map, nu, err);
    size_t added = 0;
    for (size_t j = 0; rc == 0 && j < nu->table.col_cnt; j++) {
        if (map_find(map, nu->cols[j].name) >= 0)
            continue;
        rc = map_grow(map, err);
        if (rc != 0)
            break;
        /* Move the column over: nu forgets it, so destroy skips it. */
        mat_column_t col = nu->cols[j];
        col.nullable = true;
        map->cols[map->table.col_cnt] = col;
        map->how[map->table.col_cnt++] = nu->how[j];
        nu->cols[j].name = NULL;
        memset(&nu->how[j], 0, sizeof nu->how[j]);
        added++;
    }
    mat_map_destroy(nu);
    if (rc != 0)
        return rc;
    if (added)
        map->table.version++;
    return added ? 1 : 0;
}

/* ---- rows ----------------------------------------------------------------*/

static char *map_alloc(mat_map_t *map, size_t len)
{
    map_chunk_t *c = map->scratch;
    if (!c || c->cap - c->used < len) {
        size_t cap = len > MAP_CHUNK_MIN ? len : MAP_CHUNK_MIN;
        map_chunk_t *n = malloc(sizeof *n + cap);
        if (!n)
            return NULL;
        n->cap = cap;
        n->used = 0;
        n->next = c;
        map->scratch = c = n;
    }
    char *p = c->data + c->used;
    c->used += len;
    return p;
}

/* Keeps only the newest chunk, empty: a row's values live until the next
 * row. */
static void map_scratch_reset(mat_map_t *map)
{
    map_chunk_t *c = map->scratch;
    if (!c)
        return;
    while (c->next) {
        map_chunk_t *old = c->next;
        c->next = old->next;
        free(old);
    }
    c->used = 0;
}

/* The field's value, union unwrapped; NULL for JSON null or missing. */
static const json_t *map_step(const json_t *obj, const map_step_t *st,
                              bool *bad)
{
    const json_t *v = st->name ? json_object_get(obj, st->name) : obj;
    if (!v || json_is_null(v))
        return NULL;
    if (st->unwrap) {
        void *it = json_object_iter((json_t *)v);
        if (!it || json_object_size(v) != 1) {
            *bad = true;
            return NULL;
        }
        v = json_object_iter_value(it);
    }
    return v;
}

/* Avro JSON bytes (code points 0-255 as UTF-8) -> raw bytes. */
static int map_bytes(mat_map_t *map, const json_t *v, const uint8_t **out,
                     size_t *out_len)
{
    const uint8_t *s = (const uint8_t *)json_string_value(v);
    size_t len = json_string_length(v), n = 0;
    uint8_t *buf = (uint8_t *)map_alloc(map, len + 1);
    if (!buf)
        return MW_ERR_NOMEM;
    for (size_t i = 0; i < len; i++) {
        if (s[i] < 0x80)
            buf[n++] = s[i];
        else if ((s[i] & 0xfe) == 0xc2 && i + 1 < len)
            buf[n++] = (uint8_t)(((s[i] & 0x03) << 6) | (s[i + 1] & 0x3f)), i++;
        else
            return MW_ERR_INVALID;
    }
    *out = buf;
    *out_len = n;
    return 0;
}

/* Big-endian two's complement unscaled value -> "-123.45". */
static int map_decimal(mat_map_t *map, const uint8_t *b, size_t len, int scale,
                       mat_value_t *out)
{
    uint8_t mag[MAP_MAX_DECIMAL];
    char digits[MAP_MAX_DECIMAL * 3 + 2];
    if (len > MAP_MAX_DECIMAL || scale < 0 || scale > 2 * MAP_MAX_DECIMAL)
        return MW_ERR_INVALID;
    bool neg = len > 0 && (b[0] & 0x80);
    unsigned carry = 1;
    for (size_t i = len; i-- > 0;) { /* magnitude = ~b + 1 when negative */
        unsigned v = neg ? (uint8_t)~b[i] + carry : b[i];
        mag[i] = (uint8_t)v;
        carry = neg ? v >> 8 : 0;
    }
    size_t nd = 0, start = 0;
    while (start < len && mag[start] == 0)
        start++;
    while (start < len) { /* repeated division by 10 */
        unsigned rem = 0;
        for (size_t i = start; i < len; i++) {
            unsigned cur = (rem << 8) | mag[i];
            mag[i] = (uint8_t)(cur / 10);
            rem = cur % 10;
        }
        digits[nd++] = (char)('0' + rem);
        while (start < len && mag[start] == 0)
            start++;
    }
    size_t width = nd > (size_t)scale ? nd : (size_t)scale + 1;
    char *s = map_alloc(map, width + 3), *p = s;
    if (!s)
        return MW_ERR_NOMEM;
    if (neg && nd)
        *p++ = '-';
    for (size_t i = width; i-- > 0;) {
        *p++ = i < nd ? digits[i] : '0';
        if (i == (size_t)scale && scale > 0)
            *p++ = '.';
    }
    out->u.s.ptr = s;
    out->u.s.len = (size_t)(p - s);
    return 0;
}

static int map_json(mat_map_t *map, const json_t *v, mat_value_t *out)
{
    size_t flags = JSON_COMPACT | JSON_ENCODE_ANY;
    size_t len = json_dumpb(v, NULL, 0, flags);
    char *s = len ? map_alloc(map, len) : NULL;
    if (!s || json_dumpb(v, s, len, flags) != len)
        return MW_ERR_NOMEM;
    out->u.s.ptr = s;
    out->u.s.len = len;
    return 0;
}

static int map_real(const json_t *v, double *d)
{
    const char *s = json_string_value(v);
    if (json_is_number(v))
        *d = json_number_value(v);
    else if (s && strcmp(s, "NaN") == 0)
        *d = NAN;
    else if (s && strcmp(s, "Infinity") == 0)
        *d = INFINITY;
    else if (s && strcmp(s, "-Infinity") == 0)
        *d = -INFINITY;
    else
        return MW_ERR_INVALID;
    return 0;
}

/* v * mult (millis -> micros); a timestamp-millis beyond 2^63 micros
 * does not fit the column. */
static int map_scale(int64_t v, int64_t mult, int64_t *out)
{
    return __builtin_mul_overflow(v, mult, out) ? MW_ERR_INVALID : 0;
}

/* One non-null JSON value -> out, per the column's encoding. */
static int map_convert(mat_map_t *map, const mat_column_t *col,
                       const map_col_t *how, const json_t *v, mat_value_t *out)
{
    const uint8_t *b;
    size_t len;
    int rc;
    switch (how->src) {
    case SRC_BOOL:
        if (!json_is_boolean(v))
            return MW_ERR_INVALID;
        out->u.b = json_is_true(v);
        return 0;
    case SRC_INT:
        if (!json_is_integer(v))
            return MW_ERR_INVALID;
        return map_scale(json_integer_value(v), how->mult, &out->u.i);
    case SRC_REAL:
        return map_real(v, &out->u.d);
    case SRC_STRING:
        if (!json_is_string(v))
            return MW_ERR_INVALID;
        out->u.s.ptr = json_string_value(v);
        out->u.s.len = json_string_length(v);
        return 0;
    case SRC_BYTES:
    case SRC_DECIMAL:
        if (!json_is_string(v))
            return MW_ERR_INVALID;
        if ((rc = map_bytes(map, v, &b, &len)) != 0)
            return rc;
        if (how->src == SRC_DECIMAL)
            return map_decimal(map, b, len, col->scale, out);
        out->u.s.ptr = (const char *)b;
        out->u.s.len = len;
        return 0;
    case SRC_JSON:
        return map_json(map, v, out);
    }
    return MW_ERR_INVALID;
}

/* Column i's JSON value: from the key when the column is a key column and
 * a key was given, else along its path in row. */
static const json_t *map_lookup(const mat_map_t *map, size_t i,
                                const json_t *row, const json_t *key, bool *bad)
{
    const map_col_t *how = &map->how[i];
    if (how->from_key && key)
        return map_step(key, &how->key_step, bad);
    const json_t *v = row;
    for (size_t s = 0; v && s < how->step_cnt; s++) {
        if (!json_is_object(v)) {
            *bad = true;
            return NULL;
        }
        v = map_step(v, &how->steps[s], bad);
    }
    return how->step_cnt ? v : NULL;
}

int mat_map_row(mat_map_t *map, const json_t *row, const json_t *key,
                mat_value_t *values, mw_err_t *err)
{
    map_scratch_reset(map);
    if (row && !json_is_object(row))
        return mw_err_set(err, MW_ERR_INVALID,
                          "topic '%s': the row is not "
                          "a JSON object",
                          map->topic);
    for (size_t i = 0; i < map->table.col_cnt; i++) {
        const mat_column_t *col = &map->cols[i];
        bool bad = false;
        const json_t *v = map_lookup(map, i, row, key, &bad);
        memset(&values[i], 0, sizeof values[i]);
        values[i].is_null = v == NULL;
        int rc = bad ? MW_ERR_INVALID
                 : v ? map_convert(map, col, &map->how[i], v, &values[i])
                     : 0;
        if (rc == 0 && !v && col->is_key)
            return mw_err_set(err, MW_ERR_INVALID,
                              "topic '%s': key column "
                              "%s is null",
                              map->topic, col->name);
        if (rc != 0)
            return mw_err_set(err, rc,
                              "topic '%s': column %s: value does "
                              "not fit %s",
                              map->topic, col->name,
                              mat_col_type_name(col->type));
    }
    return 0;
}

/* ---- the direct path (mat_fast) -------------------------------------------*/

size_t mat_map_col_path(const mat_map_t *map, size_t i, const char **names,
                        size_t max)
{
    const map_col_t *how = &map->how[i];
    for (size_t s = 0; s < how->step_cnt && s < max; s++)
        names[s] = how->steps[s].name;
    return how->step_cnt;
}

bool mat_map_col_from_key(const mat_map_t *map, size_t i, const char **field)
{
    *field = map->how[i].key_step.name;
    return map->how[i].from_key;
}

bool mat_map_col_direct(const mat_map_t *map, size_t i)
{
    return map->how[i].src != SRC_JSON;
}

void mat_map_row_begin(mat_map_t *map)
{
    map_scratch_reset(map);
}

/* Mirrors map_convert: each source encoding takes the slot kinds whose
 * JSON form map_convert takes, and converts them the same way. */
int mat_map_value(mat_map_t *map, size_t i, const av_pv_t *pv, mat_value_t *out)
{
    const map_col_t *how = &map->how[i];
    memset(out, 0, sizeof *out);
    out->is_null = pv->kind == AV_PV_NULL;
    if (out->is_null)
        return 0;
    switch (how->src) {
    case SRC_BOOL:
        if (pv->kind != AV_PV_BOOL)
            return MW_ERR_INVALID;
        out->u.b = pv->u.b;
        return 0;
    case SRC_INT:
        if (pv->kind != AV_PV_INT)
            return MW_ERR_INVALID;
        return map_scale(pv->u.i, how->mult, &out->u.i);
    case SRC_REAL:
        if (pv->kind == AV_PV_INT)
            out->u.d = (double)pv->u.i;
        else if (pv->kind == AV_PV_REAL) /* NaN as the JSON path's "NaN" */
            out->u.d = isnan(pv->u.d) ? NAN : pv->u.d;
        else
            return MW_ERR_INVALID;
        return 0;
    case SRC_STRING:
        if (pv->kind != AV_PV_STRING)
            return MW_ERR_INVALID;
        out->u.s.ptr = pv->u.s.ptr;
        out->u.s.len = pv->u.s.len;
        return 0;
    case SRC_BYTES:
    case SRC_DECIMAL:
        /* A bytes value's JSON form is its code points, which map_bytes
         * turns back into these very bytes. */
        if (pv->kind != AV_PV_BYTES)
            return MW_ERR_INVALID;
        if (how->src == SRC_DECIMAL)
            return map_decimal(map, (const uint8_t *)pv->u.s.ptr, pv->u.s.len,
                               map->cols[i].scale, out);
        out->u.s.ptr = pv->u.s.ptr;
        out->u.s.len = pv->u.s.len;
        return 0;
    case SRC_JSON:
        break;
    }
    return MW_ERR_INVALID;
}
