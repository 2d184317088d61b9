/*
 * ctl_policy: `meshctl policy check|list|get|set` and `meshctl mesh check`
 * (docs/GOVERNANCE.md): governance policies offline (the engine of
 * schema-registry/policy on descriptors, for CI) and on the registry (the
 * stored policies, the conformance report).  Main thread.
 */
#ifndef CTL_POLICY_H
#define CTL_POLICY_H

#include "gov_policy.h"
#include "mw_conf.h"
#include "sr_client.h"

/* Runs `policy ARGS...` (argv[0] is "policy").  Exit codes: 0 conformant
 * or done, 1 a violation of severity error or a failure, 2 bad usage or a
 * policy file that cannot be used. */
int ctl_policy_main(const mw_conf_t *conf, int argc, char **argv);

/* Runs `mesh check` (argv[0] is "check"): GET /governance/report, one line
 * per violation; 1 when any product breaks an error-level rule. */
int ctl_policy_mesh_check(const mw_conf_t *conf, int argc, char **argv);

/* The policies stored in the registry as a new set into *pol (an empty
 * set from a registry without governance).  0, or 1 after printing the
 * problem. */
int ctl_policy_fetch(sr_client_t *client, gov_policy_t **pol);

#endif /* CTL_POLICY_H */
