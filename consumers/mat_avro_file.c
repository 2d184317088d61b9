/*
 * mat_avro_file: one Avro object container file of the avro sink, and the
 * encoding of its rows.
 *
 * Why the header is written here and the blocks by avro-c: avro-c 1.11's
 * writer serialises the schema through its own model, which drops
 * logicalType attributes and has no user metadata.  So the file starts as a
 * header we write (magic, avro.schema with logical types, avro.codec =
 * deflate, meshwork.* metadata, a random sync marker) and avro-c's
 * avro_file_writer_open_bs() then appends compressed blocks to it, reading
 * schema, codec and sync marker back from that header.
 *
 * Invariants:
 *   - a file lives under its temporary name (.part-P-S.avro.tmp) until
 *     finish, which closes it, records meshwork.next_offset (the next
 *     offset to consume for the partition once this file is durable) in a
 *     fixed-width header slot, fsyncs it, renames it (never replacing an
 *     existing file) and fsyncs the directory: a final name always denotes
 *     a complete, durable file;
 *   - rows are encoded by hand in Avro binary (metadata columns first, then
 *     the table's columns, each a ["null", T] union), so a row of an older
 *     table shape becomes a row of a newer one by appending null branches.
 *
 * Thread: the materializer's loop thread.
 */
#include "mat_avro_int.h"

#include <assert.h>
#include <avro.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>

#include <jansson.h>

#include "av_varint.h"

#define NEXT_WIDTH 20 /* digits of meshwork.next_offset, zero-padded */
#define HEADER_MAX ((size_t)16 << 20)

struct mat_avro_file {
    char *tmp_path;
    char *final_path;
    char *dir;
    avro_file_writer_t writer;
    long next_pos; /* byte position of meshwork.next_offset's digits */
    int64_t rows;
};

/* ---- Avro binary encoding ---- */

static int put_long(mw_buf_t *out, int64_t v)
{
    uint8_t b[AV_VARINT_MAX];

    return mw_buf_append(out, b, av_varint_put(b, v));
}

static int put_bytes(mw_buf_t *out, const void *p, size_t len)
{
    int rc = put_long(out, (int64_t)len);

    return rc ? rc : mw_buf_append(out, p, len);
}

static int put_str(mw_buf_t *out, const char *s)
{
    return put_bytes(out, s, strlen(s));
}

static int put_le(mw_buf_t *out, uint64_t bits, size_t n)
{
    uint8_t b[8];

    return mw_buf_append(out, b, av_le_put(b, bits, n));
}

/* Decimal text ("-12.5") -> the unscaled value at `scale` as big-endian
 * two's complement, the Avro decimal encoding.  Digits beyond scale must be
 * zeros: rounding would change the value silently. */
static int put_decimal(mw_buf_t *out, const char *s, size_t len, int scale,
                       mw_err_t *err)
{
    uint8_t mag[64] = {0}; /* 512 bits: more than any decimal precision */
    size_t i = 0;
    bool neg = false, dot = false;
    int frac = 0;

    if (i < len && (s[i] == '-' || s[i] == '+'))
        neg = s[i++] == '-';
    for (; i < len || frac < scale; i++) {
        int d;

        if (i < len && s[i] == '.' && !dot) {
            dot = true;
            continue;
        }
        if (i < len && (s[i] < '0' || s[i] > '9'))
            goto bad;
        d = i < len ? s[i] - '0' : 0;
        if (dot && frac >= scale) {
            if (d != 0)
                goto bad;
            continue;
        }
        frac += dot || i >= len;
        for (int k = (int)sizeof(mag) - 1, carry = d; k >= 0; k--) {
            carry += mag[k] * 10;
            mag[k] = (uint8_t)carry;
            carry >>= 8;
        }
    }
    if (neg) { /* two's complement of the magnitude */
        int carry = 1;
        for (int k = (int)sizeof(mag) - 1; k >= 0; k--) {
            carry += (uint8_t)~mag[k];
            mag[k] = (uint8_t)carry;
            carry >>= 8;
        }
    }
    /* Drop redundant sign bytes, keeping the sign bit of the next one. */
    size_t start = 0;
    uint8_t fill = neg ? 0xff : 0x00;
    while (start + 1 < sizeof(mag) && mag[start] == fill &&
           ((mag[start + 1] ^ fill) & 0x80) == 0)
        start++;
    return put_bytes(out, mag + start, sizeof(mag) - start);
bad:
    return mw_err_set(err, MW_ERR_INVALID,
                      "decimal '%.*s' does not fit scale %d", (int)len, s,
                      scale);
}

static int put_value(mw_buf_t *out, const mat_column_t *col,
                     const mat_value_t *v, mw_err_t *err)
{
    switch (col->type) {
    case MAT_COL_BOOL:
        return mw_buf_append(out, v->u.b ? "\1" : "\0", 1);
    case MAT_COL_INT32:
    case MAT_COL_DATE:
        return put_long(out, (int32_t)v->u.i);
    case MAT_COL_INT64:
    case MAT_COL_TIME_MICROS:
    case MAT_COL_TIMESTAMP_MICROS:
        return put_long(out, v->u.i);
    case MAT_COL_FLOAT: {
        float f = (float)v->u.d;
        uint32_t bits;
        memcpy(&bits, &f, sizeof(bits));
        return put_le(out, bits, 4);
    }
    case MAT_COL_DOUBLE: {
        uint64_t bits;
        memcpy(&bits, &v->u.d, sizeof(bits));
        return put_le(out, bits, 8);
    }
    case MAT_COL_DECIMAL:
        return put_decimal(out, v->u.s.ptr, v->u.s.len, col->scale, err);
    case MAT_COL_TEXT:
    case MAT_COL_BYTES:
    case MAT_COL_UUID:
    case MAT_COL_JSON:
    case MAT_COL__CNT:
        break;
    }
    return put_bytes(out, v->u.s.ptr, v->u.s.len);
}

/* _op: the change kind as analysts read it in the history: the change
 * event's own op letter (c, u, d, r), else what a plain record did. */
static const char *op_text(const mat_change_t *change, char letter[2])
{
    if (change->src_op) {
        letter[0] = change->src_op;
        letter[1] = '\0';
        return letter;
    }
    switch (change->op) {
    case MAT_OP_UPSERT:
        return "upsert";
    case MAT_OP_DELETE:
        return "delete";
    case MAT_OP_APPEND:
        break;
    }
    return "append";
}

int mat_avro_encode_row(mw_buf_t *out, const mat_table_t *table,
                        const mat_change_t *change, mw_err_t *err)
{
    char letter[2];
    int rc = put_str(out, change->topic);

    rc = rc ? rc : put_long(out, change->partition);
    rc = rc ? rc : put_long(out, change->offset);
    rc = rc ? rc : put_str(out, op_text(change, letter));
    /* _ts_ms is null when the change carries no source timestamp. */
    rc = rc ? rc : put_long(out, change->source_ts_ms >= 0);
    if (!rc && change->source_ts_ms >= 0)
        rc = put_long(out, change->source_ts_ms);
    for (size_t i = 0; !rc && i < table->col_cnt; i++) {
        const mat_column_t *col = &table->cols[i];
        const mat_value_t *v = &change->values[i];

        if (v->is_null || (change->op == MAT_OP_DELETE && !col->is_key)) {
            rc = put_long(out, 0);
            continue;
        }
        rc = put_long(out, 1);
        rc = rc ? rc : put_value(out, col, v, err);
    }
    if (rc == MW_ERR_INVALID)
        return mw_err_prefix(err, "%s[%" PRId32 "]@%" PRId64, change->topic,
                             change->partition, change->offset);
    if (rc)
        return mw_err_set(err, rc,
                          "row of %s[%" PRId32 "]@%" PRId64
                          " does not fit the batch buffer",
                          change->topic, change->partition, change->offset);
    return 0;
}

/* ---- schema ---- */

static bool is_name_char(char c, bool first)
{
    return c == '_' || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
           (!first && c >= '0' && c <= '9');
}

static bool is_avro_name(const char *s)
{
    if (!s || !*s)
        return false;
    for (const char *p = s; *p; p++)
        if (!is_name_char(*p, p == s))
            return false;
    return true;
}

static json_t *logical(const char *base, const char *logical_type)
{
    return json_pack("{s:s, s:s}", "type", base, "logicalType", logical_type);
}

static json_t *col_type(const mat_column_t *col)
{
    switch (col->type) {
    case MAT_COL_BOOL:
        return json_string("boolean");
    case MAT_COL_INT32:
        return json_string("int");
    case MAT_COL_INT64:
        return json_string("long");
    case MAT_COL_FLOAT:
        return json_string("float");
    case MAT_COL_DOUBLE:
        return json_string("double");
    case MAT_COL_BYTES:
        return json_string("bytes");
    case MAT_COL_DECIMAL:
        return json_pack("{s:s, s:s, s:i, s:i}", "type", "bytes", "logicalType",
                         "decimal", "precision", col->precision, "scale",
                         col->scale);
    case MAT_COL_DATE:
        return logical("int", "date");
    case MAT_COL_TIME_MICROS:
        return logical("long", "time-micros");
    case MAT_COL_TIMESTAMP_MICROS:
        return logical("long", "timestamp-micros");
    case MAT_COL_UUID:
        return logical("string", "uuid");
    case MAT_COL_TEXT:
    case MAT_COL_JSON:
    case MAT_COL__CNT:
        break;
    }
    return json_string("string");
}

static int add_field(json_t *fields, const char *name, json_t *type,
                     bool nullable)
{
    json_t *f;

    if (!type)
        return MW_ERR_NOMEM;
    if (nullable)
        f = json_pack("{s:s, s:[s,o], s:n}", "name", name, "type", "null", type,
                      "default");
    else
        f = json_pack("{s:s, s:o}", "name", name, "type", type);
    return f && json_array_append_new(fields, f) == 0 ? 0 : MW_ERR_NOMEM;
}

static const char *const meta_names[MAT_AVRO_META_CNT] = {
    "_topic", "_partition", "_offset", "_op", "_ts_ms"};

static int add_meta_fields(json_t *fields)
{
    int rc = add_field(fields, meta_names[0], json_string("string"), false);

    rc = rc ? rc : add_field(fields, meta_names[1], json_string("int"), false);
    rc = rc ? rc : add_field(fields, meta_names[2], json_string("long"), false);
    rc = rc ? rc
            : add_field(fields, meta_names[3], json_string("string"), false);
    return rc ? rc
              : add_field(fields, meta_names[4],
                          logical("long", "timestamp-millis"), true);
}

static int check_col_name(const mat_table_t *table, const char *name,
                          mw_err_t *err)
{
    if (!is_avro_name(name))
        return mw_err_set(err, MW_ERR_INVALID,
                          "table %s: column '%s' is not a valid Avro name",
                          table->name, name);
    for (size_t i = 0; i < MAT_AVRO_META_CNT; i++)
        if (strcmp(name, meta_names[i]) == 0)
            return mw_err_set(err, MW_ERR_INVALID,
                              "table %s: column '%s' clashes with the avro "
                              "sink's metadata column",
                              table->name, name);
    return 0;
}

char *mat_avro_schema_json(const mat_table_t *table, mw_err_t *err)
{
    json_t *fields = json_array(), *rec = NULL;
    char *text = NULL;
    int rc = fields ? add_meta_fields(fields) : MW_ERR_NOMEM;

    for (size_t i = 0; !rc && i < table->col_cnt; i++) {
        rc = check_col_name(table, table->cols[i].name, err);
        if (rc)
            goto out;
        rc = add_field(fields, table->cols[i].name, col_type(&table->cols[i]),
                       true);
    }
    if (!rc) {
        /* The record name is informative only; a table name that is not
         * a valid Avro name (leading digit) falls back to "row". */
        const char *name = is_avro_name(table->name) ? table->name : "row";
        rec = json_pack("{s:s, s:s, s:s, s:O}", "type", "record", "name", name,
                        "namespace", "meshwork.materializer", "fields", fields);
        text = rec ? json_dumps(rec, JSON_COMPACT) : NULL;
    }
    if (!text && !rc)
        rc = MW_ERR_NOMEM;
    if (rc == MW_ERR_NOMEM)
        mw_err_set(err, rc, "table %s: out of memory building the Avro schema",
                   table->name);
out:
    json_decref(rec);
    json_decref(fields);
    return text;
}

/* ---- container file ---- */

static int io_err(mw_err_t *err, const char *what, const char *path)
{
    int e = errno;

    return mw_err_set(err, e == EEXIST ? MW_ERR_EXISTS : MW_ERR_IO,
                      "%s '%s': %s", what, path, strerror(e));
}

int mat_avro_fsync_dir(const char *dir, mw_err_t *err)
{
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

    if (fd < 0)
        return io_err(err, "cannot open directory", dir);
    if (fsync(fd) != 0) {
        int rc = io_err(err, "cannot fsync directory", dir);
        close(fd);
        return rc;
    }
    close(fd);
    return 0;
}

/* The header as the Avro spec lays it out: magic, the metadata map (one
 * block), the sync marker.  *next_pos gets the position of the digits of
 * meshwork.next_offset, patched at finish. */
static int build_header(mw_buf_t *hdr, const mat_avro_file_spec_t *spec,
                        long *next_pos)
{
    char num[32], next[NEXT_WIDTH + 1];
    uint8_t sync[16];
    int rc = mw_buf_append(hdr, "Obj\1", 4);

    if (getrandom(sync, sizeof(sync), 0) != (ssize_t)sizeof(sync))
        return MW_ERR_IO;
    rc = rc ? rc : put_long(hdr, 6);
    rc = rc ? rc : put_str(hdr, "avro.schema");
    rc = rc ? rc : put_str(hdr, spec->schema_json);
    rc = rc ? rc : put_str(hdr, "avro.codec");
    rc = rc ? rc : put_str(hdr, "deflate");
    rc = rc ? rc : put_str(hdr, "meshwork.topic");
    rc = rc ? rc : put_str(hdr, spec->topic);
    snprintf(num, sizeof(num), "%" PRId32, spec->partition);
    rc = rc ? rc : put_str(hdr, "meshwork.partition");
    rc = rc ? rc : put_str(hdr, num);
    snprintf(num, sizeof(num), "%" PRId64, spec->start_offset);
    rc = rc ? rc : put_str(hdr, "meshwork.start_offset");
    rc = rc ? rc : put_str(hdr, num);
    memset(next, '0', NEXT_WIDTH);
    next[NEXT_WIDTH] = '\0';
    rc = rc ? rc : put_str(hdr, "meshwork.next_offset");
    rc = rc ? rc : put_long(hdr, NEXT_WIDTH);
    *next_pos = (long)mw_buf_len(hdr);
    rc = rc ? rc : mw_buf_append(hdr, next, NEXT_WIDTH);
    rc = rc ? rc : put_long(hdr, 0);
    return rc ? rc : mw_buf_append(hdr, sync, sizeof(sync));
}

static int write_all(int fd, const char *p, size_t len)
{
    while (len > 0) {
        ssize_t n = write(fd, p, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return -1;
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

static int create_tmp(mat_avro_file_t *file, const mat_avro_file_spec_t *spec,
                      mw_err_t *err)
{
    mw_buf_t *hdr = mw_buf_new(HEADER_MAX);
    int fd, rc;

    if (!hdr)
        return mw_err_set(err, MW_ERR_NOMEM, "out of memory");
    rc = build_header(hdr, spec, &file->next_pos);
    if (rc) {
        mw_buf_destroy(hdr);
        return mw_err_set(err, rc, "cannot build the header of '%s'",
                          file->tmp_path);
    }
    fd = open(file->tmp_path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    if (fd < 0) {
        mw_buf_destroy(hdr);
        return io_err(err, "cannot create", file->tmp_path);
    }
    rc = write_all(fd, mw_buf_data(hdr), mw_buf_len(hdr));
    if (rc)
        rc = io_err(err, "cannot write", file->tmp_path);
    close(fd);
    mw_buf_destroy(hdr);
    if (rc)
        unlink(file->tmp_path);
    return rc;
}

static void file_free(mat_avro_file_t *file)
{
    free(file->tmp_path);
    free(file->final_path);
    free(file->dir);
    free(file);
}

/* asprintf without its undefined pointer on failure. */
static char *path_printf(const char *fmt, ...)
    __attribute__((format(printf, 1, 2)));
static char *path_printf(const char *fmt, ...)
{
    va_list ap;
    char *s;
    int n;

    va_start(ap, fmt);
    n = vasprintf(&s, fmt, ap);
    va_end(ap);
    return n < 0 ? NULL : s;
}

mat_avro_file_t *mat_avro_file_open(const mat_avro_file_spec_t *spec,
                                    mw_err_t *err)
{
    mat_avro_file_t *file = calloc(1, sizeof(*file));

    if (file) {
        file->dir = strdup(spec->dir);
        file->tmp_path =
            path_printf("%s/.part-%" PRId32 "-%" PRId64 ".avro.tmp", spec->dir,
                        spec->partition, spec->start_offset);
        file->final_path =
            path_printf("%s/part-%" PRId32 "-%" PRId64 ".avro", spec->dir,
                        spec->partition, spec->start_offset);
    }
    if (!file || !file->dir || !file->tmp_path || !file->final_path) {
        if (file)
            file_free(file);
        mw_err_set(err, MW_ERR_NOMEM, "out of memory");
        return NULL;
    }
    if (create_tmp(file, spec, err) != 0) {
        file_free(file);
        return NULL;
    }
    if (avro_file_writer_open_bs(file->tmp_path, &file->writer,
                                 MAT_AVRO_ROW_MAX) != 0) {
        mw_err_set(err, MW_ERR_IO, "avro-c cannot open '%s': %s",
                   file->tmp_path, avro_strerror());
        unlink(file->tmp_path);
        file_free(file);
        return NULL;
    }
    return file;
}

int mat_avro_file_append(mat_avro_file_t *file, const void *row, size_t len,
                         mw_err_t *err)
{
    if (avro_file_writer_append_encoded(file->writer, row, (int64_t)len) != 0)
        return mw_err_set(err, MW_ERR_IO, "avro-c cannot append to '%s': %s",
                          file->tmp_path, avro_strerror());
    file->rows++;
    return 0;
}

int64_t mat_avro_file_rows(const mat_avro_file_t *file)
{
    return file->rows;
}

/* Writes next_offset into the header slot and fsyncs the whole file (the
 * blocks avro-c wrote included: fsync covers the inode, whichever
 * descriptor wrote the data). */
static int seal(mat_avro_file_t *file, int64_t next_offset, mw_err_t *err)
{
    char digits[NEXT_WIDTH + 8];
    int fd = open(file->tmp_path, O_WRONLY | O_CLOEXEC);
    int rc = 0;

    if (fd < 0)
        return io_err(err, "cannot reopen", file->tmp_path);
    snprintf(digits, sizeof(digits), "%0*" PRId64, NEXT_WIDTH, next_offset);
    if (pwrite(fd, digits, NEXT_WIDTH, file->next_pos) != NEXT_WIDTH)
        rc = io_err(err, "cannot write the header of", file->tmp_path);
    else if (fsync(fd) != 0)
        rc = io_err(err, "cannot fsync", file->tmp_path);
    close(fd);
    return rc;
}

/* rename() that never replaces: a final file that already exists was
 * produced by another writer of the partition, and overwriting it would
 * hide or duplicate rows. */
static int rename_noreplace(const char *from, const char *to)
{
    if (renameat2(AT_FDCWD, from, AT_FDCWD, to, RENAME_NOREPLACE) == 0)
        return 0;
    if (errno != EINVAL && errno != ENOSYS)
        return -1;
    /* File systems without RENAME_NOREPLACE: link() refuses an existing
     * target too; a crash between link and unlink leaves the temporary
     * name, which load_offset removes. */
    if (link(from, to) != 0)
        return -1;
    return unlink(from);
}

int mat_avro_file_finish(mat_avro_file_t *file, int64_t next_offset,
                         mw_err_t *err)
{
    int rc = 0;

    assert(next_offset >= 0);
    if (avro_file_writer_close(file->writer) != 0)
        rc = mw_err_set(err, MW_ERR_IO, "avro-c cannot close '%s': %s",
                        file->tmp_path, avro_strerror());
    file->writer = NULL;
    rc = rc ? rc : seal(file, next_offset, err);
    if (!rc && rename_noreplace(file->tmp_path, file->final_path) != 0)
        rc = io_err(err, "cannot rename to", file->final_path);
    if (rc) {
        unlink(file->tmp_path);
        file_free(file);
        return rc;
    }
    rc = mat_avro_fsync_dir(file->dir, err);
    file_free(file);
    return rc;
}

void mat_avro_file_discard(mat_avro_file_t *file)
{
    if (!file)
        return;
    if (file->writer)
        avro_file_writer_close(file->writer);
    unlink(file->tmp_path);
    file_free(file);
}

/* ---- reading our header back ---- */

static int get_long(FILE *fp, int64_t *v)
{
    uint64_t z = 0;

    for (int shift = 0; shift < 64; shift += 7) {
        int c = getc(fp);
        if (c == EOF)
            return -1;
        z |= (uint64_t)(c & 0x7f) << shift;
        if (!(c & 0x80)) {
            *v = (int64_t)(z >> 1) ^ -(int64_t)(z & 1);
            return 0;
        }
    }
    return -1;
}

/* What the sink reads back from a header. */
typedef struct header_vals {
    char next[NEXT_WIDTH + 8]; /* meshwork.next_offset, "" until found */
    char **schema_json;        /* avro.schema wanted when not NULL */
} header_vals_t;

/* Reads one metadata entry, keeping the values header_vals_t wants. */
static int get_entry(FILE *fp, header_vals_t *vals)
{
    static const char key_next[] = "meshwork.next_offset";
    static const char key_schema[] = "avro.schema";
    char key[64];
    int64_t len;
    bool is_next = false, is_schema = false;

    if (get_long(fp, &len) || len < 0 || (size_t)len > HEADER_MAX)
        return -1;
    if ((size_t)len < sizeof(key)) {
        if (fread(key, 1, (size_t)len, fp) != (size_t)len)
            return -1;
        key[len] = '\0';
        is_next = strcmp(key, key_next) == 0;
        is_schema = vals->schema_json && strcmp(key, key_schema) == 0;
    } else if (fseek(fp, (long)len, SEEK_CUR) != 0) {
        return -1;
    }
    if (get_long(fp, &len) || len < 0 || (size_t)len > HEADER_MAX)
        return -1;
    if (is_next && (size_t)len < sizeof(vals->next)) {
        if (fread(vals->next, 1, (size_t)len, fp) != (size_t)len)
            return -1;
        vals->next[len] = '\0';
        return 0;
    }
    if (is_schema && !*vals->schema_json) {
        char *text = malloc((size_t)len + 1);
        if (!text || fread(text, 1, (size_t)len, fp) != (size_t)len) {
            free(text);
            return -1;
        }
        text[len] = '\0';
        *vals->schema_json = text;
        return 0;
    }
    return fseek(fp, (long)len, SEEK_CUR) == 0 ? 0 : -1;
}

/* Walks the whole metadata map: our files write avro.schema before
 * meshwork.next_offset, but nothing in the format promises an order. */
static int scan_header(FILE *fp, header_vals_t *vals)
{
    char magic[4];
    int64_t cnt, size;

    if (fread(magic, 1, 4, fp) != 4 || memcmp(magic, "Obj\1", 4) != 0)
        return -1;
    while (get_long(fp, &cnt) == 0) {
        if (cnt == 0)
            return vals->next[0] ? 0 : -1;
        if (cnt < 0 && get_long(fp, &size) != 0) /* block byte size */
            return -1;
        for (int64_t i = 0; i < (cnt < 0 ? -cnt : cnt); i++)
            if (get_entry(fp, vals) != 0)
                return -1;
    }
    return -1;
}

int mat_avro_file_read_header(const char *path, int64_t *next_offset,
                              char **schema_json, mw_err_t *err)
{
    header_vals_t vals = {.schema_json = schema_json};
    char *end;
    FILE *fp = fopen(path, "rbe");
    int rc;

    if (schema_json)
        *schema_json = NULL;
    if (!fp)
        return io_err(err, "cannot open", path);
    rc = scan_header(fp, &vals);
    fclose(fp);
    if (rc == 0 && (!schema_json || *schema_json)) {
        errno = 0;
        *next_offset = strtoll(vals.next, &end, 10);
        if (errno == 0 && *end == '\0' && end != vals.next && *next_offset >= 0)
            return 0;
    }
    if (schema_json) {
        free(*schema_json);
        *schema_json = NULL;
    }
    return mw_err_set(err, MW_ERR_INVALID,
                      "'%s' is not an Avro file of the avro sink (no "
                      "meshwork.next_offset%s in its header)",
                      path, schema_json ? " or avro.schema" : "");
}
