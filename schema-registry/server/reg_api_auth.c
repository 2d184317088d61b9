/*
 * reg_api_auth: who may do what on the REST API (docs/GOVERNANCE.md,
 * "Principals and roles"), decided once per request before its handler
 * runs, when auth.credentials.file is set.
 *
 * A request is a write when it changes something: POST, PUT and DELETE,
 * except the two POSTs that only ask (a subject lookup and a
 * compatibility check).  Then:
 *   1. no valid credentials: 401 with WWW-Authenticate; reads are open
 *      unless auth.reads=authenticated (/healthz and /metrics always
 *      are);
 *   2. admin only: global config, every mode (a subject in IMPORT mode
 *      skips the policies, so a domain may not put its own there),
 *      policies, ?permanent=true;
 *   3. a subject's write (register, delete, its config) needs
 *      the subject's domain (the first part of <domain>.<product>.v<N>-
 *      key|value); a subject outside that rule has no domain, and only
 *      admin writes it;
 *   4. a catalog write needs the product's domain (the path's).
 * Each refusal is a Confluent-style error body ({"error_code","message"},
 * 401 or 403) naming the principal and the domain, logged at warn with
 * the principal and counted per route (mesh_registry_auth_refused_total).
 *
 * Thread: the loop thread.
 */
#include <stdlib.h>
#include <string.h>

#include <event2/http.h>
#include <event2/keyvalq_struct.h>

#include "gov_check.h"
#include "mw_log.h"
#include "reg_api_int.h"

static bool reg_api_auth_is_write(const reg_api_req_t *r,
                                  enum evhttp_cmd_type cmd)
{
    const char *route = reg_api_routes[r->route].name;

    if (cmd == EVHTTP_REQ_GET || cmd == EVHTTP_REQ_HEAD)
        return false;
    if (cmd == EVHTTP_REQ_POST &&
        (!strcmp(route, "subject") || !strncmp(route, "compatibility", 13)))
        return false;
    return true;
}

/* What a write of r needs: NULL admin, else the domain into buf; *none
 * true when the write concerns a subject without a domain. */
static const char *reg_api_auth_domain(const reg_api_req_t *r, char *buf,
                                       size_t cap, bool *none)
{
    const char *route = reg_api_routes[r->route].name;

    *none = false;
    if (reg_api_query_bool(r, "permanent") ||
        !strncmp(route, "governance", 10) || !strcmp(route, "config") ||
        !strncmp(route, "mode", 4))
        return NULL;
    if (!strncmp(route, "catalog_", 8) && r->seg_cnt >= 3) {
        snprintf(buf, cap, "%s", r->seg[2]);
        return buf;
    }
    if ((!strncmp(route, "subject", 7) || !strcmp(route, "config_subject")) &&
        r->seg_cnt >= 2) {
        if (gov_check_subject_domain(r->seg[1], buf, cap))
            return buf;
        *none = true;
    }
    return NULL;
}

static void reg_api_auth_refuse(reg_api_req_t *r, int code,
                                const char *principal, const char *msg)
{
    reg_api_t *api = r->api;

    mw_counter_inc(api->auth_refused[r->route]);
    mw_log_warn("auth", "write refused",
                "principal=%s route=%s status=%d "
                "why=%s",
                mw_log_q(principal ? principal : "-"),
                reg_api_routes[r->route].name, code, mw_log_q(msg));
    if (code == SR_PROTO_E_UNAUTHORIZED)
        evhttp_add_header(evhttp_request_get_output_headers(r->req),
                          "WWW-Authenticate",
                          "Basic realm=\"mesh-registry\", charset=\"UTF-8\"");
    reg_api_reply_err(r, code, "%s", msg);
}

bool reg_api_auth_allows(reg_api_req_t *r, enum evhttp_cmd_type cmd)
{
    reg_api_t *api = r->api;
    const char *route = reg_api_routes[r->route].name;
    const reg_auth_principal_t *who = NULL;
    bool write, none;
    const char *domain;
    char buf[256], msg[1024];
    mw_err_t err;

    if (!api->conf.auth || !strcmp(route, "healthz") ||
        !strcmp(route, "metrics"))
        return true;
    write = reg_api_auth_is_write(r, cmd);
    if (!write && !api->conf.auth_reads)
        return true;
    /* A verified client certificate names the principal; without one,
     * Basic credentials do. */
    if (api->conf.tls && reg_tls_peer_name(r->req, buf, sizeof(buf)) &&
        !(who = reg_auth_find(api->conf.auth, buf))) {
        snprintf(msg, sizeof(msg),
                 "Unauthorized: certificate subject %s is no principal", buf);
        if (write)
            reg_api_auth_refuse(r, SR_PROTO_E_UNAUTHORIZED, NULL, msg);
        else
            reg_api_reply_err(r, SR_PROTO_E_UNAUTHORIZED, "%s", msg);
        return false;
    }
    if (!who && reg_auth_check(
                    api->conf.auth,
                    evhttp_find_header(evhttp_request_get_input_headers(r->req),
                                       "Authorization"),
                    &who, &err)) {
        snprintf(msg, sizeof(msg), "Unauthorized: %s", err.msg);
        if (write)
            reg_api_auth_refuse(r, SR_PROTO_E_UNAUTHORIZED, NULL, msg);
        else
            reg_api_reply_err(r, SR_PROTO_E_UNAUTHORIZED, "%s", msg);
        return false;
    }
    r->principal = who;
    if (!write || who->is_admin)
        return true;
    domain = reg_api_auth_domain(r, buf, sizeof(buf), &none);
    if (domain && reg_auth_may_write(who, domain))
        return true;
    if (domain)
        snprintf(msg, sizeof(msg),
                 "Forbidden: principal %s may not write what belongs to "
                 "domain %s",
                 who->name, domain);
    else if (none)
        snprintf(msg, sizeof(msg),
                 "Forbidden: subject %s belongs to no domain "
                 "(<domain>.<product>.v<major>-key|value); only an admin "
                 "principal writes it",
                 r->seg[1]);
    else
        snprintf(msg, sizeof(msg),
                 "Forbidden: principal %s is not an admin; only an admin "
                 "changes global config, modes and policies, and deletes "
                 "permanently",
                 who->name);
    reg_api_auth_refuse(r, SR_PROTO_E_FORBIDDEN, who->name, msg);
    return false;
}
