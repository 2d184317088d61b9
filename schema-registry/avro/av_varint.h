/*
 * av_varint: Avro's zig-zag varints, the encoding of every int, long,
 * length, count and union index in Avro binary (and, beside them, the
 * little-endian words of float and double).  A value v is mapped to
 * (v << 1) ^ (v >> 63), so small magnitudes of either sign stay short, then
 * written 7 bits a byte, low bits first, the high bit set on every byte but
 * the last: at most AV_VARINT_MAX bytes for a long.
 *
 * Header-only: the encoders and decoders of the codec, the Avro file writer
 * and the transcoders call these on every field, so they must inline.
 * Decoding never reads past end and refuses overlong or overflowing input.
 */
#ifndef AV_VARINT_H
#define AV_VARINT_H

#include <stddef.h>
#include <stdint.h>

#define AV_VARINT_MAX 10 /* bytes of the longest long */

/* Writes v to out (room for AV_VARINT_MAX bytes); returns the length. */
static inline size_t av_varint_put(uint8_t *out, int64_t v)
{
    uint64_t u = ((uint64_t)v << 1) ^ (uint64_t)(v >> 63);
    size_t n = 0;

    while (u >= 0x80) {
        out[n++] = (uint8_t)(u | 0x80);
        u >>= 7;
    }
    out[n++] = (uint8_t)u;
    return n;
}

/* Outcome of av_varint_get. */
typedef enum av_varint_rc {
    AV_VARINT_OK = 0,
    AV_VARINT_SHORT,    /* input ends inside the varint */
    AV_VARINT_OVERFLOW, /* does not fit 64 bits */
    AV_VARINT_LONG      /* more than AV_VARINT_MAX bytes */
} av_varint_rc_t;

/* Reads one long from [*p, end); on success *v is set and *p advanced past
 * it, otherwise *p is left where it was. */
static inline av_varint_rc_t av_varint_get(const uint8_t **p,
                                           const uint8_t *end, int64_t *v)
{
    const uint8_t *q = *p;
    uint64_t u = 0;

    for (int shift = 0; shift < 7 * AV_VARINT_MAX; shift += 7) {
        if (q == end)
            return AV_VARINT_SHORT;
        uint8_t b = *q++;
        if (shift == 63 && b > 1)
            return AV_VARINT_OVERFLOW;
        u |= (uint64_t)(b & 0x7f) << shift;
        if (!(b & 0x80)) {
            *v = (int64_t)(u >> 1) ^ -(int64_t)(u & 1);
            *p = q;
            return AV_VARINT_OK;
        }
    }
    return AV_VARINT_LONG;
}

/* Writes the low n bytes of bits little-endian (n = 4 for a float's bits,
 * 8 for a double's: Avro's only fixed-width primitives); returns n. */
static inline size_t av_le_put(uint8_t *out, uint64_t bits, size_t n)
{
    for (size_t i = 0; i < n; i++)
        out[i] = (uint8_t)(bits >> (8 * i));
    return n;
}

#endif /* AV_VARINT_H */
