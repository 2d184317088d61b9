/*
 * mw_hex: the value of one hexadecimal digit, for the parsers that read
 * hex text (uuids, hex dumps).  Header only and inline, because those
 * parsers run once per byte on hot paths.
 */
#ifndef MW_HEX_H
#define MW_HEX_H

/* 0..15 for '0'-'9', 'a'-'f' and 'A'-'F' (no locale involved); -1 for any
 * other character, NUL included. */
static inline int mw_hex_val(int c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

#endif /* MW_HEX_H */
