/*
 * av_serde: Avro values between Avro's binary encoding and its JSON
 * encoding, with writer -> reader schema resolution.  (Confluent's framing
 * around the binary body is the registry client's: sr_frame.h.)
 *
 * JSON side: Avro's JSON
 * encoding, as Java's JsonEncoder/JsonDecoder write it:
 *   - a union value is null, or {"<branch>": value} where <branch> is the
 *     branch's full name ("string", "array", "com.acme.Order");
 *   - bytes and fixed are strings whose code points 0-255 are the bytes;
 *   - logical types use their underlying type: decimal is a bytes/fixed
 *     string, timestamp-millis a long, uuid a string.  As a convenience for
 *     producers, a decimal also accepts a JSON number (the unscaled value
 *     must fit in 64 bits); output is always the bytes string;
 *   - float/double accept any JSON number and the strings "NaN",
 *     "Infinity" and "-Infinity" (what decode writes for non-finite values,
 *     which JSON numbers cannot hold); long accepts an integral real;
 *   - a record field missing from the JSON object takes the schema's
 *     default; a key that is not a field is an error.
 *
 * A plan is the compiled form of one (writer, reader) pair: a flat array of
 * operations with every resolution decision (field matching, defaults,
 * promotions, enum and union branch maps) taken once at compile time, so the
 * per-message path only reads bytes and builds JSON.  Plans are immutable
 * and may be shared by any number of threads.  av_serde_cache_t compiles
 * each pair once and keeps it.
 *
 * Errors never crash and never read past the input: every length and count
 * is checked against the bytes left.  Messages name the JSON path of the
 * culprit: "$.items[3].price: expected double, got string".
 */
#ifndef AV_SERDE_H
#define AV_SERDE_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "mw_buf.h"
#include "mw_err.h"
#include "av_schema.h"

/* Nesting limit for values (recursive schemas, hostile input). */
#define AV_SERDE_MAX_DEPTH 128

typedef struct av_serde_plan av_serde_plan_t;
typedef struct av_serde_cache av_serde_cache_t;

/* Compiles the plan that reads data written with writer into the shape of
 * reader (NULL = writer itself, the plan that also encodes).  Both schemas
 * are kept (av_schema_keep) for the plan's lifetime.  Returns a new plan
 * (av_serde_plan_destroy) or NULL with err = MW_ERR_INVALID naming the
 * path where reader cannot read writer ("$.price: writer type string cannot
 * be read as int"; "$: reader field 'x' has no default and is missing in
 * the writer").  A writer union branch the reader cannot take is not a
 * compile error: only a message that uses it fails.  Any thread. */
av_serde_plan_t *av_serde_plan_new(av_schema_t *writer, av_schema_t *reader,
                                   mw_err_t *err);
void av_serde_plan_destroy(av_serde_plan_t *plan);

/* Borrowed schemas of the plan. */
av_schema_t *av_serde_plan_writer(const av_serde_plan_t *plan);
av_schema_t *av_serde_plan_reader(const av_serde_plan_t *plan);

/* Appends the Avro binary encoding of value (Avro JSON, see above) to out.
 * plan must be a writer-only plan (reader NULL or the writer), else
 * MW_ERR_STATE.  On error (MW_ERR_INVALID naming the JSON path, MW_ERR_FULL
 * when out's maximum is reached) out holds a partial encoding: discard it
 * (mw_buf_reset).  value is borrowed.  Any thread. */
int av_serde_json_to_avro(const av_serde_plan_t *plan, const json_t *value,
                          mw_buf_t *out, mw_err_t *err);

/* Decodes exactly len bytes of Avro binary (no Confluent header) written
 * with the plan's writer into *out, a new JSON value in the reader's shape
 * (json_decref it).  Errors (MW_ERR_INVALID): truncated body, trailing
 * bytes, a bad union index or enum index, a negative or oversized length,
 * a varint that overflows, invalid UTF-8 in a string, a writer union
 * branch the reader cannot read; the message gives the JSON path and the
 * byte offset.  *out is NULL on error.  Any thread. */
int av_serde_avro_to_json(const av_serde_plan_t *plan, const void *data,
                          size_t len, json_t **out, mw_err_t *err);

/* A thread-safe set of compiled plans keyed by the (writer, reader) schema
 * objects (pointer identity: the client's id cache hands out one object per
 * id).  At most max_plans (0 = 1024) plans; past that, MW_ERR_FULL. */
av_serde_cache_t *av_serde_cache_new(size_t max_plans, mw_err_t *err);
void av_serde_cache_destroy(av_serde_cache_t *cache);

/* The plan for (writer, reader), compiled on first use.  Borrowed until the
 * cache is destroyed.  NULL with err as av_serde_plan_new.  Any thread;
 * compiling holds the cache's lock. */
const av_serde_plan_t *av_serde_cache_get(av_serde_cache_t *cache,
                                          av_schema_t *writer,
                                          av_schema_t *reader, mw_err_t *err);

#endif /* AV_SERDE_H */
