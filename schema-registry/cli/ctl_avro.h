/*
 * ctl_avro: the Avro side of meshctl's console, like Confluent's
 * kafka-avro-console-consumer and -producer: a record value in Confluent's
 * framing becomes one line of Avro JSON (the writer schema fetched by the
 * id in the framing), and a line of JSON becomes a framed value of a
 * subject's latest schema.  Schemas come through sr_client (cached by id
 * and by subject), plans through one av_serde cache.
 *
 * Main thread.  The registry calls block (bounded by the client's
 * timeout); the console calls them from its loop, which is acceptable for
 * an interactive tool: one call per new schema id or subject, then cached.
 */
#ifndef CTL_AVRO_H
#define CTL_AVRO_H

#include <stddef.h>

#include "mw_conf.h"
#include "mw_err.h"

typedef struct ctl_avro ctl_avro_t;

/* For the registry of conf's registry.url.  NULL with err. */
ctl_avro_t *ctl_avro_new(const mw_conf_t *conf, mw_err_t *err);
void ctl_avro_destroy(ctl_avro_t *avro);

/* data (len bytes, framed) as compact Avro JSON text, NUL-terminated and
 * borrowed until the next call.  NULL with err (a bad frame, an unknown
 * id, bytes the writer schema cannot decode). */
const char *ctl_avro_decode(ctl_avro_t *avro, const void *data, size_t len,
                            mw_err_t *err);

/* The JSON text line (len bytes) encoded with subject's latest schema and
 * framed with its id: *out (borrowed until the next call) and *out_len.
 * 0, or MW_ERR_INVALID naming the JSON path of a value that does not fit,
 * or the registry's error. */
int ctl_avro_encode(ctl_avro_t *avro, const char *subject, const char *line,
                    size_t len, const void **out, size_t *out_len,
                    mw_err_t *err);

#endif /* CTL_AVRO_H */
