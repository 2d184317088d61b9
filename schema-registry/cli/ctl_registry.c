/*
 * ctl_registry: one place where meshctl's registry client is made, so
 * that every command (schemas, subjects, products, policies, the console's
 * Avro) sends the same credentials.  Main thread.
 */
#include "ctl_registry.h"

sr_client_t *ctl_registry_client(const mw_conf_t *conf, int timeout_ms,
                                 mw_err_t *err)
{
    sr_client_t *client =
        sr_client_new(mw_conf_get_str(conf, "registry.url"), timeout_ms, err);
    const char *user = mw_conf_get_str(conf, "registry.basic.auth.user.info");
    const char *ca = mw_conf_get_str(conf, "registry.ssl.ca.location");

    if (client && user && sr_client_set_user_info(client, user, err)) {
        mw_err_prefix(err, "key 'registry.basic.auth.user.info'");
        sr_client_destroy(client);
        return NULL;
    }
    if (client && ca && sr_client_set_ca(client, ca, err)) {
        mw_err_prefix(err, "key 'registry.ssl.ca.location'");
        sr_client_destroy(client);
        return NULL;
    }
    return client;
}
