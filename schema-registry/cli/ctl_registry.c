/*
 * ctl_registry: one place where meshctl's registry client is made, so
 * that every command (schemas, subjects, products, policies, the console's
 * Avro) sends the same credentials.  Main thread.
 */
#include "ctl_registry.h"

sr_client_t *ctl_registry_client(const mw_conf_t *conf, int timeout_ms,
                                 mw_err_t *err)
{
    return sr_client_from_conf(conf, timeout_ms, err);
}
