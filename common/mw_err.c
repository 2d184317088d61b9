/*
 * mw_err: the code-plus-message error record every fallible Meshwork
 * function fills.  The table below gives each code its name and its class;
 * the class decides what a daemon does with it (retry, reject the input,
 * shut down), so adding a code means deciding its class here.
 */
#include "mw_err.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static const struct {
    const char *name;
    mw_err_class_t cls;
} err_table[MW_ERR__CNT] = {
    [0] = {"MW_OK", MW_ERR_CLASS_NONE},
    [-MW_ERR_INVALID] = {"MW_ERR_INVALID", MW_ERR_CLASS_PERMANENT},
    [-MW_ERR_CONFIG] = {"MW_ERR_CONFIG", MW_ERR_CLASS_FATAL},
    [-MW_ERR_NOMEM] = {"MW_ERR_NOMEM", MW_ERR_CLASS_FATAL},
    [-MW_ERR_IO] = {"MW_ERR_IO", MW_ERR_CLASS_FATAL},
    [-MW_ERR_TIMEOUT] = {"MW_ERR_TIMEOUT", MW_ERR_CLASS_RETRIABLE},
    [-MW_ERR_TRANSPORT] = {"MW_ERR_TRANSPORT", MW_ERR_CLASS_RETRIABLE},
    [-MW_ERR_NOT_FOUND] = {"MW_ERR_NOT_FOUND", MW_ERR_CLASS_PERMANENT},
    [-MW_ERR_EXISTS] = {"MW_ERR_EXISTS", MW_ERR_CLASS_PERMANENT},
    [-MW_ERR_UNSUPPORTED] = {"MW_ERR_UNSUPPORTED", MW_ERR_CLASS_PERMANENT},
    [-MW_ERR_FULL] = {"MW_ERR_FULL", MW_ERR_CLASS_RETRIABLE},
    [-MW_ERR_STATE] = {"MW_ERR_STATE", MW_ERR_CLASS_PERMANENT},
    [-MW_ERR_FATAL] = {"MW_ERR_FATAL", MW_ERR_CLASS_FATAL},
};
_Static_assert(-MW_ERR_FATAL + 1 == MW_ERR__CNT,
               "err_table must have one row per mw_code_t");

void mw_err_clear(mw_err_t *err)
{
    if (!err)
        return;
    err->code = 0;
    err->msg[0] = '\0';
}

int mw_err_set(mw_err_t *err, int code, const char *fmt, ...)
{
    if (err) {
        va_list ap;
        err->code = code;
        va_start(ap, fmt);
        vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
        va_end(ap);
    }
    return code;
}

int mw_err_prefix(mw_err_t *err, const char *fmt, ...)
{
    char joined[2 * MW_ERR_MSG_MAX + 2];
    size_t n;
    va_list ap;

    if (!err)
        return MW_ERR_INVALID;
    va_start(ap, fmt);
    vsnprintf(joined, MW_ERR_MSG_MAX, fmt, ap);
    va_end(ap);
    n = strlen(joined);
    joined[n++] = ':';
    joined[n++] = ' ';
    memcpy(joined + n, err->msg, strnlen(err->msg, MW_ERR_MSG_MAX - 1) + 1);
    /* The message is one sentence for a human: cutting it is acceptable. */
    memcpy(err->msg, joined, MW_ERR_MSG_MAX - 1);
    err->msg[MW_ERR_MSG_MAX - 1] = '\0';
    return err->code;
}

const char *mw_err_name(int code)
{
    if (code > 0 || -code >= MW_ERR__CNT)
        return "MW_ERR_UNKNOWN";
    return err_table[-code].name;
}

mw_err_class_t mw_err_class(int code)
{
    if (code > 0 || -code >= MW_ERR__CNT)
        return MW_ERR_CLASS_FATAL;
    return err_table[-code].cls;
}

const char *mw_err_class_name(mw_err_class_t cls)
{
    switch (cls) {
    case MW_ERR_CLASS_NONE:
        return "none";
    case MW_ERR_CLASS_RETRIABLE:
        return "retriable";
    case MW_ERR_CLASS_PERMANENT:
        return "permanent";
    case MW_ERR_CLASS_FATAL:
        return "fatal";
    }
    return "fatal";
}
