/*
 * bk_conf: the program's `kafka.*` keys as librdkafka configuration.
 *
 * Every program that talks to Kafka accepts `kafka.<property>` keys (file,
 * MESH_KAFKA_* environment, --set) and hands them to librdkafka verbatim.
 * This module checks them at start-up with librdkafka itself and reports a
 * refusal as `key 'kafka.foo': <librdkafka's message>` (MW_ERR_CONFIG, exit
 * 2), and applies Meshwork's defaults underneath the user's keys:
 *
 *   all        bootstrap.servers=127.0.0.1:9092
 *   producer   enable.idempotence=true acks=all linger.ms=5
 *              partitioner=murmur2_random (the Java client's partitioning)
 *   consumer   enable.auto.commit=false enable.auto.offset.store=false
 *              auto.offset.reset=earliest
 *
 * Main thread, at start-up; no state is kept.
 */
#ifndef BK_CONF_H
#define BK_CONF_H

#include <stddef.h>

#include "mw_conf.h"
#include "mw_err.h"

/* Which kind of librdkafka client a configuration is built for. */
typedef enum bk_role {
    BK_ROLE_PRODUCER = 0,
    BK_ROLE_CONSUMER,
    BK_ROLE_ADMIN,
    BK_ROLE__CNT
} bk_role_t;

/* "producer", "consumer", "admin". */
const char *bk_role_name(bk_role_t role);

/* Checks every kafka.* key of conf (borrowed) with librdkafka, for mains
 * that validate before building clients.  0, or MW_ERR_CONFIG with
 * `key 'kafka.x': <librdkafka's message>`. */
int bk_conf_keys_check(const mw_conf_t *conf, mw_err_t *err);

/* Effective value of librdkafka property rdkey (without the kafka. prefix)
 * for role after defaults and the user's keys, copied into buf (size
 * bytes).  0, MW_ERR_CONFIG for a refused key, MW_ERR_NOT_FOUND for an
 * unknown property, MW_ERR_FULL when buf is too small.  Used by --help
 * style output and tests. */
int bk_conf_effective(const mw_conf_t *conf, bk_role_t role, const char *rdkey,
                      char *buf, size_t size, mw_err_t *err);

/* First host:port of the effective bootstrap.servers, without a
 * "PLAINTEXT://"-style scheme, copied into buf.  0 or MW_ERR_FULL /
 * MW_ERR_CONFIG. */
int bk_conf_first_bootstrap(const mw_conf_t *conf, char *buf, size_t size,
                            mw_err_t *err);

#endif /* BK_CONF_H */
