/*
 * dp_lineage: builds the mesh graph from catalog entries and renders it
 * (dp_lineage.h).
 *
 * DOT and Mermaid identifiers are derived from the node's position (n0,
 * n1, ...) rather than its id: ids hold '/', '@' and ':' which neither
 * language accepts bare, and labels are quoted with their own escaping
 * (DOT: backslash before '"' and '\'; Mermaid: '"' becomes #quot;).
 *
 * Any thread.
 */
#include "dp_lineage.h"

#include <stdbool.h>
#include <string.h>

int dp_lineage_format_parse(const char *name, dp_lineage_format_t *fmt,
                            mw_err_t *err)
{
    static const char *const names[] = {"json", "dot", "mermaid"};

    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
        if (!strcmp(name, names[i])) {
            *fmt = (dp_lineage_format_t)i;
            return 0;
        }
    return mw_err_set(err, MW_ERR_INVALID,
                      "format '%s': expected json, dot or mermaid", name);
}

/* The id of an input port's origin; adds a source node when new. */
static json_t *dp_lineage_origin(const json_t *in, json_t *nodes, json_t *seen)
{
    const char *ref = json_string_value(json_object_get(in, "product"));
    const char *kind = json_string_value(json_object_get(in, "source"));
    const char *loc = json_string_value(json_object_get(in, "location"));
    json_t *id;

    if (ref)
        return json_string(ref);
    id = json_sprintf("source:%s:%s", kind ? kind : "unknown", loc ? loc : "");
    if (id && !json_object_get(seen, json_string_value(id))) {
        json_array_append_new(nodes, json_pack("{s:O,s:s,s:s?,s:s?}", "id", id,
                                               "kind", "source", "source", kind,
                                               "location", loc));
        json_object_set_new(seen, json_string_value(id), json_true());
    }
    return id;
}

static void dp_lineage_product(const json_t *e, json_t *nodes, json_t *edges,
                               json_t *seen)
{
    const char *domain = json_string_value(json_object_get(e, "domain"));
    const char *name = json_string_value(json_object_get(e, "name"));
    json_int_t version = json_integer_value(json_object_get(e, "version"));
    json_t *owner = json_object_get(json_object_get(e, "owner"), "team");
    json_t *id, *in;
    size_t i;

    if (!domain || !name)
        return;
    id = json_sprintf("%s/%s@%lld", domain, name, (long long)version);
    json_array_append_new(
        nodes, json_pack("{s:O,s:s,s:s,s:s,s:I,s:O?,s:b}", "id", id, "kind",
                         "product", "domain", domain, "name", name, "version",
                         version, "owner", owner, "registered", 1));
    json_object_set_new(seen, json_string_value(id), json_true());
    json_array_foreach(json_object_get(e, "input_ports"), i, in)
    {
        json_array_append_new(
            edges, json_pack("{s:o,s:O,s:O?}", "from",
                             dp_lineage_origin(in, nodes, seen), "to", id,
                             "port", json_object_get(in, "name")));
    }
    json_decref(id);
}

json_t *dp_lineage_build(const json_t *entries)
{
    json_t *nodes = json_array(), *edges = json_array(), *seen = json_object();
    json_t *e;
    size_t i;

    json_array_foreach(entries, i, e)
    {
        dp_lineage_product(e, nodes, edges, seen);
    }
    json_array_foreach(edges, i, e)
    {
        const char *from = json_string_value(json_object_get(e, "from"));
        if (from && !json_object_get(seen, from)) {
            json_array_append_new(nodes,
                                  json_pack("{s:s,s:s,s:b}", "id", from, "kind",
                                            "product", "registered", 0));
            json_object_set_new(seen, from, json_true());
        }
    }
    json_decref(seen);
    return json_pack("{s:o,s:o}", "nodes", nodes, "edges", edges);
}

/* ------------------------------------------------------------ render */

/* Writes s quoted for fmt. */
static void dp_lineage_quote(FILE *out, const char *s, dp_lineage_format_t fmt)
{
    fputc('"', out);
    for (; s && *s; s++) {
        if (fmt == DP_LINEAGE_DOT && (*s == '"' || *s == '\\'))
            fputc('\\', out);
        if (fmt == DP_LINEAGE_MERMAID && *s == '"')
            fputs("#quot;", out);
        else if (*s == '\n')
            fputc(' ', out);
        else
            fputc(*s, out);
    }
    fputc('"', out);
}

/* Index of the node with id, or -1. */
static long dp_lineage_index(const json_t *nodes, const char *id)
{
    size_t i;
    json_t *n;

    json_array_foreach(nodes, i, n)
    {
        const char *nid = json_string_value(json_object_get(n, "id"));
        if (nid && id && !strcmp(nid, id))
            return (long)i;
    }
    return -1;
}

/* A node's label: its id, and the owner of a product. */
static void dp_lineage_label(const json_t *n, char *buf, size_t cap)
{
    const char *id = json_string_value(json_object_get(n, "id"));
    const char *owner = json_string_value(json_object_get(n, "owner"));

    if (owner)
        snprintf(buf, cap, "%s (%s)", id ? id : "?", owner);
    else
        snprintf(buf, cap, "%s", id ? id : "?");
}

static void dp_lineage_dot(const json_t *nodes, const json_t *edges, FILE *out)
{
    char label[600];
    size_t i;
    json_t *n;

    fputs(
        "digraph mesh {\n    rankdir=LR;\n    node [fontname=\"Helvetica\"];\n",
        out);
    json_array_foreach(nodes, i, n)
    {
        const char *kind = json_string_value(json_object_get(n, "kind"));
        bool source = kind && !strcmp(kind, "source");
        bool missing = json_is_false(json_object_get(n, "registered"));
        dp_lineage_label(n, label, sizeof(label));
        fprintf(out, "    n%zu [label=", i);
        dp_lineage_quote(out, label, DP_LINEAGE_DOT);
        fprintf(out, ", shape=%s%s];\n", source ? "cylinder" : "box",
                missing ? ", style=dashed" : "");
    }
    json_array_foreach(edges, i, n)
    {
        long from = dp_lineage_index(
            nodes, json_string_value(json_object_get(n, "from")));
        long to = dp_lineage_index(nodes,
                                   json_string_value(json_object_get(n, "to")));
        const char *port = json_string_value(json_object_get(n, "port"));
        if (from < 0 || to < 0)
            continue;
        fprintf(out, "    n%ld -> n%ld [label=", from, to);
        dp_lineage_quote(out, port ? port : "", DP_LINEAGE_DOT);
        fputs("];\n", out);
    }
    fputs("}\n", out);
}

static void dp_lineage_mermaid(const json_t *nodes, const json_t *edges,
                               FILE *out)
{
    char label[600];
    size_t i;
    json_t *n;

    fputs("flowchart LR\n", out);
    json_array_foreach(nodes, i, n)
    {
        const char *kind = json_string_value(json_object_get(n, "kind"));
        bool source = kind && !strcmp(kind, "source");
        dp_lineage_label(n, label, sizeof(label));
        fprintf(out, "    n%zu%s", i, source ? "[(" : "[");
        dp_lineage_quote(out, label, DP_LINEAGE_MERMAID);
        fputs(source ? ")]\n" : "]\n", out);
    }
    json_array_foreach(edges, i, n)
    {
        long from = dp_lineage_index(
            nodes, json_string_value(json_object_get(n, "from")));
        long to = dp_lineage_index(nodes,
                                   json_string_value(json_object_get(n, "to")));
        const char *port = json_string_value(json_object_get(n, "port"));
        if (from < 0 || to < 0)
            continue;
        fprintf(out, "    n%ld -->|", from);
        dp_lineage_quote(out, port ? port : "", DP_LINEAGE_MERMAID);
        fprintf(out, "| n%ld\n", to);
    }
}

int dp_lineage_render(const json_t *graph, dp_lineage_format_t fmt, FILE *out,
                      mw_err_t *err)
{
    const json_t *nodes = json_object_get(graph, "nodes");
    const json_t *edges = json_object_get(graph, "edges");

    if (!json_is_array(nodes) || !json_is_array(edges))
        return mw_err_set(err, MW_ERR_INVALID,
                          "lineage: expected an object with the arrays "
                          "'nodes' and 'edges'");
    if (fmt == DP_LINEAGE_JSON) {
        if (json_dumpf(graph, out, JSON_INDENT(2) | JSON_PRESERVE_ORDER))
            return mw_err_set(err, MW_ERR_IO, "lineage: write failed");
        fputc('\n', out);
    } else if (fmt == DP_LINEAGE_DOT) {
        dp_lineage_dot(nodes, edges, out);
    } else {
        dp_lineage_mermaid(nodes, edges, out);
    }
    if (fflush(out) != 0 || ferror(out))
        return mw_err_set(err, MW_ERR_IO, "lineage: write failed");
    return 0;
}
