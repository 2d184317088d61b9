/*
 * ctl_topic: `meshctl topic create|list|describe`, through the broker
 * adapter's admin interface (so the same commands work on mesh-broker and
 * on a real Kafka cluster).  Main thread.
 */
#ifndef CTL_TOPIC_H
#define CTL_TOPIC_H

#include "mw_conf.h"

/* Runs `topic ARGS...`: argv[0] is "topic".  conf is the finalized
 * configuration (keys json, kafka.*).  Returns the process exit code: 0,
 * 1 on a runtime failure, 2 on bad usage (the message names the option). */
int ctl_topic_main(const mw_conf_t *conf, int argc, char **argv);

#endif /* CTL_TOPIC_H */
