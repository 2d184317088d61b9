/*
 * mat_avro: the avro sink, a history log of changes in Avro object
 * container files (one writer per topic-partition), laid out Hive-style:
 *
 *   <avro.dir>/<topic>/dt=YYYY-MM-DD/part-<partition>-<startoffset>.avro
 *
 * Every change becomes one row (upserts and deletes included) with the
 * metadata columns _topic, _partition, _offset, _op, _ts_ms before the
 * table's columns (_op: the change event's op letter c/u/d/r, or
 * "upsert" / "append" for a plain record).  startoffset is the offset of
 * the file's first row; dt is the UTC day of that row's source timestamp
 * (1970-01-01 when it has none), never the wall clock, so a replay
 * reproduces the same names.  A file holds
 * one day: a row of another day, a new table shape, avro.roll.records rows
 * or a file older than avro.roll.ms (checked at each commit and, between
 * batches, at each tick, so an idle file rolls too) start the next.
 *
 * Exactly once, and how the batch contract maps onto files:
 *   1. apply encodes rows into a per-partition pending buffer; rollback
 *      drops it.  Nothing reaches a file before commit.
 *   2. commit appends the pending rows to the partition's open file, under
 *      its temporary name .part-P-S.avro.tmp, and rolls files whose roll
 *      condition is met.  Appended rows are committed for this process (the
 *      loop moves on) but not durable: the durable state is the set of
 *      final files only.
 *   3. A roll closes the file, writes meshwork.next_offset (the next offset
 *      to consume once this file exists: the next row's offset when the
 *      roll splits a batch, else the offset the loop stored) into the
 *      header, fsyncs, renames without replacing and fsyncs the directory.
 *      The rename is the commit point: before it nothing of the file
 *      exists, after it all of it does.
 *   4. load_offset takes the final file of the partition with the highest
 *      start offset, whatever its row count (a tail file of point 6 has
 *      none), and returns its meshwork.next_offset (0 when there is none:
 *      the history starts at the log's beginning), after removing the
 *      partition's temporary files, whose rows are consumed again.
 *   Final files of a partition therefore hold disjoint, consecutive offset
 *   ranges: each file starts at or after its predecessor's next_offset, and
 *   consumption resumes exactly there after a crash at any instant.  Rows
 *   skipped after a crash were only in a temporary file, never visible.
 *   5. release (revoke, after the loop's commit), load_offset (assignment)
 *      and close (shutdown) roll the partition's open file first, so a
 *      partition moving to another member, revoked and assigned again to
 *      this process, or a clean stop, loses nothing and duplicates
 *      nothing.
 *   6. Records that make no row (a tombstone, a dead letter, a skipped op)
 *      still move committed_next, but with no file open nothing would
 *      carry it to a header, and a restart would consume them again (a
 *      poison record dead-lettered twice).  So when committed_next is
 *      ahead of the durable next offset (the last final file's) and no
 *      file is open, a zero-row tail file part-P-<durable next>.avro is
 *      written with next_offset = committed_next: a valid container (the
 *      schema in its header, no data block) made durable like any file
 *      (point 3).  It is written where an open file would roll: at a
 *      commit or tick once avro.roll.ms has passed since the offset got
 *      ahead, at release, at load_offset and at close; not at every
 *      commit, which would leave one file per batch of tombstones.  Its
 *      schema and dt= directory are its predecessor's (read back from disk
 *      after a restart), so the table shape and the layout do not move;
 *      the ranges of point 4 stay consecutive (it starts where its
 *      predecessor ends and ends before the next file's first row).
 *
 * Debezium's unavailable-value placeholder (mat_envelope.h: an unchanged
 * TOASTed column of an UPDATE) is written as it came: a file is the
 * change history, not the row, and rewriting it would need the previous
 * row, which the sink does not keep.  A reader replaying the files into a
 * table keeps the column's previous value where a c/u/r row holds it
 * (tests/integration/sinks.py, AvroSink, does).
 *
 * Thread: the materializer's loop thread; commit blocks on fsync by design
 * (mat_sink.h).
 */
#include "mat_avro_int.h"
#include "mat_sink.h"

#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "mw_log.h"
#include "mw_time.h"
#include "mw_vec.h"

#define COMP "mat_avro"
#define PENDING_MAX ((size_t)256 << 20) /* encoded rows of one batch */

typedef struct avro_row {
    size_t pos, len; /* in the partition's pending buffer */
    int64_t offset;
    int64_t ts_ms;
} avro_row_t;

/* The latest shape of a topic's table, as ensure_table gave it. */
typedef struct avro_shape {
    char *topic;
    uint32_t version;
    size_t col_cnt;
    char **names;
    mat_col_type_t *types;
    char *schema_json;
    struct avro_shape *next;
} avro_shape_t;

typedef struct avro_part {
    char *topic;
    int32_t partition;
    /* Batch state (apply .. commit). */
    mw_buf_t *pend;
    avro_row_t *rows;
    size_t row_cnt, row_cap;
    const avro_shape_t *pend_shape; /* shape the pending rows are in */
    size_t pend_col_cnt;
    int64_t staged_next; /* store_offset of this batch, -1 none */
    /* Committed state. */
    int64_t committed_next; /* -1 unknown */
    mat_avro_file_t *file;  /* open file, NULL between files */
    char *file_schema;      /* its schema (a copy: shapes are replaced) */
    size_t file_col_cnt;
    int64_t file_day;
    int64_t file_opened_ms;
    /* Durable state: the partition's last final file (point 6). */
    int64_t durable_next;  /* its meshwork.next_offset, -1 unknown */
    char *durable_schema;  /* its avro.schema, NULL when there is none */
    int64_t durable_day;   /* its dt= day, 0 when there is none */
    int64_t tail_since_ms; /* committed_next ahead with no file, -1 not */
    mw_counter_t *files_total;
    mw_counter_t *rows_total;
    struct avro_part *next;
} avro_part_t;

typedef struct avro_sink {
    char *dir;
    int64_t roll_records;
    int64_t roll_ms;
    mw_metrics_t *metrics;
    mw_histogram_t *roll_seconds;
    mw_buf_t *scratch; /* one encoded row */
    avro_shape_t *shapes;
    avro_part_t *parts;
    bool failed;
    char reason[MW_ERR_MSG_MAX];
} avro_sink_t;

static int64_t day_of(int64_t ts_ms)
{
    return ts_ms < 0 ? 0 : ts_ms / 86400000;
}

static int fail(avro_sink_t *sink, int rc, const mw_err_t *err)
{
    sink->failed = true;
    snprintf(sink->reason, sizeof(sink->reason), "%s",
             err && err->msg[0] ? err->msg : mw_err_name(rc));
    return rc;
}

/* ---- shapes ---- */

static void shape_free(avro_shape_t *shape)
{
    if (!shape)
        return;
    for (size_t i = 0; shape->names && i < shape->col_cnt; i++)
        free(shape->names[i]);
    free(shape->names);
    free(shape->types);
    free(shape->schema_json);
    free(shape->topic);
    free(shape);
}

/* Columns only grow: the old shape must be a prefix of the new one, or
 * rows already pending (and files already written) would change meaning. */
static int shape_check_growth(const avro_shape_t *old, const mat_table_t *table,
                              mw_err_t *err)
{
    if (table->col_cnt < old->col_cnt)
        return mw_err_set(err, MW_ERR_INVALID,
                          "table %s: a column was dropped (%zu -> %zu "
                          "columns); the avro sink only adds columns",
                          table->name, old->col_cnt, table->col_cnt);
    for (size_t i = 0; i < old->col_cnt; i++)
        if (strcmp(old->names[i], table->cols[i].name) != 0 ||
            old->types[i] != table->cols[i].type)
            return mw_err_set(err, MW_ERR_INVALID,
                              "table %s: column '%s' was renamed, moved or "
                              "retyped; the avro sink only adds columns",
                              table->name, old->names[i]);
    return 0;
}

static avro_shape_t *shape_new(const mat_table_t *table, mw_err_t *err)
{
    avro_shape_t *shape = calloc(1, sizeof(*shape));

    if (!shape)
        goto nomem;
    shape->version = table->version;
    shape->col_cnt = table->col_cnt;
    shape->topic = strdup(table->topic);
    shape->names = calloc(table->col_cnt + 1, sizeof(*shape->names));
    shape->types = calloc(table->col_cnt + 1, sizeof(*shape->types));
    if (!shape->topic || !shape->names || !shape->types)
        goto nomem;
    for (size_t i = 0; i < table->col_cnt; i++) {
        shape->types[i] = table->cols[i].type;
        if (!(shape->names[i] = strdup(table->cols[i].name)))
            goto nomem;
    }
    shape->schema_json = mat_avro_schema_json(table, err);
    if (!shape->schema_json) {
        shape_free(shape);
        return NULL;
    }
    return shape;
nomem:
    shape_free(shape);
    mw_err_set(err, MW_ERR_NOMEM, "table %s: out of memory", table->name);
    return NULL;
}

/* Returns the topic's shape, replaced by table's when the version moved.
 * The old shape is freed: pending rows refer to it only through
 * pend_col_cnt, and apply upgrades them before using the new one. */
static const avro_shape_t *shape_get(avro_sink_t *sink,
                                     const mat_table_t *table, mw_err_t *err)
{
    avro_shape_t **link = &sink->shapes, *shape;

    while (*link && strcmp((*link)->topic, table->topic) != 0)
        link = &(*link)->next;
    if (*link && (*link)->version == table->version &&
        (*link)->col_cnt == table->col_cnt)
        return *link;
    if (*link && shape_check_growth(*link, table, err) != 0)
        return NULL;
    if (!(shape = shape_new(table, err)))
        return NULL;
    if (*link) {
        shape->next = (*link)->next;
        for (avro_part_t *p = sink->parts; p; p = p->next)
            if (p->pend_shape == *link)
                p->pend_shape = shape;
        shape_free(*link);
    }
    *link = shape;
    return shape;
}

/* ---- partitions ---- */

static void part_drop_pending(avro_part_t *part)
{
    if (part->pend)
        mw_buf_reset(part->pend);
    part->row_cnt = 0;
    part->staged_next = -1;
}

static void part_free(avro_part_t *part)
{
    mw_buf_destroy(part->pend);
    free(part->rows);
    free(part->file_schema);
    free(part->durable_schema);
    free(part->topic);
    free(part);
}

static avro_part_t *part_get(avro_sink_t *sink, const char *topic,
                             int32_t partition, bool create, mw_err_t *err)
{
    avro_part_t *part;
    char labels[512];

    for (part = sink->parts; part; part = part->next)
        if (part->partition == partition && strcmp(part->topic, topic) == 0)
            return part;
    if (!create)
        return NULL;
    part = calloc(1, sizeof(*part));
    if (!part || !(part->topic = strdup(topic)) ||
        !(part->pend = mw_buf_new(PENDING_MAX))) {
        if (part)
            part_free(part);
        mw_err_set(err, MW_ERR_NOMEM, "out of memory");
        return NULL;
    }
    part->partition = partition;
    part->staged_next = -1;
    part->committed_next = -1;
    part->durable_next = -1;
    part->tail_since_ms = -1;
    snprintf(labels, sizeof(labels), "topic=\"%s\"", topic);
    part->files_total = mw_metrics_counter(
        sink->metrics, "mesh_materializer_avro_files_total",
        "Avro files made durable (renamed to their final name).", labels);
    part->rows_total = mw_metrics_counter(
        sink->metrics, "mesh_materializer_avro_rows_total",
        "Rows written to Avro files (durable once their file rolls).", labels);
    part->next = sink->parts;
    sink->parts = part;
    return part;
}

/* Rows pending in an older shape gain one null branch (a single 0 byte)
 * per column added since: the table's columns are the record's last
 * fields and every one is a ["null", T] union. */
static int part_upgrade_pending(avro_part_t *part, size_t col_cnt,
                                mw_err_t *err)
{
    static const char zeros[64];
    size_t add = col_cnt - part->pend_col_cnt;
    mw_buf_t *buf;

    if (part->row_cnt == 0 || add == 0) {
        part->pend_col_cnt = col_cnt;
        return 0;
    }
    if (!(buf = mw_buf_new(PENDING_MAX)))
        return mw_err_set(err, MW_ERR_NOMEM, "out of memory");
    for (size_t i = 0; i < part->row_cnt; i++) {
        avro_row_t *row = &part->rows[i];
        size_t pos = mw_buf_len(buf);
        int rc =
            mw_buf_append(buf, mw_buf_data(part->pend) + row->pos, row->len);
        for (size_t left = add; !rc && left > 0;) {
            size_t n = left < sizeof(zeros) ? left : sizeof(zeros);
            rc = mw_buf_append(buf, zeros, n);
            left -= n;
        }
        if (rc) {
            mw_buf_destroy(buf);
            return mw_err_set(err, rc,
                              "%s[%" PRId32 "]: pending rows do "
                              "not fit the batch buffer",
                              part->topic, part->partition);
        }
        row->pos = pos;
        row->len += add;
    }
    mw_buf_destroy(part->pend);
    part->pend = buf;
    part->pend_col_cnt = col_cnt;
    return 0;
}

static int part_push_row(avro_part_t *part, const void *row, size_t len,
                         const mat_change_t *change, mw_err_t *err)
{
    if (MW_VEC_RESERVE(&part->rows, &part->row_cap, part->row_cnt + 1))
        return mw_err_set(err, MW_ERR_NOMEM, "out of memory");
    part->rows[part->row_cnt] = (avro_row_t){
        .pos = mw_buf_len(part->pend),
        .len = len,
        .offset = change->offset,
        .ts_ms = change->source_ts_ms,
    };
    if (mw_buf_append(part->pend, row, len) != 0)
        return mw_err_set(err, MW_ERR_FULL,
                          "%s[%" PRId32 "]: the batch's "
                          "rows exceed %zu bytes",
                          part->topic, part->partition, PENDING_MAX);
    part->row_cnt++;
    return 0;
}

/* ---- files ---- */

/* mkdir that makes a new entry durable (fsync of the parent), so a renamed
 * file is never lost with the directory that holds it. */
static int make_dir(const char *path, const char *parent, mw_err_t *err)
{
    if (mkdir(path, 0755) == 0)
        return parent ? mat_avro_fsync_dir(parent, err) : 0;
    if (errno == EEXIST)
        return 0;
    return mw_err_set(err, MW_ERR_IO, "cannot create directory '%s': %s", path,
                      strerror(errno));
}

static int day_dir(const avro_sink_t *sink, const avro_part_t *part,
                   int64_t day, char *out, size_t out_size, mw_err_t *err)
{
    char topic_dir[4096];
    time_t secs = (time_t)(day * 86400);
    struct tm tm;
    int rc;

    gmtime_r(&secs, &tm);
    snprintf(topic_dir, sizeof(topic_dir), "%s/%s", sink->dir, part->topic);
    if (snprintf(out, out_size, "%s/dt=%04d-%02d-%02d", topic_dir,
                 tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday) >= (int)out_size)
        return mw_err_set(err, MW_ERR_INVALID, "path too long under '%s'",
                          topic_dir);
    rc = make_dir(sink->dir, NULL, err);
    rc = rc ? rc : make_dir(topic_dir, sink->dir, err);
    return rc ? rc : make_dir(out, topic_dir, err);
}

static int part_open_file(avro_sink_t *sink, avro_part_t *part,
                          const avro_row_t *first, mw_err_t *err)
{
    char dir[4096];
    int64_t day = day_of(first->ts_ms);
    int rc = day_dir(sink, part, day, dir, sizeof(dir), err);
    mat_avro_file_spec_t spec = {
        .dir = dir,
        .topic = part->topic,
        .partition = part->partition,
        .start_offset = first->offset,
        .schema_json = part->pend_shape->schema_json,
    };

    if (rc)
        return rc;
    free(part->file_schema);
    if (!(part->file_schema = strdup(spec.schema_json)))
        return mw_err_set(err, MW_ERR_NOMEM, "out of memory");
    part->file = mat_avro_file_open(&spec, err);
    if (!part->file)
        return err ? err->code : MW_ERR_IO;
    part->file_col_cnt = part->pend_col_cnt;
    part->file_day = day;
    part->file_opened_ms = mw_time_mono_ms();
    part->tail_since_ms = -1; /* the file will carry the offset */
    return 0;
}

/* Makes the open file durable; next_offset is where consumption resumes
 * once it exists (see the module comment, point 3). */
static int part_roll(avro_sink_t *sink, avro_part_t *part, int64_t next_offset,
                     mw_err_t *err)
{
    int64_t start = mw_time_mono_ms(), rows = mat_avro_file_rows(part->file);
    int rc = mat_avro_file_finish(part->file, next_offset, err);

    part->file = NULL;
    if (rc)
        return rc;
    free(part->durable_schema);
    part->durable_schema = part->file_schema;
    part->file_schema = NULL;
    part->durable_next = next_offset;
    part->durable_day = part->file_day;
    part->tail_since_ms = -1;
    mw_counter_inc(part->files_total);
    mw_counter_add(part->rows_total, (uint64_t)rows);
    mw_histogram_observe(sink->roll_seconds,
                         (double)(mw_time_mono_ms() - start) / 1000.0);
    mw_log_debug(COMP, "file rolled",
                 "topic=%s partition=%" PRId32 " rows=%" PRId64
                 " next_offset=%" PRId64,
                 part->topic, part->partition, rows, next_offset);
    return 0;
}

/* The schema of a zero-row tail file (point 6), malloc'd: the last final
 * file's, so the tail keeps the table shape its predecessor has (readers
 * that take the shape from the newest file see no change); with no final
 * file yet, the topic's current shape; with none known either (only
 * dead letters so far), the metadata columns alone, a prefix of every
 * later shape. */
static char *tail_schema(const avro_sink_t *sink, const avro_part_t *part,
                         mw_err_t *err)
{
    const char *known = part->durable_schema;
    char *text;

    for (const avro_shape_t *shape = sink->shapes; !known && shape;
         shape = shape->next)
        if (strcmp(shape->topic, part->topic) == 0)
            known = shape->schema_json;
    if (!known) {
        mat_table_t table = {.name = "row", .topic = part->topic};
        return mat_avro_schema_json(&table, err);
    }
    if (!(text = strdup(known)))
        mw_err_set(err, MW_ERR_NOMEM, "out of memory");
    return text;
}

/* Point 6: makes committed_next durable when no open file will carry it,
 * with a zero-row file part-<p>-<durable_next>.avro whose next_offset is
 * committed_next, made durable like any file (part_roll).  It lands in
 * the dt= directory of its predecessor: it has no row, hence no day of its
 * own, and stays beside the rows it follows. */
static int part_write_tail(avro_sink_t *sink, avro_part_t *part, mw_err_t *err)
{
    char dir[4096];
    mat_avro_file_spec_t spec = {
        .dir = dir,
        .topic = part->topic,
        .partition = part->partition,
        .start_offset = part->durable_next,
    };
    int rc;

    if (part->file || part->durable_next < 0 ||
        part->committed_next <= part->durable_next)
        return 0;
    rc = day_dir(sink, part, part->durable_day, dir, sizeof(dir), err);
    if (rc)
        return rc;
    free(part->file_schema);
    if (!(part->file_schema = tail_schema(sink, part, err)))
        return err ? err->code : MW_ERR_NOMEM;
    spec.schema_json = part->file_schema;
    if (!(part->file = mat_avro_file_open(&spec, err)))
        return err ? err->code : MW_ERR_IO;
    part->file_day = part->durable_day;
    return part_roll(sink, part, part->committed_next, err);
}

/* A tail waits avro.roll.ms, like an open file, from the moment the
 * committed offset got ahead of the durable one: writing one at every
 * commit would leave a file per batch of a partition that only gets
 * tombstones; after the wait, rows of later batches may have opened a file
 * that carries the offset instead. */
static int part_tail_due(avro_sink_t *sink, avro_part_t *part, int64_t now,
                         mw_err_t *err)
{
    if (part->file || part->durable_next < 0 ||
        part->committed_next <= part->durable_next)
        return 0;
    if (part->tail_since_ms < 0)
        part->tail_since_ms = now;
    if (now - part->tail_since_ms < sink->roll_ms)
        return 0;
    return part_write_tail(sink, part, err);
}

/* Writes the partition's pending rows (commit, point 2), rolling on a new
 * shape, a new day or avro.roll.records; then applies avro.roll.ms, to the
 * open file or to a tail without one (point 6). */
static int part_commit(avro_sink_t *sink, avro_part_t *part, mw_err_t *err)
{
    const char *data = mw_buf_data(part->pend);
    int rc = 0;

    for (size_t i = 0; !rc && i < part->row_cnt; i++) {
        const avro_row_t *row = &part->rows[i];
        int64_t next = i + 1 < part->row_cnt ? part->rows[i + 1].offset
                       : part->staged_next > row->offset ? part->staged_next
                                                         : row->offset + 1;

        if (part->file && (part->file_col_cnt != part->pend_col_cnt ||
                           part->file_day != day_of(row->ts_ms)))
            rc = part_roll(sink, part, row->offset, err);
        if (!rc && !part->file)
            rc = part_open_file(sink, part, row, err);
        rc = rc ? rc
                : mat_avro_file_append(part->file, data + row->pos, row->len,
                                       err);
        if (!rc && mat_avro_file_rows(part->file) >= sink->roll_records)
            rc = part_roll(sink, part, next, err);
        if (!rc)
            part->committed_next = next;
    }
    if (!rc && part->staged_next >= 0)
        part->committed_next = part->staged_next;
    part_drop_pending(part);
    if (!rc && part->file &&
        mw_time_mono_ms() - part->file_opened_ms >= sink->roll_ms)
        rc = part_roll(sink, part, part->committed_next, err);
    else if (!rc)
        rc = part_tail_due(sink, part, mw_time_mono_ms(), err);
    return rc;
}

/* ---- recovery ---- */

/* Parses "<prefix><partition>-<start><suffix>"; false when name is not. */
static bool parse_name(const char *name, const char *prefix, const char *suffix,
                       int32_t *partition, int64_t *start)
{
    size_t plen = strlen(prefix), slen = strlen(suffix), len = strlen(name);
    char *end;
    long long p, s;

    if (len <= plen + slen || strncmp(name, prefix, plen) != 0 ||
        strcmp(name + len - slen, suffix) != 0)
        return false;
    name += plen;
    if (*name < '0' || *name > '9')
        return false;
    p = strtoll(name, &end, 10);
    if (*end != '-' || end[1] < '0' || end[1] > '9' || p > INT32_MAX)
        return false;
    s = strtoll(end + 1, &end, 10);
    if ((size_t)(end - name) != len - plen - slen)
        return false;
    *partition = (int32_t)p;
    *start = s;
    return true;
}

typedef struct avro_scan {
    int32_t partition;
    int64_t day;        /* of the dt= directory being read */
    int64_t best_start; /* -1 none */
    int64_t best_day;
    char best_path[4096];
    int removed; /* temporary files removed */
} avro_scan_t;

/* "dt=YYYY-MM-DD" -> days since the epoch; false when name is not one. */
static bool parse_day(const char *name, int64_t *day)
{
    struct tm tm = {0};
    int n = 0;

    if (sscanf(name, "dt=%4d-%2d-%2d%n", &tm.tm_year, &tm.tm_mon, &tm.tm_mday,
               &n) != 3 ||
        name[n] != '\0')
        return false;
    tm.tm_year -= 1900;
    tm.tm_mon -= 1;
    *day = day_of((int64_t)timegm(&tm) * 1000);
    return true;
}

/* One dt=... directory: remembers the partition's final file with the
 * highest start offset and removes its temporary files (rows a crash cut
 * off before their rename; they are consumed again). */
static int scan_day(const char *dir, avro_scan_t *scan, mw_err_t *err)
{
    DIR *d = opendir(dir);
    struct dirent *ent;
    char path[4096];
    int32_t p;
    int64_t start;

    if (!d)
        return mw_err_set(err, MW_ERR_IO, "cannot read directory '%s': %s", dir,
                          strerror(errno));
    while ((ent = readdir(d)) != NULL) {
        if (snprintf(path, sizeof(path), "%s/%s", dir, ent->d_name) >=
            (int)sizeof(path))
            continue;
        if (parse_name(ent->d_name, ".part-", ".avro.tmp", &p, &start) &&
            p == scan->partition) {
            if (unlink(path) == 0)
                scan->removed++;
        } else if (parse_name(ent->d_name, "part-", ".avro", &p, &start) &&
                   p == scan->partition && start > scan->best_start) {
            scan->best_start = start;
            scan->best_day = scan->day;
            snprintf(scan->best_path, sizeof(scan->best_path), "%s", path);
        }
    }
    closedir(d);
    return 0;
}

static int scan_topic(const avro_sink_t *sink, const char *topic,
                      avro_scan_t *scan, mw_err_t *err)
{
    char topic_dir[4096], dir[4096];
    DIR *d;
    struct dirent *ent;
    int rc = 0;

    snprintf(topic_dir, sizeof(topic_dir), "%s/%s", sink->dir, topic);
    if (!(d = opendir(topic_dir))) {
        if (errno == ENOENT)
            return 0;
        return mw_err_set(err, MW_ERR_IO, "cannot read directory '%s': %s",
                          topic_dir, strerror(errno));
    }
    while (!rc && (ent = readdir(d)) != NULL) {
        if (!parse_day(ent->d_name, &scan->day))
            continue;
        if (snprintf(dir, sizeof(dir), "%s/%s", topic_dir, ent->d_name) <
            (int)sizeof(dir))
            rc = scan_day(dir, scan, err);
    }
    closedir(d);
    return rc;
}

/* ---- ops ---- */

static void avro_close(void *state);

static void *avro_open(const mw_conf_t *conf, mw_metrics_t *metrics,
                       mw_err_t *err)
{
    const char *dir = mw_conf_get_str(conf, "avro.dir");
    avro_sink_t *sink;

    if (!(sink = calloc(1, sizeof(*sink))) || !(sink->dir = strdup(dir)) ||
        !(sink->scratch = mw_buf_new(MAT_AVRO_ROW_MAX + 64))) {
        avro_close(sink);
        mw_err_set(err, MW_ERR_NOMEM, "out of memory");
        return NULL;
    }
    sink->roll_records = mw_conf_get_int(conf, "avro.roll.records");
    sink->roll_ms = mw_conf_get_int(conf, "avro.roll.ms");
    sink->metrics = metrics;
    sink->roll_seconds = mw_metrics_histogram(
        metrics, "mesh_materializer_avro_roll_seconds",
        "Time to close, fsync and rename one Avro file.", NULL, NULL, 0);
    if (make_dir(sink->dir, NULL, err) != 0) {
        avro_close(sink);
        return NULL;
    }
    return sink;
}

static int avro_load_offset(void *state, const char *topic, int32_t partition,
                            int64_t *next_offset, mw_err_t *err)
{
    avro_sink_t *sink = state;
    avro_part_t *part = part_get(sink, topic, partition, false, NULL);
    avro_scan_t scan = {.partition = partition, .best_start = -1};
    char *schema = NULL;
    int rc = 0;

    /* Point 5: offsets this process committed for the partition become
     * durable before the directory is read (the open file rolls, or a
     * tail file is written); a batch still pending is dropped and
     * consumed again from the offset returned. */
    if (part) {
        part_drop_pending(part);
        rc = part->file ? part_roll(sink, part, part->committed_next, err)
                        : part_write_tail(sink, part, err);
        if (rc)
            return fail(sink, rc, err);
    }
    rc = scan_topic(sink, topic, &scan, err);
    if (!rc && scan.best_start >= 0)
        rc = mat_avro_file_read_header(scan.best_path, next_offset, &schema,
                                       err);
    else if (!rc)
        *next_offset = 0;
    /* The partition exists from here on, so that a tail of row-less
     * records before any row knows where it starts (point 6). */
    if (!rc && !part && !(part = part_get(sink, topic, partition, true, err)))
        rc = MW_ERR_NOMEM;
    if (rc) {
        free(schema);
        return rc;
    }
    part->committed_next = *next_offset;
    part->durable_next = *next_offset;
    free(part->durable_schema);
    part->durable_schema = schema; /* NULL with no file: tail_schema */
    part->durable_day = scan.best_start >= 0 ? scan.best_day : 0;
    part->tail_since_ms = -1;
    mw_log_info(COMP, "offset recovered",
                "topic=%s partition=%" PRId32 " next_offset=%" PRId64
                " file=%s tmp_removed=%d",
                topic, partition, *next_offset,
                scan.best_start >= 0 ? mw_log_q(scan.best_path) : "none",
                scan.removed);
    return 0;
}

static int avro_begin(void *state, mw_err_t *err)
{
    avro_sink_t *sink = state;

    if (sink->failed)
        return mw_err_set(err, MW_ERR_STATE, "avro sink failed earlier: %s",
                          sink->reason);
    return 0;
}

static int avro_ensure_table(void *state, const mat_table_t *table,
                             mw_err_t *err)
{
    return shape_get(state, table, err) ? 0
                                        : (err ? err->code : MW_ERR_INVALID);
}

static int avro_apply(void *state, const mat_table_t *table,
                      const mat_change_t *change, mw_err_t *err)
{
    avro_sink_t *sink = state;
    const avro_shape_t *shape = shape_get(sink, table, err);
    avro_part_t *part;
    int rc;

    if (!shape)
        return err ? err->code : MW_ERR_INVALID;
    part = part_get(sink, change->topic, change->partition, true, err);
    if (!part)
        return MW_ERR_NOMEM;
    if (part->pend_col_cnt != shape->col_cnt &&
        (rc = part_upgrade_pending(part, shape->col_cnt, err)) != 0)
        return rc;
    part->pend_shape = shape;
    mw_buf_reset(sink->scratch);
    rc = mat_avro_encode_row(sink->scratch, table, change, err);
    if (rc == MW_ERR_FULL || mw_buf_len(sink->scratch) > MAT_AVRO_ROW_MAX)
        return mw_err_set(err, MW_ERR_INVALID,
                          "%s[%" PRId32 "]@%" PRId64 ": row larger than "
                          "%zu bytes, the Avro block size",
                          change->topic, change->partition, change->offset,
                          MAT_AVRO_ROW_MAX);
    if (rc)
        return rc;
    return part_push_row(part, mw_buf_data(sink->scratch),
                         mw_buf_len(sink->scratch), change, err);
}

static int avro_store_offset(void *state, const char *topic, int32_t partition,
                             int64_t next_offset, mw_err_t *err)
{
    avro_part_t *part = part_get(state, topic, partition, true, err);

    if (!part)
        return MW_ERR_NOMEM;
    part->staged_next = next_offset;
    return 0;
}

/* A failure leaves the partitions before it committed and the rest not:
 * the sink refuses further batches (begin), the loop stops, and the next
 * start recovers from the final files, which are consistent whatever the
 * point of failure. */
static int avro_commit(void *state, mw_err_t *err)
{
    avro_sink_t *sink = state;

    for (avro_part_t *part = sink->parts; part; part = part->next) {
        int rc = part_commit(sink, part, err);
        if (rc)
            return fail(sink, rc, err);
    }
    return 0;
}

/* Revoke (loop committed just before): the partition's open file rolls, or
 * its tail file is written (point 6), so the next owner, which resumes at
 * the last final file's next_offset, neither repeats nor misses its
 * records. */
static int avro_release(void *state, const char *topic, int32_t partition,
                        mw_err_t *err)
{
    avro_sink_t *sink = state;
    avro_part_t *part = part_get(sink, topic, partition, false, NULL);
    int rc;

    if (sink->failed)
        return mw_err_set(err, MW_ERR_STATE, "avro sink failed earlier: %s",
                          sink->reason);
    if (!part)
        return 0;
    part_drop_pending(part);
    rc = part->file ? part_roll(sink, part, part->committed_next, err)
                    : part_write_tail(sink, part, err);
    return rc ? fail(sink, rc, err) : 0;
}

/* Between batches: files idle for avro.roll.ms roll without waiting for a
 * record (their rows are committed; only their visibility was pending),
 * and so do tails without a file (point 6). */
static int avro_tick(void *state, mw_err_t *err)
{
    avro_sink_t *sink = state;
    int64_t now = mw_time_mono_ms();

    if (sink->failed)
        return 0; /* reported by health; begin refuses further batches */
    for (avro_part_t *part = sink->parts; part; part = part->next) {
        int rc = 0;

        if (part->file && now - part->file_opened_ms >= sink->roll_ms)
            rc = part_roll(sink, part, part->committed_next, err);
        else if (!part->file)
            rc = part_tail_due(sink, part, now, err);
        if (rc)
            return fail(sink, rc, err);
    }
    return 0;
}

static void avro_rollback(void *state)
{
    avro_sink_t *sink = state;

    for (avro_part_t *part = sink->parts; part; part = part->next)
        part_drop_pending(part);
}

static bool avro_health(void *state, char *reason, size_t reason_size)
{
    avro_sink_t *sink = state;

    if (sink->failed)
        snprintf(reason, reason_size, "avro sink: %s", sink->reason);
    return !sink->failed;
}

/* A clean stop (the loop committed its last batch just before): every
 * open file rolls and every tail without one is written (point 6), so
 * nothing committed waits for a replay.  A pending batch was not committed
 * and is dropped. */
static void avro_close(void *state)
{
    avro_sink_t *sink = state;

    if (!sink)
        return;
    while (sink->parts) {
        avro_part_t *part = sink->parts;
        mw_err_t err = {0};

        sink->parts = part->next;
        if (!sink->failed &&
            (part->file ? part_roll(sink, part, part->committed_next, &err)
                        : part_write_tail(sink, part, &err)) != 0)
            mw_log_error(COMP, "cannot roll file at close",
                         "topic=%s partition=%" PRId32 " error=%s", part->topic,
                         part->partition, mw_log_q(err.msg));
        mat_avro_file_discard(part->file);
        part_free(part);
    }
    while (sink->shapes) {
        avro_shape_t *shape = sink->shapes;
        sink->shapes = shape->next;
        shape_free(shape);
    }
    mw_buf_destroy(sink->scratch);
    free(sink->dir);
    free(sink);
}

/* ---- configuration ---- */

#define AVRO_SINK "avro"

static const mw_conf_key_t avro_keys[] = {
    {.name = "avro.dir",
     .type = MW_CONF_STR,
     .doc = "sink=" AVRO_SINK ": root of the <topic>/dt=YYYY-MM-DD/ layout."},
    {.name = "avro.roll.records",
     .type = MW_CONF_INT,
     .dflt = "100000",
     .min = 1,
     .max = 1000000000,
     .doc = "sink=" AVRO_SINK ": a file is closed after this many records."},
    {.name = "avro.roll.ms",
     .type = MW_CONF_INT,
     .dflt = "60000",
     .min = 1,
     .max = 86400000,
     .doc = "sink=" AVRO_SINK ": a file is closed and renamed once it has "
            "been open this long, at the next commit or, when idle, at the "
            "next tick (every batch.max.ms); an offset moved by records that "
            "made no row waits as long for its zero-row tail file."},
};

/* mw_conf_backend_t.check: runs at configuration time (exit 2). */
static int avro_check(const mw_conf_t *conf, mw_err_t *err)
{
    const char *dir = mw_conf_get_str(conf, "avro.dir");
    long long roll_records = mw_conf_get_int(conf, "avro.roll.records");
    long long roll_ms = mw_conf_get_int(conf, "avro.roll.ms");

    if (!dir || !*dir)
        return mw_err_set(err, MW_ERR_CONFIG,
                          "avro.dir is required when "
                          "sink=" AVRO_SINK);
    if (roll_records <= 0 || roll_ms <= 0)
        return mw_err_set(err, MW_ERR_CONFIG,
                          "avro.roll.records and "
                          "avro.roll.ms must be positive (got %lld and %lld)",
                          roll_records, roll_ms);
    return 0;
}

const mat_sink_ops_t mat_sink_avro_ops = {
    .conf = {.name = AVRO_SINK,
             .doc = "Hive-style files",
             .keys = avro_keys,
             .key_cnt = sizeof avro_keys / sizeof avro_keys[0],
             .check = avro_check},
    .open = avro_open,
    .load_offset = avro_load_offset,
    .begin = avro_begin,
    .ensure_table = avro_ensure_table,
    .apply = avro_apply,
    .store_offset = avro_store_offset,
    .commit = avro_commit,
    .rollback = avro_rollback,
    .release = avro_release,
    .tick = avro_tick,
    .health = avro_health,
    .close = avro_close,
};
