/*
 * mw_buf: a growable byte buffer with a hard maximum.  Appends past the
 * maximum fail with MW_ERR_FULL and leave the buffer unchanged, so bodies,
 * lines and batches are bounded by construction.  The content is always
 * NUL-terminated (the terminator is not counted in the length).
 */
#ifndef MW_BUF_H
#define MW_BUF_H

#include <stdarg.h>
#include <stddef.h>

typedef struct mw_buf mw_buf_t;

/* New empty buffer holding at most max_bytes (0 = 64 MiB).  NULL on ENOMEM. */
mw_buf_t *mw_buf_new(size_t max_bytes);
void mw_buf_destroy(mw_buf_t *buf);

/* Appends; 0, MW_ERR_FULL past the maximum, MW_ERR_NOMEM. */
int mw_buf_append(mw_buf_t *buf, const void *data, size_t len);
int mw_buf_appendf(mw_buf_t *buf, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
int mw_buf_vappendf(mw_buf_t *buf, const char *fmt, va_list ap)
    __attribute__((format(printf, 2, 0)));

/* Borrowed content, valid until the next change; never NULL. */
const char *mw_buf_data(const mw_buf_t *buf);
size_t mw_buf_len(const mw_buf_t *buf);
void mw_buf_reset(mw_buf_t *buf);

/* Hands the content to the caller (free() it) and empties the buffer. */
char *mw_buf_steal(mw_buf_t *buf, size_t *len);

#endif /* MW_BUF_H */
