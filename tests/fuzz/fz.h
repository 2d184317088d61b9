/*
 * fz.h: what the fuzz targets of tests/fuzz/ share.  Each fz_<name>.c
 * defines LLVMFuzzerTestOneInput (declared here, since the gcc build warns
 * about a function without a prototype); it is linked either with
 * libFuzzer (clang, `make fuzz`) or with driver.c, which replays files
 * (gcc, the regression cases of `make test`).
 *
 * A target checks a property and calls fz_fail() when it does not hold:
 * abort() is what both libFuzzer and the driver report as a crash, with
 * the input kept.
 */
#ifndef FZ_H
#define FZ_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Reports a broken property and aborts. */
__attribute__((format(printf, 1, 2), noreturn, unused)) static void
fz_fail(const char *fmt, ...);

#include <stdarg.h>

static void fz_fail(const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    fputs("fuzz property broken: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    abort();
}

/* The separator of multi-part inputs (a schema, then data): a NUL byte,
 * which no JSON text holds unescaped. */
#define FZ_SEP '\0'

/* Cuts the next part of *data (*size bytes) up to the next FZ_SEP (or the
 * end) into *part and *part_len and advances past the separator.  false when
 * nothing is left. */
__attribute__((unused)) static int fz_next(const uint8_t **data, size_t *size,
                                           const char **part, size_t *part_len)
{
    const uint8_t *sep;

    if (*size == 0 && !*data)
        return 0;
    sep = memchr(*data, FZ_SEP, *size);
    *part = (const char *)*data;
    if (!sep) {
        *part_len = *size;
        *data = NULL;
        *size = 0;
        return 1;
    }
    *part_len = (size_t)(sep - *data);
    *size -= *part_len + 1;
    *data = sep + 1;
    return 1;
}

/* A malloc'd copy of len bytes, so ASan sees a read past the part's end
 * (the parts of one input are adjacent in memory).  Aborts on ENOMEM. */
__attribute__((unused)) static char *fz_dup(const char *p, size_t len)
{
    char *c = malloc(len ? len : 1);

    if (!c)
        fz_fail("out of memory");
    if (len)
        memcpy(c, p, len);
    return c;
}

#endif /* FZ_H */
