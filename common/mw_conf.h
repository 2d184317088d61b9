/*
 * mw_conf: program configuration from a key table.
 *
 * Each program declares its keys once, in a static mw_conf_key_t table: name,
 * type, default, bounds or allowed values, doc.  The same table validates
 * every value, produces --help and docs/CONFIGURATION.md, and logs the
 * effective configuration with secrets masked.  Keys under a declared
 * passthrough prefix (e.g. "kafka.") are accepted as opaque strings and
 * handed to the backend that owns the prefix, which checks them and reports
 * refusals with the full key; the program describes that backend in
 * passthrough_doc, common/ names none.
 *
 * Precedence, lowest first: table default < properties file (-c) <
 * MESH_* environment (key upper-cased, '.' and '-' -> '_') < --set key=value.
 *
 * Phases: set (each value checked as it arrives, the error names key, value,
 * origin and what is expected, and suggests the nearest key on a typo),
 * finalize (required keys present, cross-key checks by the program), then
 * read-only use through the typed getters.  Not thread-safe while being set;
 * the getters may be called from any thread once finalized.
 */
#ifndef MW_CONF_H
#define MW_CONF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include "mw_err.h"

typedef enum mw_conf_type {
    MW_CONF_STR = 0,  /* any string (may be empty unless required) */
    MW_CONF_INT,      /* 64-bit integer within [min, max] */
    MW_CONF_BOOL,     /* true/false/yes/no/on/off/1/0 */
    MW_CONF_ENUM,     /* one of allowed[] (case-insensitive) */
    MW_CONF_LISTENER, /* host:port or http://host:port; port may be 0 */
    MW_CONF__CNT
} mw_conf_type_t;

typedef struct mw_conf_key {
    const char *name; /* "bootstrap.listener" */
    mw_conf_type_t type;
    const char *dflt;           /* default as text; NULL = unset */
    const char *doc;            /* one sentence for --help and docs */
    long long min, max;         /* MW_CONF_INT bounds (both 0 = any) */
    const char *const *allowed; /* MW_CONF_ENUM values, NULL-terminated */
    bool required;              /* must be set by finalize */
    bool secret;                /* masked when logged or printed */
} mw_conf_key_t;

typedef struct mw_conf mw_conf_t;

/* One backend of a kind (a sink, a source, a store), as the backend's own
 * file describes it: its name, its keys and its cross-key checks.  The
 * kind's front lists its backends in one registration table and exposes
 * them through an mw_conf_choice_t, so the program's --help, the
 * configuration reference and every message that lists the choices come
 * from that table. */
typedef struct mw_conf_backend {
    const char *name;          /* the choosing key's value: "sqlite" */
    const char *doc;           /* one sentence for --help and the docs */
    const mw_conf_key_t *keys; /* the backend's own keys, or NULL */
    size_t key_cnt;
    /* Cross-key checks run by mw_conf_finalize when this backend is the
     * chosen one ("sink=postgres needs postgres.conninfo"), or NULL.
     * MW_ERR_CONFIG naming the key. */
    int (*check)(const mw_conf_t *conf, mw_err_t *err);
} mw_conf_backend_t;

/* A key that chooses one backend of a kind ("sink", "source", "storage").
 * key gives its name, doc, default and required flag; its type is ENUM and
 * its allowed values are the backends' names, in table order.  backend_at
 * returns the i-th backend of the front's registration table, NULL past
 * the last. */
typedef struct mw_conf_choice {
    mw_conf_key_t key;
    const mw_conf_backend_t *(*backend_at)(size_t i);
} mw_conf_choice_t;

/* What the program should do after mw_conf_from_cli(). */
typedef enum mw_conf_action {
    MW_CONF_RUN = 0,
    MW_CONF_HELP,   /* --help was given: help printed, exit 0 */
    MW_CONF_VERSION /* --version was given: version printed, exit 0 */
} mw_conf_action_t;

/* Program identity used by --help and --version. */
typedef struct mw_conf_program {
    const char *name;       /* "mesh-broker" */
    const char *summary;    /* one line shown under usage */
    const char *help_extra; /* text printed after the key table, or NULL */
    /* Prefixes like "kafka.", NULL-terminated, or NULL. */
    const char *const *passthrough;
    /* One paragraph for --help and the Markdown on where passthrough keys
     * go ("kafka.* keys are passed to librdkafka as they are."), printed
     * word-wrapped in place of the generic "Keys under <prefix> are passed
     * to the backend that owns them."; NULL for the generic sentence. */
    const char *passthrough_doc;
    /* Backend choices, NULL-terminated, or NULL.  Each adds its choosing
     * key and then every backend's keys after the program's own keys. */
    const mw_conf_choice_t *const *choices;
} mw_conf_program_t;

/* New configuration holding the table's defaults: the program's keys, then
 * for each of prog->choices its choosing key and its backends' keys.  prog,
 * keys and the backends' tables are borrowed and must outlive the conf
 * (they are static tables).  NULL on ENOMEM or when the tables are
 * inconsistent (a key declared twice, a default failing its own key's
 * check: a programming error reported through err). */
mw_conf_t *mw_conf_new(const mw_conf_program_t *prog, const mw_conf_key_t *keys,
                       size_t key_cnt, mw_err_t *err);
void mw_conf_destroy(mw_conf_t *conf);

/* Sets key to value from origin ("file.properties:12", "env MESH_X",
 * "--set").  Checks the key is known (or under a passthrough prefix) and the
 * value fits its type; MW_ERR_CONFIG otherwise, with a message naming key,
 * value, origin, what is expected and the nearest known key. */
int mw_conf_set(mw_conf_t *conf, const char *key, const char *value,
                const char *origin, mw_err_t *err);

/* Loads a Java-properties file: `key = value` or `key: value` or `key value`,
 * '#' and '!' comments, backslash line continuation, \t \n \r \f \\ \uXXXX
 * escapes (written as UTF-8; \= \: and "\ " in keys).  Values are set with
 * origin "path:line" (the logical line's first line).  Errors name path:line;
 * all are MW_ERR_CONFIG, a missing file included ("cannot read 'path': ...").
 * Keys set before an error stay set. */
int mw_conf_load_file(mw_conf_t *conf, const char *path, mw_err_t *err);

/* mw_conf_load_file over len bytes already in memory (text is borrowed and
 * need not be NUL-terminated), named name in origins and messages
 * ("name:line").  The same rules and errors. */
int mw_conf_load_text(mw_conf_t *conf, const char *name, const char *text,
                      size_t len, mw_err_t *err);

/* Applies MESH_* variables from envp (NULL-terminated, like environ) for
 * every declared key, and MESH_<PREFIX>_* for passthrough prefixes
 * (MESH_KAFKA_SOCKET_TIMEOUT_MS -> kafka.socket.timeout.ms).  Unknown MESH_*
 * variables are ignored (the environment is shared by many programs). */
int mw_conf_load_env(mw_conf_t *conf, char *const *envp, mw_err_t *err);

/* Whole command line: [-c FILE]... [--set key=value]... [--help] [--version]
 * (also --config FILE, --config=FILE, --set=key=value, -s key=value, -h, -V,
 * and the hidden --help-markdown, which prints mw_conf_print_markdown() and
 * returns MW_CONF_HELP; "--" ends the options).  Help and version do not
 * read files or the environment, so they work while the configuration is
 * broken.  Applies, in order: file(s),
 * environment, --set values, then mw_conf_finalize().  Help and version are
 * printed to out.  Positional arguments are refused unless args_out is
 * non-NULL, in which case option parsing stops at the first positional
 * argument and its index is stored there (argv[*args_out..argc-1]; argc when
 * there is none).  Returns 0 and sets *action, or
 * MW_ERR_CONFIG (exit 2). */
typedef struct mw_conf_cli {
    int argc;
    char *const *argv;
    char *const *envp;   /* environ, or an explicit array (tests) */
    const char *version; /* printed by --version */
    FILE *out;           /* where --help and --version print */
    int *args_out;       /* see above; NULL: positional arguments refused */
} mw_conf_cli_t;

int mw_conf_from_cli(mw_conf_t *conf, const mw_conf_cli_t *cli,
                     mw_conf_action_t *action, mw_err_t *err);

/* Checks that required keys are set, then runs the check of each choice's
 * chosen backend.  Programs add their own cross-key checks after it. */
int mw_conf_finalize(mw_conf_t *conf, mw_err_t *err);

/* Typed getters.  key must be declared with the matching type (asserted).
 * Strings are borrowed until the key is set again or the conf destroyed;
 * NULL when unset.  mw_conf_get_str also reads LISTENER keys and ENUM keys
 * (the allowed[] spelling); unset INT and BOOL keys read 0 and false. */
const char *mw_conf_get_str(const mw_conf_t *conf, const char *key);
long long mw_conf_get_int(const mw_conf_t *conf, const char *key);
bool mw_conf_get_bool(const mw_conf_t *conf, const char *key);
/* Index of the value in the key's allowed[] table; -1 when unset. */
int mw_conf_get_enum(const mw_conf_t *conf, const char *key);
/* True when the key was set by file, environment or --set (not default).
 * Also answers for passthrough keys. */
bool mw_conf_is_set(const mw_conf_t *conf, const char *key);
/* Where the value came from: "default", "path:line", "env MESH_X", "--set".
 * Also answers for passthrough keys; NULL for a key never set and not
 * declared.  Borrowed until the key is set again or the conf destroyed. */
const char *mw_conf_origin(const mw_conf_t *conf, const char *key);

/* Calls cb for each key under prefix (e.g. "kafka."), with the key without
 * the prefix, its value and its origin: first the declared keys under the
 * prefix that have a value (a program may declare "kafka.bootstrap.servers"
 * to give it a default and a doc), in table order, then the passthrough
 * keys in the order first set (setting one again keeps its place).  Stops at
 * and returns the first non-zero cb result. */
typedef int(mw_conf_foreach_cb)(const char *subkey, const char *value,
                                const char *origin, void *opaque);
int mw_conf_foreach_prefix(const mw_conf_t *conf, const char *prefix,
                           mw_conf_foreach_cb *cb, void *opaque);

/* Prints usage, the summary and the key table (name, type, default, doc),
 * then notes on passthrough prefixes and the environment, then help_extra. */
void mw_conf_print_help(const mw_conf_t *conf, FILE *out);

/* Prints the key table as a Markdown section for docs/CONFIGURATION.md. */
void mw_conf_print_markdown(const mw_conf_t *conf, FILE *out);

/* Logs one info line per key (effective value and origin); secrets and
 * passthrough keys whose name contains "password", "secret" or "key" are
 * masked. */
void mw_conf_log_effective(const mw_conf_t *conf, const char *component);

/* Splits a listener ("127.0.0.1:9092", "http://0.0.0.0:8081", "[::1]:0")
 * into host (copied into host, host_size bytes, without brackets) and port.
 * host and port may be NULL to only validate.  0 or MW_ERR_INVALID with the
 * reason ("missing :port"). */
int mw_conf_parse_listener(const char *listener, char *host, size_t host_size,
                           int *port, mw_err_t *err);

/* The backend chosen by choice's key (NULL when the key is unset). */
const mw_conf_backend_t *mw_conf_chosen(const mw_conf_t *conf,
                                        const mw_conf_choice_t *choice);

/* Writes "a, b or c" (the backends' names) to out, size bytes, for
 * messages. */
void mw_conf_choice_names(const mw_conf_choice_t *choice, char *out,
                          size_t size);

/* The URL a client on this machine reaches a server bound to listener at
 * (actual) port: "http://host:port", a wildcard or empty host read as
 * 127.0.0.1, an IPv6 host in brackets.  0 or MW_ERR_INVALID (bad
 * listener). */
int mw_conf_listener_url(const char *listener, int port, char *out,
                         size_t out_size, mw_err_t *err);

/* Name of a type for messages: "string", "integer", "boolean", ... */
const char *mw_conf_type_name(mw_conf_type_t type);

#endif /* MW_CONF_H */
