/*
 * ctl_product: the product commands and `mesh lineage`.
 *
 *   product validate FILE... [--catalog]   offline: every descriptor is
 *       loaded (structure, types, schema files, Avro) and validated
 *       (references resolve among the files given, and in the catalog
 *       with --catalog); nothing is changed anywhere.
 *   product plan FILE...    what apply would change, product by product
 *   product apply FILE...   carries the plan out (ctl_product_plan.c)
 *   product list [--domain D] [--tag T] [--owner O] [--field F]
 *   product show DOMAIN/NAME[@VERSION]
 *   mesh lineage [--format json|dot|mermaid] [FILE...]
 *
 * Descriptors given together form a mesh: an input port may name any of
 * them, and plan/apply handle them in the order given, so a product comes
 * after the products it reads.  Validation goes through dp_validate with
 * one extra step, the governance policies the registry holds (gov_hook):
 * plan and apply always ask for them, validate with --catalog, so a
 * descriptor that breaks an error-level rule is refused before anything
 * changes, with its FILE:LINE:COL like every other refusal; warnings are
 * printed and do not block.
 *
 * Main thread.
 */
#include "ctl_product.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctl_out.h"
#include "ctl_policy.h"
#include "ctl_product_int.h"
#include "ctl_registry.h"
#include "dp_lineage.h"
#include "dp_validate.h"
#include "gov_hook.h"

#define CTL_PRODUCTS_MAX 256

static const char ctl_product_usage[] =
    "usage: meshctl product validate FILE... [--catalog]\n"
    "       meshctl product plan FILE...\n"
    "       meshctl product apply FILE...\n"
    "       meshctl product list [--domain D] [--tag T] [--owner O] "
    "[--field F]\n"
    "       meshctl product show DOMAIN/NAME[@VERSION]\n"
    "       meshctl mesh lineage [--format json|dot|mermaid] [FILE...]\n"
    "       meshctl mesh check\n";

#define ctl_usage(...) ctl_out_usage(ctl_product_usage, __VA_ARGS__)

typedef struct ctl_mesh {
    dp_product_t *prods[CTL_PRODUCTS_MAX];
    size_t cnt;
} ctl_mesh_t;

static void ctl_mesh_clear(ctl_mesh_t *mesh)
{
    for (size_t i = 0; i < mesh->cnt; i++)
        dp_product_destroy(mesh->prods[i]);
    mesh->cnt = 0;
}

/* Asks the catalog whether a product exists: dp_resolve_fn. */
static int ctl_resolve_catalog(void *opaque, const char *domain,
                               const char *name, int version, mw_err_t *err)
{
    json_t *entry = NULL;
    int rc = sr_client_catalog_get(opaque, domain, name, version, &entry, err);

    json_decref(entry);
    if (rc == MW_ERR_NOT_FOUND)
        return 0;
    return rc ? rc : 1;
}

/* Loads and validates files[0..cnt-1] into mesh; client (may be NULL)
 * resolves references beyond them and gives the governance policies the
 * descriptors must keep.  0, or 1 after printing the first problem. */
static int ctl_mesh_load(ctl_mesh_t *mesh, char **files, int cnt,
                         sr_client_t *client)
{
    gov_policy_t *pol = NULL;
    gov_hook_t *hook = NULL;
    dp_check_t check;
    mw_err_t err;
    int rc = 0;

    if (cnt > CTL_PRODUCTS_MAX) {
        fprintf(stderr, "meshctl: more than %d descriptors\n",
                CTL_PRODUCTS_MAX);
        return 1;
    }
    for (int i = 0; i < cnt; i++) {
        dp_product_t *prod = dp_product_load(files[i], &err);
        if (!prod) {
            fprintf(stderr, "meshctl: %s\n", err.msg);
            return 1;
        }
        mesh->prods[mesh->cnt++] = prod;
        /* One product, one descriptor: two would make references and the
         * order of apply ambiguous. */
        for (size_t j = 0; j + 1 < mesh->cnt; j++)
            if (!strcmp(dp_product_ref(mesh->prods[j]), dp_product_ref(prod))) {
                fprintf(stderr,
                        "meshctl: %s: product %s is described by %s "
                        "already\n",
                        files[i], dp_product_ref(prod),
                        dp_product_file(mesh->prods[j]));
                return 1;
            }
    }
    if (client && ctl_policy_fetch(client, &pol)) {
        gov_policy_destroy(pol);
        return 1;
    }
    if (pol && !(hook = gov_hook_new(pol))) {
        gov_policy_destroy(pol);
        return 1;
    }
    if (hook)
        check = gov_hook_check(hook);
    for (size_t i = 0; rc == 0 && i < mesh->cnt; i++) {
        const dp_validate_opts_t opts = {
            .mesh = (const dp_product_t *const *)mesh->prods,
            .mesh_cnt = mesh->cnt,
            .resolve = client ? ctl_resolve_catalog : NULL,
            .resolve_opaque = client,
            .checks = hook ? &check : NULL,
            .check_cnt = hook ? 1 : 0};
        if (dp_validate(mesh->prods[i], &opts, &err)) {
            fprintf(stderr, "meshctl: %s\n", err.msg);
            rc = 1;
        }
    }
    for (size_t i = 0; hook && i < gov_hook_warning_cnt(hook); i++)
        fprintf(stderr, "meshctl: warning: %s\n", gov_hook_warning(hook, i));
    gov_hook_destroy(hook);
    gov_policy_destroy(pol);
    return rc;
}

static sr_client_t *ctl_client(const mw_conf_t *conf)
{
    mw_err_t err;
    sr_client_t *client =
        ctl_registry_client(conf, CTL_PRODUCT_REGISTRY_TIMEOUT_MS, &err);

    if (!client)
        ctl_out_error("registry", &err);
    return client;
}

/* Parses the options of validate/plan/apply: the files, and --catalog. */
static int ctl_files_parse(int argc, char **argv, bool *catalog)
{
    static const struct option opts[] = {{"catalog", no_argument, NULL, 'c'},
                                         {NULL, 0, NULL, 0}};
    int c;

    optind = 0;
    opterr = 0;
    while ((c = getopt_long(argc, argv, ":", opts, NULL)) != -1) {
        if (c == 'c' && catalog)
            *catalog = true;
        else
            return ctl_usage("%s: unknown option '%s'", argv[0],
                             argv[optind - 1]);
    }
    if (optind >= argc)
        return ctl_usage("%s: missing FILE", argv[0]);
    return 0;
}

static int ctl_product_validate(const mw_conf_t *conf, int argc, char **argv)
{
    ctl_mesh_t mesh = {0};
    bool catalog = false, json = mw_conf_get_bool(conf, "json");
    sr_client_t *client = NULL;
    int rc = ctl_files_parse(argc, argv, &catalog);

    if (rc)
        return rc;
    if (catalog && !(client = ctl_client(conf)))
        return 1;
    rc = ctl_mesh_load(&mesh, argv + optind, argc - optind, client);
    if (rc == 0 && json) {
        json_t *arr = json_array();
        for (size_t i = 0; i < mesh.cnt; i++)
            json_array_append_new(
                arr, json_pack("{s:s,s:s,s:b}", "file",
                               dp_product_file(mesh.prods[i]), "product",
                               dp_product_ref(mesh.prods[i]), "valid", 1));
        ctl_out_json(stdout, arr);
    } else if (rc == 0) {
        for (size_t i = 0; i < mesh.cnt; i++)
            printf("%s: product %s is valid\n", dp_product_file(mesh.prods[i]),
                   dp_product_ref(mesh.prods[i]));
    }
    ctl_mesh_clear(&mesh);
    sr_client_destroy(client);
    return rc;
}

static int ctl_product_plan(const mw_conf_t *conf, int argc, char **argv,
                            bool apply)
{
    ctl_mesh_t mesh = {0};
    ctl_product_env_t env = {.json = mw_conf_get_bool(conf, "json"),
                             .registry_url =
                                 mw_conf_get_str(conf, "registry.url")};
    mw_err_t err;
    int rc = ctl_files_parse(argc, argv, NULL);

    if (rc)
        return rc;
    if (!(env.client = ctl_client(conf)))
        return 1;
    if (!(env.admin = bk_admin_new(conf, &err))) {
        ctl_out_error("kafka admin", &err);
        sr_client_destroy(env.client);
        return err.code == MW_ERR_CONFIG ? 2 : 1;
    }
    rc = ctl_mesh_load(&mesh, argv + optind, argc - optind, env.client);
    for (size_t i = 0; rc == 0 && i < mesh.cnt; i++)
        rc = ctl_product_plan_run(&env, mesh.prods[i], apply);
    ctl_mesh_clear(&mesh);
    bk_admin_destroy(env.admin);
    sr_client_destroy(env.client);
    return rc;
}

/* ------------------------------------------------------------ catalog */

/* "a, b" of a JSON array of strings, into buf. */
static const char *ctl_join(const json_t *arr, char *buf, size_t cap)
{
    size_t i, off = 0;
    json_t *v;

    buf[0] = '\0';
    json_array_foreach(arr, i, v)
    {
        if (json_is_string(v) && off < cap)
            off += (size_t)snprintf(buf + off, cap - off, "%s%s",
                                    off ? "," : "", json_string_value(v));
    }
    return buf[0] ? buf : NULL;
}

static void ctl_list_print(const json_t *arr)
{
    enum { COLS = 5 };
    static const char *const headers[COLS] = {"PRODUCT", "OWNER", "STATUS",
                                              "TAGS", "DESCRIPTION"};
    size_t n = json_array_size(arr), i;
    const char **cells = calloc(n * COLS + 1, sizeof(*cells));
    char(*refs)[300] = calloc(n + 1, sizeof(*refs));
    char(*tags)[300] = calloc(n + 1, sizeof(*tags));
    json_t *e;

    if (!cells || !refs || !tags)
        goto out;
    json_array_foreach(arr, i, e)
    {
        snprintf(refs[i], sizeof(refs[i]), "%s/%s@%lld",
                 json_string_value(json_object_get(e, "domain")),
                 json_string_value(json_object_get(e, "name")),
                 (long long)json_integer_value(json_object_get(e, "version")));
        cells[i * COLS] = refs[i];
        cells[i * COLS + 1] = json_string_value(
            json_object_get(json_object_get(e, "owner"), "team"));
        cells[i * COLS + 2] = json_string_value(json_object_get(e, "status"));
        cells[i * COLS + 3] =
            ctl_join(json_object_get(e, "tags"), tags[i], sizeof(tags[i]));
        cells[i * COLS + 4] =
            json_string_value(json_object_get(e, "description"));
    }
    ctl_out_table(stdout, headers, COLS, cells, n);
out:
    free(cells);
    free(refs);
    free(tags);
}

static int ctl_product_list(const mw_conf_t *conf, int argc, char **argv)
{
    static const struct option opts[] = {
        {"domain", required_argument, NULL, 'd'},
        {"tag", required_argument, NULL, 't'},
        {"owner", required_argument, NULL, 'o'},
        {"field", required_argument, NULL, 'f'},
        {NULL, 0, NULL, 0}};
    char query[1024] = "", *enc;
    size_t off = 0;
    sr_client_t *client;
    json_t *ans = NULL;
    mw_err_t err;
    int c, rc;

    optind = 0;
    opterr = 0;
    while ((c = getopt_long(argc, argv, ":", opts, NULL)) != -1) {
        const char *name = c == 'd'   ? "domain"
                           : c == 't' ? "tag"
                           : c == 'o' ? "owner"
                           : c == 'f' ? "field"
                                      : NULL;
        if (c == ':')
            return ctl_usage("option '%s' needs a value", argv[optind - 1]);
        if (!name)
            return ctl_usage("product list: unknown option '%s'",
                             argv[optind - 1]);
        if (!(enc = sr_client_encode(optarg)))
            return 1;
        if (off < sizeof(query))
            off += (size_t)snprintf(query + off, sizeof(query) - off, "%c%s=%s",
                                    off ? '&' : '?', name, enc);
        free(enc);
        if (off >= sizeof(query))
            return ctl_usage("product list: filters longer than %zu bytes",
                             sizeof(query) - 1);
    }
    if (optind < argc)
        return ctl_usage("unexpected argument '%s'", argv[optind]);
    if (!(client = ctl_client(conf)))
        return 1;
    char path[1100];
    snprintf(path, sizeof(path), "/catalog/products%s", query);
    rc = sr_client_call(client, "GET", path, NULL, &ans, &err);
    if (rc)
        ctl_out_error("product list", &err);
    else if (mw_conf_get_bool(conf, "json"))
        ctl_out_json(stdout, json_incref(ans));
    else
        ctl_list_print(ans);
    json_decref(ans);
    sr_client_destroy(client);
    return rc ? 1 : 0;
}

/* DOMAIN/NAME[@VERSION] into parts; false when malformed. */
static bool ctl_ref_parse(const char *ref, char *domain, char *name, size_t cap,
                          int *version)
{
    const char *slash = strchr(ref, '/'), *at = strrchr(ref, '@');
    char *end;

    *version = 0;
    if (!slash || slash == ref || (size_t)(slash - ref) >= cap)
        return false;
    snprintf(domain, cap, "%.*s", (int)(slash - ref), ref);
    if (at && at > slash) {
        long v = strtol(at + 1, &end, 10);
        if (!at[1] || *end || v < 1 || v > 1000000)
            return false;
        *version = (int)v;
    } else {
        at = ref + strlen(ref);
    }
    snprintf(name, cap, "%.*s", (int)(at - slash - 1), slash + 1);
    return name[0] != '\0';
}

static void ctl_show_print(const json_t *e)
{
    enum { COLS = 6 };
    static const char *const headers[COLS] = {
        "PORT", "TYPE", "TOPIC/LOCATION", "SCHEMA", "ROWS/OFFSET", "FRESHNESS"};
    const json_t *ports = json_object_get(e, "output_ports");
    size_t n = json_array_size(ports), i;
    const char **cells = calloc(n * COLS + 1, sizeof(*cells));
    char(*bufs)[3][128] = calloc(n + 1, sizeof(*bufs));
    const json_t *owner = json_object_get(e, "owner"), *p;

    printf("product: %s/%s@%lld\n",
           json_string_value(json_object_get(e, "domain")),
           json_string_value(json_object_get(e, "name")),
           (long long)json_integer_value(json_object_get(e, "version")));
    const char *contact = json_string_value(json_object_get(owner, "contact"));
    printf("owner: %s%s%s%s\n",
           json_string_value(json_object_get(owner, "team")),
           contact ? " <" : "", contact ? contact : "", contact ? ">" : "");
    if (json_object_get(e, "description"))
        printf("description: %s\n",
               json_string_value(json_object_get(e, "description")));
    if (json_object_get(json_object_get(e, "sla"), "freshness"))
        printf("sla.freshness: %s\n",
               json_string_value(
                   json_object_get(json_object_get(e, "sla"), "freshness")));
    if (!cells || !bufs)
        goto out;
    json_array_foreach(ports, i, p)
    {
        const json_t *vs = json_object_get(p, "value_schema");
        const json_t *st = json_object_get(p, "status");
        cells[i * COLS] = json_string_value(json_object_get(p, "name"));
        cells[i * COLS + 1] = json_string_value(json_object_get(p, "type"));
        cells[i * COLS + 2] = json_string_value(json_object_get(
            p, json_object_get(p, "topic") ? "topic" : "location"));
        if (json_object_get(vs, "id")) {
            snprintf(
                bufs[i][0], sizeof(bufs[i][0]), "id %lld v%lld",
                (long long)json_integer_value(json_object_get(vs, "id")),
                (long long)json_integer_value(json_object_get(vs, "version")));
            cells[i * COLS + 3] = bufs[i][0];
        }
        if (json_is_object(st)) {
            snprintf(bufs[i][1], sizeof(bufs[i][1]), "%lld",
                     (long long)json_integer_value(json_object_get(
                         st, json_object_get(st, "rows") ? "rows" : "offset")));
            snprintf(bufs[i][2], sizeof(bufs[i][2]), "%lld ms",
                     (long long)json_integer_value(
                         json_object_get(st, "freshness_ms")));
            cells[i * COLS + 4] = bufs[i][1];
            cells[i * COLS + 5] = bufs[i][2];
        }
    }
    ctl_out_table(stdout, headers, COLS, cells, n);
out:
    free(cells);
    free(bufs);
}

static int ctl_product_show(const mw_conf_t *conf, int argc, char **argv)
{
    char domain[256], name[256];
    sr_client_t *client;
    json_t *entry = NULL;
    mw_err_t err;
    int version, rc;

    if (argc != 2)
        return ctl_usage("product show: expected exactly one "
                         "DOMAIN/NAME[@VERSION]");
    if (!ctl_ref_parse(argv[1], domain, name, sizeof(domain), &version))
        return ctl_usage("product show: '%s' is not DOMAIN/NAME[@VERSION]",
                         argv[1]);
    if (!(client = ctl_client(conf)))
        return 1;
    rc = sr_client_catalog_get(client, domain, name, version, &entry, &err);
    if (rc)
        ctl_out_error("product show", &err);
    else if (mw_conf_get_bool(conf, "json"))
        ctl_out_json(stdout, json_incref(entry));
    else
        ctl_show_print(entry);
    json_decref(entry);
    sr_client_destroy(client);
    return rc ? 1 : 0;
}

int ctl_product_main(const mw_conf_t *conf, int argc, char **argv)
{
    const char *sub = argc > 1 ? argv[1] : NULL;

    if (ctl_out_wants_help(argc, argv)) {
        fputs(ctl_product_usage, stdout);
        return 0;
    }
    if (!sub)
        return ctl_usage("product: missing sub-command");
    if (!strcmp(sub, "validate"))
        return ctl_product_validate(conf, argc - 1, argv + 1);
    if (!strcmp(sub, "plan") || !strcmp(sub, "apply"))
        return ctl_product_plan(conf, argc - 1, argv + 1,
                                !strcmp(sub, "apply"));
    if (!strcmp(sub, "list"))
        return ctl_product_list(conf, argc - 1, argv + 1);
    if (!strcmp(sub, "show"))
        return ctl_product_show(conf, argc - 1, argv + 1);
    return ctl_usage("product: unknown sub-command '%s'", sub);
}

/* ------------------------------------------------------------ lineage */

/* The lineage of the descriptors given, without the registry. */
static json_t *ctl_lineage_offline(char **files, int cnt)
{
    ctl_mesh_t mesh = {0};
    json_t *entries, *graph = NULL;

    if (ctl_mesh_load(&mesh, files, cnt, NULL))
        return NULL;
    entries = json_array();
    for (size_t i = 0; i < mesh.cnt; i++)
        json_array_append_new(entries, dp_product_to_json(mesh.prods[i]));
    graph = dp_lineage_build(entries);
    json_decref(entries);
    ctl_mesh_clear(&mesh);
    return graph;
}

int ctl_product_mesh_main(const mw_conf_t *conf, int argc, char **argv)
{
    static const struct option opts[] = {
        {"format", required_argument, NULL, 'f'}, {NULL, 0, NULL, 0}};
    dp_lineage_format_t fmt = DP_LINEAGE_JSON;
    sr_client_t *client = NULL;
    json_t *graph = NULL;
    mw_err_t err;
    int c, rc = 0;

    if (ctl_out_wants_help(argc, argv)) {
        fputs(ctl_product_usage, stdout);
        return 0;
    }
    if (argc >= 2 && !strcmp(argv[1], "check"))
        return ctl_policy_mesh_check(conf, argc - 1, argv + 1);
    if (argc < 2 || strcmp(argv[1], "lineage"))
        return ctl_usage("mesh: unknown or missing sub-command '%s'",
                         argc > 1 ? argv[1] : "");
    optind = 0;
    opterr = 0;
    argc--;
    argv++;
    while ((c = getopt_long(argc, argv, ":", opts, NULL)) != -1) {
        if (c == ':')
            return ctl_usage("option '%s' needs a value", argv[optind - 1]);
        if (c != 'f')
            return ctl_usage("mesh lineage: unknown option '%s'",
                             argv[optind - 1]);
        if (dp_lineage_format_parse(optarg, &fmt, &err))
            return ctl_usage("option --format: %s", err.msg);
    }
    if (optind < argc) {
        graph = ctl_lineage_offline(argv + optind, argc - optind);
        if (!graph)
            return 1;
    } else {
        if (!(client = ctl_client(conf)))
            return 1;
        if (sr_client_call(client, "GET", "/catalog/lineage", NULL, &graph,
                           &err)) {
            ctl_out_error("mesh lineage", &err);
            rc = 1;
        }
    }
    if (rc == 0 && dp_lineage_render(graph, fmt, stdout, &err)) {
        ctl_out_error("mesh lineage", &err);
        rc = 1;
    }
    json_decref(graph);
    sr_client_destroy(client);
    return rc;
}
