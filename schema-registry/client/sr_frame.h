/*
 * sr_frame: Confluent's wire format: byte 0x00, the schema id as 4 bytes
 * big-endian, then the Avro binary encoding of one value (av_serde.h).
 * Any thread.
 */
#ifndef SR_FRAME_H
#define SR_FRAME_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "av_serde.h"
#include "mw_buf.h"
#include "mw_err.h"

/* Size of the Confluent header: magic byte + 4-byte schema id. */
#define SR_FRAME_HEADER_LEN 5

/* Checks the Confluent header of data and returns the schema id and the
 * Avro body (borrowed from data).  MW_ERR_INVALID for "truncated header"
 * (fewer than 5 bytes) and "bad magic byte 0x..".  An id unknown to the
 * registry is the caller's to report. */
int sr_frame_parse(const void *data, size_t len, uint32_t *id,
                   const uint8_t **body, size_t *body_len, mw_err_t *err);

/* Appends the 5-byte Confluent header for id to out. */
int sr_frame_write(mw_buf_t *out, uint32_t id, mw_err_t *err);

/* Header then body: the whole Confluent message for value. */
int sr_frame_encode(const av_serde_plan_t *plan, uint32_t id,
                    const json_t *value, mw_buf_t *out, mw_err_t *err);

/* Header check then body decode with plan (whose writer the caller found
 * from the id, see sr_frame_parse).  *id may be NULL. */
int sr_frame_decode(const av_serde_plan_t *plan, const void *data, size_t len,
                    uint32_t *id, json_t **out, mw_err_t *err);

#endif /* SR_FRAME_H */
