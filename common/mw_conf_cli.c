/*
 * mw_conf_cli: the command line of every program (mw_conf_from_cli).
 *
 * Options are read first, all of them, before any value is applied: --help
 * and --version answer without reading files or the environment, so they
 * work while the configuration is broken.  Then the sources are applied in
 * precedence order (files, environment, --set) through the core's public
 * setters, and finalized.  Only the program's name is read from the conf's
 * body, for messages.
 */
#include "mw_conf.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mw_conf_int.h"

typedef struct conf_cli {
    const char **files; /* -c arguments, in order */
    const char **sets;  /* --set arguments, in order */
    size_t file_cnt, set_cnt;
    bool help, version, markdown;
} conf_cli_t;

/* The command line and the argument being read. */
typedef struct cli_argv {
    int argc;
    char *const *argv;
    int i;
} cli_argv_t;

/* Matches an option taking an argument in all its spellings: "-c FILE",
 * "-cFILE", "--config FILE", "--config=FILE".  1 matched (args->i moved
 * past a separate argument), 0 not, or an error when the argument is
 * missing. */
static int cli_opt_arg(cli_argv_t *args, const char *sopt, const char *lopt,
                       const char **val, mw_err_t *err)
{
    const char *a = args->argv[args->i];
    size_t ll = strlen(lopt);

    if (strcmp(a, sopt) == 0 || strcmp(a, lopt) == 0) {
        if (args->i + 1 >= args->argc)
            return mw_err_set(err, MW_ERR_CONFIG,
                              "option '%s' needs an argument; see --help", a);
        *val = args->argv[++args->i];
        return 1;
    }
    if (strncmp(a, lopt, ll) == 0 && a[ll] == '=') {
        *val = a + ll + 1;
        return 1;
    }
    if (strncmp(a, sopt, 2) == 0 && a[2] != '\0') {
        *val = a + 2;
        return 1;
    }
    return 0;
}

/* One option at args->argv[args->i]; 0, or an error. */
static int cli_option(const mw_conf_t *conf, cli_argv_t *args, conf_cli_t *cli,
                      mw_err_t *err)
{
    const char *a = args->argv[args->i], *val = NULL;
    int rc;

    if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0)
        return cli->help = true, 0;
    if (strcmp(a, "-V") == 0 || strcmp(a, "--version") == 0)
        return cli->version = true, 0;
    if (strcmp(a, "--help-markdown") == 0)
        return cli->markdown = true, 0;
    if ((rc = cli_opt_arg(args, "-c", "--config", &val, err)) != 0) {
        if (rc > 0)
            cli->files[cli->file_cnt++] = val;
        return rc < 0 ? rc : 0;
    }
    if ((rc = cli_opt_arg(args, "-s", "--set", &val, err)) != 0) {
        if (rc < 0)
            return rc;
        if (val[0] == '=' || !strchr(val, '='))
            return mw_err_set(err, MW_ERR_CONFIG,
                              "option --set needs key=value, got '%s'", val);
        cli->sets[cli->set_cnt++] = val;
        return 0;
    }
    return mw_err_set(err, MW_ERR_CONFIG,
                      "unknown option '%s'; see '%s --help'", a,
                      conf->prog->name);
}

static int cli_parse(const mw_conf_t *conf, int argc, char *const *argv,
                     conf_cli_t *cli, int *args_out, mw_err_t *err)
{
    cli_argv_t args = {.argc = argc, .argv = argv};

    for (args.i = 1; args.i < argc; args.i++) {
        const char *a = argv[args.i];
        int rc;

        if (strcmp(a, "--") == 0) {
            args.i++;
            break;
        }
        if (a[0] != '-' || a[1] == '\0')
            break;
        if ((rc = cli_option(conf, &args, cli, err)))
            return rc;
    }
    if (args.i < argc && !args_out)
        return mw_err_set(err, MW_ERR_CONFIG,
                          "unexpected argument '%s'; see '%s --help'",
                          argv[args.i], conf->prog->name);
    if (args_out)
        *args_out = args.i;
    return 0;
}

/* Precedence comes from the order: files, environment, --set, finalize. */
static int cli_apply(mw_conf_t *conf, const conf_cli_t *cli, char *const *envp,
                     mw_err_t *err)
{
    int rc = 0;

    for (size_t i = 0; rc == 0 && i < cli->file_cnt; i++)
        rc = mw_conf_load_file(conf, cli->files[i], err);
    if (rc == 0)
        rc = mw_conf_load_env(conf, envp, err);
    for (size_t i = 0; rc == 0 && i < cli->set_cnt; i++) {
        const char *s = cli->sets[i], *eq = strchr(s, '=');
        char *key = strndup(s, (size_t)(eq - s));

        if (!key)
            return mw_err_set(err, MW_ERR_NOMEM, "out of memory");
        rc = mw_conf_set(conf, key, eq + 1, "--set", err);
        free(key);
    }
    return rc ? rc : mw_conf_finalize(conf, err);
}

int mw_conf_from_cli(mw_conf_t *conf, const mw_conf_cli_t *cmd,
                     mw_conf_action_t *action, mw_err_t *err)
{
    const int argc = cmd->argc;
    char *const *argv = cmd->argv;
    FILE *out = cmd->out;
    conf_cli_t cli = {0};
    int rc;

    *action = MW_CONF_RUN;
    cli.files = calloc((size_t)argc + 1, sizeof(*cli.files));
    cli.sets = calloc((size_t)argc + 1, sizeof(*cli.sets));
    if (!cli.files || !cli.sets)
        rc = mw_err_set(err, MW_ERR_NOMEM, "out of memory");
    else
        rc = cli_parse(conf, argc, argv, &cli, cmd->args_out, err);
    /* Help and version never read the configuration: they must work while
     * it is broken, which is when people ask for help. */
    if (rc == 0 && (cli.help || cli.markdown)) {
        if (cli.markdown)
            mw_conf_print_markdown(conf, out);
        else
            mw_conf_print_help(conf, out);
        *action = MW_CONF_HELP;
    } else if (rc == 0 && cli.version) {
        fprintf(out, "%s %s\n", conf->prog->name,
                cmd->version ? cmd->version : "");
        *action = MW_CONF_VERSION;
    } else if (rc == 0) {
        rc = cli_apply(conf, &cli, cmd->envp, err);
    }
    free(cli.files);
    free(cli.sets);
    return rc;
}
