/*
 * meshctl: Meshwork's admin command line.
 *
 *   meshctl [--bootstrap SERVERS] [--registry URL] [--json] [-c FILE]
 *           [--set key=value]... COMMAND ARGS...
 *
 * This file only parses the global options, freezes the configuration,
 * dispatches to a command module and returns its exit code: 0 ok, 1
 * runtime failure, 2 bad usage or configuration.  --bootstrap, --registry
 * and --json are spellings of the keys bootstrap, registry.url and json
 * (environment MESH_BOOTSTRAP, MESH_REGISTRY_URL); kafka.* keys pass
 * through to librdkafka and are checked before any command runs.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bk_conf.h"
#include "ctl_console.h"
#include "ctl_policy.h"
#include "ctl_product.h"
#include "ctl_schema.h"
#include "ctl_topic.h"
#include "mw_conf.h"
#include "sr_client.h"
#include "mw_log.h"

#define CTL_VERSION "0.1.0"

extern char **environ;

static const mw_conf_key_t ctl_keys[] = {
    {.name = "bootstrap",
     .type = MW_CONF_STR,
     .dflt = "127.0.0.1:9092",
     .doc = "Kafka bootstrap servers (--bootstrap); sets "
            "kafka.bootstrap.servers unless that is given."},
    {.name = "registry.url",
     .type = MW_CONF_STR,
     .dflt = "http://127.0.0.1:8081",
     .doc = "Schema registry URL (--registry); https:// speaks TLS."},
    SR_CLIENT_KEY_USER_INFO, /* --user */
    SR_CLIENT_KEY_CA,
    {.name = "json",
     .type = MW_CONF_BOOL,
     .dflt = "false",
     .doc = "Print results as JSON (--json)."},
    {.name = "log.level",
     .type = MW_CONF_ENUM,
     .dflt = "warn",
     .allowed = mw_log_level_names,
     .doc = "Lowest log level written to stderr."},
};

static const char *const ctl_passthrough[] = {"kafka.", NULL};

static const mw_conf_program_t ctl_prog = {
    .name = "meshctl",
    .summary = "Meshwork admin CLI: data products, schemas and subjects, "
               "topics, console produce/consume.",
    .help_extra =
        "Global options: --bootstrap SERVERS, --registry URL, --user "
        "USER:PASSWORD, --json.\n"
        "Commands (each takes --help; docs/meshctl.md):\n"
        "  product validate|plan|apply FILE...    product list|show\n"
        "  mesh lineage [--format json|dot|mermaid] [FILE...]    mesh check\n"
        "  policy check --policy FILE... DESCRIPTOR|SUBJECT.avsc...\n"
        "  policy list|get SCOPE|set FILE\n"
        "  schema register|get|list|diff|check|delete\n"
        "  subject list|versions|config|mode\n"
        "  topic create NAME [--partitions N] [--replication N] "
        "[--config K=V]...\n"
        "  topic list\n"
        "  topic describe NAME\n"
        "  console produce TOPIC [--key-sep SEP] [--count N --size BYTES]\n"
        "                  [--avro [--value-subject S]]\n"
        "  console consume TOPIC... [--group G] [--from-beginning] [--max N]\n"
        "                  [--idle-exit-ms MS] [--format '%t %p %o %k %v'] "
        "[--avro]\n"
        "  produce ..., consume ...: the same as console produce, console "
        "consume\n"
        "Exit codes: 0 ok, 1 failure (an incompatible check included), 2 "
        "usage.\n"
        "Any kafka.* key is passed to librdkafka (e.g. --set "
        "kafka.fetch.wait.max.ms=10).",
    .passthrough = ctl_passthrough,
};

/* Global option spellings turned into --set key=value. */
static const struct {
    const char *opt;
    const char *key;
    int takes_value;
} ctl_aliases[] = {
    {"--bootstrap", "bootstrap", 1},
    {"--registry", "registry.url", 1},
    {"--user", "registry.basic.auth.user.info", 1},
    {"--json", "json", 0},
};

/* Copies argv's global options into out (aliases rewritten), stopping at
 * the command.  *cmd gets the command's index; strings made here go into
 * owned[] (freed by the caller).  0 or 2 with a message. */
static int ctl_globals(int argc, char **argv, char **out, int *out_cnt,
                       char **owned, int *cmd)
{
    int i, n = 0, o = 0;

    out[n++] = argv[0];
    for (i = 1; i < argc && argv[i][0] == '-' && argv[i][1]; i++) {
        const char *a = argv[i];
        size_t k, cnt = sizeof(ctl_aliases) / sizeof(ctl_aliases[0]);
        for (k = 0; k < cnt && strcmp(a, ctl_aliases[k].opt); k++)
            ;
        if (k < cnt) {
            const char *val = "true";
            if (ctl_aliases[k].takes_value && ++i >= argc) {
                fprintf(stderr, "meshctl: option '%s' needs a value\n", a);
                return 2;
            }
            if (ctl_aliases[k].takes_value)
                val = argv[i];
            if (asprintf(&owned[o], "%s=%s", ctl_aliases[k].key, val) < 0)
                return 2;
            out[n++] = "--set";
            out[n++] = owned[o++];
            continue;
        }
        out[n++] = argv[i];
        if ((!strcmp(a, "-c") || !strcmp(a, "--config") || !strcmp(a, "-s") ||
             !strcmp(a, "--set")) &&
            i + 1 < argc)
            out[n++] = argv[++i];
    }
    *out_cnt = n;
    *cmd = i;
    return 0;
}

/* kafka.bootstrap.servers follows `bootstrap` unless only the former was
 * given explicitly. */
static int ctl_bootstrap(mw_conf_t *conf, mw_err_t *err)
{
    if (!mw_conf_is_set(conf, "bootstrap") &&
        mw_conf_is_set(conf, "kafka.bootstrap.servers"))
        return 0;
    return mw_conf_set(conf, "kafka.bootstrap.servers",
                       mw_conf_get_str(conf, "bootstrap"),
                       mw_conf_origin(conf, "bootstrap"), err);
}

/* Parses and checks the configuration; 0 to run, else the exit code
 * (-1 for --help/--version: exit 0). */
static int ctl_configure(mw_conf_t *conf, int argc, char **argv, int *cmd)
{
    char **gargv = calloc((size_t)argc * 2 + 1, sizeof(*gargv));
    char **owned = calloc((size_t)argc + 1, sizeof(*owned));
    mw_conf_action_t action = MW_CONF_RUN;
    mw_log_level_t level;
    mw_err_t err;
    int gargc = 0, args = 0, rc = 2;

    if (!gargv || !owned || ctl_globals(argc, argv, gargv, &gargc, owned, cmd))
        goto out;
    if (mw_conf_from_cli(conf,
                         &(mw_conf_cli_t){.argc = gargc,
                                          .argv = gargv,
                                          .envp = environ,
                                          .version = CTL_VERSION,
                                          .out = stdout,
                                          .args_out = &args},
                         &action, &err) ||
        ctl_bootstrap(conf, &err) || bk_conf_keys_check(conf, &err)) {
        fprintf(stderr, "meshctl: %s\n", err.msg);
        goto out;
    }
    rc = action == MW_CONF_RUN ? 0 : -1;
    if (mw_log_level_parse(mw_conf_get_str(conf, "log.level"), &level) == 0)
        mw_log_set_level(level);
out:
    for (int i = 0; owned && owned[i]; i++)
        free(owned[i]);
    free(owned);
    free(gargv);
    return rc;
}

/* `consume ...` and `produce ...` are `console consume ...` and
 * `console produce ...` (the spelling of kafka-avro-console-*). */
static int ctl_console_alias(mw_conf_t *conf, int argc, char **argv)
{
    char **args = calloc((size_t)argc + 2, sizeof(*args));
    int rc;

    if (!args)
        return 1;
    args[0] = "console";
    memcpy(args + 1, argv, (size_t)argc * sizeof(*args));
    rc = ctl_console_main(conf, argc + 1, args);
    free(args);
    return rc;
}

int main(int argc, char **argv)
{
    mw_err_t err;
    mw_conf_t *conf = mw_conf_new(&ctl_prog, ctl_keys,
                                  sizeof(ctl_keys) / sizeof(ctl_keys[0]), &err);
    int cmd = 0, rc;

    if (!conf) {
        fprintf(stderr, "meshctl: %s\n", err.msg);
        return 2;
    }
    rc = ctl_configure(conf, argc, argv, &cmd);
    if (rc == 0 && cmd >= argc) {
        fprintf(stderr, "meshctl: missing COMMAND; see 'meshctl --help'\n");
        rc = 2;
    } else if (rc == 0 && !strcmp(argv[cmd], "topic")) {
        rc = ctl_topic_main(conf, argc - cmd, argv + cmd);
    } else if (rc == 0 && !strcmp(argv[cmd], "console")) {
        rc = ctl_console_main(conf, argc - cmd, argv + cmd);
    } else if (rc == 0 && (!strcmp(argv[cmd], "consume") ||
                           !strcmp(argv[cmd], "produce"))) {
        rc = ctl_console_alias(conf, argc - cmd, argv + cmd);
    } else if (rc == 0 && !strcmp(argv[cmd], "schema")) {
        rc = ctl_schema_main(conf, argc - cmd, argv + cmd);
    } else if (rc == 0 && !strcmp(argv[cmd], "subject")) {
        rc = ctl_schema_subject_main(conf, argc - cmd, argv + cmd);
    } else if (rc == 0 && !strcmp(argv[cmd], "product")) {
        rc = ctl_product_main(conf, argc - cmd, argv + cmd);
    } else if (rc == 0 && !strcmp(argv[cmd], "policy")) {
        rc = ctl_policy_main(conf, argc - cmd, argv + cmd);
    } else if (rc == 0 && !strcmp(argv[cmd], "mesh")) {
        rc = ctl_product_mesh_main(conf, argc - cmd, argv + cmd);
    } else if (rc == 0) {
        fprintf(stderr, "meshctl: unknown command '%s'; see 'meshctl --help'\n",
                argv[cmd]);
        rc = 2;
    }
    mw_conf_destroy(conf);
    return rc < 0 ? 0 : rc;
}
