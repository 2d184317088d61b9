/*
 * mw_log: logfmt lines on stderr (or a stream set by tests).
 *
 * Each line is built in a local buffer and written with one write(2) when
 * the stream is stderr, so concurrent threads (librdkafka's callbacks, a
 * sink worker) never interleave inside a line.  Lines longer than the buffer
 * are cut and end in "..." rather than being split.  The level is a relaxed
 * atomic so it can be read from any thread without a lock.
 */
#include "mw_log.h"

#include <ctype.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "mw_err.h"

#define LOG_LINE_MAX 4096
#define LOG_Q_SLOTS 8
#define LOG_Q_SIZE 1024

static _Atomic int log_level = MW_LOG_INFO;
static FILE *_Atomic log_stream; /* NULL = stderr via write(2) */

const char *const mw_log_level_names[MW_LOG__CNT + 1] = {
    [MW_LOG_DEBUG] = "debug",
    [MW_LOG_INFO] = "info",
    [MW_LOG_WARN] = "warn",
    [MW_LOG_ERROR] = "error",
};

void mw_log_set_level(mw_log_level_t level)
{
    atomic_store_explicit(&log_level, (int)level, memory_order_relaxed);
}

mw_log_level_t mw_log_get_level(void)
{
    return (mw_log_level_t)atomic_load_explicit(&log_level,
                                                memory_order_relaxed);
}

int mw_log_level_parse(const char *name, mw_log_level_t *level)
{
    for (int i = 0; i < MW_LOG__CNT; i++) {
        if (name && strcasecmp(name, mw_log_level_names[i]) == 0) {
            *level = (mw_log_level_t)i;
            return 0;
        }
    }
    if (name && strcasecmp(name, "warning") == 0) {
        *level = MW_LOG_WARN;
        return 0;
    }
    return MW_ERR_INVALID;
}

const char *mw_log_level_name(mw_log_level_t level)
{
    if ((int)level < 0 || level >= MW_LOG__CNT)
        return "unknown";
    return mw_log_level_names[level];
}

void mw_log_set_stream(FILE *stream)
{
    atomic_store(&log_stream, stream);
}

bool mw_log_is_enabled(mw_log_level_t level)
{
    return (int)level >= atomic_load_explicit(&log_level, memory_order_relaxed);
}

static bool needs_quotes(const char *s)
{
    if (!*s)
        return true;
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c <= ' ' || c == '=' || c == '"' || c == '\\' || c == 0x7f)
            return true;
    }
    return false;
}

/* Quotes s into out (size bytes), escaping '"', '\\' and control
 * characters; cuts long values. */
static void quote_into(char *out, size_t size, const char *s)
{
    size_t o = 0;

    out[o++] = '"';
    for (; *s && o + 6 < size; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\') {
            out[o++] = '\\';
            out[o++] = (char)c;
        } else if (c == '\n') {
            out[o++] = '\\';
            out[o++] = 'n';
        } else if (c < ' ' || c == 0x7f) {
            o += (size_t)snprintf(out + o, size - o, "\\x%02x", c);
        } else {
            out[o++] = (char)c;
        }
    }
    out[o++] = '"';
    out[o] = '\0';
}

const char *mw_log_q(const char *s)
{
    static _Thread_local char ring[LOG_Q_SLOTS][LOG_Q_SIZE];
    static _Thread_local unsigned slot;
    char *out;

    if (!s)
        return "\"\"";
    if (!needs_quotes(s))
        return s;
    out = ring[slot++ % LOG_Q_SLOTS];
    quote_into(out, LOG_Q_SIZE, s);
    return out;
}

static size_t format_ts(char *out, size_t size)
{
    struct timeval tv;
    struct tm tm;
    size_t n;

    gettimeofday(&tv, NULL);
    gmtime_r(&tv.tv_sec, &tm);
    n = strftime(out, size, "%Y-%m-%dT%H:%M:%S", &tm);
    n +=
        (size_t)snprintf(out + n, size - n, ".%03dZ", (int)(tv.tv_usec / 1000));
    return n;
}

static void emit(const char *line, size_t len)
{
    FILE *stream = atomic_load(&log_stream);

    if (stream) {
        fwrite(line, 1, len, stream);
        fflush(stream);
        return;
    }
    while (len > 0) {
        ssize_t n = write(STDERR_FILENO, line, len);
        if (n <= 0)
            return; /* stderr gone: nothing better to do with a log line */
        line += n;
        len -= (size_t)n;
    }
}

void mw_log_v(mw_log_level_t level, const char *component, const char *msg,
              const char *fields_fmt, va_list ap)
{
    char line[LOG_LINE_MAX];
    char ts[40];
    char qmsg[LOG_Q_SIZE];
    size_t n;
    int w;

    if (!mw_log_is_enabled(level))
        return;
    format_ts(ts, sizeof(ts));
    quote_into(qmsg, sizeof(qmsg), msg ? msg : "");
    w = snprintf(line, sizeof(line), "ts=%s level=%s component=%s msg=%s", ts,
                 mw_log_level_name(level), component ? component : "-", qmsg);
    n = (size_t)w < sizeof(line) ? (size_t)w : sizeof(line) - 1;
    if (fields_fmt && *fields_fmt && n + 2 < sizeof(line)) {
        line[n++] = ' ';
        w = vsnprintf(line + n, sizeof(line) - n, fields_fmt, ap);
        if (w > 0)
            n +=
                (size_t)w < sizeof(line) - n ? (size_t)w : sizeof(line) - n - 1;
    }
    if (n >= sizeof(line) - 2) {
        n = sizeof(line) - 5;
        memcpy(line + n, "...", 3);
        n += 3;
    }
    line[n++] = '\n';
    emit(line, n);
}

void mw_log(mw_log_level_t level, const char *component, const char *msg,
            const char *fields_fmt, ...)
{
    va_list ap;

    va_start(ap, fields_fmt);
    mw_log_v(level, component, msg, fields_fmt, ap);
    va_end(ap);
}
