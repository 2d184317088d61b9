/*
 * ctl_console: `meshctl console produce|consume`, a console producer and a
 * console consumer-group member built on the broker adapter, each running
 * one libevent loop with mw_daemon's signal handling (SIGTERM: stop intake,
 * drain, commit, exit 0).  Main thread.
 */
#ifndef CTL_CONSOLE_H
#define CTL_CONSOLE_H

#include "mw_conf.h"

/* Runs `console ARGS...`: argv[0] is "console".  conf is finalized but
 * still writable (the consumer sets kafka.auto.offset.reset from
 * --from-beginning unless the user chose it).  Returns the exit code: 0,
 * 1 when a message failed or the cluster failed, 2 on bad usage. */
int ctl_console_main(mw_conf_t *conf, int argc, char **argv);

#endif /* CTL_CONSOLE_H */
