/*
 * ctl_schema: `meshctl schema register|get|list|diff|check|delete` and
 * `meshctl subject list|versions|config|mode`: the schema admin commands.
 * Every registry call goes through sr_client; the offline `check` and
 * `diff` use the registry's own compatibility engine (av_compat) and the
 * field-level diff (av_diff), so their verdicts are the registry's.
 * Main thread.
 */
#ifndef CTL_SCHEMA_H
#define CTL_SCHEMA_H

#include "mw_conf.h"

/* Runs `schema ARGS...` (argv[0] is "schema").  Exit code: 0 ok (and
 * compatible, for check and diff), 1 failure or incompatible, 2 usage. */
int ctl_schema_main(const mw_conf_t *conf, int argc, char **argv);

/* Runs `subject ARGS...` (argv[0] is "subject").  Exit codes as above. */
int ctl_schema_subject_main(const mw_conf_t *conf, int argc, char **argv);

#endif /* CTL_SCHEMA_H */
