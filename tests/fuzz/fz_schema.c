/*
 * fz_schema: the Avro schema parser (av_schema_parse) and the two forms
 * the registry derives from a schema.  Input: one schema text.  When it
 * parses, the target checks what av_schema.h promises:
 *   1. the normalised text parses again, and normalising that gives the
 *      same text (normalisation is idempotent);
 *   2. the reparsed schema has the same canonical form and fingerprint
 *      (normalising keeps everything canonicalisation looks at);
 *   3. the canonical form parses, and its canonical form is itself --
 *      unless a named type without a namespace sits beside one with a
 *      namespace: the Parsing Canonical Form drops "namespace" and writes
 *      full names, so a reader takes the bare name "F" inside "n1.Outer"
 *      for "n1.F".  That is the specification's form (Java writes the
 *      same), not a promise of av_schema.h, so it is not checked there.
 */
#include "fz.h"

#include "av_schema.h"

/* What the walk of the graph found, for property 3. */
typedef struct spaces {
    const av_node_t *seen[1024]; /* named nodes visited (cycles) */
    size_t seen_cnt;
    int bare, spaced; /* a named type without / with a namespace */
} spaces_t;

static void walk(const av_node_t *n, spaces_t *sp)
{
    if (!n)
        return;
    if (n->fullname) {
        for (size_t i = 0; i < sp->seen_cnt; i++)
            if (sp->seen[i] == n)
                return;
        if (sp->seen_cnt == sizeof(sp->seen) / sizeof(sp->seen[0])) {
            sp->bare = sp->spaced = 1; /* too many to tell: do not check */
            return;
        }
        sp->seen[sp->seen_cnt++] = n;
        if (n->space && n->space[0])
            sp->spaced = 1;
        else
            sp->bare = 1;
    }
    for (size_t i = 0; i < n->field_cnt; i++)
        walk(n->fields[i].type, sp);
    for (size_t i = 0; i < n->branch_cnt; i++)
        walk(n->branches[i], sp);
    walk(n->items, sp);
    walk(n->values, sp);
}

static av_schema_t *reparse(const char *text, const char *what)
{
    mw_err_t err = {0};
    av_schema_t *s = av_schema_parse(text, strlen(text), NULL, 0, &err);

    if (!s)
        fz_fail("the %s form does not parse: %s: %s", what, err.msg, text);
    return s;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    mw_err_t err = {0};
    char *text = fz_dup((const char *)data, size);
    av_schema_t *s = av_schema_parse(text, size, NULL, 0, &err);

    free(text);
    if (!s)
        return 0;
    const char *norm = av_schema_normalized(s);
    const char *canon = av_schema_canonical(s);
    if (!norm || !canon)
        fz_fail("no normalised or canonical form");
    av_schema_t *n = reparse(norm, "normalised");
    if (strcmp(av_schema_normalized(n), norm))
        fz_fail("normalising twice differs: '%s' then '%s'", norm,
                av_schema_normalized(n));
    if (strcmp(av_schema_canonical(n), canon) ||
        av_schema_fingerprint(n) != av_schema_fingerprint(s))
        fz_fail("the normalised form's canonical form differs: '%s' vs '%s'",
                canon, av_schema_canonical(n));
    spaces_t *sp = calloc(1, sizeof(*sp));
    if (!sp)
        fz_fail("out of memory");
    walk(av_schema_root(s), sp);
    if (!(sp->bare && sp->spaced)) {
        av_schema_t *c = reparse(canon, "canonical");
        if (strcmp(av_schema_canonical(c), canon))
            fz_fail("canonicalising twice differs: '%s' then '%s'", canon,
                    av_schema_canonical(c));
        av_schema_release(c);
    }
    free(sp);
    av_schema_release(n);
    av_schema_release(s);
    return 0;
}
