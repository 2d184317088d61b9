/*
 * sr_serde: Avro values between Confluent's wire format and Avro's JSON
 * encoding, with writer -> reader schema resolution.
 *
 * Wire format (Confluent): byte 0x00, the schema id as 4 bytes big-endian,
 * then the Avro binary encoding of one value.  JSON side: Avro's JSON
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
 * and may be shared by any number of threads.  sr_serde_cache_t compiles
 * each pair once and keeps it.
 *
 * Errors never crash and never read past the input: every length and count
 * is checked against the bytes left.  Messages name the JSON path of the
 * culprit: "$.items[3].price: expected double, got string".
 */
#ifndef SR_SERDE_H
#define SR_SERDE_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "mw_buf.h"
#include "mw_err.h"
#include "sr_schema.h"

/* Size of the Confluent header: magic byte + 4-byte schema id. */
#define SR_SERDE_HEADER_LEN 5
/* Nesting limit for values (recursive schemas, hostile input). */
#define SR_SERDE_MAX_DEPTH 128

typedef struct sr_serde_plan sr_serde_plan_t;
typedef struct sr_serde_cache sr_serde_cache_t;

/* Compiles the plan that reads data written with writer into the shape of
 * reader (NULL = writer itself, the plan that also encodes).  Both schemas
 * are kept (sr_schema_keep) for the plan's lifetime.  Returns a new plan
 * (sr_serde_plan_destroy) or NULL with err = MW_ERR_INVALID naming the
 * path where reader cannot read writer ("$.price: writer type string cannot
 * be read as int"; "$: reader field 'x' has no default and is missing in
 * the writer").  A writer union branch the reader cannot take is not a
 * compile error: only a message that uses it fails.  Any thread. */
sr_serde_plan_t *sr_serde_plan_new(sr_schema_t *writer, sr_schema_t *reader,
                                   mw_err_t *err);
void sr_serde_plan_destroy(sr_serde_plan_t *plan);

/* Borrowed schemas of the plan. */
sr_schema_t *sr_serde_plan_writer(const sr_serde_plan_t *plan);
sr_schema_t *sr_serde_plan_reader(const sr_serde_plan_t *plan);

/* Appends the Avro binary encoding of value (Avro JSON, see above) to out.
 * plan must be a writer-only plan (reader NULL or the writer), else
 * MW_ERR_STATE.  On error (MW_ERR_INVALID naming the JSON path, MW_ERR_FULL
 * when out's maximum is reached) out holds a partial encoding: discard it
 * (mw_buf_reset).  value is borrowed.  Any thread. */
int sr_serde_json_to_avro(const sr_serde_plan_t *plan, const json_t *value,
                          mw_buf_t *out, mw_err_t *err);

/* Decodes exactly len bytes of Avro binary (no Confluent header) written
 * with the plan's writer into *out, a new JSON value in the reader's shape
 * (json_decref it).  Errors (MW_ERR_INVALID): truncated body, trailing
 * bytes, a bad union index or enum index, a negative or oversized length,
 * a varint that overflows, invalid UTF-8 in a string, a writer union
 * branch the reader cannot read; the message gives the JSON path and the
 * byte offset.  *out is NULL on error.  Any thread. */
int sr_serde_avro_to_json(const sr_serde_plan_t *plan, const void *data,
                          size_t len, json_t **out, mw_err_t *err);

/* Checks the Confluent header of data and returns the schema id and the
 * Avro body (borrowed from data).  MW_ERR_INVALID for "truncated header"
 * (fewer than 5 bytes) and "bad magic byte 0x..".  An id unknown to the
 * registry is the caller's to report. */
int sr_serde_frame_parse(const void *data, size_t len, uint32_t *id,
                         const uint8_t **body, size_t *body_len,
                         mw_err_t *err);

/* Appends the 5-byte Confluent header for id to out. */
int sr_serde_frame_write(mw_buf_t *out, uint32_t id, mw_err_t *err);

/* Header then body: the whole Confluent message for value. */
int sr_serde_encode(const sr_serde_plan_t *plan, uint32_t id,
                    const json_t *value, mw_buf_t *out, mw_err_t *err);

/* Header check then body decode with plan (whose writer the caller found
 * from the id, see sr_serde_frame_parse).  *id may be NULL. */
int sr_serde_decode(const sr_serde_plan_t *plan, const void *data,
                    size_t len, uint32_t *id, json_t **out, mw_err_t *err);

/* A thread-safe set of compiled plans keyed by the (writer, reader) schema
 * objects (pointer identity: the client's id cache hands out one object per
 * id).  At most max_plans (0 = 1024) plans; past that, MW_ERR_FULL. */
sr_serde_cache_t *sr_serde_cache_new(size_t max_plans, mw_err_t *err);
void sr_serde_cache_destroy(sr_serde_cache_t *cache);

/* The plan for (writer, reader), compiled on first use.  Borrowed until the
 * cache is destroyed.  NULL with err as sr_serde_plan_new.  Any thread;
 * compiling holds the cache's lock. */
const sr_serde_plan_t *sr_serde_cache_get(sr_serde_cache_t *cache,
                                          sr_schema_t *writer,
                                          sr_schema_t *reader,
                                          mw_err_t *err);

#endif /* SR_SERDE_H */
