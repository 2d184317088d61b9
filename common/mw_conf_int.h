/*
 * mw_conf_int.h: what the four files of the mw_conf module share, and
 * nothing else includes.
 *
 * mw_conf.c owns the key table, setting, the environment and the getters;
 * mw_conf_choice.c lays the table out from the backends' own tables;
 * mw_conf_props.c reads properties files through mw_conf_set() only;
 * mw_conf_cli.c reads the command line and applies the sources through the
 * public setters; mw_conf_help.c prints --help, the Markdown and the
 * effective configuration, and so reads the conf's body directly.  The body
 * lives here for that reason; the invariants it keeps are described at the
 * top of mw_conf.c.
 */
#ifndef MW_CONF_INT_H
#define MW_CONF_INT_H

#include <stdbool.h>
#include <stddef.h>

#include "mw_conf.h"

#define MW_CONF_MASK "******" /* printed instead of a secret value */
#define MW_CONF_NAME_MAX 200  /* longest key name (env names, typos) */

/* The value of one declared key; parallel to the key table. */
typedef struct mw_conf_val {
    char *text;     /* NULL = unset */
    char *origin;   /* NULL until a value arrives; reported as "default" */
    long long ival; /* MW_CONF_INT */
    int eidx;       /* MW_CONF_ENUM index into allowed[] */
    bool bval;      /* MW_CONF_BOOL */
    bool is_set;    /* set by file, environment or --set */
} mw_conf_val_t;

/* One key under a passthrough prefix, kept as opaque text. */
typedef struct mw_conf_pass {
    char *key; /* full key, prefix included */
    char *value;
    char *origin;
} mw_conf_pass_t;

struct mw_conf {
    const mw_conf_program_t *prog;
    mw_conf_key_t *keys;  /* owned copy: program keys, then each choice's */
    const char **allowed; /* owned: the choosing keys' allowed[] lists */
    size_t key_cnt;
    mw_conf_val_t *vals;  /* key_cnt entries, parallel to keys */
    mw_conf_pass_t *pass; /* passthrough keys in the order first set */
    size_t pass_cnt, pass_cap;
};

/* Lays out conf->keys and conf->allowed from the program's keys and its
 * choices (mw_conf_choice.c); conf->prog must be set.  0 or MW_ERR_NOMEM. */
int mw_conf_build_keys(mw_conf_t *conf, const mw_conf_key_t *keys,
                       size_t key_cnt, mw_err_t *err);

/* Writes to out (size bytes) what key k accepts ("an integer in [1, 16]",
 * "one of: a, b"), for error messages and --help; markdown puts backquotes
 * around enum values. */
void mw_conf_expect(const mw_conf_key_t *k, bool markdown, char *out,
                    size_t size);

/* Writes to out (size bytes) the environment name of key: "MESH_" + key
 * upper-cased with '.' and '-' as '_' (truncated to fit). */
void mw_conf_env_name(const char *key, char *out, size_t size);

#endif /* MW_CONF_INT_H */
