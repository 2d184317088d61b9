/*
 * ctl_schema: the schema and subject commands (ctl_schema.h).
 *
 *   schema register SUBJECT FILE
 *   schema get SUBJECT [--version V] | schema get --id ID
 *   schema list [--prefix P] [--deleted]
 *   schema diff OLD NEW [--level L] | schema diff NEW --subject S [--version V]
 *   schema check NEW --against OLD... [--level L]
 *               | schema check NEW --subject S [--version V]
 *   schema delete SUBJECT [--version V] [--permanent]
 *   subject list [--prefix P] [--deleted]
 *   subject versions SUBJECT
 *   subject config [SUBJECT] [--set LEVEL]
 *   subject mode [SUBJECT] [--set MODE]
 *
 * check and diff print a verdict: offline, the level's registration check
 * against the OLD files (oldest first, BACKWARD by default) with the same
 * engine and the same verbose messages the registry answers; against a
 * subject, the registry's own answer.  Both exit 1 when incompatible, so
 * CI can run them on a pull request.
 *
 * Main thread.
 */
#include "ctl_schema.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "av_compat.h"
#include "av_diff.h"
#include "ctl_out.h"
#include "ctl_registry.h"
#include "sr_client.h"

#define CTL_SCHEMA_TIMEOUT_MS 10000
#define CTL_AGAINST_MAX 64

static const char ctl_schema_usage[] =
    "usage: meshctl schema register SUBJECT FILE\n"
    "       meshctl schema get SUBJECT [--version V] | --id ID\n"
    "       meshctl schema list [--prefix P] [--deleted]\n"
    "       meshctl schema diff OLD NEW [--level L]\n"
    "       meshctl schema diff NEW --subject S [--version V]\n"
    "       meshctl schema check NEW --against OLD... [--level L]\n"
    "       meshctl schema check NEW --subject S [--version V]\n"
    "       meshctl schema delete SUBJECT [--version V] [--permanent]\n"
    "       meshctl subject list [--prefix P] [--deleted]\n"
    "       meshctl subject versions SUBJECT\n"
    "       meshctl subject config [SUBJECT] [--set LEVEL]\n"
    "       meshctl subject mode [SUBJECT] [--set MODE]\n";

#define ctl_usage(...) ctl_out_usage(ctl_schema_usage, __VA_ARGS__)

/* The options every sub-command may take; each one checks its own. */
typedef struct ctl_schema_args {
    const char *version;
    const char *id;
    const char *prefix;
    const char *subject;
    const char *level;
    const char *set;
    const char *against[CTL_AGAINST_MAX];
    size_t against_cnt;
    bool deleted;
    bool permanent;
    char **pos; /* operands after the sub-command */
    int pos_cnt;
} ctl_schema_args_t;

static int ctl_schema_parse(int argc, char **argv, ctl_schema_args_t *a)
{
    static const struct option opts[] = {
        {"version", required_argument, NULL, 'v'},
        {"id", required_argument, NULL, 'i'},
        {"prefix", required_argument, NULL, 'p'},
        {"subject", required_argument, NULL, 's'},
        {"level", required_argument, NULL, 'l'},
        {"set", required_argument, NULL, 'S'},
        {"against", required_argument, NULL, 'a'},
        {"deleted", no_argument, NULL, 'd'},
        {"permanent", no_argument, NULL, 'P'},
        {NULL, 0, NULL, 0}};
    int c;

    optind = 0;
    opterr = 0;
    while ((c = getopt_long(argc, argv, ":", opts, NULL)) != -1) {
        switch (c) {
        case 'v':
            a->version = optarg;
            break;
        case 'i':
            a->id = optarg;
            break;
        case 'p':
            a->prefix = optarg;
            break;
        case 's':
            a->subject = optarg;
            break;
        case 'l':
            a->level = optarg;
            break;
        case 'S':
            a->set = optarg;
            break;
        case 'd':
            a->deleted = true;
            break;
        case 'P':
            a->permanent = true;
            break;
        case 'a':
            if (a->against_cnt == CTL_AGAINST_MAX)
                return ctl_usage("more than %d --against files",
                                 CTL_AGAINST_MAX);
            a->against[a->against_cnt++] = optarg;
            break;
        case ':':
            return ctl_usage("option '%s' needs a value", argv[optind - 1]);
        default:
            return ctl_usage("%s: unknown option '%s'", argv[0],
                             argv[optind - 1]);
        }
    }
    a->pos = argv + optind;
    a->pos_cnt = argc - optind;
    return 0;
}

static sr_client_t *ctl_schema_client(const mw_conf_t *conf)
{
    mw_err_t err;
    sr_client_t *client =
        ctl_registry_client(conf, CTL_SCHEMA_TIMEOUT_MS, &err);

    if (!client)
        ctl_out_error("registry", &err);
    return client;
}

/* The schema file at path, parsed; NULL after printing why. */
static av_schema_t *ctl_schema_load(const char *path)
{
    FILE *f = fopen(path, "rb");
    char *text = NULL;
    size_t len = 0;
    av_schema_t *sch = NULL;
    mw_err_t err;

    if (f) {
        FILE *m = open_memstream(&text, &len);
        char buf[8192];
        size_t n;
        while (m && (n = fread(buf, 1, sizeof(buf), f)) > 0)
            fwrite(buf, 1, n, m);
        if (m)
            fclose(m);
        fclose(f);
    }
    if (!text) {
        fprintf(stderr, "meshctl: cannot read '%s'\n", path);
        return NULL;
    }
    if (!(sch = av_schema_parse(text, len, NULL, 0, &err)))
        fprintf(stderr, "meshctl: %s: not valid Avro: %s\n", path, err.msg);
    free(text);
    return sch;
}

/* ------------------------------------------------------------ verdicts */

typedef struct ctl_verdict {
    bool compatible;
    const char *level; /* the level's name, or "subject's" */
    json_t *messages;  /* Confluent's verbose strings */
} ctl_verdict_t;

/* The offline registration check of level, as the registry runs it. */
static int ctl_verdict_offline(const av_schema_t *cand,
                               av_schema_t *const *prev, size_t n,
                               const char *level_name, ctl_verdict_t *v)
{
    av_compat_level_t level = AV_COMPAT_BACKWARD;
    av_compat_result_t *res;
    mw_err_t err;
    char tail[160];

    if (level_name && av_compat_level_parse(level_name, &level, &err))
        return ctl_usage("option --level: %s", err.msg);
    if (!(res = av_compat_result_new()))
        return 1;
    v->level = av_compat_level_name(level);
    v->messages = json_array();
    if (av_compat_check_mode(level, cand, prev, n, res) ||
        av_compat_format_messages(res, NULL, NULL, n, v->messages)) {
        av_compat_result_destroy(res);
        fprintf(stderr, "meshctl: out of memory\n");
        return 1;
    }
    v->compatible = level == AV_COMPAT_NONE || n == 0 ||
                    av_compat_result_is_compatible(res);
    if (!v->compatible) {
        snprintf(tail, sizeof(tail),
                 "{validateFields: 'false', compatibility: '%s'}", v->level);
        json_array_append_new(v->messages, json_string(tail));
    }
    av_compat_result_destroy(res);
    return 0;
}

/* The registry's check of cand against subject (version NULL: the
 * subject's registration check). */
static int ctl_verdict_registry(sr_client_t *client, const char *subject,
                                const char *version, const av_schema_t *cand,
                                ctl_verdict_t *v)
{
    char *enc = sr_client_encode(subject), path[1200];
    json_t *body = json_pack("{s:s}", "schema", av_schema_normalized(cand));
    json_t *ans = NULL;
    mw_err_t err;
    int rc;

    snprintf(path, sizeof(path),
             "/compatibility/subjects/%s/versions%s%s?verbose=true",
             enc ? enc : "", version ? "/" : "", version ? version : "");
    rc = sr_client_call(client, "POST", path, body, &ans, &err);
    free(enc);
    json_decref(body);
    if (rc) {
        ctl_out_error("compatibility", &err);
        return 1;
    }
    v->compatible = json_is_true(json_object_get(ans, "is_compatible"));
    v->level = "the subject's";
    v->messages = json_incref(json_object_get(ans, "messages"));
    if (!v->messages)
        v->messages = json_array();
    json_decref(ans);
    return 0;
}

static void ctl_verdict_print(const ctl_verdict_t *v, json_t *changes,
                              bool json)
{
    size_t i;
    json_t *m;

    if (json) {
        json_t *o = json_pack("{s:b,s:s,s:O}", "is_compatible", v->compatible,
                              "level", v->level, "messages", v->messages);
        if (changes)
            json_object_set(o, "changes", changes);
        ctl_out_json(stdout, o);
        return;
    }
    printf("%s (%s)\n", v->compatible ? "compatible" : "incompatible",
           v->level);
    json_array_foreach(v->messages, i, m)
    {
        printf("  %s\n", json_string_value(m));
    }
}

/* ------------------------------------------------------------ diff */

static void ctl_diff_line(void *opaque, av_diff_kind_t kind, const char *path,
                          const char *what)
{
    json_array_append_new(opaque, json_pack("{s:s,s:s,s:s}", "change",
                                            av_diff_kind_name(kind), "path",
                                            path, "what", what));
}

static void ctl_diff_print(const json_t *changes)
{
    size_t i;
    json_t *c;

    json_array_foreach(changes, i, c)
    {
        const char *k = json_string_value(json_object_get(c, "change"));
        printf("%c %s: %s\n",
               k[0] == 'a'   ? '+'
               : k[0] == 'r' ? '-'
                             : '~',
               json_string_value(json_object_get(c, "path")),
               json_string_value(json_object_get(c, "what")));
    }
    if (!json_array_size(changes))
        printf("no field-level changes\n");
}

/* The old schema of a diff or check against a subject. */
static av_schema_t *ctl_subject_schema(sr_client_t *client, const char *subject,
                                       const char *version)
{
    sr_client_version_t ver = {0};
    av_schema_t *sch;
    mw_err_t err;
    int v = SR_CLIENT_VERSION_LATEST;
    char *end;

    if (version && strcmp(version, "latest")) {
        long n = strtol(version, &end, 10);
        if (!*version || *end || n < 1 || n > 2147483647L) {
            fprintf(stderr,
                    "meshctl: --version: '%s' is not a version (1.. or "
                    "latest)\n",
                    version);
            return NULL;
        }
        v = (int)n;
    }
    if (sr_client_get_version(client, subject, v, &ver, &err)) {
        ctl_out_error("schema", &err);
        return NULL;
    }
    sch = av_schema_keep(ver.schema);
    sr_client_version_clear(&ver);
    return sch;
}

static int ctl_schema_diff(const mw_conf_t *conf, const ctl_schema_args_t *a)
{
    av_schema_t *old = NULL, *cand = NULL;
    sr_client_t *client = NULL;
    ctl_verdict_t v = {0};
    json_t *changes = json_array();
    int rc = 1;

    if (a->subject ? a->pos_cnt != 1 : a->pos_cnt != 2)
        return ctl_usage("schema diff: expected OLD NEW, or NEW --subject S");
    if (a->subject && !(client = ctl_schema_client(conf)))
        goto out;
    old = a->subject ? ctl_subject_schema(client, a->subject, a->version)
                     : ctl_schema_load(a->pos[0]);
    cand = old ? ctl_schema_load(a->pos[a->pos_cnt - 1]) : NULL;
    if (!cand || av_diff(old, cand, ctl_diff_line, changes) < 0)
        goto out;
    rc = a->subject
             ? ctl_verdict_registry(client, a->subject, a->version, cand, &v)
             : ctl_verdict_offline(cand, &old, 1, a->level, &v);
    if (rc)
        goto out;
    if (!mw_conf_get_bool(conf, "json"))
        ctl_diff_print(changes);
    ctl_verdict_print(&v, changes, mw_conf_get_bool(conf, "json"));
    rc = v.compatible ? 0 : 1;
out:
    json_decref(v.messages);
    json_decref(changes);
    av_schema_release(old);
    av_schema_release(cand);
    sr_client_destroy(client);
    return rc;
}

static int ctl_schema_check(const mw_conf_t *conf, const ctl_schema_args_t *a)
{
    av_schema_t *prev[CTL_AGAINST_MAX] = {0}, *cand = NULL;
    sr_client_t *client = NULL;
    ctl_verdict_t v = {0};
    size_t n = 0;
    int rc = 1;

    if (a->pos_cnt != 1 || (!a->subject == !a->against_cnt))
        return ctl_usage("schema check: expected NEW and either --against "
                         "OLD... or --subject S");
    if (!(cand = ctl_schema_load(a->pos[0])))
        return 1;
    if (a->subject) {
        if ((client = ctl_schema_client(conf)))
            rc = ctl_verdict_registry(client, a->subject, a->version, cand, &v);
    } else {
        for (n = 0; n < a->against_cnt; n++)
            if (!(prev[n] = ctl_schema_load(a->against[n])))
                goto out;
        rc = ctl_verdict_offline(cand, prev, n, a->level, &v);
    }
    if (rc == 0) {
        ctl_verdict_print(&v, NULL, mw_conf_get_bool(conf, "json"));
        rc = v.compatible ? 0 : 1;
    }
out:
    for (size_t i = 0; i < n; i++)
        av_schema_release(prev[i]);
    json_decref(v.messages);
    av_schema_release(cand);
    sr_client_destroy(client);
    return rc;
}

/* ------------------------------------------------------------ registry */

/* One call; prints the answer with print (or as JSON), or the error. */
static int ctl_schema_call(const mw_conf_t *conf, const char *method,
                           const char *path, json_t *body,
                           void (*print)(const json_t *ans))
{
    sr_client_t *client = ctl_schema_client(conf);
    json_t *ans = NULL;
    mw_err_t err;
    int rc;

    if (!client) {
        json_decref(body);
        return 1;
    }
    rc = sr_client_call(client, method, path, body, &ans, &err);
    if (rc)
        ctl_out_error(path, &err);
    else if (mw_conf_get_bool(conf, "json") || !print)
        ctl_out_json(stdout, json_incref(ans));
    else
        print(ans);
    json_decref(ans);
    json_decref(body);
    sr_client_destroy(client);
    return rc ? 1 : 0;
}

static void ctl_print_lines(const json_t *ans)
{
    size_t i;
    json_t *v;

    json_array_foreach(ans, i, v)
    {
        if (json_is_string(v))
            printf("%s\n", json_string_value(v));
        else
            printf("%lld\n", (long long)json_integer_value(v));
    }
}

static void ctl_print_schema(const json_t *ans)
{
    printf("%s\n", json_string_value(json_object_get(ans, "schema")));
}

static void ctl_print_schema_list(const json_t *ans)
{
    enum { COLS = 3 };
    static const char *const headers[COLS] = {"SUBJECT", "VERSION", "ID"};
    size_t n = json_array_size(ans), i;
    const char **cells = calloc(n * COLS + 1, sizeof(*cells));
    char(*nums)[2][24] = calloc(n + 1, sizeof(*nums));
    json_t *e;

    if (!cells || !nums)
        goto out;
    json_array_foreach(ans, i, e)
    {
        snprintf(nums[i][0], sizeof(nums[i][0]), "%lld",
                 (long long)json_integer_value(json_object_get(e, "version")));
        snprintf(nums[i][1], sizeof(nums[i][1]), "%lld",
                 (long long)json_integer_value(json_object_get(e, "id")));
        cells[i * COLS] = json_string_value(json_object_get(e, "subject"));
        cells[i * COLS + 1] = nums[i][0];
        cells[i * COLS + 2] = nums[i][1];
    }
    ctl_out_table(stdout, headers, COLS, cells, n);
out:
    free(cells);
    free(nums);
}

static void ctl_print_registered(const json_t *ans)
{
    printf("id %lld\n",
           (long long)json_integer_value(json_object_get(ans, "id")));
}

static void ctl_print_setting(const json_t *ans)
{
    const char *k;
    json_t *v;

    json_object_foreach((json_t *)ans, k, v)
    {
        printf("%s\n", json_string_value(v));
    }
}

/* "/PREFIX/<encoded subject>SUFFIX", or NULL. */
static char *ctl_path(const char *prefix, const char *subject,
                      const char *suffix)
{
    char *enc = subject ? sr_client_encode(subject) : NULL, *path = NULL;

    if (asprintf(&path, "%s%s%s%s", prefix, subject ? "/" : "", enc ? enc : "",
                 suffix) < 0)
        path = NULL;
    free(enc);
    return path;
}

static int ctl_schema_register(const mw_conf_t *conf,
                               const ctl_schema_args_t *a)
{
    av_schema_t *sch;
    char *path;
    int rc;

    if (a->pos_cnt != 2)
        return ctl_usage("schema register: expected SUBJECT FILE");
    if (!(sch = ctl_schema_load(a->pos[1])))
        return 1;
    path = ctl_path("/subjects", a->pos[0], "/versions");
    rc =
        ctl_schema_call(conf, "POST", path,
                        json_pack("{s:s}", "schema", av_schema_normalized(sch)),
                        ctl_print_registered);
    free(path);
    av_schema_release(sch);
    return rc;
}

static int ctl_schema_get(const mw_conf_t *conf, const ctl_schema_args_t *a)
{
    char *path, suffix[64];
    int rc;

    if (a->id && !a->pos_cnt) {
        path = ctl_path("/schemas/ids", a->id, "");
    } else if (a->pos_cnt == 1 && !a->id) {
        snprintf(suffix, sizeof(suffix), "/versions/%s",
                 a->version ? a->version : "latest");
        path = ctl_path("/subjects", a->pos[0], suffix);
    } else {
        return ctl_usage("schema get: expected SUBJECT or --id ID");
    }
    rc = ctl_schema_call(conf, "GET", path, NULL, ctl_print_schema);
    free(path);
    return rc;
}

static int ctl_schema_list(const mw_conf_t *conf, const ctl_schema_args_t *a,
                           bool subjects)
{
    char *enc = a->prefix ? sr_client_encode(a->prefix) : NULL, path[1200];
    int rc;

    if (a->pos_cnt)
        return ctl_usage("unexpected argument '%s'", a->pos[0]);
    snprintf(path, sizeof(path), "/%s?deleted=%s%s%s",
             subjects ? "subjects" : "schemas", a->deleted ? "true" : "false",
             enc ? "&subjectPrefix=" : "", enc ? enc : "");
    free(enc);
    rc = ctl_schema_call(conf, "GET", path, NULL,
                         subjects ? ctl_print_lines : ctl_print_schema_list);
    return rc;
}

/* Deletes (soft, then with --permanent hard: the registry wants both). */
static int ctl_schema_delete(const mw_conf_t *conf, const ctl_schema_args_t *a)
{
    char suffix[64] = "", *path, *hard = NULL;
    int rc;

    if (a->pos_cnt != 1)
        return ctl_usage("schema delete: expected SUBJECT");
    if (a->version)
        snprintf(suffix, sizeof(suffix), "/versions/%s", a->version);
    path = ctl_path("/subjects", a->pos[0], suffix);
    rc = ctl_schema_call(conf, "DELETE", path, NULL, ctl_print_lines);
    if (rc == 0 && a->permanent &&
        asprintf(&hard, "%s?permanent=true", path) > 0)
        rc = ctl_schema_call(conf, "DELETE", hard, NULL, ctl_print_lines);
    free(hard);
    free(path);
    return rc;
}

int ctl_schema_main(const mw_conf_t *conf, int argc, char **argv)
{
    ctl_schema_args_t a = {0};
    const char *sub = argc > 1 ? argv[1] : "";
    int rc;

    if (ctl_out_wants_help(argc, argv)) {
        fputs(ctl_schema_usage, stdout);
        return 0;
    }
    if ((rc = ctl_schema_parse(argc - 1, argv + 1, &a)))
        return rc;
    if (!strcmp(sub, "register"))
        return ctl_schema_register(conf, &a);
    if (!strcmp(sub, "get"))
        return ctl_schema_get(conf, &a);
    if (!strcmp(sub, "list"))
        return ctl_schema_list(conf, &a, false);
    if (!strcmp(sub, "diff"))
        return ctl_schema_diff(conf, &a);
    if (!strcmp(sub, "check"))
        return ctl_schema_check(conf, &a);
    if (!strcmp(sub, "delete"))
        return ctl_schema_delete(conf, &a);
    return ctl_usage("schema: unknown or missing sub-command '%s'", sub);
}

/* subject config|mode [SUBJECT] [--set VALUE] */
static int ctl_subject_setting(const mw_conf_t *conf,
                               const ctl_schema_args_t *a, bool mode)
{
    const char *subject = a->pos_cnt ? a->pos[0] : NULL;
    char *path;
    int rc;

    if (a->pos_cnt > 1)
        return ctl_usage("unexpected argument '%s'", a->pos[1]);
    path = ctl_path(mode ? "/mode" : "/config", subject,
                    subject && !a->set ? "?defaultToGlobal=true" : "");
    rc = ctl_schema_call(
        conf, a->set ? "PUT" : "GET", path,
        a->set ? json_pack("{s:s}", mode ? "mode" : "compatibility", a->set)
               : NULL,
        ctl_print_setting);
    free(path);
    return rc;
}

int ctl_schema_subject_main(const mw_conf_t *conf, int argc, char **argv)
{
    ctl_schema_args_t a = {0};
    const char *sub = argc > 1 ? argv[1] : "";
    char *path;
    int rc;

    if (ctl_out_wants_help(argc, argv)) {
        fputs(ctl_schema_usage, stdout);
        return 0;
    }
    if ((rc = ctl_schema_parse(argc - 1, argv + 1, &a)))
        return rc;
    if (!strcmp(sub, "list"))
        return ctl_schema_list(conf, &a, true);
    if (!strcmp(sub, "config") || !strcmp(sub, "mode"))
        return ctl_subject_setting(conf, &a, !strcmp(sub, "mode"));
    if (strcmp(sub, "versions"))
        return ctl_usage("subject: unknown or missing sub-command '%s'", sub);
    if (a.pos_cnt != 1)
        return ctl_usage("subject versions: expected SUBJECT");
    path = ctl_path("/subjects", a.pos[0], "/versions");
    rc = ctl_schema_call(conf, "GET", path, NULL, ctl_print_lines);
    free(path);
    return rc;
}
