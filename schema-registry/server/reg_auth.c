/*
 * reg_auth: the credentials file and Basic authentication (see
 * reg_auth.h).
 *
 * Hashes are checked by crypt_r (libxcrypt), with its data on the heap
 * (it is large); the result is compared in constant time.  A user that
 * does not exist is checked against a fixed hash, so that the answer
 * takes as long as for a wrong password.
 *
 * Thread: the registry's loop thread.
 */
#include "reg_auth.h"

#include <crypt.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define REG_AUTH_LINE_MAX 4096
#define REG_AUTH_PRINCIPALS_MAX 4096
#define REG_AUTH_DOMAINS_MAX 64
#define REG_AUTH_HEADER_MAX 1024

typedef struct reg_auth_entry {
    reg_auth_principal_t p;
    char *name;
    char *hash;
    char **domains;
    char *last_ok; /* the Authorization value that last verified */
} reg_auth_entry_t;

struct reg_auth {
    reg_auth_entry_t *v;
    size_t cnt;
    struct crypt_data *cd;
};

static void reg_auth_entry_clear(reg_auth_entry_t *e)
{
    for (size_t i = 0; i < e->p.domain_cnt; i++)
        free(e->domains[i]);
    free(e->domains);
    free(e->name);
    free(e->hash);
    free(e->last_ok);
}

void reg_auth_destroy(reg_auth_t *auth)
{
    if (!auth)
        return;
    for (size_t i = 0; i < auth->cnt; i++)
        reg_auth_entry_clear(&auth->v[i]);
    free(auth->v);
    free(auth->cd);
    free(auth);
}

size_t reg_auth_principal_cnt(const reg_auth_t *auth)
{
    return auth->cnt;
}

/* A crypt(3) hash: "$id$...", of crypt's alphabet. */
static bool reg_auth_is_hash(const char *h)
{
    if (h[0] != '$' || !strchr(h + 1, '$') || strlen(h) < 13)
        return false;
    for (const char *p = h; *p; p++)
        if (!(*p >= 'a' && *p <= 'z') && !(*p >= 'A' && *p <= 'Z') &&
            !(*p >= '0' && *p <= '9') && !strchr("$./=,-", *p))
            return false;
    return true;
}

static bool reg_auth_name_ok(const char *s)
{
    if (!*s)
        return false;
    for (; *s; s++)
        if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') ||
              (*s >= '0' && *s <= '9') || strchr("-_.@", *s)))
            return false;
    return true;
}

/* The role field: "admin" or domains "a,b". */
static int reg_auth_role(reg_auth_entry_t *e, char *role, const char *where,
                         mw_err_t *err)
{
    char *save = NULL, *d;

    if (!strcmp(role, "admin")) {
        e->p.is_admin = true;
        return 0;
    }
    if (!(e->domains = calloc(REG_AUTH_DOMAINS_MAX, sizeof(*e->domains))))
        return mw_err_set(err, MW_ERR_NOMEM, "out of memory");
    for (d = strtok_r(role, ",", &save); d; d = strtok_r(NULL, ",", &save)) {
        if (e->p.domain_cnt == REG_AUTH_DOMAINS_MAX || !reg_auth_name_ok(d))
            return mw_err_set(err, MW_ERR_CONFIG,
                              "%s: role '%s' is neither admin nor a list of "
                              "domains",
                              where, d);
        if (!(e->domains[e->p.domain_cnt++] = strdup(d)))
            return mw_err_set(err, MW_ERR_NOMEM, "out of memory");
    }
    if (!e->p.domain_cnt)
        return mw_err_set(err, MW_ERR_CONFIG, "%s: empty role", where);
    return 0;
}

/* One "NAME:HASH:ROLE" line into e. */
static int reg_auth_line(reg_auth_t *auth, reg_auth_entry_t *e, char *line,
                         const char *where, mw_err_t *err)
{
    char *c1 = strchr(line, ':'), *c2 = c1 ? strchr(c1 + 1, ':') : NULL;

    if (!c1 || !c2)
        return mw_err_set(err, MW_ERR_CONFIG, "%s: expected NAME:HASH:ROLE",
                          where);
    *c1 = *c2 = '\0';
    if (!reg_auth_name_ok(line))
        return mw_err_set(err, MW_ERR_CONFIG, "%s: bad principal name '%s'",
                          where, line);
    for (size_t i = 0; i < auth->cnt; i++)
        if (!strcmp(auth->v[i].name, line))
            return mw_err_set(err, MW_ERR_CONFIG,
                              "%s: principal '%s' given twice", where, line);
    if (!reg_auth_is_hash(c1 + 1))
        return mw_err_set(err, MW_ERR_CONFIG,
                          "%s: the password of '%s' is not a crypt(3) hash "
                          "(plain passwords are refused; make one with "
                          "mkpasswd -m yescrypt)",
                          where, line);
    if (!(e->name = strdup(line)) || !(e->hash = strdup(c1 + 1)))
        return mw_err_set(err, MW_ERR_NOMEM, "out of memory");
    return reg_auth_role(e, c2 + 1, where, err);
}

static int reg_auth_read(reg_auth_t *auth, FILE *f, const char *path,
                         mw_err_t *err)
{
    char line[REG_AUTH_LINE_MAX], where[600];
    int lineno = 0, rc;

    while (fgets(line, sizeof(line), f)) {
        size_t n = strlen(line);
        char *s = line;
        reg_auth_entry_t *grown;
        lineno++;
        while (n && (line[n - 1] == '\n' || line[n - 1] == '\r' ||
                     line[n - 1] == ' '))
            line[--n] = '\0';
        while (*s == ' ' || *s == '\t')
            s++;
        if (!*s || *s == '#')
            continue;
        snprintf(where, sizeof(where), "%s:%d", path, lineno);
        if (auth->cnt == REG_AUTH_PRINCIPALS_MAX)
            return mw_err_set(err, MW_ERR_CONFIG, "%s: more than %d principals",
                              where, REG_AUTH_PRINCIPALS_MAX);
        grown = realloc(auth->v, (auth->cnt + 1) * sizeof(*grown));
        if (!grown)
            return mw_err_set(err, MW_ERR_NOMEM, "out of memory");
        auth->v = grown;
        memset(&auth->v[auth->cnt], 0, sizeof(auth->v[0]));
        rc = reg_auth_line(auth, &auth->v[auth->cnt], s, where, err);
        auth->cnt++; /* kept even when half-built: destroy frees it */
        if (rc)
            return rc;
    }
    if (ferror(f))
        return mw_err_set(err, MW_ERR_IO, "%s: cannot read: %s", path,
                          strerror(errno));
    return 0;
}

reg_auth_t *reg_auth_load(const char *path, mw_err_t *err)
{
    reg_auth_t *auth = calloc(1, sizeof(*auth));
    FILE *f;
    int rc;

    if (!auth || !(auth->cd = calloc(1, sizeof(*auth->cd)))) {
        reg_auth_destroy(auth);
        mw_err_set(err, MW_ERR_NOMEM, "out of memory");
        return NULL;
    }
    if (!(f = fopen(path, "r"))) {
        mw_err_set(err, MW_ERR_IO, "%s: cannot read: %s", path,
                   strerror(errno));
        reg_auth_destroy(auth);
        return NULL;
    }
    rc = reg_auth_read(auth, f, path, err);
    fclose(f);
    for (size_t i = 0; rc == 0 && i < auth->cnt; i++) {
        reg_auth_entry_t *e = &auth->v[i];
        e->p.name = e->name;
        e->p.domains = (const char *const *)e->domains;
    }
    if (rc) {
        reg_auth_destroy(auth);
        return NULL;
    }
    return auth;
}

/* Standard base64 of in into out (cap bytes, NUL-terminated); -1 when
 * malformed or too long. */
static int reg_auth_b64(const char *in, char *out, size_t cap)
{
    static const char abc[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    unsigned acc = 0;
    int bits = 0;
    size_t n = 0, len = strlen(in);

    while (len && in[len - 1] == '=')
        len--;
    for (size_t i = 0; i < len; i++) {
        const char *p = in[i] ? strchr(abc, in[i]) : NULL;
        if (!p)
            return -1;
        acc = (acc << 6) | (unsigned)(p - abc);
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            if (n + 1 >= cap)
                return -1;
            out[n++] = (char)((acc >> bits) & 0xff);
        }
    }
    out[n] = '\0';
    return memchr(out, '\0', n) ? -1 : 0;
}

/* Constant-time comparison of two NUL-terminated strings. */
static bool reg_auth_same(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    unsigned char d = (unsigned char)(la != lb);

    for (size_t i = 0; i < la && i < lb; i++)
        d |= (unsigned char)(a[i] ^ b[i]);
    return d == 0;
}

/* Whether pass matches hash (crypt_r's result compared). */
static bool reg_auth_verify(reg_auth_t *auth, const char *pass,
                            const char *hash)
{
    const char *got;

    memset(auth->cd, 0, sizeof(*auth->cd));
    got = crypt_r(pass, hash, auth->cd);
    /* libxcrypt fails with a string starting with '*', never NULL by
     * default; both are a mismatch. */
    return got && got[0] != '*' && reg_auth_same(got, hash);
}

int reg_auth_check(reg_auth_t *auth, const char *authorization,
                   const reg_auth_principal_t **out, mw_err_t *err)
{
    /* yescrypt of a password nobody has: what an unknown user costs */
    static const char none[] = "$y$j9T$qON3zccQS1oyeqtjDrfy9.$QiaHcE0RCQgRt78"
                               "JGppiBQy6iKlQ/COwmtS1Jwybdm2";
    char dec[REG_AUTH_HEADER_MAX], *colon;
    reg_auth_entry_t *e = NULL;

    if (!authorization || !*authorization)
        return mw_err_set(err, MW_ERR_INVALID, "no credentials");
    if (strncasecmp(authorization, "Basic ", 6))
        return mw_err_set(err, MW_ERR_INVALID,
                          "the Authorization header is not Basic");
    if (strlen(authorization) >= REG_AUTH_HEADER_MAX ||
        reg_auth_b64(authorization + 6, dec, sizeof(dec)))
        return mw_err_set(err, MW_ERR_INVALID,
                          "the Basic credentials are not base64");
    if (!(colon = strchr(dec, ':')))
        return mw_err_set(err, MW_ERR_INVALID,
                          "the Basic credentials have no ':'");
    *colon = '\0';
    for (size_t i = 0; i < auth->cnt && !e; i++)
        if (!strcmp(auth->v[i].name, dec))
            e = &auth->v[i];
    if (e && e->last_ok && !strcmp(e->last_ok, authorization)) {
        *out = &e->p;
        return 0;
    }
    if (!reg_auth_verify(auth, colon + 1, e ? e->hash : none) || !e) {
        memset(dec, 0, sizeof(dec));
        return mw_err_set(err, MW_ERR_INVALID,
                          "unknown user or wrong password");
    }
    memset(dec, 0, sizeof(dec));
    free(e->last_ok);
    e->last_ok = strdup(authorization);
    *out = &e->p;
    return 0;
}

bool reg_auth_may_write(const reg_auth_principal_t *principal,
                        const char *domain)
{
    if (principal->is_admin)
        return true;
    for (size_t i = 0; domain && i < principal->domain_cnt; i++)
        if (!strcmp(principal->domains[i], domain))
            return true;
    return false;
}

const reg_auth_principal_t *reg_auth_find(const reg_auth_t *auth,
                                          const char *name)
{
    for (size_t i = 0; i < auth->cnt; i++)
        if (!strcmp(auth->v[i].name, name))
            return &auth->v[i].p;
    return NULL;
}
