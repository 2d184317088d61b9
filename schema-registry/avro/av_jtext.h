/*
 * av_jtext: Avro JSON *text* straight to Avro binary, in one pass over the
 * bytes, driven by an encoding plan of av_serde.  The producers' fast
 * path: a JSON line is transcoded without building a jansson tree.
 *
 * Why a second encoder: jansson + av_serde_json_to_avro allocates a node
 * per value and a hash table per object, then walks them again; for a
 * JSON-lines file that is most of the producer's CPU.  This path reads the
 * text once and writes Avro as it goes.
 *
 * The contract that makes it safe to put in front of the slow path:
 *   - whatever av_jtext_encode accepts, json_loadb(text, len,
 *     JSON_DECODE_ANY | JSON_ALLOW_NUL) followed by av_serde_json_to_avro
 *     also accepts, and it writes the very same bytes;
 *   - whatever the slow path rejects, av_jtext_encode does not accept.
 * The converse is not promised: av_jtext_encode declines anything it does
 * not handle (listed below) as well as every invalid text, and the caller
 * then runs the slow path, which gives the precise JSON-path message.  So
 * the transcoder never needs good error messages of its own, only the
 * certainty that it never says yes wrongly.
 *
 * Declined ("take the slow path"), beyond invalid JSON and values that do
 * not fit the schema:
 *   - a duplicate key in a record, map or union object, and a union
 *     object with more than one member (jansson keeps the last value);
 *   - escapes in an enum symbol or in "NaN"/"Infinity"/"-Infinity" for
 *     float/double (the slow path compares C strings, so "A\u0000x" is
 *     the symbol A to it), escaped record keys and union branch keys
 *     longer than 255 bytes;
 *   - number tokens longer than 64 characters, and reals while
 *     LC_NUMERIC's decimal point is not '.';
 *   - a raw NUL byte right after a number or literal: jansson 2.14 skips
 *     it ("1\0" loads as 1), we refuse it;
 *   - an encoded value over 64 MiB, or a text over about 32 MiB.
 * None of these occur in jansson's own dump of a valid value (the unit
 * test's differential checks that no such dump is declined).
 *
 * Everything reads at most len bytes: the text need not be NUL-terminated.
 */
#ifndef AV_JTEXT_H
#define AV_JTEXT_H

#include <stddef.h>

#include "mw_buf.h"
#include "mw_err.h"
#include "av_serde.h"

/* Appends to out the Avro binary body (no Confluent header) of the JSON
 * text json[0..len), a value of the plan's schema in Avro's JSON encoding
 * (see av_serde.h).  plan must be a writer-only plan (av_serde_plan_new
 * with reader NULL, or av_serde_cache_get(cache, writer, NULL)): the same
 * plan the slow path uses.  plan and json are borrowed.
 *
 * Returns 0 when the value was transcoded, else a negative code meaning
 * "run the slow path on this text": MW_ERR_UNSUPPORTED (invalid text,
 * value that does not fit the schema, or one of the declined cases),
 * MW_ERR_STATE (not a writer-only plan, which the slow path refuses too),
 * MW_ERR_FULL (out's maximum reached), MW_ERR_NOMEM.  err gets a short
 * reason with the byte offset, for debugging and counters, not for users.
 * out is unchanged unless 0 is returned, so a caller that wrote the
 * Confluent header first keeps it.  Any thread; the plan is only read. */
int av_jtext_encode(const av_serde_plan_t *plan, const char *json, size_t len,
                    mw_buf_t *out, mw_err_t *err);

/* The raw text of one member's value, as a span of the caller's text. */
typedef struct av_jtext_span {
    const char *ptr; /* NULL: the object has no such member */
    size_t len;
} av_jtext_span_t;

/* Finds the values of the top-level members names[0..name_cnt) of the JSON
 * object json[0..len): the producer's envelope lines ({"key": .., "value":
 * .., "traceparent": ..}) and file.key.field.  The whole text is validated
 * as json_loadb validates it (syntax, UTF-8, escapes, number overflow,
 * NUL in keys, nothing after the object), so a span handed out comes from
 * a text the slow path would parse, and the value in it is the one jansson
 * would return for that key.  names are plain (unescaped) key strings;
 * keys in the text may use escapes.  spans[i].ptr points into json
 * (borrowed from the caller) or is NULL when the member is absent.
 *
 * Returns 0, or MW_ERR_UNSUPPORTED (run the slow path) when the text is
 * not a valid JSON object, when one of the names occurs twice, or for the
 * transcoder's lexical declines (long numbers, NUL after a token, an
 * escaped key longer than 255 bytes) and nesting deeper than 512.  err
 * may be NULL.  Any thread. */
int av_jtext_members(const char *json, size_t len, const char *const *names,
                     size_t name_cnt, av_jtext_span_t *spans, mw_err_t *err);

/* av_jtext_members for one name: 0 with *val, *val_len set;
 * MW_ERR_NOT_FOUND when the object is valid but has no such member;
 * MW_ERR_UNSUPPORTED as above. */
int av_jtext_member(const char *json, size_t len, const char *name,
                    const char **val, size_t *val_len);

/* av_jtext_member that returns at the first member named name, having
 * validated only the text up to the end of its value.  Only for a text
 * already known to parse and to have no duplicate top-level keys: one that
 * av_jtext_encode accepted against a record schema (it declines duplicate
 * keys), where the first member is the one jansson would return.  Saves
 * the producer a second scan of the whole line for file.key.field. */
int av_jtext_member_first(const char *json, size_t len, const char *name,
                          const char **val, size_t *val_len);

#endif /* AV_JTEXT_H */
