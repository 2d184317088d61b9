/*
 * gov_hook: policies as a dp_check_t (see gov_hook.h).
 *
 * The paths the engine reports for a product start with
 * "$.output_ports[N]" for what belongs to a port; the rest name the
 * product's own keys ("$.owner.contact").  Positions are mapped from the
 * port (dp_output_t.pos), its key or value schema (dp_schema_t.pos) and a
 * field the descriptor describes (dp_field_t.pos); a field the descriptor
 * does not describe has no position of its own, so its port's is given.
 *
 * Any thread; a hook is used by one thread.
 */
#include "gov_hook.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define GOV_HOOK_WARN_MAX 1024

struct gov_hook {
    const gov_policy_t *pol;
    char **warnings;
    size_t warning_cnt;
};

gov_hook_t *gov_hook_new(const gov_policy_t *pol)
{
    gov_hook_t *hook = calloc(1, sizeof(*hook));

    if (hook)
        hook->pol = pol;
    return hook;
}

void gov_hook_destroy(gov_hook_t *hook)
{
    if (!hook)
        return;
    for (size_t i = 0; i < hook->warning_cnt; i++)
        free(hook->warnings[i]);
    free(hook->warnings);
    free(hook);
}

size_t gov_hook_warning_cnt(const gov_hook_t *hook)
{
    return hook->warning_cnt;
}

const char *gov_hook_warning(const gov_hook_t *hook, size_t i)
{
    return i < hook->warning_cnt ? hook->warnings[i] : NULL;
}

/* The position of a top-level field name of out's value schema, if the
 * descriptor describes it. */
static const dp_field_t *gov_hook_field(const dp_output_t *out,
                                        const char *path)
{
    const av_node_t *root;
    size_t k;

    if (sscanf(path, ".fields[%zu]", &k) != 1 || !out->value_schema)
        return NULL;
    root = av_schema_root(out->value_schema->parsed);
    if (root->type != AV_RECORD || k >= root->field_cnt)
        return NULL;
    for (size_t i = 0; i < out->field_cnt; i++)
        if (!strcmp(out->fields[i].name, root->fields[k].name))
            return &out->fields[i];
    return NULL;
}

dp_pos_t gov_hook_pos(const dp_product_t *prod, const char *path)
{
    const dp_output_t *out;
    const dp_field_t *f;
    const char *rest;
    size_t i;
    int n = 0;

    if (sscanf(path, "$.output_ports[%zu]%n", &i, &n) != 1 || n == 0 ||
        !(out = dp_product_output(prod, i)))
        return (dp_pos_t){.line = 1, .col = 1};
    rest = path + n;
    if (!strncmp(rest, ".value_schema", 13) && out->value_schema)
        return out->value_schema->pos;
    if (!strncmp(rest, ".key_schema", 11) && out->key_schema)
        return out->key_schema->pos;
    if ((f = gov_hook_field(out, rest)))
        return f->pos;
    return out->pos;
}

int gov_hook_check_product(const gov_policy_t *pol, const dp_product_t *prod,
                           gov_report_t *rep)
{
    json_t *entry = dp_product_to_json(prod);
    int rc;

    if (!entry)
        return MW_ERR_NOMEM;
    rc = gov_check_product(pol, entry, NULL, NULL, rep);
    json_decref(entry);
    return rc;
}

static int gov_hook_keep(gov_hook_t *hook, const dp_product_t *prod,
                         const gov_violation_t *v)
{
    dp_pos_t pos = gov_hook_pos(prod, v->path);
    char line[1024], **grown;

    if (hook->warning_cnt >= GOV_HOOK_WARN_MAX)
        return 0;
    grown = realloc(hook->warnings,
                    (hook->warning_cnt + 1) * sizeof(*hook->warnings));
    if (!grown)
        return MW_ERR_NOMEM;
    hook->warnings = grown;
    gov_report_line(v, line, sizeof(line));
    if (asprintf(&hook->warnings[hook->warning_cnt], "%s:%d:%d: %s",
                 dp_product_file(prod), pos.line, pos.col, line) < 0)
        return MW_ERR_NOMEM;
    hook->warning_cnt++;
    return 0;
}

static int gov_hook_run(void *opaque, const dp_product_t *prod,
                        const dp_product_t *const *mesh, size_t mesh_cnt,
                        mw_err_t *err)
{
    gov_hook_t *hook = opaque;
    gov_report_t *rep = gov_report_new();
    const gov_violation_t *first = NULL;
    size_t errors;
    char line[1024];
    int rc;

    (void)mesh;
    (void)mesh_cnt;
    if (!rep || gov_hook_check_product(hook->pol, prod, rep)) {
        gov_report_destroy(rep);
        return mw_err_set(err, MW_ERR_NOMEM, "out of memory");
    }
    errors = gov_report_sev_cnt(rep, GOV_SEV_ERROR);
    for (size_t i = 0; i < gov_report_cnt(rep); i++) {
        const gov_violation_t *v = gov_report_get(rep, i);
        if (v->severity == GOV_SEV_ERROR && !first)
            first = v;
        else if (v->severity == GOV_SEV_WARN && !errors &&
                 gov_hook_keep(hook, prod, v)) {
            gov_report_destroy(rep);
            return mw_err_set(err, MW_ERR_NOMEM, "out of memory");
        }
    }
    rc = 0;
    if (first) {
        gov_report_line(first, line, sizeof(line));
        if (errors > 1)
            rc = dp_product_err(prod, gov_hook_pos(prod, first->path), err,
                                MW_ERR_INVALID, "%s (and %zu more violations)",
                                line, errors - 1);
        else
            rc = dp_product_err(prod, gov_hook_pos(prod, first->path), err,
                                MW_ERR_INVALID, "%s", line);
    }
    gov_report_destroy(rep);
    return rc;
}

dp_check_t gov_hook_check(gov_hook_t *hook)
{
    return (dp_check_t){
        .name = "governance", .run = gov_hook_run, .opaque = hook};
}
