/*
 * av_compat: Avro schema compatibility, as the registry enforces it.
 *
 * The core question is Avro's schema resolution: "can a reader using schema R
 * decode data written with schema W?"  The answer follows Java's
 * org.apache.avro.SchemaCompatibility (the checker Confluent's registry runs)
 * rule for rule, including its messages, its JSON-pointer-like locations
 * ("/fields/0/type") and its quirks, so that clients see the verdicts and the
 * reasons they would see from Confluent.  The compatibility levels
 * (BACKWARD, FORWARD, FULL, their transitive forms, NONE) are built on top,
 * in the order and with the stop rules of Confluent's SchemaValidatorBuilder.
 *
 * Everything here is pure computation on parsed schemas: no I/O, no locks.
 * Safe to call from any thread as long as each result object is used by one
 * thread at a time.
 */
#ifndef AV_COMPAT_H
#define AV_COMPAT_H

#include <stddef.h>

#include <jansson.h>

#include "av_schema.h"

typedef enum av_compat_level {
    AV_COMPAT_BACKWARD = 0, /* the registry's default */
    AV_COMPAT_BACKWARD_TRANSITIVE,
    AV_COMPAT_FORWARD,
    AV_COMPAT_FORWARD_TRANSITIVE,
    AV_COMPAT_FULL,
    AV_COMPAT_FULL_TRANSITIVE,
    AV_COMPAT_NONE,
    AV_COMPAT_LEVEL__CNT
} av_compat_level_t;

/* "BACKWARD", "FULL_TRANSITIVE", ...; "UNKNOWN" outside the enum. */
const char *av_compat_level_name(av_compat_level_t level);

/* Parses a level name, ignoring case ("backward" is BACKWARD).  Returns 0
 * and sets *level, or MW_ERR_INVALID (err names the value) and leaves *level
 * untouched. */
int av_compat_level_parse(const char *name, av_compat_level_t *level,
                          mw_err_t *err);

/* Kinds of incompatibility: Java's SchemaIncompatibilityType names, plus
 * AMBIGUOUS_FIELD for the case where Java throws instead of answering (a
 * reader field whose name and aliases match several writer fields), which
 * Confluent reports as "Unexpected exception during compatibility check". */
typedef enum av_compat_err {
    AV_COMPAT_NAME_MISMATCH = 0,
    AV_COMPAT_FIXED_SIZE_MISMATCH,
    AV_COMPAT_MISSING_ENUM_SYMBOLS,
    AV_COMPAT_READER_FIELD_MISSING_DEFAULT_VALUE,
    AV_COMPAT_TYPE_MISMATCH,
    AV_COMPAT_MISSING_UNION_BRANCH,
    AV_COMPAT_AMBIGUOUS_FIELD,
    AV_COMPAT_ERR__CNT
} av_compat_err_t;

/* "NAME_MISMATCH", ...; "UNKNOWN" outside the enum. */
const char *av_compat_err_name(av_compat_err_t type);

/* One incompatibility.  Plain data owned by the result it came from. */
typedef struct av_compat_msg {
    av_compat_err_t type;
    const char *location;  /* "/fields/0/type"; "/" is the root */
    const char *info;      /* Java's message, Confluent's additionalInfo:
                            * "reader type: INT not compatible with writer
                            * type: LONG", "expected: a.R", "[C, D]", ... */
    size_t previous_index; /* index into av_compat_check_mode's previous[]
                            * (0 for the pair checks) */
    int reader_is_new;     /* 1 when the candidate was the reader (the
                            * backward direction): Confluent's description
                            * then says "new" for the reader, else "old" */
    int append_schema;     /* 1 when Confluent follows this check's messages
                            * with {oldSchemaVersion: N} and {oldSchema: ..} */
} av_compat_msg_t;

typedef struct av_compat_result av_compat_result_t;

/* A new, empty (compatible) result; NULL when out of memory.  Reusable:
 * every check clears it first.  Free with av_compat_result_destroy. */
av_compat_result_t *av_compat_result_new(void);

/* Frees res and its messages; accepts NULL. */
void av_compat_result_destroy(av_compat_result_t *res);

/* 1 when the last check found no incompatibility, else 0. */
int av_compat_result_is_compatible(const av_compat_result_t *res);

/* Number of incompatibilities, in the order Java reports them. */
size_t av_compat_result_cnt(const av_compat_result_t *res);

/* The i-th incompatibility (i < cnt), borrowed until the result is reused
 * or destroyed. */
const av_compat_msg_t *av_compat_result_get(const av_compat_result_t *res,
                                            size_t i);

/* Can reader decode data written with writer?  Clears res, then fills it
 * with every incompatibility (none = compatible).  Schemas are borrowed.
 * Returns 0 whatever the verdict, or MW_ERR_NOMEM (res then holds what was
 * found so far and must not be trusted). */
int av_compat_check(const av_schema_t *reader, const av_schema_t *writer,
                    av_compat_result_t *res);

/* The same on two nodes of parsed schemas (for example sub-trees). */
int av_compat_check_nodes(const av_node_t *reader, const av_node_t *writer,
                          av_compat_result_t *res);

/* The registration check of a compatibility level: may candidate join a
 * subject whose live versions are previous[0..n-1], oldest first?  (n may be
 * 0: always compatible.)  Checks follow Confluent: the newest version only
 * for the plain levels, every version newest first for the transitive ones,
 * stopping at the first version that gives incompatibilities; FULL runs the
 * forward check, then the backward one.  Returns as av_compat_check. */
int av_compat_check_mode(av_compat_level_t level, const av_schema_t *candidate,
                         av_schema_t *const *previous, size_t n,
                         av_compat_result_t *res);

/* Writes msg as Confluent's verbose string into buf (cap bytes, always
 * NUL-terminated when cap > 0):
 *   {errorType:'TYPE_MISMATCH', description:'The type (path
 *   '/fields/0/type') of a field in the new schema does not match with the
 *   old schema', additionalInfo:'reader type: INT not compatible with writer
 *   type: LONG'}
 * Returns the length the full string needs (snprintf style). */
size_t av_compat_msg_format(const av_compat_msg_t *msg, char *buf, size_t cap);

/* Appends Confluent's `messages` for res to the JSON array out: each
 * incompatibility's verbose string and, after each check that Confluent
 * annotates, "{oldSchemaVersion: V}" (when versions is given and
 * versions[i] > 0) and "{oldSchema: 'TEXT'}" (when texts is given; cut to
 * 10240 characters as Confluent does).  versions and texts, when not NULL,
 * have n entries indexed like av_compat_check_mode's previous[].  The
 * trailing "{validateFields: .., compatibility: ..}" entry is the caller's.
 * Returns 0 or MW_ERR_NOMEM. */
int av_compat_format_messages(const av_compat_result_t *res,
                              const int *versions, const char *const *texts,
                              size_t n, json_t *out);

#endif /* AV_COMPAT_H */
