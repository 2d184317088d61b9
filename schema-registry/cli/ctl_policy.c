/*
 * ctl_policy: the governance commands.
 *
 *   policy check --policy FILE... FILE...   offline: every descriptor is
 *       loaded and checked by the same engine the registry runs; each
 *       violation printed as FILE:LINE:COL with its rule and JSON path.  A
 *       FILE ending in .avsc is an Avro schema, checked as a registration
 *       under the subject its name gives (orders.events.v1-value.avsc)
 *   policy list                 the registry's policies (scope, version)
 *   policy get SCOPE            one policy's text (mesh, or a domain)
 *   policy set FILE             stores a policy (an admin operation)
 *   mesh check                  the registry's conformance report
 *
 * Main thread.
 */
#include "ctl_policy.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctl_out.h"
#include "ctl_registry.h"
#include "dp_product.h"
#include "gov_hook.h"

#define CTL_POLICY_FILES_MAX 64
#define CTL_POLICY_TIMEOUT_MS 10000
#define CTL_POLICY_TEXT_MAX (1024 * 1024)

static const char ctl_policy_usage[] =
    "usage: meshctl policy check --policy FILE [--policy FILE]... "
    "DESCRIPTOR|SUBJECT.avsc...\n"
    "       meshctl policy list\n"
    "       meshctl policy get mesh|DOMAIN\n"
    "       meshctl policy set FILE\n"
    "       meshctl mesh check\n";

#define ctl_usage(...) ctl_out_usage(ctl_policy_usage, __VA_ARGS__)

static sr_client_t *ctl_policy_client(const mw_conf_t *conf)
{
    mw_err_t err;
    sr_client_t *client =
        ctl_registry_client(conf, CTL_POLICY_TIMEOUT_MS, &err);

    if (!client)
        ctl_out_error("registry", &err);
    return client;
}

/* Reads file whole into a new string; NULL after printing. */
static char *ctl_policy_read(const char *file)
{
    FILE *f = fopen(file, "rb");
    char *buf = malloc(CTL_POLICY_TEXT_MAX + 1);
    size_t n = 0;

    if (f && buf) {
        n = fread(buf, 1, CTL_POLICY_TEXT_MAX + 1, f);
        if (!ferror(f) && n <= CTL_POLICY_TEXT_MAX) {
            buf[n] = '\0';
            fclose(f);
            return buf;
        }
    }
    fprintf(stderr, "meshctl: %s: cannot read (or larger than %d bytes)\n",
            file, CTL_POLICY_TEXT_MAX);
    if (f)
        fclose(f);
    free(buf);
    return NULL;
}

/* Prints every violation of rep for prod; counts them into errors and
 * warnings. */
static void ctl_policy_print(const dp_product_t *prod, const gov_report_t *rep)
{
    char line[1024];

    for (size_t i = 0; i < gov_report_cnt(rep); i++) {
        const gov_violation_t *v = gov_report_get(rep, i);
        dp_pos_t pos = gov_hook_pos(prod, v->path);
        printf("%s:%d:%d: %s\n", dp_product_file(prod), pos.line, pos.col,
               gov_report_line(v, line, sizeof(line)));
    }
}

/* Counts rep's violations into errors and warnings. */
static void ctl_policy_count(const gov_report_t *rep, size_t *errors,
                             size_t *warnings)
{
    *errors += gov_report_sev_cnt(rep, GOV_SEV_ERROR);
    *warnings += gov_report_sev_cnt(rep, GOV_SEV_WARN);
}

/* An .avsc file as a registration under the subject of its base name:
 * the schema rules, paths in the schema (its level is not known
 * offline: min-compatibility does not run). */
static int ctl_policy_check_schema(const gov_policy_t *pol, const char *file,
                                   size_t *errors, size_t *warnings)
{
    const char *base = strrchr(file, '/') ? strrchr(file, '/') + 1 : file;
    char *text = ctl_policy_read(file), subject[512], line[1024];
    gov_report_t *rep = gov_report_new();
    av_schema_t *schema = NULL;
    mw_err_t err;
    int rc = 1;

    snprintf(subject, sizeof(subject), "%.*s", (int)(strlen(base) - 5), base);
    if (!text || !rep)
        goto out;
    if (!(schema = av_schema_parse(text, strlen(text), NULL, 0, &err))) {
        fprintf(stderr, "meshctl: %s: not valid Avro: %s\n", file, err.msg);
        goto out;
    }
    if (gov_check_schema(pol, subject, schema,
                         strlen(av_schema_normalized(schema)), NULL, rep)) {
        fprintf(stderr, "meshctl: out of memory\n");
        goto out;
    }
    for (size_t i = 0; i < gov_report_cnt(rep); i++)
        printf("%s: subject %s: %s\n", file, subject,
               gov_report_line(gov_report_get(rep, i), line, sizeof(line)));
    ctl_policy_count(rep, errors, warnings);
    rc = 0;
out:
    av_schema_release(schema);
    gov_report_destroy(rep);
    free(text);
    return rc;
}

static int ctl_policy_check_one(const gov_policy_t *pol, const char *file,
                                size_t *errors, size_t *warnings)
{
    size_t len = strlen(file);
    dp_product_t *prod;
    gov_report_t *rep;
    mw_err_t err;

    if (len > 5 && !strcmp(file + len - 5, ".avsc"))
        return ctl_policy_check_schema(pol, file, errors, warnings);
    if (!(prod = dp_product_load(file, &err))) {
        fprintf(stderr, "meshctl: %s\n", err.msg);
        return 1;
    }
    if (!(rep = gov_report_new()) || gov_hook_check_product(pol, prod, rep)) {
        fprintf(stderr, "meshctl: out of memory\n");
        gov_report_destroy(rep);
        dp_product_destroy(prod);
        return 1;
    }
    ctl_policy_print(prod, rep);
    ctl_policy_count(rep, errors, warnings);
    gov_report_destroy(rep);
    dp_product_destroy(prod);
    return 0;
}

static int ctl_policy_check(int argc, char **argv)
{
    static const struct option opts[] = {
        {"policy", required_argument, NULL, 'p'}, {NULL, 0, NULL, 0}};
    gov_policy_t *pol = gov_policy_new();
    size_t errors = 0, warnings = 0, policies = 0;
    const char *files[CTL_POLICY_FILES_MAX];
    char scopes[CTL_POLICY_FILES_MAX][128];
    const char *scope;
    mw_err_t err;
    int c, rc = 0;

    if (!pol)
        return 1;
    optind = 0;
    opterr = 0;
    while ((c = getopt_long(argc, argv, ":p:", opts, NULL)) != -1) {
        if (c == ':' || c == '?') {
            gov_policy_destroy(pol);
            return c == ':' ? ctl_usage("option '%s' needs a value",
                                        argv[optind - 1])
                            : ctl_usage("policy check: unknown option '%s'",
                                        argv[optind - 1]);
        }
        if (policies == CTL_POLICY_FILES_MAX) {
            gov_policy_destroy(pol);
            return ctl_usage("policy check: more than %d policies",
                             CTL_POLICY_FILES_MAX);
        }
        if (gov_policy_load(pol, optarg, &scope, &err)) {
            fprintf(stderr, "meshctl: %s\n", err.msg);
            gov_policy_destroy(pol);
            return 2;
        }
        /* Two files of one scope: the second replaced the first, which is
         * never what a CI job means. */
        for (size_t i = 0; i < policies; i++)
            if (!strcmp(scopes[i], scope)) {
                fprintf(stderr,
                        "meshctl: %s: a second policy for %s (the first is "
                        "%s)\n",
                        optarg, scope, files[i]);
                gov_policy_destroy(pol);
                return 2;
            }
        files[policies] = optarg;
        snprintf(scopes[policies++], sizeof(scopes[0]), "%s", scope);
    }
    if (!policies || optind >= argc) {
        gov_policy_destroy(pol);
        return ctl_usage("policy check: needs --policy FILE and a "
                         "DESCRIPTOR");
    }
    for (int i = optind; i < argc; i++)
        if (ctl_policy_check_one(pol, argv[i], &errors, &warnings))
            rc = 1;
    printf("%d file%s checked: %zu error%s, %zu warning%s\n", argc - optind,
           argc - optind == 1 ? "" : "s", errors, errors == 1 ? "" : "s",
           warnings, warnings == 1 ? "" : "s");
    gov_policy_destroy(pol);
    return rc || errors ? 1 : 0;
}

int ctl_policy_fetch(sr_client_t *client, gov_policy_t **pol)
{
    json_t *ans = NULL, *p;
    mw_err_t err;
    size_t i;
    int rc;

    if (!(*pol = gov_policy_new()))
        return 1;
    rc =
        sr_client_call(client, "GET", "/governance/policies", NULL, &ans, &err);
    if (rc == MW_ERR_NOT_FOUND)
        return 0; /* a registry without governance: no policies */
    if (rc) {
        ctl_out_error("governance policies", &err);
        return 1;
    }
    /* The mesh policy first: domains are checked against it. */
    for (int pass = 0; pass < 2 && rc == 0; pass++)
        json_array_foreach(json_object_get(ans, "policies"), i, p)
        {
            const char *scope = json_string_value(json_object_get(p, "scope"));
            const char *text = json_string_value(json_object_get(p, "policy"));
            char origin[300];
            if (!scope || !text || (pass == 0) != !strcmp(scope, "mesh"))
                continue;
            snprintf(origin, sizeof(origin), "registry policy %s", scope);
            if (gov_policy_add(*pol, text, strlen(text), origin, NULL, &err)) {
                fprintf(stderr, "meshctl: %s\n", err.msg);
                rc = 1;
                break;
            }
        }
    json_decref(ans);
    return rc ? 1 : 0;
}

static int ctl_policy_list(const mw_conf_t *conf)
{
    sr_client_t *client = ctl_policy_client(conf);
    json_t *ans = NULL, *p;
    mw_err_t err;
    size_t i;
    int rc;

    if (!client)
        return 1;
    rc =
        sr_client_call(client, "GET", "/governance/policies", NULL, &ans, &err);
    if (rc)
        ctl_out_error("policy list", &err);
    else if (mw_conf_get_bool(conf, "json"))
        ctl_out_json(stdout, json_incref(ans));
    else
        json_array_foreach(json_object_get(ans, "policies"), i, p)
        {
            printf(
                "%s version %lld\n",
                json_string_value(json_object_get(p, "scope")),
                (long long)json_integer_value(json_object_get(p, "version")));
        }
    json_decref(ans);
    sr_client_destroy(client);
    return rc ? 1 : 0;
}

/* /governance/policies/mesh or /governance/policies/domains/{d}. */
static char *ctl_policy_path(const char *scope)
{
    char *enc = sr_client_encode(scope), *path = NULL;

    if (enc && !strcmp(scope, "mesh")) {
        if (asprintf(&path, "/governance/policies/mesh") < 0)
            path = NULL;
    } else if (enc &&
               asprintf(&path, "/governance/policies/domains/%s", enc) < 0) {
        path = NULL;
    }
    free(enc);
    return path;
}

static int ctl_policy_get(const mw_conf_t *conf, const char *scope)
{
    sr_client_t *client = ctl_policy_client(conf);
    char *path = ctl_policy_path(scope);
    json_t *ans = NULL;
    mw_err_t err;
    int rc = 1;

    if (client && path) {
        rc = sr_client_call(client, "GET", path, NULL, &ans, &err);
        if (rc)
            ctl_out_error("policy get", &err);
        else if (mw_conf_get_bool(conf, "json"))
            ctl_out_json(stdout, json_incref(ans));
        else
            fputs(json_string_value(json_object_get(ans, "policy")), stdout);
    }
    json_decref(ans);
    free(path);
    sr_client_destroy(client);
    return rc ? 1 : 0;
}

static int ctl_policy_set(const mw_conf_t *conf, const char *file)
{
    gov_policy_t *pol = gov_policy_new();
    char *text = ctl_policy_read(file), *path = NULL;
    const char *scope = NULL;
    sr_client_t *client = NULL;
    json_t *body = NULL, *ans = NULL;
    mw_err_t err;
    int rc = 1;

    /* Checked here first, so a typo is reported with the file's own
     * name and position; the registry checks it again against the
     * policies it holds. */
    if (!pol || !text)
        goto out;
    if (gov_policy_add(pol, text, strlen(text), file, &scope, &err)) {
        fprintf(stderr, "meshctl: %s\n", err.msg);
        rc = 2;
        goto out;
    }
    if (!(client = ctl_policy_client(conf)) || !(path = ctl_policy_path(scope)))
        goto out;
    body = json_pack("{s:s}", "policy", text);
    if (sr_client_call(client, "PUT", path, body, &ans, &err)) {
        ctl_out_error("policy set", &err);
        goto out;
    }
    printf("policy %s version %lld stored\n", scope,
           (long long)json_integer_value(json_object_get(ans, "version")));
    rc = 0;
out:
    json_decref(ans);
    json_decref(body);
    sr_client_destroy(client);
    free(path);
    free(text);
    gov_policy_destroy(pol);
    return rc;
}

int ctl_policy_main(const mw_conf_t *conf, int argc, char **argv)
{
    if (ctl_out_wants_help(argc, argv)) {
        fputs(ctl_policy_usage, stdout);
        return 0;
    }
    if (argc >= 2 && !strcmp(argv[1], "check"))
        return ctl_policy_check(argc - 1, argv + 1);
    if (argc == 2 && !strcmp(argv[1], "list"))
        return ctl_policy_list(conf);
    if (argc == 3 && !strcmp(argv[1], "get"))
        return ctl_policy_get(conf, argv[2]);
    if (argc == 3 && !strcmp(argv[1], "set"))
        return ctl_policy_set(conf, argv[2]);
    return ctl_usage("policy: unknown or incomplete sub-command '%s'",
                     argc > 1 ? argv[1] : "");
}

int ctl_policy_mesh_check(const mw_conf_t *conf, int argc, char **argv)
{
    sr_client_t *client;
    json_t *ans = NULL, *prod, *v;
    mw_err_t err;
    size_t i, j;
    int rc;

    if (argc > 1)
        return ctl_usage("mesh check: unexpected argument '%s'", argv[1]);
    if (!(client = ctl_policy_client(conf)))
        return 1;
    rc = sr_client_call(client, "GET", "/governance/report", NULL, &ans, &err);
    if (rc) {
        ctl_out_error("mesh check", &err);
        sr_client_destroy(client);
        return 1;
    }
    if (mw_conf_get_bool(conf, "json")) {
        ctl_out_json(stdout, json_incref(ans));
    } else {
        json_array_foreach(json_object_get(ans, "products"), i, prod)
        {
            const char *ref =
                json_string_value(json_object_get(prod, "product"));
            printf("%s %s\n", ref,
                   json_is_true(json_object_get(prod, "conformant"))
                       ? "conformant"
                       : "NOT CONFORMANT");
            json_array_foreach(json_object_get(prod, "violations"), j, v)
            {
                printf("  %s %s at %s: %s\n",
                       json_string_value(json_object_get(v, "severity")),
                       json_string_value(json_object_get(v, "rule")),
                       json_string_value(json_object_get(v, "path")),
                       json_string_value(json_object_get(v, "message")));
            }
        }
        printf("%lld products, %lld not conformant\n",
               (long long)json_array_size(json_object_get(ans, "products")),
               (long long)json_integer_value(json_object_get(ans, "failing")));
    }
    rc = json_is_true(json_object_get(ans, "conformant")) ? 0 : 1;
    json_decref(ans);
    sr_client_destroy(client);
    return rc;
}
