/*
 * av_jtext_check.h: what the two av_jtext test files share — fixtures and
 * the contract check that runs a text through both paths (the transcoder
 * and the reference json_loadb + av_serde_json_to_avro) and asserts the
 * contract of av_jtext.h: when the transcoder accepts, the slow path
 * accepts with identical bytes; when the slow path rejects, the
 * transcoder does not accept; a declined text leaves the output buffer
 * untouched.  Test code only: included by test_av_jtext.c (hand cases)
 * and test_av_jtext_diff.c (the differential test).
 */
#ifndef AV_JTEXT_CHECK_H
#define AV_JTEXT_CHECK_H
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "mw_buf.h"
#include "mw_err.h"
#include "av_jtext.h"
#include "av_schema.h"
#include "av_serde.h"
#include "unit_av.h"

typedef struct fix {
    av_schema_t *schema;
    av_serde_plan_t *plan;
} fix_t;

__attribute__((unused)) static fix_t fix_new(const char *schema_text)
{
    fix_t f = {.schema = unit_schema(schema_text)};
    mw_err_t err = {0};
    f.plan = av_serde_plan_new(f.schema, NULL, &err);
    if (!f.plan)
        fail_msg("plan: %s", err.msg);
    return f;
}

__attribute__((unused)) static void fix_free(fix_t *f)
{
    av_serde_plan_destroy(f->plan);
    av_schema_release(f->schema);
}

/* The text with non-printable bytes as \xNN, for failure messages. */
__attribute__((unused)) static char *show(const char *s, size_t n)
{
    char *out = malloc(n * 4 + 1), *o = out;
    assert_non_null(out);
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c >= 0x20 && c < 0x7f && c != '\\')
            *o++ = (char)c;
        else
            o += sprintf(o, "\\x%02x", c);
    }
    *o = '\0';
    return out;
}

typedef struct stats {
    size_t same;     /* both accepted, identical bytes */
    size_t declined; /* slow path accepted, transcoder declined */
    size_t rejected; /* both refused */
} stats_t;

enum { ANY = 0, SAME, DECLINE, REJECT };

/* Runs both paths on text and checks the contract; want narrows the
 * expected outcome for hand cases.  Returns the outcome. */
__attribute__((unused)) static int agree_n(const av_serde_plan_t *plan,
                                           const char *text, size_t len,
                                           int want, stats_t *st,
                                           const char *ctx)
{
    mw_buf_t *slow = mw_buf_new(0), *fast = mw_buf_new(0);
    mw_err_t err = {0};
    json_error_t jerr;
    json_t *doc =
        json_loadb(text, len, JSON_DECODE_ANY | JSON_ALLOW_NUL, &jerr);
    int slow_ok = doc && av_serde_json_to_avro(plan, doc, slow, &err) == 0;
    json_decref(doc);
    assert_int_equal(mw_buf_append(fast, "HDR", 3), 0);
    mw_err_t ferr = {0};
    char *exact = malloc(len ? len : 1); /* ASan: no byte past len */
    assert_non_null(exact);
    memcpy(exact, text, len);
    int rc = av_jtext_encode(plan, exact, len, fast, &ferr);
    free(exact);
    int outcome;
    char *shown = show(text, len);
    if (rc == 0) {
        if (!slow_ok)
            fail_msg("%s: transcoder accepted what the slow path rejects "
                     "(%s): '%s'",
                     ctx, doc ? err.msg : jerr.text, shown);
        if (mw_buf_len(fast) != mw_buf_len(slow) + 3 ||
            memcmp(mw_buf_data(fast) + 3, mw_buf_data(slow),
                   mw_buf_len(slow)) != 0) {
            char *a = show(mw_buf_data(slow), mw_buf_len(slow));
            char *b = show(mw_buf_data(fast) + 3, mw_buf_len(fast) - 3);
            fail_msg("%s: different bytes for '%s': slow '%s' fast '%s'", ctx,
                     shown, a, b);
        }
        assert_memory_equal(mw_buf_data(fast), "HDR", 3);
        outcome = SAME;
        if (st)
            st->same++;
    } else {
        if (mw_buf_len(fast) != 3 || memcmp(mw_buf_data(fast), "HDR", 3))
            fail_msg("%s: declined text changed the output: '%s'", ctx, shown);
        if (rc != MW_ERR_UNSUPPORTED)
            fail_msg("%s: unexpected code %s (%s) for '%s'", ctx,
                     mw_err_name(rc), ferr.msg, shown);
        outcome = slow_ok ? DECLINE : REJECT;
        if (slow_ok && getenv("MESH_JTEXT_SHOW_DECLINED"))
            print_message("declined (%s): '%s'\n", ferr.msg, shown);
        if (!slow_ok && getenv("MESH_JTEXT_SHOW_REJECTED"))
            print_message("%s rejected (%s): '%.200s'\n", ctx,
                          doc ? err.msg : jerr.text, shown);
        if (st && slow_ok)
            st->declined++;
        else if (st)
            st->rejected++;
    }
    if (want != ANY && want != outcome)
        fail_msg("%s: '%s': want %s, got %s (slow: %s; fast: %s)", ctx, shown,
                 want == SAME      ? "same bytes"
                 : want == DECLINE ? "decline"
                                   : "reject",
                 outcome == SAME      ? "same bytes"
                 : outcome == DECLINE ? "decline"
                                      : "reject",
                 slow_ok ? "ok"
                 : doc   ? err.msg
                         : jerr.text,
                 ferr.msg);
    free(shown);
    mw_buf_destroy(slow);
    mw_buf_destroy(fast);
    return outcome;
}

__attribute__((unused)) static int agree(const av_serde_plan_t *plan,
                                         const char *text, int want)
{
    return agree_n(plan, text, strlen(text), want, NULL, "hand case");
}

/* One schema, many texts with the same expectation. */
__attribute__((unused)) static void each(const char *schema, int want,
                                         const char *const *texts)
{
    fix_t f = fix_new(schema);
    for (size_t i = 0; texts[i]; i++)
        agree(f.plan, texts[i], want);
    fix_free(&f);
}

#endif /* AV_JTEXT_CHECK_H */
