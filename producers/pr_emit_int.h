/*
 * pr_emit_int.h: declarations shared by pr_emit.c (encode, produce, deliver)
 * and pr_emit_schema.c (which schema an event's key and value use), and
 * nowhere else.
 *
 * Thread: the daemon's loop thread, like the emitter.
 */
#ifndef PR_EMIT_INT_H
#define PR_EMIT_INT_H

#include <stdint.h>

#include "mw_conf.h"
#include "mw_err.h"
#include "pr_emit.h"
#include "av_schema.h"
#include "av_serde.h"

/* Longest valid topic name (Kafka's limit). */
#define PR_TOPIC_MAX 249

/* Which side of a record a schema is for: subjects end "-key"/"-value". */
typedef enum pr_emit_side {
    PR_EMIT_SIDE_KEY = 0,
    PR_EMIT_SIDE_VALUE,
    PR_EMIT_SIDE__CNT
} pr_emit_side_t;

/* "key" or "value". */
const char *pr_emit_side_name(pr_emit_side_t side);

/* One resolved schema: the registry id, the parsed schema (kept by the
 * cache) and its encoding plan (owned by the serde cache).  Borrowed from
 * the schema cache until pr_emit_schema_destroy. */
typedef struct pr_emit_resolved {
    uint32_t id;
    av_schema_t *schema;
    const av_serde_plan_t *plan;
} pr_emit_resolved_t;

typedef struct pr_emit_schema pr_emit_schema_t;

/* New resolver from conf's registry.url, value.subject, value.schema.id,
 * value.schema.version, key.subject, subject.name.strategy and
 * auto.register (conf borrowed for the call).  NULL with MW_ERR_CONFIG
 * naming the key. */
pr_emit_schema_t *pr_emit_schema_new(const mw_conf_t *conf, mw_err_t *err);
void pr_emit_schema_destroy(pr_emit_schema_t *sch);

/* The schema for one side of an event to topic, per ref (borrowed) and the
 * configured keys.  *out is NULL (and 0 returned) for a key side with no
 * schema at all: the key then goes out as raw bytes.  Errors:
 * MW_ERR_NOT_FOUND (no such subject / version / id, inline schema not
 * registered), MW_ERR_INVALID (inline schema does not parse, registry
 * refused it), MW_ERR_TRANSPORT / MW_ERR_TIMEOUT (registry unreachable),
 * MW_ERR_FULL (too many distinct schemas). */
int pr_emit_schema_resolve(pr_emit_schema_t *sch, const char *topic,
                           pr_emit_side_t side, const pr_schema_ref_t *ref,
                           const pr_emit_resolved_t **out, mw_err_t *err);

/* pr_emit_register's work: schema_text registered under the subject the
 * naming strategy gives for (topic, side), whatever auto.register says. */
int pr_emit_schema_register(pr_emit_schema_t *sch, const char *topic,
                            pr_emit_side_t side, const char *schema_text,
                            uint32_t *id, mw_err_t *err);

#endif /* PR_EMIT_INT_H */
