/*
 * gov_policy_int.h: what the files of schema-registry/policy share: a
 * policy document as parsed (gov_parse.c), the table of rule kinds with
 * their parameters and defaults (gov_policy.c), and compatibility levels.
 * Not included outside schema-registry/policy.
 */
#ifndef GOV_POLICY_INT_H
#define GOV_POLICY_INT_H

#include <stdbool.h>
#include <stddef.h>

#include "gov_policy.h"

#define GOV_ORIGIN_MAX 256
#define GOV_LIST_MAX 64

/* Parameters a rule kind takes (bits of gov_kind_t.params). */
enum {
    GOV_P_STYLE = 1, /* "style": a naming style */
    GOV_P_LIST = 2,  /* a list of strings, under the kind's list_key */
    GOV_P_WORD = 4,  /* one word, under the kind's word_key */
    GOV_P_MIN = 8,   /* "min" */
    GOV_P_MAX = 16   /* "max" */
};

/* How a kind's min and max are written. */
typedef enum gov_num {
    GOV_NUM_COUNT = 0, /* an integer */
    GOV_NUM_DURATION,  /* a duration (7d, 12h, 500ms) or an integer of ms */
    GOV_NUM_BYTES      /* an integer of bytes */
} gov_num_t;

typedef struct gov_kind {
    const char *name;
    unsigned params;
    const char *list_key; /* GOV_P_LIST */
    const char *word_key; /* GOV_P_WORD */
    gov_num_t num;
    /* defaults of a rule stated without them */
    const char *style;
    const char *const *list;
    size_t list_cnt;
    const char *word;
    bool has_min, has_max;
    long long min, max;
} gov_kind_t;

extern const gov_kind_t gov_kinds[GOV_RULE__CNT];

/* One rule as one policy states it: only what it gives is set. */
typedef struct gov_stmt {
    bool set;
    bool has_severity, has_style, has_list, has_word, has_min, has_max;
    gov_severity_t severity;
    char *style;
    char **list;
    size_t list_cnt;
    char *word;
    long long min, max;
    char origin[GOV_ORIGIN_MAX]; /* "FILE:LINE:COL" of the rule's key */
} gov_stmt_t;

/* One policy document. */
typedef struct gov_doc {
    char *domain; /* NULL: the mesh policy */
    char *origin; /* the file name given */
    gov_stmt_t stmt[GOV_RULE__CNT];
} gov_doc_t;

/* Parses text into doc (zeroed by the caller); on failure doc holds
 * nothing to free beyond gov_doc_clear.  MW_ERR_INVALID with
 * "ORIGIN:LINE:COL: where: what". */
int gov_parse(const char *text, size_t len, const char *origin, gov_doc_t *doc,
              mw_err_t *err);
void gov_doc_clear(gov_doc_t *doc);

/* Naming styles: snake_case, camelCase, PascalCase, lower, UPPER_SNAKE. */
bool gov_style_known(const char *style);
/* Whether name is written in style. */
bool gov_style_matches(const char *style, const char *name);

/* Compatibility levels: whether a name is one (any case), and whether a
 * subject at level keeps every guarantee of level min (BACKWARD is kept
 * by BACKWARD, BACKWARD_TRANSITIVE, FULL, FULL_TRANSITIVE). */
bool gov_level_known(const char *level);
bool gov_level_satisfies(const char *level, const char *min);

#endif /* GOV_POLICY_INT_H */
