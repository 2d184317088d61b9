/*
 * ctl_out: how meshctl prints results: aligned tables for people, JSON
 * (--json) for scripts, one formatted line per consumed record, and error
 * messages on stderr.  Main thread only.
 */
#ifndef CTL_OUT_H
#define CTL_OUT_H

#include <stdbool.h>
#include <stdio.h>

#include <jansson.h>

#include "bk_admin.h"
#include "bk_consumer.h"
#include "mw_err.h"

/* `meshctl: <what>: <err->msg>` on stderr. */
void ctl_out_error(const char *what, const mw_err_t *err);

/* Topic list: a table NAME PARTITIONS REPLICATION, or
 * {"topics":[{"name","partitions","replication_factor"}]} with json. */
void ctl_out_topic_list(FILE *out, const bk_topic_info_t *topics, size_t cnt,
                        bool json);

/* One topic with its configs: key/value lines, or the JSON object
 * {"name","partitions","replication_factor","configs":{}}. */
void ctl_out_topic(FILE *out, const bk_topic_info_t *info, bool json);

/* Checks a record format: %t topic, %p partition, %o offset, %k key,
 * %v value, %T timestamp (ms), %% a percent sign.  0 or MW_ERR_CONFIG
 * naming the bad directive. */
int ctl_out_format_check(const char *fmt, mw_err_t *err);

/* Writes rec with fmt (checked) and a newline.  Null keys and values print
 * as empty. */
void ctl_out_record(FILE *out, const char *fmt, const bk_record_t *rec);

/* An aligned table: a header row of cols names, then rows rows of cols
 * cells each (cells[row * cols + col]; NULL prints as "-").  Columns are
 * as wide as their widest cell, two spaces apart. */
void ctl_out_table(FILE *out, const char *const *headers, size_t cols,
                   const char *const *cells, size_t rows);

/* root (consumed) as indented JSON and a newline. */
void ctl_out_json(FILE *out, json_t *root);

/* Whether argv (a command's arguments) asks for help (--help or -h): the
 * command then prints its usage on stdout and exits 0. */
bool ctl_out_wants_help(int argc, char **argv);

/* Prints "meshctl: <message>" and then usage to stderr; returns 2 (the
 * exit code for bad usage), so a parser can `return ctl_out_usage(...)`. */
int ctl_out_usage(const char *usage, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

#endif /* CTL_OUT_H */
