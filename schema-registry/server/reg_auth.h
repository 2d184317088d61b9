/*
 * reg_auth: mesh-registry's principals (docs/GOVERNANCE.md, "Principals
 * and roles"): a credentials file of salted password hashes, checked
 * against HTTP Basic credentials (Confluent's clients send them with
 * basic.auth.credentials.source=USER_INFO).
 *
 * The file has one principal per line, `NAME:HASH:ROLE`, with `#`
 * comments and blank lines allowed:
 *   - HASH is a crypt(3) hash from libxcrypt (`$y$` yescrypt, `$2b$`
 *     bcrypt, `$6$` sha512crypt, ...: `mkpasswd -m yescrypt`); a plain
 *     password is refused when the file is loaded;
 *   - ROLE is `admin` (the federation: every write, global config and
 *     mode, policies, permanent deletes) or a comma-separated list of
 *     domains whose subjects, topics and products the principal writes.
 *
 * Verifying a yescrypt hash costs milliseconds by design; the last
 * Authorization value that verified is kept per principal, so a client
 * that sends the same credentials on every request pays that cost once.
 *
 * Thread: the registry's loop thread.
 */
#ifndef REG_AUTH_H
#define REG_AUTH_H

#include <stdbool.h>
#include <stddef.h>

#include "mw_err.h"

typedef struct reg_auth reg_auth_t;

/* One principal; borrowed from the reg_auth_t. */
typedef struct reg_auth_principal {
    const char *name;
    bool is_admin;
    const char *const *domains; /* domain_cnt names (not for admin) */
    size_t domain_cnt;
} reg_auth_principal_t;

/* Loads path.  NULL with err set: MW_ERR_IO (unreadable) or
 * MW_ERR_CONFIG naming "FILE:LINE" and the problem (a field missing, a
 * hash that is not a crypt(3) hash, a principal given twice). */
reg_auth_t *reg_auth_load(const char *path, mw_err_t *err);
void reg_auth_destroy(reg_auth_t *auth);

/* Checks an Authorization header value (may be NULL).  0 with *out the
 * principal; MW_ERR_INVALID with a reason (missing, not Basic, not
 * base64, no ':', unknown user, wrong password) that is safe to answer:
 * it never tells an unknown user from a wrong password. */
int reg_auth_check(reg_auth_t *auth, const char *authorization,
                   const reg_auth_principal_t **out, mw_err_t *err);

/* The principal named name (a client certificate's common name), or
 * NULL. */
const reg_auth_principal_t *reg_auth_find(const reg_auth_t *auth,
                                          const char *name);

/* Whether principal may write what belongs to domain. */
bool reg_auth_may_write(const reg_auth_principal_t *principal,
                        const char *domain);

/* Principals loaded. */
size_t reg_auth_principal_cnt(const reg_auth_t *auth);

#endif /* REG_AUTH_H */
