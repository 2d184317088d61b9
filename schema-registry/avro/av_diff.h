/*
 * av_diff: the field-level changes between two Avro schemas, for people
 * (meshctl schema diff, a pull request's review): fields added and
 * removed, types changed, defaults added, removed or changed, enum symbols
 * and union branches added and removed, names, sizes and logical types
 * changed.  Each change is named by its path from the root record
 * ("order.customer.email", "items[]", "tags{}", "status<enum>").  Whether
 * a change breaks readers is av_compat's question, not this one's.
 *
 * Pure computation on parsed schemas; any thread.
 */
#ifndef AV_DIFF_H
#define AV_DIFF_H

#include "mw_err.h"
#include "av_schema.h"

typedef enum av_diff_kind {
    AV_DIFF_ADDED = 0,
    AV_DIFF_REMOVED,
    AV_DIFF_CHANGED,
} av_diff_kind_t;

/* "added", "removed", "changed". */
const char *av_diff_kind_name(av_diff_kind_t kind);

/* One change: path and what (e.g. "type long -> string", "field (type
 * string, default \"\")") are borrowed for the call. */
typedef void(av_diff_cb)(void *opaque, av_diff_kind_t kind, const char *path,
                         const char *what);

/* Calls cb for every change from old_schema to new_schema, in the order of
 * the new schema's fields (removals where the old field stood).  Recursive
 * types are walked once per pair of named types.  Returns the number of
 * changes, or MW_ERR_NOMEM. */
int av_diff(const av_schema_t *old_schema, const av_schema_t *new_schema,
            av_diff_cb *cb, void *opaque);

#endif /* AV_DIFF_H */
