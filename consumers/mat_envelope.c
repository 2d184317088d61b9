/*
 * mat_envelope: Debezium change events and plain records -> one change.
 *
 * Where it sits: between av_serde (record -> Avro JSON) and mat_map (row ->
 * typed values) in mat_loop's per-record path.  The shape is taken from
 * the schema once per writer schema (mat_envelope_inspect), the per-record
 * read only looks at a few JSON members.
 *
 * Avro JSON wraps union values as {"<branch>": value}; fields Debezium
 * declares as unions (after, before, ts_ms, sometimes source) are
 * unwrapped here whatever the writer chose, so the reader accepts both
 * Debezium's own schemas and hand-written ones.
 *
 * Thread: any.
 */
#include "mat_envelope.h"

#include <string.h>

/* A field's type seen through a ["null", T] union. */
static const av_node_t *env_base(const av_node_t *t)
{
    if (t->type != AV_UNION)
        return t;
    const av_node_t *only = NULL;
    for (size_t i = 0; i < t->branch_cnt; i++) {
        if (t->branches[i]->type == AV_NULL)
            continue;
        if (only)
            return t;
        only = t->branches[i];
    }
    return only ? only : t;
}

static const av_field_t *env_field(const av_node_t *rec, const char *name)
{
    for (size_t i = 0; i < rec->field_cnt; i++)
        if (strcmp(rec->fields[i].name, name) == 0)
            return &rec->fields[i];
    return NULL;
}

int mat_envelope_inspect(const av_node_t *root, mat_envelope_shape_t *shape,
                         mw_err_t *err)
{
    memset(shape, 0, sizeof *shape);
    if (!root || root->type != AV_RECORD)
        return mw_err_set(err, MW_ERR_INVALID,
                          "the value schema is %s, not "
                          "a record",
                          root ? av_type_name(root->type) : "missing");
    const av_field_t *before = env_field(root, "before");
    const av_field_t *after = env_field(root, "after");
    const av_field_t *op = env_field(root, "op");
    shape->row = root;
    if (!before || !after || !op)
        return 0;
    const av_node_t *a = env_base(after->type), *b = env_base(before->type);
    if (a->type != AV_RECORD || b->type != AV_RECORD)
        return mw_err_set(err, MW_ERR_INVALID,
                          "change event %s: 'after' "
                          "and 'before' must be nullable records",
                          root->fullname);
    shape->is_envelope = true;
    shape->row = a;
    shape->after_union = after->type->type == AV_UNION;
    shape->before_union = before->type->type == AV_UNION;
    return 0;
}

/* A union value {"branch": v} -> v; anything else as it is. */
static const json_t *env_unwrap(const json_t *v)
{
    if (json_is_object(v) && json_object_size(v) == 1) {
        void *it = json_object_iter((json_t *)v);
        return json_object_iter_value(it);
    }
    return v;
}

/* A long that may be union-wrapped; -1 when absent or null. */
static int64_t env_long(const json_t *obj, const char *name)
{
    const json_t *v = json_object_get(obj, name);
    if (json_is_object(v))
        v = env_unwrap(v);
    return json_is_integer(v) ? (int64_t)json_integer_value(v) : -1;
}

/* A row member: null, a record object, or a union wrapping one. */
static const json_t *env_row(const json_t *value, const char *name,
                             bool is_union)
{
    const json_t *v = json_object_get(value, name);
    if (!v || json_is_null(v))
        return NULL;
    return is_union ? env_unwrap(v) : v;
}

static int64_t env_ts(const json_t *value)
{
    const json_t *src = json_object_get(value, "source");
    if (json_is_object(src) && !json_object_get(src, "ts_ms"))
        src = env_unwrap(src);
    int64_t ts = json_is_object(src) ? env_long(src, "ts_ms") : -1;
    return ts >= 0 ? ts : env_long(value, "ts_ms");
}

static int env_change(const mat_envelope_shape_t *shape, const json_t *value,
                      bool append, mat_envelope_event_t *ev, mw_err_t *err)
{
    const json_t *opv = json_object_get(value, "op");
    if (json_is_object(opv))
        opv = env_unwrap(opv);
    const char *op = json_string_value(opv);
    if (!op || strlen(op) != 1)
        return mw_err_set(err, MW_ERR_INVALID,
                          "change event without a "
                          "valid 'op'");
    ev->op_code = op[0];
    ev->source_ts_ms = env_ts(value);
    int which = mat_envelope_op(op[0], append, ev);
    if (which == MAT_ENVELOPE_AFTER) {
        ev->row = env_row(value, "after", shape->after_union);
        if (!ev->row)
            return mw_err_set(err, MW_ERR_INVALID,
                              "change event op '%c' "
                              "without an 'after' row",
                              op[0]);
    } else if (which == MAT_ENVELOPE_BEFORE) {
        ev->row = env_row(value, "before", shape->before_union);
    } else if (which < 0) {
        return mw_err_set(err, MW_ERR_INVALID,
                          "change event with unknown "
                          "op '%s'",
                          op);
    }
    return 0;
}

int mat_envelope_op(char op, bool append, mat_envelope_event_t *ev)
{
    switch (op) {
    case 'c':
    case 'r':
    case 'u':
        ev->op = append ? MAT_OP_APPEND : MAT_OP_UPSERT;
        return MAT_ENVELOPE_AFTER;
    case 'd':
        /* An append-only table keeps history: a delete adds nothing. */
        ev->skip = append;
        ev->op = MAT_OP_DELETE;
        return MAT_ENVELOPE_BEFORE;
    case 't':
    case 'm':
        ev->skip = true;
        return MAT_ENVELOPE_NONE;
    default:
        return MW_ERR_INVALID;
    }
}

int mat_envelope_read(const mat_envelope_shape_t *shape, const json_t *value,
                      bool has_key, bool append, mat_envelope_event_t *ev,
                      mw_err_t *err)
{
    memset(ev, 0, sizeof *ev);
    ev->source_ts_ms = -1;
    if (!value || json_is_null(value)) {
        ev->skip = true;
        return 0;
    }
    if (!json_is_object(value))
        return mw_err_set(err, MW_ERR_INVALID, "the value is not a record");
    if (shape->is_envelope)
        return env_change(shape, value, append, ev, err);
    ev->op = has_key && !append ? MAT_OP_UPSERT : MAT_OP_APPEND;
    ev->row = value;
    return 0;
}

bool mat_envelope_change_has_placeholders(const mat_change_t *change)
{
    return change->op == MAT_OP_UPSERT &&
           (change->src_op == 'c' || change->src_op == 'r' ||
            change->src_op == 'u');
}

bool mat_envelope_is_unavailable(mat_col_type_t type, const mat_value_t *value)
{
    return (type == MAT_COL_TEXT || type == MAT_COL_BYTES) && !value->is_null &&
           value->u.s.len == MAT_ENVELOPE_UNAVAILABLE_LEN && value->u.s.ptr &&
           memcmp(value->u.s.ptr, MAT_ENVELOPE_UNAVAILABLE,
                  MAT_ENVELOPE_UNAVAILABLE_LEN) == 0;
}
