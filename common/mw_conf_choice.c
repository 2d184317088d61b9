/*
 * mw_conf_choice: backend choices in the key table.
 *
 * A program that has several kinds of one thing (sinks, sources, stores)
 * names a choosing key ("sink") and its kind's front lists the backends in
 * one registration table, each backend describing itself: its name, its
 * keys and its cross-key checks.  mw_conf_new lays the program's key table
 * out from those tables (program keys first, then per choice the choosing
 * key, whose allowed values are the backends' names in table order, then
 * every backend's keys), so --help, the Markdown reference and the
 * messages that list the choices can never disagree with the table.
 * mw_conf_finalize runs the chosen backend's check (mw_conf.c).
 */
#include "mw_conf.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "mw_conf_int.h"

/* Number of backends of a choice. */
static size_t choice_backend_cnt(const mw_conf_choice_t *choice)
{
    size_t n = 0;
    while (choice->backend_at(n))
        n++;
    return n;
}

/* Lays out conf->keys: the program's keys, then per choice its choosing key
 * (allowed[] filled from the backends' names) and each backend's keys. */
int mw_conf_build_keys(mw_conf_t *conf, const mw_conf_key_t *keys,
                       size_t key_cnt, mw_err_t *err)
{
    const mw_conf_choice_t *const *ch = conf->prog->choices;
    size_t total = key_cnt, names = 0;

    for (; ch && *ch; ch++) {
        size_t n = choice_backend_cnt(*ch);
        total += 1;
        names += n + 1;
        for (size_t b = 0; b < n; b++)
            total += (*ch)->backend_at(b)->key_cnt;
    }
    conf->keys = calloc(total + 1, sizeof(*conf->keys));
    conf->allowed = calloc(names + 1, sizeof(*conf->allowed));
    if (!conf->keys || !conf->allowed)
        return mw_err_set(err, MW_ERR_NOMEM, "out of memory");
    if (key_cnt)
        memcpy(conf->keys, keys, key_cnt * sizeof(*keys));
    conf->key_cnt = key_cnt;
    const char **allowed = conf->allowed;
    for (ch = conf->prog->choices; ch && *ch; ch++) {
        size_t n = choice_backend_cnt(*ch);
        mw_conf_key_t *k = &conf->keys[conf->key_cnt++];
        *k = (*ch)->key;
        k->type = MW_CONF_ENUM;
        k->allowed = allowed;
        for (size_t b = 0; b < n; b++)
            *allowed++ = (*ch)->backend_at(b)->name;
        *allowed++ = NULL;
        for (size_t b = 0; b < n; b++) {
            const mw_conf_backend_t *be = (*ch)->backend_at(b);
            if (be->key_cnt)
                memcpy(&conf->keys[conf->key_cnt], be->keys,
                       be->key_cnt * sizeof(*be->keys));
            conf->key_cnt += be->key_cnt;
        }
    }
    return 0;
}

const mw_conf_backend_t *mw_conf_chosen(const mw_conf_t *conf,
                                        const mw_conf_choice_t *choice)
{
    const char *name = mw_conf_get_str(conf, choice->key.name);
    const mw_conf_backend_t *be;

    for (size_t i = 0; name && (be = choice->backend_at(i)); i++)
        if (strcasecmp(be->name, name) == 0)
            return be;
    return NULL;
}

void mw_conf_choice_names(const mw_conf_choice_t *choice, char *out,
                          size_t size)
{
    size_t n = choice_backend_cnt(choice), len = 0;

    if (size)
        out[0] = '\0';
    for (size_t i = 0; i < n && len < size; i++) {
        const char *sep = i == 0 ? "" : i + 1 == n ? " or " : ", ";
        int w = snprintf(out + len, size - len, "%s%s", sep,
                         choice->backend_at(i)->name);
        if (w < 0)
            break;
        len += (size_t)w;
    }
}
