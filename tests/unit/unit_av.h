/*
 * unit_av: the Avro helper the unit tests that parse schemas share.
 * Include after <cmocka.h>.
 */
#ifndef UNIT_AV_H
#define UNIT_AV_H

#include <string.h>

#include "av_schema.h"
#include "mw_err.h"

/* The parsed schema; fails the running test naming the text when it does
 * not parse. */
static inline av_schema_t *unit_schema(const char *text)
{
    mw_err_t err = {0};
    av_schema_t *s = av_schema_parse(text, strlen(text), NULL, 0, &err);
    if (!s)
        fail_msg("schema %s: %s", text, err.msg);
    return s;
}

#endif /* UNIT_AV_H */
