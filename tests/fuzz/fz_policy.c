/*
 * fz_policy: the YAML governance policy parser (gov_policy_add), what the
 * registry reads at start-up and on PUT /governance/policies/....  Input:
 * one or more policy documents separated by NUL bytes, added in order to
 * one set, so a domain policy meets the mesh policy it must not weaken.
 * Checks: no crash; a refusal has a message; a refused document leaves
 * the set's effective rules as they were.
 */
#include "fz.h"

#include "gov_policy.h"

/* Whether two effective rules are the same statement (fields compared one
 * by one: the struct's padding is not the set's to keep). */
static int same_rule(const gov_rule_t *a, const gov_rule_t *b)
{
    return a->on == b->on && a->severity == b->severity &&
           a->origin == b->origin && a->style == b->style &&
           a->list == b->list && a->list_cnt == b->list_cnt &&
           a->word == b->word && a->has_min == b->has_min &&
           a->has_max == b->has_max && a->min == b->min && a->max == b->max;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    gov_policy_t *pol = gov_policy_new();
    const char *part;
    size_t len;

    if (!pol)
        fz_fail("out of memory");
    while (fz_next(&data, &size, &part, &len)) {
        gov_rule_t before[GOV_RULE__CNT], after[GOV_RULE__CNT];
        mw_err_t err = {0};
        const char *scope = NULL;
        char *text = fz_dup(part, len);

        gov_policy_rules(pol, NULL, before);
        if (gov_policy_add(pol, text, len, "fuzz.yaml", &scope, &err) != 0) {
            if (!err.msg[0])
                fz_fail("a policy refused without a message");
            gov_policy_rules(pol, NULL, after);
            for (size_t i = 0; i < GOV_RULE__CNT; i++)
                if (!same_rule(&before[i], &after[i]))
                    fz_fail("a refused policy changed the mesh's rule %s",
                            gov_rule_name((gov_rule_id_t)i));
        } else if (!scope) {
            fz_fail("an accepted policy without a scope");
        }
        free(text);
    }
    gov_policy_destroy(pol);
    return 0;
}
