/*
 * unit_util: helpers the cmocka unit tests share.  Include after
 * <cmocka.h> (they fail the running test through its asserts).
 * Header-only: each test is one program built from one .c file.
 */
#ifndef UNIT_UTIL_H
#define UNIT_UTIL_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The whole file at path, NUL-terminated; *len (when len is not NULL)
 * excludes the NUL.  NULL when the file is missing.  The caller frees. */
static inline char *unit_read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *buf = malloc((size_t)n + 1);
    assert_non_null(buf);
    assert_int_equal(fread(buf, 1, (size_t)n, f), (size_t)n);
    buf[n] = '\0';
    fclose(f);
    if (len)
        *len = (size_t)n;
    return buf;
}

/* Strips trailing newlines (\n and \r) in place. */
static inline void unit_chomp(char *s)
{
    size_t n = strlen(s);
    while (n > 0 && (s[n - 1] == '\n' || s[n - 1] == '\r'))
        s[--n] = '\0';
}

#endif /* UNIT_UTIL_H */
