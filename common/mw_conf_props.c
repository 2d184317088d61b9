/*
 * mw_conf_props: reads Java-properties files into an mw_conf.
 *
 * The first source in the precedence chain after the defaults (-c FILE).  It
 * turns natural lines into logical ones (backslash continuation), drops
 * comments and blank lines where a logical line starts, splits key from
 * value by the Java rules, undoes the escapes (\uXXXX written as UTF-8,
 * surrogate pairs joined) and hands each pair to mw_conf_set() with origin
 * "path:line", so every check and every message about a value comes from the
 * core.  It never touches the conf's body.
 *
 * Invariants: a logical line is at most CONF_LINE_MAX bytes (a bigger one is
 * an error naming path:line, not an allocation); errors name the first
 * natural line of the logical line; keys set before an error stay set.
 */
#include "mw_conf.h"

#include <ctype.h>
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>

#include "mw_buf.h"

#define CONF_LINE_MAX (1024 * 1024) /* longest logical line in a file */
#define CONF_BLANKS " \t\f"         /* whitespace in Java properties */

typedef struct conf_reader {
    FILE *fp;
    const char *path;
    mw_buf_t *line; /* the current logical line, continuations joined */
    char *nat;      /* the current natural line (getline's buffer) */
    size_t nat_cap;
    int lineno; /* last natural line read */
    int start;  /* first natural line of the logical line */
} conf_reader_t;

/* Reads one natural line without its terminator ("\n" or "\r\n"); -1 at end
 * of file or on a read error (told apart by ferror). */
static ssize_t rd_natural(conf_reader_t *rd)
{
    ssize_t n = getline(&rd->nat, &rd->nat_cap, rd->fp);

    if (n < 0)
        return -1;
    rd->lineno++;
    if (n > 0 && rd->nat[n - 1] == '\n')
        rd->nat[--n] = '\0';
    if (n > 0 && rd->nat[n - 1] == '\r')
        rd->nat[--n] = '\0';
    /* Editors on some systems start UTF-8 files with a byte order mark. */
    if (rd->lineno == 1 && strncmp(rd->nat, "\xEF\xBB\xBF", 3) == 0)
        memmove(rd->nat, rd->nat + 3, (size_t)(n -= 3) + 1);
    return n;
}

/* Appends a natural line; an odd number of trailing backslashes means the
 * last one escapes the line end, i.e. the line continues. */
static int rd_append(conf_reader_t *rd, const char *s, bool *more,
                     mw_err_t *err)
{
    size_t len = strlen(s), bs = 0;

    while (bs < len && s[len - 1 - bs] == '\\')
        bs++;
    *more = bs % 2 == 1;
    if (mw_buf_append(rd->line, s, *more ? len - 1 : len))
        return mw_err_set(err, MW_ERR_CONFIG,
                          "%s:%d: line longer than %d bytes", rd->path,
                          rd->start, CONF_LINE_MAX);
    return 0;
}

/* Next logical line into rd->line: 1, 0 at end of file, or an error.
 * Comment and blank lines are skipped only where a logical line starts: a
 * continuation line starting with '#' is part of the value (Java rules). */
static int rd_logical(conf_reader_t *rd, mw_err_t *err)
{
    const char *s;
    bool more = false;

    mw_buf_reset(rd->line);
    do {
        if (rd_natural(rd) < 0)
            goto end;
        s = rd->nat + strspn(rd->nat, CONF_BLANKS);
    } while (*s == '\0' || *s == '#' || *s == '!');
    rd->start = rd->lineno;
    if (rd_append(rd, s, &more, err))
        return MW_ERR_CONFIG;
    while (more) {
        if (rd_natural(rd) < 0)
            goto end;
        if (rd_append(rd, rd->nat + strspn(rd->nat, CONF_BLANKS), &more, err))
            return MW_ERR_CONFIG;
    }
    return 1;
end:
    if (ferror(rd->fp))
        return mw_err_set(err, MW_ERR_CONFIG, "cannot read '%s': %s", rd->path,
                          strerror(errno));
    return mw_buf_len(rd->line) > 0;
}

static size_t conf_utf8(unsigned cp, char *out)
{
    static const unsigned char lead[] = {0, 0, 0xC0, 0xE0, 0xF0};
    size_t n = cp < 0x80 ? 1 : cp < 0x800 ? 2 : cp < 0x10000 ? 3 : 4;

    for (size_t i = n - 1; i > 0; i--, cp >>= 6)
        out[i] = (char)(0x80 | (cp & 0x3F));
    out[0] = (char)(lead[n] | cp);
    return n;
}

/* Reads "uXXXX" at p (p[0] == 'u'); -1 when malformed. */
static long conf_hex4(const char *p, const char *end)
{
    long cp = 0;

    if (end - p < 5 || p[0] != 'u')
        return -1;
    for (int i = 1; i <= 4; i++) {
        if (!isxdigit((unsigned char)p[i]))
            return -1;
        cp = cp * 16 + (isdigit((unsigned char)p[i])
                            ? p[i] - '0'
                            : tolower((unsigned char)p[i]) - 'a' + 10);
    }
    return cp;
}

/* Decodes a \u escape (p at 'u'), joining a UTF-16 surrogate pair; returns
 * the characters consumed after the backslash, or 0 with *why set. */
static size_t conf_unicode(const char *p, const char *end, char **out,
                           const char **why)
{
    long cp = conf_hex4(p, end), lo;

    *why = "malformed \\uXXXX escape";
    if (cp < 0)
        return 0;
    if (cp == 0) {
        *why = "\\u0000 is not allowed";
        return 0;
    }
    if (cp >= 0xDC00 && cp <= 0xDFFF)
        return 0;
    if (cp >= 0xD800 && cp <= 0xDBFF) {
        if (end - p < 11 || p[5] != '\\' ||
            (lo = conf_hex4(p + 6, end)) < 0xDC00 || lo > 0xDFFF)
            return 0;
        *out += conf_utf8(0x10000 + (((unsigned)cp - 0xD800) << 10) +
                              ((unsigned)lo - 0xDC00),
                          *out);
        return 11;
    }
    *out += conf_utf8((unsigned)cp, *out);
    return 5;
}

/* Undoes properties escapes in in[0..len) into a new string (never longer
 * than the input); NULL with *why set on a bad escape or ENOMEM. */
static char *conf_unescape(const char *in, size_t len, const char **why)
{
    const char *end = in + len;
    char *res = malloc(len + 1), *o = res;

    *why = "out of memory";
    while (res && in < end) {
        size_t used;

        if (*in != '\\' || in + 1 == end) {
            *o++ = *in++;
            continue;
        }
        in++;
        switch (*in) {
        case 't':
            *o++ = '\t';
            used = 1;
            break;
        case 'n':
            *o++ = '\n';
            used = 1;
            break;
        case 'r':
            *o++ = '\r';
            used = 1;
            break;
        case 'f':
            *o++ = '\f';
            used = 1;
            break;
        case 'u':
            used = conf_unicode(in, end, &o, why);
            break;
        default:
            *o++ = *in;
            used = 1;
            break; /* \\ \= \: \# \! "\ " */
        }
        if (used == 0) {
            free(res);
            return NULL;
        }
        in += used;
    }
    if (res)
        *o = '\0';
    return res;
}

/* Splits a logical line into key and separator-free value (Java rules: the
 * key ends at the first unescaped '=', ':' or blank; blanks around one '='
 * or ':' are dropped) and sets it with origin "path:line". */
static int rd_apply(mw_conf_t *conf, conf_reader_t *rd, mw_err_t *err)
{
    const char *s = mw_buf_data(rd->line), *why = NULL;
    size_t i = 0, klen;
    char *key = NULL, *value = NULL, *origin = NULL;
    int rc;

    while (s[i] && !strchr("=:" CONF_BLANKS, s[i]))
        i += (s[i] == '\\' && s[i + 1]) ? 2 : 1;
    klen = i;
    i += strspn(s + i, CONF_BLANKS);
    if (s[i] == '=' || s[i] == ':')
        i += 1 + strspn(s + i + 1, CONF_BLANKS);
    key = conf_unescape(s, klen, &why);
    if (key)
        value = conf_unescape(s + i, strlen(s + i), &why);
    if (!key || !value)
        rc = mw_err_set(err, MW_ERR_CONFIG, "%s:%d: %s", rd->path, rd->start,
                        why);
    else if (!*key)
        rc = mw_err_set(err, MW_ERR_CONFIG, "%s:%d: missing key before '%s'",
                        rd->path, rd->start, s);
    else if (asprintf(&origin, "%s:%d", rd->path, rd->start) < 0) {
        origin = NULL; /* undefined after a failed asprintf */
        rc = mw_err_set(err, MW_ERR_NOMEM, "out of memory");
    } else
        rc = mw_conf_set(conf, key, value, origin, err);
    free(key);
    free(value);
    free(origin);
    return rc;
}

/* Reads every logical line of rd->fp (opened by the caller) into conf. */
static int rd_all(mw_conf_t *conf, conf_reader_t *rd, mw_err_t *err)
{
    int rc;

    rd->line = mw_buf_new(CONF_LINE_MAX);
    if (!rd->line)
        return mw_err_set(err, MW_ERR_NOMEM, "out of memory");
    while ((rc = rd_logical(rd, err)) == 1) {
        rc = rd_apply(conf, rd, err);
        if (rc)
            break;
    }
    free(rd->nat);
    mw_buf_destroy(rd->line);
    return rc;
}

int mw_conf_load_file(mw_conf_t *conf, const char *path, mw_err_t *err)
{
    conf_reader_t rd = {.path = path};
    int rc;

    rd.fp = fopen(path, "r");
    if (!rd.fp)
        return mw_err_set(err, MW_ERR_CONFIG, "cannot read '%s': %s", path,
                          strerror(errno));
    rc = rd_all(conf, &rd, err);
    fclose(rd.fp);
    return rc;
}

int mw_conf_load_text(mw_conf_t *conf, const char *name, const char *text,
                      size_t len, mw_err_t *err)
{
    conf_reader_t rd = {.path = name};
    int rc;

    /* The same reader as for a file, over a stream on the caller's bytes
     * (glibc's fmemopen refuses a zero size: an empty text sets nothing). */
    if (len == 0)
        return 0;
    rd.fp = fmemopen((void *)text, len, "r");
    if (!rd.fp)
        return mw_err_set(err, MW_ERR_NOMEM, "cannot read '%s': %s", name,
                          strerror(errno));
    rc = rd_all(conf, &rd, err);
    fclose(rd.fp);
    return rc;
}
