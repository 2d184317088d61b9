/*
 * av_proj: Avro binary straight to typed scalars at chosen paths, without
 * building a value: the consumer-side twin of the text transcoder
 * (av_jtext).  A materializer needs a few dozen scalars per record (the
 * row's columns, an envelope's op and timestamps); building the whole
 * jansson tree for them and then looking each one up by name is most of
 * its cost.
 *
 * A projection is compiled once from a serde plan (so writer -> reader
 * resolution is the plan's: promotions, skipped writer fields, enum and
 * union branch maps) and a list of paths of reader field names.  Reading
 * fills one slot per path.  A path that steps through a union takes the
 * branch the value holds; its null branch makes the slot (and every slot
 * below it) null.  A path naming a field the reader record lacks gives a
 * null slot on every record.  A path may end on a record (or a union of
 * it and null): its slot says whether the record is there, and longer
 * paths read its fields.
 *
 * Acceptance is av_serde_avro_to_json's, exactly: av_proj_read succeeds on
 * precisely the bytes that decode, with the same checks (lengths, varint
 * ranges, union and enum indexes, boolean bytes, UTF-8 of strings and map
 * keys by jansson's rule, nesting depth, trailing bytes), also in the
 * parts no path reads.  On failure it says nothing more: the caller asks
 * av_serde_avro_to_json for the message.  tests/unit/test_av_proj.c holds
 * the two readers to each other.
 *
 * Thread: a projection is immutable once built; any thread may read with
 * it.  It borrows its plan, which must outlive it.
 */
#ifndef AV_PROJ_H
#define AV_PROJ_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "mw_err.h"
#include "av_serde.h"

typedef struct av_proj av_proj_t;

/* What a slot holds.  Strings and enum symbols are AV_PV_STRING (valid
 * UTF-8); bytes and fixed AV_PV_BYTES; int and long AV_PV_INT; float,
 * double and the promotions to them AV_PV_REAL. */
typedef enum av_pv_kind {
    AV_PV_NULL = 0, /* null, a null union branch, or no such field */
    AV_PV_BOOL,
    AV_PV_INT,
    AV_PV_REAL,
    AV_PV_STRING,
    AV_PV_BYTES,
    AV_PV_RECORD /* the path ends on a record, which is there */
} av_pv_kind_t;

/* One slot.  s.ptr points into the input (or at the reader's enum symbol)
 * and is not NUL-terminated. */
typedef struct av_pv {
    uint8_t kind; /* av_pv_kind_t */
    union {
        bool b;
        int64_t i;
        double d;
        struct {
            const char *ptr;
            size_t len;
        } s;
    } u;
} av_pv_t;

/* A path of reader field names from the root; cnt 0 is the root value. */
typedef struct av_proj_path {
    const char *const *names;
    size_t cnt;
} av_proj_path_t;

/* Compiles the projection of paths[0 .. path_cnt-1] (borrowed for the
 * call) over plan (borrowed for the projection's life).  NULL with err =
 * MW_ERR_UNSUPPORTED when a path ends on an array, a map or a union with
 * such a branch, steps into something that is not a record (or a union of
 * one record and null), or reaches a reader field the writer lacks (its
 * default is the tree path's job); MW_ERR_INVALID for two equal paths;
 * MW_ERR_NOMEM. */
av_proj_t *av_proj_new(const av_serde_plan_t *plan, const av_proj_path_t *paths,
                       size_t path_cnt, mw_err_t *err);
void av_proj_destroy(av_proj_t *proj);

/* Reads exactly len bytes of Avro binary (no Confluent header) written with
 * the plan's writer, filling slots[0 .. path_cnt-1] (every slot is set).
 * 0, or -1 exactly when av_serde_avro_to_json refuses the same bytes (the
 * slots are then meaningless).  Slots borrow from data. */
int av_proj_read(const av_proj_t *proj, const void *data, size_t len,
                 av_pv_t *slots);

#endif /* AV_PROJ_H */
