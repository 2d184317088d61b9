/*
 * pr_file_watch: the file source's file bookkeeping (see pr_file.c for the
 * data path): its configuration, opening the configured paths and resuming
 * them from the checkpoint, noticing rotation (the path names another
 * inode) and truncation (the size fell below what was read), saving the
 * checkpoint in batches, and the lag gauges.
 *
 * Identity: a file is (device, inode); the checkpoint stores it with the
 * configured path it belongs to.  On start, a checkpoint entry whose
 * identity is still at its path resumes there; one whose path now names
 * another file was rotated while the daemon was down: its directory is
 * searched for the same inode (app.log -> app.log.1) and, if found, it is
 * read to EOF from its offset before the new file, else a warning names
 * the offset where reading stopped.
 *
 * Thread: the daemon's loop thread.
 */
#include "pr_file_int.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "mw_daemon.h"
#include "mw_log.h"
#include "mw_time.h"

/* ------------------------------------------------------ configuration */

/* The file source's keys are declared in pr_file.c's table, so mw_conf
 * checked every value against its bounds and file_check the cross-key
 * rules before open; an empty string reads as unset. */
static const char *conf_str(const mw_conf_t *conf, const char *key)
{
    const char *v = mw_conf_get_str(conf, key);

    return v && *v ? v : NULL;
}

/* Prometheus label value: backslash, quote and newline escaped. */
static void label_for(const char *path, char *out, size_t size)
{
    size_t n = (size_t)snprintf(out, size, "file=\"");

    for (const char *c = path; *c && n + 4 < size; c++) {
        if (*c == '\\' || *c == '"' || *c == '\n')
            out[n++] = '\\';
        out[n++] = *c == '\n' ? 'n' : *c;
    }
    snprintf(out + n, size - n, "\"");
}

static int path_add(pr_file_src_t *src, const char *path, size_t len,
                    mw_err_t *err)
{
    pr_file_path_t *p;
    char label[PATH_MAX + 16];

    while (len > 0 && (*path == ' ' || *path == '\t'))
        path++, len--;
    while (len > 0 && (path[len - 1] == ' ' || path[len - 1] == '\t'))
        len--;
    if (len == 0 || len >= PATH_MAX)
        return mw_err_set(err, MW_ERR_CONFIG,
                          "file.paths: empty or too long path in the list");
    if (src->path_cnt == PR_FILE_MAX_PATHS)
        return mw_err_set(err, MW_ERR_CONFIG, "file.paths: more than %u paths",
                          PR_FILE_MAX_PATHS);
    p = &src->paths[src->path_cnt];
    p->path = strndup(path, len);
    if (!p->path)
        return mw_err_set(err, MW_ERR_NOMEM, "file.paths: out of memory");
    src->path_cnt++;
    label_for(p->path, label, sizeof(label));
    p->lines =
        mw_metrics_counter(src->metrics, "mesh_producer_file_lines_total",
                           "Lines read and sent (events and "
                           "dead letters).",
                           label);
    p->bad_lines = mw_metrics_counter(
        src->metrics, "mesh_producer_file_bad_lines_total",
        "Lines sent to the dead-letter "
        "topic (not JSON, key missing, schema mismatch, too long).",
        label);
    p->rotations =
        mw_metrics_counter(src->metrics, "mesh_producer_file_rotations_total",
                           "Rotations noticed.", label);
    p->truncations =
        mw_metrics_counter(src->metrics, "mesh_producer_file_truncations_total",
                           "Truncations noticed.", label);
    p->lag = mw_metrics_gauge(
        src->metrics, "mesh_producer_file_lag_bytes",
        "Bytes of the file not yet acknowledged by Kafka.", label);
    return 0;
}

static int parse_paths(pr_file_src_t *src, const char *list, mw_err_t *err)
{
    size_t stdin_cnt = 0;
    int rc;

    src->paths = calloc(PR_FILE_MAX_PATHS, sizeof(*src->paths));
    if (!src->paths)
        return mw_err_set(err, MW_ERR_NOMEM, "file.paths: out of memory");
    for (const char *s = list;;) {
        const char *comma = strchr(s, ',');
        size_t len = comma ? (size_t)(comma - s) : strlen(s);

        if ((rc = path_add(src, s, len, err)) != 0)
            return rc;
        stdin_cnt += strcmp(src->paths[src->path_cnt - 1].path, "-") == 0;
        if (!comma)
            break;
        s = comma + 1;
    }
    if (stdin_cnt > 1)
        return mw_err_set(err, MW_ERR_CONFIG,
                          "file.paths: '-' (stdin) given more than once");
    return 0;
}

static void conf_numbers(pr_file_src_t *src, const mw_conf_t *conf)
{
    src->poll_ms = (long)mw_conf_get_int(conf, "file.poll.ms");
    src->max_line = (size_t)mw_conf_get_int(conf, "file.max.line.bytes");
    src->max_inflight_lines =
        (size_t)mw_conf_get_int(conf, "file.max.inflight.lines");
    src->ckpt_interval_ms =
        (long)mw_conf_get_int(conf, "checkpoint.interval.ms");
    src->ckpt_lines = (uint64_t)mw_conf_get_int(conf, "checkpoint.lines");
}

static int conf_checkpoint(pr_file_src_t *src, const mw_conf_t *conf,
                           mw_err_t *err)
{
    const char *dir = conf_str(conf, "checkpoint.dir");
    bool files = false;

    for (size_t i = 0; i < src->path_cnt; i++)
        files |= strcmp(src->paths[i].path, "-") != 0;
    if (!files)
        return 0;
    if (!dir)
        return mw_err_set(err, MW_ERR_CONFIG,
                          "checkpoint.dir: required when file.paths names "
                          "files (only '-' needs none)");
    if (asprintf(&src->ckpt_file, "%s/%s.ckpt", dir,
                 src->topic ? src->topic : "file") < 0) {
        src->ckpt_file = NULL;
        return mw_err_set(err, MW_ERR_NOMEM, "checkpoint.dir: out of memory");
    }
    return 0;
}

void *pr_file_open(const pr_source_env_t *env, mw_err_t *err)
{
    const mw_conf_t *conf = env->conf;
    mw_metrics_t *metrics = env->metrics;
    pr_file_src_t *src = calloc(1, sizeof(*src));

    if (!src) {
        mw_err_set(err, MW_ERR_NOMEM, "file source: out of memory");
        return NULL;
    }
    src->base = env->base;
    src->emit = env->emit;
    src->metrics = metrics;
    src->topic = conf_str(conf, "topic");
    src->key_field = conf_str(conf, "file.key.field");
    src->format = (pr_file_format_t)mw_conf_get_enum(conf, "file.format");
    conf_numbers(src, conf);
    if (parse_paths(src, conf_str(conf, "file.paths"), err) != 0 ||
        conf_checkpoint(src, conf, err) != 0)
        goto fail;
    src->ctx_pool =
        mw_pool_new(sizeof(line_ctx_t), MW_POOL_KEEP(PR_FILE_CTX_POOL_KEEP));
    if (!src->ctx_pool) {
        mw_err_set(err, MW_ERR_NOMEM, "file source: out of memory");
        goto fail;
    }
    src->ckpt_saves =
        mw_metrics_counter(metrics, "mesh_producer_file_checkpoints_total",
                           "Checkpoints saved.", NULL);
    src->ckpt_errors = mw_metrics_counter(
        metrics, "mesh_producer_file_checkpoint_errors_total",
        "Checkpoint saves that failed.", NULL);
    return src;
fail:
    pr_file_conf_free(src);
    free(src);
    return NULL;
}

void pr_file_conf_free(pr_file_src_t *src)
{
    for (size_t i = 0; src->paths && i < src->path_cnt; i++)
        free(src->paths[i].path);
    free(src->paths);
    free(src->ckpt_file);
    mw_pool_free(src->ctx_pool);
    src->paths = NULL;
    src->ckpt_file = NULL;
    src->ctx_pool = NULL;
}

/* ------------------------------------------------- opening and resuming */

/* Opens path read-only; -1 with errno. */
static int open_ro(const char *path)
{
    return open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
}

/* Adds a reader for fd at offset; the reader is the path's current one
 * unless retired.  MW_ERR_NOMEM / MW_ERR_IO (logged by the reader). */
static int add_reader(pr_file_src_t *src, size_t idx, const char *path, int fd,
                      uint64_t offset, bool retired)
{
    pr_file_reader_t *r = pr_file_reader_new(src, idx, path, fd, offset);

    if (!r)
        return MW_ERR_IO;
    r->retired = retired;
    pr_file_reader_append(src, r);
    if (!retired)
        src->paths[idx].current = r;
    src->dirty = true;
    return 0;
}

/* Looks in path's directory for the file (dev, ino): where a rotated file
 * went while the daemon was down.  Writes its path into out. */
static bool find_inode(const char *path, uint64_t dev, uint64_t ino, char *out,
                       size_t out_size)
{
    char copy[PATH_MAX], dir[PATH_MAX];
    struct dirent *de;
    struct stat st;
    DIR *d;
    bool found = false;

    snprintf(copy, sizeof(copy), "%s", path);
    snprintf(dir, sizeof(dir), "%s", dirname(copy));
    if (!(d = opendir(dir)))
        return false;
    while (!found && (de = readdir(d)) != NULL) {
        if (fstatat(dirfd(d), de->d_name, &st, 0) != 0 || !S_ISREG(st.st_mode))
            continue;
        if ((uint64_t)st.st_dev == dev && (uint64_t)st.st_ino == ino)
            found = (size_t)snprintf(out, out_size, "%s/%s", dir, de->d_name) <
                    out_size;
    }
    closedir(d);
    return found;
}

/* A checkpointed file no longer at its path: resume it where it went. */
static int resume_rotated(pr_file_src_t *src, size_t idx,
                          const pr_checkpoint_entry_t *e)
{
    char found[PATH_MAX];
    struct stat st;
    int fd;

    if (!find_inode(e->path, e->dev, e->ino, found, sizeof(found)) ||
        (fd = open_ro(found)) < 0) {
        mw_log_warn(PR_FILE_COMP,
                    "rotated file not found, lines past its "
                    "checkpoint were not read",
                    "path=%s ino=%llu offset=%llu", mw_log_q(e->path),
                    (unsigned long long)e->ino, (unsigned long long)e->offset);
        return 0;
    }
    if (fstat(fd, &st) != 0 || (uint64_t)st.st_ino != e->ino ||
        (uint64_t)st.st_size < e->offset) {
        close(fd);
        mw_log_warn(PR_FILE_COMP, "rotated file changed, not resumed",
                    "path=%s", mw_log_q(found));
        return 0;
    }
    mw_log_info(PR_FILE_COMP, "resuming rotated file",
                "path=%s rotated=%s "
                "offset=%llu",
                mw_log_q(e->path), mw_log_q(found),
                (unsigned long long)e->offset);
    return add_reader(src, idx, found, fd, e->offset, true);
}

/* Opens configured path idx, resuming from the checkpoint entries. */
static int open_path(pr_file_src_t *src, size_t idx,
                     const pr_checkpoint_entry_t *ents, size_t ent_cnt,
                     mw_err_t *err)
{
    const char *path = src->paths[idx].path;
    int fd = open_ro(path), rc;
    struct stat st = {0};
    uint64_t offset = 0;

    if (fd < 0 && errno != ENOENT)
        return mw_err_set(err, MW_ERR_IO, "file.paths: cannot open '%s': %s",
                          path, strerror(errno));
    if (fd >= 0 && fstat(fd, &st) != 0) {
        close(fd);
        return mw_err_set(err, MW_ERR_IO, "file.paths: cannot stat '%s'", path);
    }
    /* Older files of this path first: their lines come before. */
    for (size_t i = 0; i < ent_cnt; i++) {
        const pr_checkpoint_entry_t *e = &ents[i];

        if (strcmp(e->path, path) != 0)
            continue;
        if (fd >= 0 && e->dev == (uint64_t)st.st_dev &&
            e->ino == (uint64_t)st.st_ino)
            offset = e->offset;
        else if ((rc = resume_rotated(src, idx, e)) != 0)
            return mw_err_set(err, rc, "file.paths: cannot resume '%s'",
                              e->path);
    }
    if (fd < 0) {
        mw_log_warn(PR_FILE_COMP, "file not found, waiting for it", "path=%s",
                    mw_log_q(path));
        return 0;
    }
    if (offset > (uint64_t)st.st_size) {
        mw_log_warn(PR_FILE_COMP,
                    "file truncated while stopped, reading "
                    "from 0",
                    "path=%s offset=%llu size=%lld", mw_log_q(path),
                    (unsigned long long)offset, (long long)st.st_size);
        offset = 0;
    }
    mw_log_info(PR_FILE_COMP, "file opened", "path=%s offset=%llu",
                mw_log_q(path), (unsigned long long)offset);
    if ((rc = add_reader(src, idx, path, fd, offset, false)) != 0)
        return mw_err_set(err, rc, "file.paths: cannot read '%s'", path);
    return 0;
}

/* mkdir -p of the checkpoint file's directory: a fresh deployment should
 * not need a manual step before its first checkpoint can be saved. */
static int ckpt_dir_create(const char *file, mw_err_t *err)
{
    char dir[PATH_MAX];
    char *slash;
    struct stat st;

    if ((size_t)snprintf(dir, sizeof(dir), "%s", file) >= sizeof(dir))
        return mw_err_set(err, MW_ERR_CONFIG, "checkpoint.dir: too long");
    if (!(slash = strrchr(dir, '/')) || slash == dir)
        return 0;
    *slash = '\0';
    if (mw_daemon_mkdirs(dir, err) != 0)
        return mw_err_prefix(err, "checkpoint.dir");
    if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode))
        return mw_err_set(err, MW_ERR_IO,
                          "checkpoint.dir: '%s' is not a "
                          "directory",
                          dir);
    return 0;
}

int pr_file_open_all(pr_file_src_t *src, mw_err_t *err)
{
    pr_checkpoint_entry_t *ents = NULL;
    size_t ent_cnt = 0;
    int rc = 0;

    if (src->ckpt_file && (rc = ckpt_dir_create(src->ckpt_file, err)) != 0)
        return rc;
    if (src->ckpt_file) {
        rc = pr_checkpoint_load(src->ckpt_file, &ents, &ent_cnt, err);
        if (rc == MW_ERR_NOT_FOUND)
            rc = 0;
        else if (rc != 0)
            return rc;
        mw_log_info(PR_FILE_COMP, "checkpoint loaded", "file=%s files=%zu",
                    mw_log_q(src->ckpt_file), ent_cnt);
    }
    for (size_t i = 0; rc == 0 && i < src->path_cnt; i++) {
        if (strcmp(src->paths[i].path, "-") == 0)
            rc = add_reader(src, i, "-", STDIN_FILENO, 0, false) != 0
                     ? mw_err_set(err, MW_ERR_NOMEM, "stdin: out of memory")
                     : 0;
        else
            rc = open_path(src, i, ents, ent_cnt, err);
    }
    pr_checkpoint_entries_free(ents, ent_cnt);
    return rc;
}

bool pr_file_stdin_ready(void)
{
    struct pollfd pfd = {.fd = STDIN_FILENO, .events = POLLIN};

    return poll(&pfd, 1, 0) > 0;
}

/* ------------------------------------------- rotation and truncation */

/* The file shrank below what was read: start over at 0 with a new window;
 * the old one is kept until its in-flight lines are acknowledged. */
static void truncated(pr_file_src_t *src, pr_file_reader_t *r, off_t size)
{
    pr_checkpoint_window_t *win =
        pr_checkpoint_window_new(0, src->max_inflight_lines);
    pr_file_orphan_t *o = calloc(1, sizeof(*o));

    if (!win || !o || lseek(r->fd, 0, SEEK_SET) == (off_t)-1) {
        pr_checkpoint_window_destroy(win);
        free(o);
        return; /* tried again at the next tick */
    }
    mw_log_warn(PR_FILE_COMP, "file truncated, reading from 0",
                "path=%s offset=%llu size=%lld", mw_log_q(r->path),
                (unsigned long long)r->read_off, (long long)size);
    o->win = r->win;
    o->next = src->orphans;
    src->orphans = o;
    r->win = win;
    r->read_off = 0;
    r->start = r->end = 0;
    r->skipping = false;
    free(r->cut);
    r->cut = NULL;
    src->dirty = true;
    mw_counter_inc(src->paths[r->idx].truncations);
}

static void watch_path(pr_file_src_t *src, size_t idx)
{
    pr_file_path_t *p = &src->paths[idx];
    pr_file_reader_t *cur = p->current;
    struct stat st;
    int fd;

    if (cur && !cur->finished && fstat(cur->fd, &st) == 0 &&
        (uint64_t)st.st_size < cur->read_off)
        truncated(src, cur, st.st_size);
    if (stat(p->path, &st) != 0)
        return; /* renamed away, the new file is not there yet */
    if (cur && (uint64_t)st.st_dev == cur->dev &&
        (uint64_t)st.st_ino == cur->ino)
        return;
    if ((fd = open_ro(p->path)) < 0)
        return;
    if (cur) {
        mw_log_info(PR_FILE_COMP, "file rotated", "path=%s old_offset=%llu",
                    mw_log_q(p->path), (unsigned long long)cur->read_off);
        cur->retired = true;
        mw_counter_inc(p->rotations);
    } else {
        mw_log_info(PR_FILE_COMP, "file appeared", "path=%s",
                    mw_log_q(p->path));
    }
    p->current = NULL;
    if (add_reader(src, idx, p->path, fd, 0, false) != 0)
        mw_log_error(PR_FILE_COMP, "cannot follow file", "path=%s",
                     mw_log_q(p->path));
}

void pr_file_watch(pr_file_src_t *src)
{
    for (size_t i = 0; i < src->path_cnt; i++)
        if (strcmp(src->paths[i].path, "-") != 0)
            watch_path(src, i);
}

void pr_file_reap(pr_file_src_t *src)
{
    pr_file_reader_t **pp = &src->readers;
    pr_file_orphan_t **op = &src->orphans;

    while (*pp) {
        pr_file_reader_t *r = *pp;

        if (r->retired && r->finished && !r->failed &&
            pr_checkpoint_window_inflight(r->win) == 0) {
            *pp = r->next;
            pr_file_reader_free(r);
            src->dirty = true;
        } else {
            pp = &r->next;
        }
    }
    while (*op) {
        pr_file_orphan_t *o = *op;

        if (pr_checkpoint_window_inflight(o->win) == 0) {
            *op = o->next;
            pr_checkpoint_window_destroy(o->win);
            free(o);
        } else {
            op = &o->next;
        }
    }
}

void pr_file_orphans_free(pr_file_src_t *src)
{
    while (src->orphans) {
        pr_file_orphan_t *o = src->orphans;

        src->orphans = o->next;
        pr_checkpoint_window_destroy(o->win);
        free(o);
    }
}

/* ------------------------------------------------- checkpoint and lag */

static void checkpoint_save(pr_file_src_t *src, uint64_t now)
{
    pr_checkpoint_entry_t ents[PR_FILE_MAX_PATHS * 4];
    size_t n = 0;
    mw_err_t err = {0};

    for (pr_file_reader_t *r = src->readers; r; r = r->next) {
        if (r->is_stdin || n == sizeof(ents) / sizeof(ents[0]))
            continue;
        ents[n++] = (pr_checkpoint_entry_t){
            .path = src->paths[r->idx].path,
            .dev = r->dev,
            .ino = r->ino,
            .offset = pr_checkpoint_window_committed(r->win)};
    }
    if (pr_checkpoint_save(src->ckpt_file, ents, n, &err) != 0) {
        if (!src->ckpt_failing)
            mw_log_error(PR_FILE_COMP, "checkpoint save failed", "error=%s",
                         mw_log_q(err.msg));
        snprintf(src->ckpt_error, sizeof(src->ckpt_error), "%s", err.msg);
        src->ckpt_failing = true;
        mw_counter_inc(src->ckpt_errors);
        return;
    }
    src->ckpt_failing = false;
    src->dirty = false;
    src->acked_since_save = 0;
    src->last_save_ms = now;
    mw_counter_inc(src->ckpt_saves);
}

/* Saves when something changed and the interval passed or enough lines
 * were acknowledged since the last save (force: whenever it changed). */
void pr_file_checkpoint_maybe(pr_file_src_t *src, bool force)
{
    uint64_t now = (uint64_t)mw_time_mono_ms();

    if (!src->ckpt_file || !src->dirty)
        return;
    if (!force && now - src->last_save_ms < (uint64_t)src->ckpt_interval_ms &&
        src->acked_since_save < src->ckpt_lines)
        return;
    checkpoint_save(src, now);
}

void pr_file_update_lag(pr_file_src_t *src)
{
    double lag[PR_FILE_MAX_PATHS] = {0};
    struct stat st;

    for (pr_file_reader_t *r = src->readers; r; r = r->next) {
        uint64_t done = pr_checkpoint_window_committed(r->win);

        if (!r->is_stdin && fstat(r->fd, &st) == 0 &&
            (uint64_t)st.st_size > done)
            lag[r->idx] += (double)((uint64_t)st.st_size - done);
    }
    for (size_t i = 0; i < src->path_cnt; i++)
        mw_gauge_set(src->paths[i].lag, lag[i]);
}
