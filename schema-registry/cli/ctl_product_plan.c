/*
 * ctl_product_plan: `product plan` and `product apply` for one product.
 *
 * Both start with the same plan, built by reading only:
 *   1. each topic port: the topic exists with the descriptor's partitions
 *      and configs (nothing to do), exists otherwise (refused: apply never
 *      changes an existing topic), or is missing (create it);
 *   2. each schema of each topic port: already registered under its
 *      subject (nothing to do), new in a new subject (version 1), or new
 *      in an existing subject, checked with the registry's own
 *      compatibility check of the subject's level; an incompatible schema
 *      refuses the whole plan with Confluent's reasons and names the way
 *      forward (a new major version, i.e. a new topic beside the old one);
 *      a subject whose mode refuses registrations (READONLY, IMPORT) is
 *      refused here too, rather than half-way through apply;
 *   3. the catalog entry: equal to what the catalog holds (nothing to do)
 *      or new/changed (record it).
 * Every check runs before any change, so a refusal changes nothing.
 *
 * Apply then carries the changes out in that order: topics first (the step
 * a cluster most often refuses, and the one whose failure leaves nothing
 * behind when it is the first), then schemas, then the catalog, so the
 * catalog never names a topic or a schema that does not exist.  A failure
 * half-way stops there and prints the steps done, the steps not done, how
 * to finish (apply is idempotent: run it again, done steps are seen as
 * done) and how to undo each step done.  An apply with nothing to change
 * says so and changes nothing.
 *
 * Main thread; the registry and admin calls block, bounded by their
 * timeouts.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctl_out.h"
#include "ctl_product_int.h"
#include "sr_proto.h"

#define CTL_PLAN_MAX 64

typedef enum ctl_step_kind {
    CTL_STEP_TOPIC = 0,
    CTL_STEP_SCHEMA,
    CTL_STEP_CATALOG,
} ctl_step_kind_t;

typedef struct ctl_step {
    ctl_step_kind_t kind;
    bool change; /* false: already as the descriptor says */
    bool done;   /* apply carried it out */
    const dp_output_t *out;
    const dp_schema_t *schema; /* CTL_STEP_SCHEMA */
    bool is_key;
    char subject[512];
    int version; /* schema: the existing one, or the one registered */
    uint32_t id;
} ctl_step_t;

typedef struct ctl_plan {
    const ctl_product_env_t *env;
    const dp_product_t *prod;
    ctl_step_t steps[CTL_PLAN_MAX];
    size_t cnt;
    json_t *entry; /* the catalog entry to record */
    /* The registry's reasons for refusing a schema (Confluent's verbose
     * messages, one per line), printed below the refusal: too long for
     * one error message. */
    char reasons[8192];
} ctl_plan_t;

static ctl_step_t *ctl_plan_add(ctl_plan_t *plan, ctl_step_kind_t kind,
                                const dp_output_t *out)
{
    ctl_step_t *s;

    if (plan->cnt == CTL_PLAN_MAX)
        return NULL;
    s = &plan->steps[plan->cnt++];
    memset(s, 0, sizeof(*s));
    s->kind = kind;
    s->out = out;
    return s;
}

/* ------------------------------------------------------------ checks */

/* The value of config key in info, or NULL. */
static const char *ctl_topic_config(const bk_topic_info_t *info,
                                    const char *key)
{
    for (size_t i = 0; i < info->config_cnt; i++)
        if (!strcmp(info->configs[i].key, key))
            return info->configs[i].value;
    return NULL;
}

/* A topic that exists must be the descriptor's: the same partitions and,
 * where the descriptor sets them, the same configs. */
static int ctl_plan_topic_same(const ctl_plan_t *plan, const dp_output_t *out,
                               const bk_topic_info_t *info, mw_err_t *err)
{
    char want[32];
    const char *have;

    if (info->partitions != out->partitions)
        return dp_product_err(
            plan->prod, out->pos, err, MW_ERR_INVALID,
            "output port '%s': topic %s exists with %d partitions, the "
            "descriptor says %d; apply does not change an existing topic: "
            "change the descriptor or the topic",
            out->name, out->topic, info->partitions, out->partitions);
    if (out->retention_ms) {
        snprintf(want, sizeof(want), "%lld", out->retention_ms);
        have = ctl_topic_config(info, "retention.ms");
        if (!have || strcmp(have, want))
            return dp_product_err(
                plan->prod, out->pos, err, MW_ERR_INVALID,
                "output port '%s': topic %s exists with retention.ms=%s, the "
                "descriptor says %s; apply does not change an existing topic",
                out->name, out->topic, have ? have : "(broker default)", want);
    }
    have = ctl_topic_config(info, "cleanup.policy");
    if (out->cleanup_policy && (!have || strcmp(have, out->cleanup_policy)))
        return dp_product_err(
            plan->prod, out->pos, err, MW_ERR_INVALID,
            "output port '%s': topic %s exists with cleanup.policy=%s, the "
            "descriptor says %s; apply does not change an existing topic",
            out->name, out->topic, have ? have : "(broker default)",
            out->cleanup_policy);
    return 0;
}

static int ctl_plan_topic(ctl_plan_t *plan, const dp_output_t *out,
                          mw_err_t *err)
{
    ctl_step_t *s = ctl_plan_add(plan, CTL_STEP_TOPIC, out);
    bk_topic_info_t *info = NULL;
    int rc;

    if (!s)
        return mw_err_set(err, MW_ERR_FULL, "more than %d steps", CTL_PLAN_MAX);
    rc = bk_admin_describe_topic(plan->env->admin, out->topic, &info, err);
    if (rc == MW_ERR_NOT_FOUND) {
        s->change = true;
        return 0;
    }
    if (rc == 0)
        rc = ctl_plan_topic_same(plan, out, info, err);
    bk_topic_info_destroy(info);
    return rc;
}

/* Confluent's verbose reasons of an incompatible answer, one per line
 * ("  reason: ..."), without the old schema's text, which is long and is
 * the registry's latest version anyway. */
static void ctl_plan_reasons(const json_t *ans, char *buf, size_t cap)
{
    size_t i, off = 0;
    json_t *m;

    buf[0] = '\0';
    json_array_foreach(json_object_get(ans, "messages"), i, m)
    {
        const char *s = json_string_value(m);
        if (s && strncmp(s, "{oldSchema:", 11) && off < cap)
            off += (size_t)snprintf(buf + off, cap - off, "  reason: %s\n", s);
    }
}

/* A schema not yet in its existing subject: the registry's registration
 * check decides. */
static int ctl_plan_compat(ctl_plan_t *plan, ctl_step_t *s, mw_err_t *err)
{
    char *enc = sr_client_encode(s->subject), *path = NULL;
    json_t *body = json_pack("{s:s}", "schema", s->schema->text), *ans = NULL;
    int rc;

    if (!enc || !body ||
        asprintf(&path, "/compatibility/subjects/%s/versions?verbose=true",
                 enc) < 0) {
        free(enc);
        json_decref(body);
        return mw_err_set(err, MW_ERR_NOMEM, "out of memory");
    }
    rc = sr_client_call(plan->env->client, "POST", path, body, &ans, err);
    if (rc == 0 && !json_is_true(json_object_get(ans, "is_compatible"))) {
        ctl_plan_reasons(ans, plan->reasons, sizeof(plan->reasons));
        rc = dp_product_err(
            plan->prod, s->schema->pos, err, MW_ERR_INVALID,
            "output port '%s': breaking change to subject %s, refused by the "
            "registry (reasons below). A breaking change needs a new major "
            "version: set 'version: %d' in the descriptor, which publishes "
            "topic %s.%s.v%d beside %s",
            s->out->name, s->subject, dp_product_version(plan->prod) + 1,
            dp_product_domain(plan->prod), dp_product_name(plan->prod),
            dp_product_version(plan->prod) + 1, s->out->topic);
    }
    json_decref(ans);
    json_decref(body);
    free(path);
    free(enc);
    return rc;
}

/* A new schema's subject must take registrations: its mode (its own, else
 * the global one) is READWRITE. */
static int ctl_plan_mode(ctl_plan_t *plan, const ctl_step_t *s, mw_err_t *err)
{
    char *enc = sr_client_encode(s->subject), *path = NULL;
    json_t *ans = NULL;
    const char *mode;
    int rc;

    if (!enc || asprintf(&path, "/mode/%s?defaultToGlobal=true", enc) < 0) {
        free(enc);
        return mw_err_set(err, MW_ERR_NOMEM, "out of memory");
    }
    rc = sr_client_call(plan->env->client, "GET", path, NULL, &ans, err);
    mode = json_string_value(json_object_get(ans, "mode"));
    if (rc == 0 && mode && strcmp(mode, "READWRITE"))
        rc = dp_product_err(
            plan->prod, s->schema->pos, err, MW_ERR_INVALID,
            "output port '%s': subject %s is in mode %s and takes no "
            "registration; nothing was changed (meshctl subject mode %s "
            "--set READWRITE lifts it)",
            s->out->name, s->subject, mode, s->subject);
    json_decref(ans);
    free(path);
    free(enc);
    return rc;
}

static int ctl_plan_schema(ctl_plan_t *plan, const dp_output_t *out,
                           const dp_schema_t *schema, bool is_key,
                           mw_err_t *err)
{
    ctl_step_t *s;
    int rc;

    if (!schema)
        return 0;
    if (!(s = ctl_plan_add(plan, CTL_STEP_SCHEMA, out)))
        return mw_err_set(err, MW_ERR_FULL, "more than %d steps", CTL_PLAN_MAX);
    s->schema = schema;
    s->is_key = is_key;
    dp_output_subject(out, is_key, s->subject, sizeof(s->subject));
    rc = sr_client_lookup(plan->env->client, s->subject, schema->text, &s->id,
                          &s->version, err);
    if (rc != MW_ERR_NOT_FOUND)
        return rc;
    s->change = true;
    /* 40401: no such subject yet, version 1 without any check; 40403: the
     * subject has other schemas, the new one must be compatible. */
    if (sr_client_last_error_code() != SR_PROTO_E_SUBJECT_NOT_FOUND &&
        (rc = ctl_plan_compat(plan, s, err)))
        return rc;
    return ctl_plan_mode(plan, s, err);
}

/* The catalog's entry without what the registry adds to it (versions,
 * live port status), for comparing with the one to record. */
static void ctl_plan_strip(json_t *current)
{
    size_t i;
    json_t *port;

    json_object_del(current, "versions");
    json_object_del(current, "materializers");
    json_array_foreach(json_object_get(current, "output_ports"), i, port)
    {
        json_object_del(port, "status");
    }
}

/* Writes the schemas' ids and versions into the entry to record. */
static void ctl_plan_fill_ids(ctl_plan_t *plan)
{
    json_t *ports = json_object_get(plan->entry, "output_ports");

    for (size_t i = 0; i < plan->cnt; i++) {
        const ctl_step_t *s = &plan->steps[i];
        size_t k;
        json_t *p, *sch;
        if (s->kind != CTL_STEP_SCHEMA || !s->id)
            continue;
        json_array_foreach(ports, k, p)
        {
            if (strcmp(json_string_value(json_object_get(p, "name")),
                       s->out->name))
                continue;
            sch = json_object_get(p, s->is_key ? "key_schema" : "value_schema");
            json_object_set_new(sch, "id", json_integer(s->id));
            json_object_set_new(sch, "version", json_integer(s->version));
        }
    }
}

static int ctl_plan_catalog(ctl_plan_t *plan, mw_err_t *err)
{
    ctl_step_t *s = ctl_plan_add(plan, CTL_STEP_CATALOG, NULL);
    json_t *current = NULL;
    int rc;

    if (!s)
        return mw_err_set(err, MW_ERR_FULL, "more than %d steps", CTL_PLAN_MAX);
    if (!(plan->entry = dp_product_to_json(plan->prod)))
        return mw_err_set(err, MW_ERR_NOMEM, "out of memory");
    ctl_plan_fill_ids(plan);
    rc = sr_client_catalog_get(plan->env->client, dp_product_domain(plan->prod),
                               dp_product_name(plan->prod),
                               dp_product_version(plan->prod), &current, err);
    if (rc == MW_ERR_NOT_FOUND) {
        s->change = true;
        return 0;
    }
    if (rc)
        return rc;
    ctl_plan_strip(current);
    s->change = !json_equal(current, plan->entry);
    json_decref(current);
    return 0;
}

static int ctl_plan_build(ctl_plan_t *plan, mw_err_t *err)
{
    const dp_product_t *prod = plan->prod;
    int rc;

    for (size_t i = 0; i < dp_product_output_cnt(prod); i++) {
        const dp_output_t *out = dp_product_output(prod, i);
        if (out->kind == DP_OUTPUT_TOPIC &&
            (rc = ctl_plan_topic(plan, out, err)))
            return rc;
    }
    for (size_t i = 0; i < dp_product_output_cnt(prod); i++) {
        const dp_output_t *out = dp_product_output(prod, i);
        if (out->kind != DP_OUTPUT_TOPIC)
            continue;
        if ((rc = ctl_plan_schema(plan, out, out->key_schema, true, err)) ||
            (rc = ctl_plan_schema(plan, out, out->value_schema, false, err)))
            return rc;
    }
    return ctl_plan_catalog(plan, err);
}

/* ------------------------------------------------------------ output */

static const char *const ctl_step_names[] = {"topic", "schema", "catalog"};

static void ctl_step_text(const ctl_plan_t *plan, const ctl_step_t *s,
                          char *buf, size_t cap)
{
    const dp_output_t *o = s->out;

    char retention[48] = "";

    if (s->kind == CTL_STEP_TOPIC && o->retention_ms)
        snprintf(retention, sizeof(retention), ", retention.ms=%lld",
                 o->retention_ms);
    if (s->kind == CTL_STEP_TOPIC)
        snprintf(buf, cap, "topic %s (%d partition%s%s%s%s)", o->topic,
                 o->partitions, o->partitions == 1 ? "" : "s", retention,
                 o->cleanup_policy ? ", cleanup.policy=" : "",
                 o->cleanup_policy ? o->cleanup_policy : "");
    else if (s->kind == CTL_STEP_SCHEMA && s->version)
        snprintf(buf, cap, "schema %s version %d (id %u)", s->subject,
                 s->version, s->id);
    else if (s->kind == CTL_STEP_SCHEMA)
        snprintf(buf, cap, "schema %s (new version)", s->subject);
    else
        snprintf(buf, cap, "catalog entry %s", dp_product_ref(plan->prod));
}

static json_t *ctl_step_json(const ctl_plan_t *plan, const ctl_step_t *s)
{
    json_t *o = json_pack("{s:s,s:b,s:b}", "step", ctl_step_names[s->kind],
                          "change", s->change, "done", s->done);

    if (s->kind == CTL_STEP_TOPIC) {
        json_object_set_new(o, "topic", json_string(s->out->topic));
        json_object_set_new(o, "partitions", json_integer(s->out->partitions));
    } else if (s->kind == CTL_STEP_SCHEMA) {
        json_object_set_new(o, "subject", json_string(s->subject));
        if (s->version) {
            json_object_set_new(o, "version", json_integer(s->version));
            json_object_set_new(o, "id", json_integer(s->id));
        }
    } else {
        json_object_set_new(o, "product",
                            json_string(dp_product_ref(plan->prod)));
    }
    return o;
}

static size_t ctl_plan_changes(const ctl_plan_t *plan)
{
    size_t n = 0;

    for (size_t i = 0; i < plan->cnt; i++)
        n += plan->steps[i].change;
    return n;
}

static void ctl_plan_print(const ctl_plan_t *plan, bool applied)
{
    size_t changes = ctl_plan_changes(plan);
    char text[1024];

    if (plan->env->json) {
        json_t *steps = json_array();
        for (size_t i = 0; i < plan->cnt; i++)
            json_array_append_new(steps, ctl_step_json(plan, &plan->steps[i]));
        ctl_out_json(stdout,
                     json_pack("{s:s,s:s,s:b,s:i,s:o}", "product",
                               dp_product_ref(plan->prod), "file",
                               dp_product_file(plan->prod), "applied", applied,
                               "changes", (int)changes, "steps", steps));
        return;
    }
    printf("product %s (%s)\n", dp_product_ref(plan->prod),
           dp_product_file(plan->prod));
    for (size_t i = 0; i < plan->cnt; i++) {
        const ctl_step_t *s = &plan->steps[i];
        ctl_step_text(plan, s, text, sizeof(text));
        printf("  %c %s%s\n", s->change ? '+' : '=', text,
               s->change ? "" : " (unchanged)");
    }
    if (!changes)
        printf("No changes: product %s is up to date.\n",
               dp_product_ref(plan->prod));
    else if (applied)
        printf("Apply complete: %zu change%s.\n", changes,
               changes == 1 ? "" : "s");
    else
        printf("Plan: %zu change%s, %zu unchanged.\n", changes,
               changes == 1 ? "" : "s", plan->cnt - changes);
}

/* How to take back a step that was done. */
static void ctl_step_undo(const ctl_plan_t *plan, const ctl_step_t *s)
{
    if (s->kind == CTL_STEP_TOPIC)
        fprintf(stderr,
                "  delete topic %s (kafka-topics.sh --delete --topic %s)\n",
                s->out->topic, s->out->topic);
    else if (s->kind == CTL_STEP_SCHEMA)
        fprintf(stderr, "  meshctl schema delete %s --version %d --permanent\n",
                s->subject, s->version);
    else
        fprintf(stderr,
                "  curl -X DELETE '%s/catalog/products/%s/%s?version=%d'\n",
                plan->env->registry_url, dp_product_domain(plan->prod),
                dp_product_name(plan->prod), dp_product_version(plan->prod));
}

/* The report of an apply that stopped at step failed. */
static void ctl_plan_report_failure(const ctl_plan_t *plan, size_t failed,
                                    const mw_err_t *err)
{
    char text[1024];
    size_t done = 0;

    ctl_step_text(plan, &plan->steps[failed], text, sizeof(text));
    fprintf(stderr, "meshctl: product apply %s: failed at %s: %s\n",
            dp_product_ref(plan->prod), text, err->msg);
    for (size_t i = 0; i < plan->cnt; i++)
        done += plan->steps[i].done;
    fprintf(stderr, "Done before the failure:%s\n", done ? "" : " nothing");
    for (size_t i = 0; i < plan->cnt; i++)
        if (plan->steps[i].done) {
            ctl_step_text(plan, &plan->steps[i], text, sizeof(text));
            fprintf(stderr, "  + %s\n", text);
        }
    fprintf(stderr, "Not done:\n");
    for (size_t i = failed; i < plan->cnt; i++)
        if (plan->steps[i].change) {
            ctl_step_text(plan, &plan->steps[i], text, sizeof(text));
            fprintf(stderr, "  - %s\n", text);
        }
    fprintf(stderr,
            "To finish: remove the cause and run 'meshctl product "
            "apply %s' again; what is done is seen as done.\n",
            dp_product_file(plan->prod));
    if (!done)
        return;
    fprintf(stderr, "To undo what was done:\n");
    for (size_t i = plan->cnt; i-- > 0;)
        if (plan->steps[i].done)
            ctl_step_undo(plan, &plan->steps[i]);
}

/* ------------------------------------------------------------ apply */

static int ctl_step_do(ctl_plan_t *plan, ctl_step_t *s, mw_err_t *err)
{
    const dp_output_t *o = s->out;
    bk_kv_t cfg[2];
    char retention[32];
    size_t n = 0;
    int rc;

    if (s->kind == CTL_STEP_TOPIC) {
        if (o->retention_ms) {
            snprintf(retention, sizeof(retention), "%lld", o->retention_ms);
            cfg[n++] = (bk_kv_t){.key = "retention.ms", .value = retention};
        }
        if (o->cleanup_policy)
            cfg[n++] = (bk_kv_t){.key = "cleanup.policy",
                                 .value = (char *)o->cleanup_policy};
        return bk_admin_create_topic(
            plan->env->admin,
            &(bk_topic_spec_t){.name = o->topic,
                               .partitions = o->partitions,
                               .replication = o->replication
                                                  ? o->replication
                                                  : BK_REPLICATION_DEFAULT,
                               .configs = n ? cfg : NULL,
                               .config_cnt = n},
            err);
    }
    if (s->kind == CTL_STEP_SCHEMA) {
        if ((rc = sr_client_register(plan->env->client, s->subject,
                                     s->schema->text, &s->id, err)))
            return rc;
        rc = sr_client_lookup(plan->env->client, s->subject, s->schema->text,
                              NULL, &s->version, err);
        ctl_plan_fill_ids(plan);
        return rc;
    }
    return sr_client_catalog_put(plan->env->client, plan->entry, err);
}

static int ctl_plan_apply(ctl_plan_t *plan)
{
    char text[1024];
    mw_err_t err;

    for (size_t i = 0; i < plan->cnt; i++) {
        ctl_step_t *s = &plan->steps[i];
        if (!s->change)
            continue;
        if (ctl_step_do(plan, s, &err) != 0) {
            ctl_plan_report_failure(plan, i, &err);
            return 1;
        }
        s->done = true;
        if (!plan->env->json) {
            ctl_step_text(plan, s, text, sizeof(text));
            fprintf(stderr, "meshctl: done: %s\n", text);
        }
    }
    return 0;
}

int ctl_product_plan_run(const ctl_product_env_t *env, const dp_product_t *prod,
                         bool apply)
{
    ctl_plan_t plan = {.env = env, .prod = prod};
    mw_err_t err;
    int rc = 0;

    if (ctl_plan_build(&plan, &err) != 0) {
        fprintf(stderr, "meshctl: product %s %s: %s\n%s",
                apply ? "apply" : "plan", dp_product_ref(prod), err.msg,
                plan.reasons);
        rc = 1;
    } else if (apply && ctl_plan_changes(&plan)) {
        rc = ctl_plan_apply(&plan);
    }
    if (rc == 0)
        ctl_plan_print(&plan, apply);
    json_decref(plan.entry);
    return rc;
}
