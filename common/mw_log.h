/*
 * mw_log: logfmt logging, one line per event, written with a single write(2)
 * so lines from several threads never interleave.
 *
 *   ts=2026-11-24T20:19:05.123Z level=info component=broker
 *   msg="bootstrap listening" addr=127.0.0.1:9092
 *
 * `msg` is a constant phrase you can grep; the variable parts are fields,
 * given as a printf format ("topic=%s rows=%d").  Values that may hold
 * spaces or quotes go through mw_log_q().  Thread-safe.
 */
#ifndef MW_LOG_H
#define MW_LOG_H

#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>

typedef enum mw_log_level {
    MW_LOG_DEBUG = 0,
    MW_LOG_INFO,
    MW_LOG_WARN,
    MW_LOG_ERROR,
    MW_LOG__CNT
} mw_log_level_t;

/* Sets the lowest level written (default info).  Call from main before
 * threads start. */
void mw_log_set_level(mw_log_level_t level);
mw_log_level_t mw_log_get_level(void);

/* Parses "debug", "info", "warn" or "error" (any case) into *level; returns
 * 0 or MW_ERR_INVALID. */
int mw_log_level_parse(const char *name, mw_log_level_t *level);

/* "debug", "info", "warn", "error". */
const char *mw_log_level_name(mw_log_level_t level);

/* The same names in level order, NULL-terminated: the allowed values of
 * every program's `log.level` key (MW_CONF_ENUM, so the key's index is the
 * level). */
extern const char *const mw_log_level_names[MW_LOG__CNT + 1];

/* Redirects output (default stderr).  The stream is borrowed until the next
 * call; used by unit tests. */
void mw_log_set_stream(FILE *stream);

bool mw_log_is_enabled(mw_log_level_t level);

/* Writes one line.  component and msg are constant identifiers; fields_fmt
 * is a printf format for "key=value ..." pairs and may be "". */
void mw_log(mw_log_level_t level, const char *component, const char *msg,
            const char *fields_fmt, ...) __attribute__((format(printf, 4, 5)));
void mw_log_v(mw_log_level_t level, const char *component, const char *msg,
              const char *fields_fmt, va_list ap)
    __attribute__((format(printf, 4, 0)));

#define mw_log_debug(comp, msg, ...)                                           \
    mw_log(MW_LOG_DEBUG, comp, msg, __VA_ARGS__)
#define mw_log_info(comp, msg, ...) mw_log(MW_LOG_INFO, comp, msg, __VA_ARGS__)
#define mw_log_warn(comp, msg, ...) mw_log(MW_LOG_WARN, comp, msg, __VA_ARGS__)
#define mw_log_error(comp, msg, ...)                                           \
    mw_log(MW_LOG_ERROR, comp, msg, __VA_ARGS__)

/* Returns s quoted for logfmt ("a \"b\"") when it holds a space, '=', a
 * quote, a control character or is empty; s itself otherwise.  The result
 * lives in a per-thread ring of 8 buffers of 1 KiB (longer values are cut):
 * valid until 8 more calls on the same thread, i.e. for one mw_log call. */
const char *mw_log_q(const char *s);

#endif /* MW_LOG_H */
