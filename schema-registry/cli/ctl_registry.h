/*
 * ctl_registry: the registry client every meshctl command uses, made from
 * the configuration: registry.url, and the HTTP Basic credentials of
 * registry.basic.auth.user.info (--user USER:PASSWORD), Confluent's
 * basic.auth.user.info with basic.auth.credentials.source=USER_INFO; an
 * https:// registry.url speaks TLS, verified against the system's CAs and
 * registry.ssl.ca.location (Confluent's schema.registry.ssl.ca.location).
 * Main thread.
 */
#ifndef CTL_REGISTRY_H
#define CTL_REGISTRY_H

#include "mw_conf.h"
#include "sr_client.h"

/* A new client (sr_client_destroy frees it), or NULL with err set. */
sr_client_t *ctl_registry_client(const mw_conf_t *conf, int timeout_ms,
                                 mw_err_t *err);

#endif /* CTL_REGISTRY_H */
