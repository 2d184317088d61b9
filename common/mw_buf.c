/*
 * mw_buf: growable byte buffer with a hard maximum.  Growth doubles the
 * capacity (amortised O(1) appends) but never past max_bytes + 1 (the NUL),
 * and a failed append leaves the content as it was, so callers can answer
 * "too large" and keep going.
 */
#include "mw_buf.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mw_err.h"
#include "mw_vec.h"

#define MW_BUF_DEFAULT_MAX ((size_t)64 << 20)

struct mw_buf {
    char *data; /* NUL-terminated, cap bytes allocated */
    size_t len;
    size_t cap;
    size_t max_bytes;
};

mw_buf_t *mw_buf_new(size_t max_bytes)
{
    mw_buf_t *buf = calloc(1, sizeof(*buf));
    if (!buf)
        return NULL;
    buf->max_bytes = max_bytes ? max_bytes : MW_BUF_DEFAULT_MAX;
    buf->cap = 64;
    buf->data = malloc(buf->cap);
    if (!buf->data) {
        free(buf);
        return NULL;
    }
    buf->data[0] = '\0';
    return buf;
}

void mw_buf_destroy(mw_buf_t *buf)
{
    if (!buf)
        return;
    free(buf->data);
    free(buf);
}

/* Makes room for extra more bytes plus the NUL: doubling, the last step
 * stopping at the maximum (mw_vec). */
static int buf_reserve(mw_buf_t *buf, size_t extra)
{
    if (extra > buf->max_bytes - buf->len)
        return MW_ERR_FULL;
    size_t max_cap = buf->max_bytes < SIZE_MAX ? buf->max_bytes + 1 : SIZE_MAX;

    return MW_VEC_RESERVE_MAX(&buf->data, &buf->cap, buf->len + extra + 1,
                              max_cap);
}

int mw_buf_append(mw_buf_t *buf, const void *data, size_t len)
{
    int rc = buf_reserve(buf, len);
    if (rc)
        return rc;
    if (len)
        memcpy(buf->data + buf->len, data, len);
    buf->len += len;
    buf->data[buf->len] = '\0';
    return 0;
}

int mw_buf_vappendf(mw_buf_t *buf, const char *fmt, va_list ap)
{
    va_list ap2;
    int n, rc;

    va_copy(ap2, ap);
    n = vsnprintf(NULL, 0, fmt, ap2);
    va_end(ap2);
    if (n < 0)
        return MW_ERR_INVALID;
    rc = buf_reserve(buf, (size_t)n);
    if (rc)
        return rc;
    vsnprintf(buf->data + buf->len, (size_t)n + 1, fmt, ap);
    buf->len += (size_t)n;
    return 0;
}

int mw_buf_appendf(mw_buf_t *buf, const char *fmt, ...)
{
    va_list ap;
    int rc;

    va_start(ap, fmt);
    rc = mw_buf_vappendf(buf, fmt, ap);
    va_end(ap);
    return rc;
}

const char *mw_buf_data(const mw_buf_t *buf)
{
    return buf->data;
}

size_t mw_buf_len(const mw_buf_t *buf)
{
    return buf->len;
}

void mw_buf_reset(mw_buf_t *buf)
{
    buf->len = 0;
    buf->data[0] = '\0';
}

char *mw_buf_steal(mw_buf_t *buf, size_t *len)
{
    char *out = buf->data;
    char *fresh = malloc(64);

    if (!fresh)
        return NULL;
    if (len)
        *len = buf->len;
    fresh[0] = '\0';
    buf->data = fresh;
    buf->cap = 64;
    buf->len = 0;
    return out;
}
