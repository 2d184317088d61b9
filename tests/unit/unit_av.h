/*
 * unit_av: the Avro helpers the unit tests that parse schemas share.
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

/* Record C with one field a, an int in the writer *w and a long in the
 * reader *r: the smallest pair whose plan must resolve (a promotion). */
static inline void unit_int_long_pair(av_schema_t **w, av_schema_t **r)
{
    *w = unit_schema("{\"type\":\"record\",\"name\":\"C\",\"fields\":["
                     "{\"name\":\"a\",\"type\":\"int\"}]}");
    *r = unit_schema("{\"type\":\"record\",\"name\":\"C\",\"fields\":["
                     "{\"name\":\"a\",\"type\":\"long\"}]}");
}

#endif /* UNIT_AV_H */
