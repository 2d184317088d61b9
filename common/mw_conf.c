/*
 * mw_conf: program configuration driven by one static key table.
 *
 * Every daemon and tool declares its keys once (mw_conf_key_t) and this
 * module does the rest: it seeds the defaults, reads Java-properties files,
 * the MESH_* environment and --set options, checks each value against its
 * key's type as it arrives, and produces --help, the Markdown for
 * docs/CONFIGURATION.md and the "effective configuration" log lines.  It sits
 * at the very start of every program: a value that gets past mw_conf_set is
 * known to be well-formed, so nothing downstream re-validates it.
 *
 * This file holds the core: the table check, setting and checking values,
 * the environment, the getters and listener parsing.  Backend choices (the
 * key table laid out from the backends' own tables) are in
 * mw_conf_choice.c.  Properties files are read in mw_conf_props.c (through
 * mw_conf_set only), the command line in mw_conf_cli.c; --help, Markdown
 * and the effective-configuration log are printed in mw_conf_help.c.  What
 * they share is in mw_conf_int.h.
 *
 * Invariants:
 * - vals[i] belongs to keys[i]; a set value is stored already parsed (ival,
 *   bval, eidx), so getters never fail.  ENUM text is the canonical spelling
 *   from allowed[], typed values are stored with surrounding blanks trimmed.
 * - A rejected value leaves the previous value and origin untouched.
 * - Keys under a passthrough prefix ("kafka.") are opaque strings kept in the
 *   order first set; setting one again replaces its value in place, so the
 *   backend sees them in a stable order.  A declared key always wins over a
 *   passthrough prefix (a program may declare "kafka.bootstrap.servers" to
 *   give it a default and a doc).
 * - Errors are one sentence naming the key, the value, where it came from and
 *   what was expected; every configuration error is MW_ERR_CONFIG so that
 *   main can map it to exit status 2.
 */
#include "mw_conf.h"

#include <assert.h>
#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "mw_conf_int.h"
#include "mw_vec.h"

static const char *const type_names[MW_CONF__CNT] = {
    [MW_CONF_STR] = "string",        [MW_CONF_INT] = "integer",
    [MW_CONF_BOOL] = "boolean",      [MW_CONF_ENUM] = "enum",
    [MW_CONF_LISTENER] = "listener",
};

static const struct {
    const char *name;
    bool value;
} bool_words[] = {
    {"true", true}, {"false", false}, {"yes", true}, {"no", false},
    {"on", true},   {"off", false},   {"1", true},   {"0", false},
};

const char *mw_conf_type_name(mw_conf_type_t type)
{
    if ((unsigned)type >= MW_CONF__CNT)
        return "unknown";
    return type_names[type];
}

/* ------------------------------------------------------------ lookups */

static int conf_find(const mw_conf_t *conf, const char *name)
{
    for (size_t i = 0; i < conf->key_cnt; i++)
        if (strcmp(conf->keys[i].name, name) == 0)
            return (int)i;
    return -1;
}

static const char *conf_prefix_of(const mw_conf_t *conf, const char *key)
{
    const char *const *p = conf->prog->passthrough;

    for (; p && *p; p++)
        if (strncmp(key, *p, strlen(*p)) == 0)
            return *p;
    return NULL;
}

static mw_conf_pass_t *conf_pass_find(const mw_conf_t *conf, const char *key)
{
    for (size_t i = 0; i < conf->pass_cnt; i++)
        if (strcmp(conf->pass[i].key, key) == 0)
            return &conf->pass[i];
    return NULL;
}

/* ------------------------------------------------------- suggestions */

/* Case-insensitive Levenshtein distance; SIZE_MAX for names too long to be
 * worth comparing (they are not typos of a key). */
static size_t conf_distance(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    size_t row[MW_CONF_NAME_MAX + 1];

    if (la > MW_CONF_NAME_MAX || lb > MW_CONF_NAME_MAX)
        return SIZE_MAX;
    for (size_t j = 0; j <= lb; j++)
        row[j] = j;
    for (size_t i = 1; i <= la; i++) {
        size_t diag = row[0];
        row[0] = i;
        for (size_t j = 1; j <= lb; j++) {
            size_t up = row[j];
            size_t best = diag + (tolower((unsigned char)a[i - 1]) !=
                                  tolower((unsigned char)b[j - 1]));
            if (up + 1 < best)
                best = up + 1;
            if (row[j - 1] + 1 < best)
                best = row[j - 1] + 1;
            row[j] = best;
            diag = up;
        }
    }
    return row[lb];
}

/* A suggestion must be closer than a rewrite: at most two edits, or a
 * quarter of the name for long names, and never the whole name. */
static bool conf_is_close(size_t dist, size_t len)
{
    return dist < len && (dist <= 2 || dist * 4 <= len);
}

/* Nearest declared key to key, or a passthrough prefix with a typo
 * ("kafak.acks" -> "kafka.acks"), written to out.  False when none is
 * close. */
static bool conf_suggest(const mw_conf_t *conf, const char *key, char *out,
                         size_t out_size)
{
    size_t best = SIZE_MAX, len = strlen(key);
    const char *dot = strchr(key, '.');
    const char *const *p = conf->prog->passthrough;

    for (size_t i = 0; i < conf->key_cnt; i++) {
        size_t d = conf_distance(key, conf->keys[i].name);
        if (d < best && conf_is_close(d, len)) {
            best = d;
            snprintf(out, out_size, "%s", conf->keys[i].name);
        }
    }
    for (; dot && p && *p; p++) {
        char head[MW_CONF_NAME_MAX + 1];
        size_t hlen = (size_t)(dot - key) + 1;
        size_t d;

        if (hlen > MW_CONF_NAME_MAX || dot[1] == '\0')
            continue;
        memcpy(head, key, hlen);
        head[hlen] = '\0';
        d = conf_distance(head, *p);
        if (d > 0 && d < best && conf_is_close(d, hlen)) {
            best = d;
            snprintf(out, out_size, "%s%s", *p, dot + 1);
        }
    }
    return best != SIZE_MAX;
}

/* User text quoted in a message: at most CONF_QUOTE_MAX bytes, then "...",
 * so a long key or value never pushes the origin (file:line) out of the
 * message's MW_ERR_MSG_MAX bytes. */
#define CONF_QUOTE_MAX 120

static const char *conf_clip(const char *s, char *buf, size_t size)
{
    if (strlen(s) <= CONF_QUOTE_MAX)
        return s;
    snprintf(buf, size, "%.*s...", CONF_QUOTE_MAX, s);
    return buf;
}

static int conf_unknown(const mw_conf_t *conf, const char *key,
                        const char *origin, mw_err_t *err)
{
    char near[MW_CONF_NAME_MAX * 2], clip[CONF_QUOTE_MAX + 4];

    if (conf_suggest(conf, key, near, sizeof(near)))
        return mw_err_set(err, MW_ERR_CONFIG,
                          "unknown key '%s' (from %s); did you mean '%s'?",
                          conf_clip(key, clip, sizeof(clip)), origin, near);
    return mw_err_set(err, MW_ERR_CONFIG,
                      "unknown key '%s' (from %s); see '%s --help' for the "
                      "known keys",
                      conf_clip(key, clip, sizeof(clip)), origin,
                      conf->prog->name);
}

/* ------------------------------------------------------ value checks */

static int conf_bad(mw_err_t *err, const mw_conf_key_t *k, const char *value,
                    const char *origin, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));

static int conf_bad(mw_err_t *err, const mw_conf_key_t *k, const char *value,
                    const char *origin, const char *fmt, ...)
{
    char what[MW_ERR_MSG_MAX], clip[CONF_QUOTE_MAX + 4];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(what, sizeof(what), fmt, ap);
    va_end(ap);
    return mw_err_set(
        err, MW_ERR_CONFIG, "key '%s': value '%s' (from %s) %s", k->name,
        k->secret ? MW_CONF_MASK : conf_clip(value, clip, sizeof(clip)), origin,
        what);
}

/* Human description of what a key accepts, shared by errors and --help. */
void mw_conf_expect(const mw_conf_key_t *k, bool markdown, char *out,
                    size_t size)
{
    size_t n;

    switch (k->type) {
    case MW_CONF_INT:
        if (k->min == 0 && k->max == 0)
            snprintf(out, size, "an integer");
        else
            snprintf(out, size, "an integer in [%lld, %lld]", k->min, k->max);
        return;
    case MW_CONF_BOOL:
        snprintf(out, size, "true/false, yes/no, on/off or 1/0");
        return;
    case MW_CONF_ENUM:
        n = (size_t)snprintf(out, size, "one of:");
        for (size_t i = 0; k->allowed[i] && n < size; i++)
            n += (size_t)snprintf(out + n, size - n, "%s %s%s%s", i ? "," : "",
                                  markdown ? "`" : "", k->allowed[i],
                                  markdown ? "`" : "");
        return;
    case MW_CONF_LISTENER:
        snprintf(out, size,
                 "host:port, http://host:port or [ipv6]:port "
                 "with a port in 0..65535");
        return;
    default:
        snprintf(out, size, "a string");
        return;
    }
}

static int conf_check_int(const mw_conf_key_t *k, const char *value,
                          const char *origin, mw_conf_val_t *nv, mw_err_t *err)
{
    char expect[128];
    char *end;
    long long v;

    mw_conf_expect(k, false, expect, sizeof(expect));
    errno = 0;
    v = strtoll(nv->text, &end, 10);
    if (end == nv->text || *end)
        return conf_bad(err, k, value, origin, "is not an integer; expected %s",
                        expect);
    if (errno == ERANGE || ((k->min || k->max) && (v < k->min || v > k->max)))
        return conf_bad(err, k, value, origin, "is out of range; expected %s",
                        expect);
    nv->ival = v;
    return 0;
}

static int conf_check_bool(const mw_conf_key_t *k, const char *value,
                           const char *origin, mw_conf_val_t *nv, mw_err_t *err)
{
    for (size_t i = 0; i < sizeof(bool_words) / sizeof(bool_words[0]); i++) {
        if (strcasecmp(nv->text, bool_words[i].name) == 0) {
            nv->bval = bool_words[i].value;
            return 0;
        }
    }
    return conf_bad(err, k, value, origin,
                    "is not a boolean; expected true/false, yes/no, on/off "
                    "or 1/0");
}

static int conf_check_enum(const mw_conf_key_t *k, const char *value,
                           const char *origin, mw_conf_val_t *nv, mw_err_t *err)
{
    char expect[MW_ERR_MSG_MAX / 2];

    for (int i = 0; k->allowed[i]; i++) {
        if (strcasecmp(nv->text, k->allowed[i]) == 0) {
            /* Store the table's spelling: getters and logs see one form. */
            char *canon = strdup(k->allowed[i]);
            if (!canon)
                return mw_err_set(err, MW_ERR_NOMEM, "out of memory");
            free(nv->text);
            nv->text = canon;
            nv->eidx = i;
            return 0;
        }
    }
    mw_conf_expect(k, false, expect, sizeof(expect));
    return conf_bad(err, k, value, origin, "is not allowed; expected %s",
                    expect);
}

static int conf_check_listener(const mw_conf_key_t *k, const char *value,
                               const char *origin, mw_conf_val_t *nv,
                               mw_err_t *err)
{
    char expect[128];
    mw_err_t why = {0};

    if (mw_conf_parse_listener(nv->text, NULL, 0, NULL, &why) == 0)
        return 0;
    mw_conf_expect(k, false, expect, sizeof(expect));
    return conf_bad(err, k, value, origin,
                    "is not a valid listener (%s); expected %s", why.msg,
                    expect);
}

/* Checks value against k and fills nv (text owned by nv, even on failure).
 * Typed values ignore surrounding blanks, which properties files keep. */
static int conf_check(const mw_conf_key_t *k, const char *value,
                      const char *origin, mw_conf_val_t *nv, mw_err_t *err)
{
    const char *s = value;
    size_t len;

    if (k->type != MW_CONF_STR) {
        while (isspace((unsigned char)*s))
            s++;
    }
    len = strlen(s);
    if (k->type != MW_CONF_STR) {
        while (len && isspace((unsigned char)s[len - 1]))
            len--;
    }
    nv->text = strndup(s, len);
    if (!nv->text)
        return mw_err_set(err, MW_ERR_NOMEM, "out of memory");
    switch (k->type) {
    case MW_CONF_INT:
        return conf_check_int(k, value, origin, nv, err);
    case MW_CONF_BOOL:
        return conf_check_bool(k, value, origin, nv, err);
    case MW_CONF_ENUM:
        return conf_check_enum(k, value, origin, nv, err);
    case MW_CONF_LISTENER:
        return conf_check_listener(k, value, origin, nv, err);
    default:
        return 0;
    }
}

/* ------------------------------------------------------------ setting */

static void conf_val_free(mw_conf_val_t *v)
{
    free(v->text);
    free(v->origin);
}

static int conf_set_declared(mw_conf_t *conf, size_t i, const char *value,
                             const char *origin, bool is_set, mw_err_t *err)
{
    mw_conf_val_t nv = {0};
    int rc = conf_check(&conf->keys[i], value, origin, &nv, err);

    if (rc == 0 && !(nv.origin = strdup(origin)))
        rc = mw_err_set(err, MW_ERR_NOMEM, "out of memory");
    if (rc) {
        conf_val_free(&nv);
        return rc;
    }
    nv.is_set = is_set;
    conf_val_free(&conf->vals[i]);
    conf->vals[i] = nv;
    return 0;
}

static int conf_set_pass(mw_conf_t *conf, const char *prefix, const char *key,
                         const char *value, const char *origin, mw_err_t *err)
{
    mw_conf_pass_t *p = conf_pass_find(conf, key);
    char *v = strdup(value), *o = strdup(origin);
    char *k = p ? NULL : strdup(key);

    if (key[strlen(prefix)] == '\0') {
        free(v), free(o), free(k);
        return mw_err_set(err, MW_ERR_CONFIG,
                          "key '%s' (from %s) has no name after the prefix "
                          "'%s'",
                          key, origin, prefix);
    }
    if (!v || !o || (!p && !k))
        goto nomem;
    if (!p && MW_VEC_RESERVE(&conf->pass, &conf->pass_cap, conf->pass_cnt + 1))
        goto nomem;
    if (!p) {
        p = &conf->pass[conf->pass_cnt++];
        p->key = k;
    } else {
        free(p->value);
        free(p->origin);
    }
    p->value = v;
    p->origin = o;
    return 0;
nomem:
    free(v), free(o), free(k);
    return mw_err_set(err, MW_ERR_NOMEM, "out of memory");
}

int mw_conf_set(mw_conf_t *conf, const char *key, const char *value,
                const char *origin, mw_err_t *err)
{
    int i;
    const char *prefix;

    assert(conf && key && value);
    if (!origin)
        origin = "the program";
    i = conf_find(conf, key);
    if (i >= 0)
        return conf_set_declared(conf, (size_t)i, value, origin, true, err);
    prefix = conf_prefix_of(conf, key);
    if (prefix)
        return conf_set_pass(conf, prefix, key, value, origin, err);
    return conf_unknown(conf, key, origin, err);
}

/* --------------------------------------------------------- lifecycle */

/* The table is code, but a typo in it should fail the program's first test
 * run with a sentence rather than crash later in a getter. */
static int conf_check_table(const mw_conf_key_t *keys, size_t key_cnt,
                            mw_err_t *err)
{
    for (size_t i = 0; i < key_cnt; i++) {
        const mw_conf_key_t *k = &keys[i];

        if (!k->name || !*k->name || strlen(k->name) > MW_CONF_NAME_MAX)
            return mw_err_set(err, MW_ERR_CONFIG,
                              "key table: entry %zu has no usable name", i);
        if ((unsigned)k->type >= MW_CONF__CNT ||
            (k->type == MW_CONF_ENUM && (!k->allowed || !k->allowed[0])) ||
            (k->type == MW_CONF_INT && k->min > k->max))
            return mw_err_set(err, MW_ERR_CONFIG,
                              "key table: key '%s' has a bad type, bounds or "
                              "allowed values",
                              k->name);
        for (size_t j = 0; j < i; j++)
            if (strcmp(keys[j].name, k->name) == 0)
                return mw_err_set(err, MW_ERR_CONFIG,
                                  "key table: key '%s' is declared twice",
                                  k->name);
    }
    return 0;
}

mw_conf_t *mw_conf_new(const mw_conf_program_t *prog, const mw_conf_key_t *keys,
                       size_t key_cnt, mw_err_t *err)
{
    mw_conf_t *conf;

    assert(prog && prog->name && (keys || key_cnt == 0));
    conf = calloc(1, sizeof(*conf));
    if (!conf) {
        mw_err_set(err, MW_ERR_NOMEM, "out of memory");
        return NULL;
    }
    conf->prog = prog;
    if (mw_conf_build_keys(conf, keys, key_cnt, err) ||
        conf_check_table(conf->keys, conf->key_cnt, err)) {
        mw_conf_destroy(conf);
        return NULL;
    }
    if (!(conf->vals = calloc(conf->key_cnt + 1, sizeof(*conf->vals)))) {
        mw_conf_destroy(conf);
        mw_err_set(err, MW_ERR_NOMEM, "out of memory");
        return NULL;
    }
    for (size_t i = 0; i < conf->key_cnt; i++) {
        const mw_conf_key_t *k = &conf->keys[i];
        if (k->dflt &&
            conf_set_declared(conf, i, k->dflt, "default", false, err)) {
            mw_conf_destroy(conf);
            return NULL;
        }
    }
    return conf;
}

void mw_conf_destroy(mw_conf_t *conf)
{
    if (!conf)
        return;
    for (size_t i = 0; conf->vals && i < conf->key_cnt; i++)
        conf_val_free(&conf->vals[i]);
    for (size_t i = 0; i < conf->pass_cnt; i++) {
        free(conf->pass[i].key);
        free(conf->pass[i].value);
        free(conf->pass[i].origin);
    }
    free(conf->pass);
    free(conf->vals);
    free(conf->keys);
    free(conf->allowed);
    free(conf);
}

int mw_conf_finalize(mw_conf_t *conf, mw_err_t *err)
{
    for (size_t i = 0; i < conf->key_cnt; i++) {
        const mw_conf_key_t *k = &conf->keys[i];
        const mw_conf_val_t *v = &conf->vals[i];

        if (!k->required || (v->text && *v->text))
            continue;
        if (v->text)
            return mw_err_set(err, MW_ERR_CONFIG,
                              "required key '%s' is empty (from %s)", k->name,
                              v->origin);
        return mw_err_set(err, MW_ERR_CONFIG,
                          "required key '%s' is not set; set it in the "
                          "properties file, in the environment or with "
                          "--set %s=...",
                          k->name, k->name);
    }
    for (const mw_conf_choice_t *const *ch = conf->prog->choices; ch && *ch;
         ch++) {
        const mw_conf_backend_t *be = mw_conf_chosen(conf, *ch);
        int rc = be && be->check ? be->check(conf, err) : 0;
        if (rc != 0)
            return rc;
    }
    return 0;
}

/* -------------------------------------------------------- environment */

/* Key names are bounded by the table check, so an out of
 * MW_CONF_NAME_MAX + 8 bytes always holds the whole name. */
void mw_conf_env_name(const char *key, char *out, size_t size)
{
    size_t n = (size_t)snprintf(out, size, "MESH_");

    for (; *key && n + 1 < size; key++)
        out[n++] = (*key == '.' || *key == '-')
                       ? '_'
                       : (char)toupper((unsigned char)*key);
    out[n] = '\0';
}

static const char *conf_env_get(char *const *envp, const char *name)
{
    size_t len = strlen(name);

    for (; *envp; envp++)
        if (strncmp(*envp, name, len) == 0 && (*envp)[len] == '=')
            return *envp + len + 1;
    return NULL;
}

static bool conf_env_is_declared(const mw_conf_t *conf, const char *name,
                                 size_t len)
{
    char env[MW_CONF_NAME_MAX + 8];

    for (size_t i = 0; i < conf->key_cnt; i++) {
        mw_conf_env_name(conf->keys[i].name, env, sizeof(env));
        if (strlen(env) == len && strncmp(env, name, len) == 0)
            return true;
    }
    return false;
}

/* MESH_KAFKA_SOCKET_TIMEOUT_MS -> kafka.socket.timeout.ms, for every
 * variable under the prefix's environment form that no declared key owns. */
static int conf_env_prefix(mw_conf_t *conf, char *const *envp,
                           const char *prefix, mw_err_t *err)
{
    char head[MW_CONF_NAME_MAX + 8], key[MW_CONF_NAME_MAX * 2];
    char origin[MW_CONF_NAME_MAX + 16];
    size_t hlen, plen = strlen(prefix);

    mw_conf_env_name(prefix, head, sizeof(head));
    hlen = strlen(head);
    for (; *envp; envp++) {
        const char *e = *envp, *eq = strchr(e, '=');
        size_t nlen = eq ? (size_t)(eq - e) : 0, k = plen;
        int rc;

        if (nlen <= hlen || nlen > MW_CONF_NAME_MAX ||
            plen + nlen >= sizeof(key) || strncmp(e, head, hlen) != 0 ||
            conf_env_is_declared(conf, e, nlen))
            continue;
        memcpy(key, prefix, plen);
        for (const char *c = e + hlen; c < eq; c++)
            key[k++] = *c == '_' ? '.' : (char)tolower((unsigned char)*c);
        key[k] = '\0';
        snprintf(origin, sizeof(origin), "env %.*s", (int)nlen, e);
        rc = mw_conf_set(conf, key, eq + 1, origin, err);
        if (rc)
            return rc;
    }
    return 0;
}

int mw_conf_load_env(mw_conf_t *conf, char *const *envp, mw_err_t *err)
{
    const char *const *p = conf->prog->passthrough;

    if (!envp)
        return 0;
    for (size_t i = 0; i < conf->key_cnt; i++) {
        char name[MW_CONF_NAME_MAX + 8], origin[MW_CONF_NAME_MAX + 16];
        const char *v;
        int rc;

        mw_conf_env_name(conf->keys[i].name, name, sizeof(name));
        if (!(v = conf_env_get(envp, name)))
            continue;
        snprintf(origin, sizeof(origin), "env %s", name);
        rc = conf_set_declared(conf, i, v, origin, true, err);
        if (rc)
            return rc;
    }
    for (; p && *p; p++) {
        int rc = conf_env_prefix(conf, envp, *p, err);
        if (rc)
            return rc;
    }
    return 0;
}

/* ------------------------------------------------------------ getters */

static const mw_conf_val_t *conf_get(const mw_conf_t *conf, const char *key,
                                     mw_conf_type_t type)
{
    int i = conf_find(conf, key);

    assert(i >= 0 && "key not declared in the table");
    assert(conf->keys[i].type == type && "getter does not match key type");
    (void)type;
    return &conf->vals[i];
}

const char *mw_conf_get_str(const mw_conf_t *conf, const char *key)
{
    int i = conf_find(conf, key);

    assert(i >= 0 && "key not declared in the table");
    assert(conf->keys[i].type == MW_CONF_STR ||
           conf->keys[i].type == MW_CONF_LISTENER ||
           conf->keys[i].type == MW_CONF_ENUM);
    return conf->vals[i].text;
}

long long mw_conf_get_int(const mw_conf_t *conf, const char *key)
{
    return conf_get(conf, key, MW_CONF_INT)->ival;
}

bool mw_conf_get_bool(const mw_conf_t *conf, const char *key)
{
    return conf_get(conf, key, MW_CONF_BOOL)->bval;
}

int mw_conf_get_enum(const mw_conf_t *conf, const char *key)
{
    const mw_conf_val_t *v = conf_get(conf, key, MW_CONF_ENUM);

    return v->text ? v->eidx : -1;
}

bool mw_conf_is_set(const mw_conf_t *conf, const char *key)
{
    int i = conf_find(conf, key);

    if (i >= 0)
        return conf->vals[i].is_set;
    return conf_pass_find(conf, key) != NULL;
}

const char *mw_conf_origin(const mw_conf_t *conf, const char *key)
{
    int i = conf_find(conf, key);
    const mw_conf_pass_t *p;

    if (i >= 0)
        return conf->vals[i].origin ? conf->vals[i].origin : "default";
    p = conf_pass_find(conf, key);
    return p ? p->origin : NULL;
}

int mw_conf_foreach_prefix(const mw_conf_t *conf, const char *prefix,
                           mw_conf_foreach_cb *cb, void *opaque)
{
    size_t plen = strlen(prefix);
    int rc;

    /* 1. Declared keys under the prefix (given a default and a doc by the
     *    program), in table order, when they have a value. */
    for (size_t i = 0; i < conf->key_cnt; i++) {
        const mw_conf_val_t *v = &conf->vals[i];

        if (v->text && strncmp(conf->keys[i].name, prefix, plen) == 0 &&
            (rc = cb(conf->keys[i].name + plen, v->text,
                     v->origin ? v->origin : "default", opaque)))
            return rc;
    }
    /* 2. Free-form passthrough keys, in the order first set. */
    for (size_t i = 0; i < conf->pass_cnt; i++) {
        const mw_conf_pass_t *p = &conf->pass[i];

        if (strncmp(p->key, prefix, plen) == 0 &&
            (rc = cb(p->key + plen, p->value, p->origin, opaque)))
            return rc;
    }
    return 0;
}

/* ----------------------------------------------------------- listener */

static bool conf_host_ok(const char *h, size_t len, bool bracketed)
{
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)h[i];
        if (!isalnum(c) && !strchr(bracketed ? ".-_:%" : ".-_", c))
            return false;
    }
    return true;
}

int mw_conf_parse_listener(const char *listener, char *host, size_t host_size,
                           int *port, mw_err_t *err)
{
    const char *s = listener, *h, *he, *p;
    bool bracketed, scheme = strncasecmp(s, "http://", 7) == 0;
    char *end;
    long v;

    s += scheme ? 7 : 0;
    if (!scheme && strstr(s, "://"))
        return mw_err_set(err, MW_ERR_INVALID,
                          "unsupported scheme, only http:// is");
    if ((bracketed = *s == '[')) {
        h = s + 1;
        if (!(he = strchr(h, ']')))
            return mw_err_set(err, MW_ERR_INVALID, "missing ']'");
        if (he[1] != ':')
            return mw_err_set(err, MW_ERR_INVALID, "missing :port after ']'");
        p = he + 2;
    } else {
        h = s;
        if (!(he = strrchr(s, ':')))
            return mw_err_set(err, MW_ERR_INVALID, "missing :port");
        if (memchr(h, ':', (size_t)(he - h)))
            return mw_err_set(err, MW_ERR_INVALID,
                              "an IPv6 address needs brackets, as in [::1]:0");
        p = he + 1;
    }
    if (he == h)
        return mw_err_set(err, MW_ERR_INVALID, "missing host");
    if (!conf_host_ok(h, (size_t)(he - h), bracketed))
        return mw_err_set(err, MW_ERR_INVALID, "bad character in host");
    errno = 0;
    v = isdigit((unsigned char)*p) ? strtol(p, &end, 10) : -1;
    if (v >= 0 && scheme && strcmp(end, "/") == 0)
        end++; /* "http://host:port/" names the same listener */
    if (v < 0 || v > 65535 || errno || *end)
        return mw_err_set(err, MW_ERR_INVALID,
                          "port '%s' is not a number in 0..65535", p);
    if (host && (size_t)(he - h) >= host_size)
        return mw_err_set(err, MW_ERR_INVALID, "host is too long");
    if (host)
        snprintf(host, host_size, "%.*s", (int)(he - h), h);
    if (port)
        *port = (int)v;
    return 0;
}

int mw_conf_listener_url(const char *listener, int port, char *out,
                         size_t out_size, mw_err_t *err)
{
    char host[256];

    if (mw_conf_parse_listener(listener, host, sizeof(host), NULL, err) != 0)
        return MW_ERR_INVALID;
    if (!host[0] || !strcmp(host, "0.0.0.0"))
        snprintf(host, sizeof(host), "127.0.0.1");
    else if (!strcmp(host, "::"))
        snprintf(host, sizeof(host), "::1");
    snprintf(out, out_size,
             strchr(host, ':') ? "http://[%s]:%d" : "http://%s:%d", host, port);
    return 0;
}
