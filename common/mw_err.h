/*
 * mw_err: error codes and the caller-owned error record that travels with
 * them.  Every fallible function in Meshwork returns 0 or a negative MW_ERR_*
 * code and, when given a non-NULL mw_err_t, fills it with the code and one
 * sentence naming the culprit (key, file:line, topic/partition, JSON path).
 */
#ifndef MW_ERR_H
#define MW_ERR_H

#include <stddef.h>

typedef enum mw_code {
    MW_OK = 0,
    MW_ERR_INVALID = -1,     /* bad input: value, record, request (permanent) */
    MW_ERR_CONFIG = -2,      /* bad configuration key or value (fatal) */
    MW_ERR_NOMEM = -3,       /* allocation failed (fatal) */
    MW_ERR_IO = -4,          /* file or socket I/O failed (fatal) */
    MW_ERR_TIMEOUT = -5,     /* deadline passed (retriable) */
    MW_ERR_TRANSPORT = -6,   /* broker or peer unreachable (retriable) */
    MW_ERR_NOT_FOUND = -7,   /* topic, key, route or object missing */
    MW_ERR_EXISTS = -8,      /* object already exists */
    MW_ERR_UNSUPPORTED = -9, /* peer or backend lacks the feature */
    MW_ERR_FULL = -10,       /* bounded queue or buffer full (retriable) */
    MW_ERR_STATE = -11,      /* call not valid in the object's state */
    MW_ERR_FATAL = -12,      /* unrecoverable peer error: auth, fencing */
    MW_ERR__CNT = 13         /* number of codes, for tables */
} mw_code_t;

typedef enum mw_err_class {
    MW_ERR_CLASS_NONE = 0,  /* MW_OK */
    MW_ERR_CLASS_RETRIABLE, /* back off and retry, count it, warn once */
    MW_ERR_CLASS_PERMANENT, /* reject this input: 4xx or dead-letter */
    MW_ERR_CLASS_FATAL      /* orderly shutdown, exit 1 */
} mw_err_class_t;

#define MW_ERR_MSG_MAX 512

typedef struct mw_err {
    int code;                 /* 0 or a negative MW_ERR_* */
    char msg[MW_ERR_MSG_MAX]; /* one sentence, no trailing newline */
} mw_err_t;

/* Clears err (code 0, empty message).  err may be NULL. */
void mw_err_clear(mw_err_t *err);

/* Sets err's code and formatted message (truncated to MW_ERR_MSG_MAX) and
 * returns code, so a failing path reads `return mw_err_set(err, ...)`.
 * err may be NULL: the code is still returned. */
int mw_err_set(mw_err_t *err, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Prepends "prefix: " to err's message, keeping its code; returns the code.
 * Used when a caller adds context (the file name, the key) to a callee's
 * error. */
int mw_err_prefix(mw_err_t *err, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Symbolic name of a code, e.g. "MW_ERR_CONFIG"; "MW_ERR_UNKNOWN" otherwise. */
const char *mw_err_name(int code);

/* Class of a code, see mw_err_class_t. */
mw_err_class_t mw_err_class(int code);

/* "retriable", "permanent", "fatal" or "none". */
const char *mw_err_class_name(mw_err_class_t cls);

#endif /* MW_ERR_H */
