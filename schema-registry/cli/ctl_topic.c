/*
 * ctl_topic: the topic commands of meshctl.  Parses the sub-command's own
 * options, calls bk_admin, prints with ctl_out.  Every admin call is
 * bounded (BK_ADMIN_TIMEOUT_MS), so an unreachable bootstrap ends with a
 * message naming the servers and exit 1, never a hang.
 *
 * describe also prints each partition's low and high watermarks: a low
 * watermark above 0 means the oldest records are gone, which on a real
 * Kafka is its retention at work, but on mesh-broker (the admin then runs
 * its embedded backend) is the development broker's fixed 5 MiB per
 * partition, worth a warning.
 */
#include "ctl_topic.h"

#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bk_admin.h"
#include "bk_consumer.h"
#include "ctl_out.h"

#define CTL_CONFIGS_MAX 64

static const char ctl_topic_usage[] =
    "usage: meshctl topic create NAME [--partitions N] [--replication N]\n"
    "                            [--config KEY=VALUE]... [--if-not-exists]\n"
    "       meshctl topic list\n"
    "       meshctl topic describe NAME\n";

/* Bad usage of this command: message, this command's usage, exit 2. */
#define ctl_usage(...) ctl_out_usage(ctl_topic_usage, __VA_ARGS__)

/* Parses a positive int option value; -1 when bad. */
static int ctl_parse_count(const char *s, int min)
{
    char *end;
    long v = strtol(s, &end, 10);

    if (*s == '\0' || *end != '\0' || v < min || v > 100000)
        return -1;
    return (int)v;
}

typedef struct ctl_create_args {
    const char *name;
    int partitions;
    int replication;
    bk_kv_t configs[CTL_CONFIGS_MAX];
    size_t config_cnt;
    int if_not_exists;
} ctl_create_args_t;

/* Fills args from argv; 0 or the usage exit code. */
static int ctl_create_parse(int argc, char **argv, ctl_create_args_t *args)
{
    static const struct option opts[] = {
        {"partitions", required_argument, NULL, 'p'},
        {"replication", required_argument, NULL, 'r'},
        {"config", required_argument, NULL, 'c'},
        {"if-not-exists", no_argument, NULL, 'e'},
        {NULL, 0, NULL, 0}};
    int c;

    optind = 0;
    opterr = 0;
    while ((c = getopt_long(argc, argv, ":", opts, NULL)) != -1) {
        char *eq;
        switch (c) {
        case 'p':
            if ((args->partitions = ctl_parse_count(optarg, 1)) < 0)
                return ctl_usage("option --partitions: '%s' is not a "
                                 "partition count (1..100000)",
                                 optarg);
            break;
        case 'r':
            if ((args->replication = ctl_parse_count(optarg, 1)) < 0)
                return ctl_usage("option --replication: '%s' is not a "
                                 "replication factor (1..100000)",
                                 optarg);
            break;
        case 'c':
            eq = strchr(optarg, '=');
            if (!eq || eq == optarg)
                return ctl_usage("option --config: '%s' is not KEY=VALUE",
                                 optarg);
            if (args->config_cnt == CTL_CONFIGS_MAX)
                return ctl_usage("option --config: more than %d configs",
                                 CTL_CONFIGS_MAX);
            *eq = '\0';
            args->configs[args->config_cnt].key = optarg;
            args->configs[args->config_cnt++].value = eq + 1;
            break;
        case 'e':
            args->if_not_exists = 1;
            break;
        case ':':
            return ctl_usage("option '%s' needs a value", argv[optind - 1]);
        default:
            return ctl_usage("unknown option '%s'", argv[optind - 1]);
        }
    }
    /* GNU getopt moved the operands behind the options. */
    if (optind < argc)
        args->name = argv[optind++];
    if (!args->name)
        return ctl_usage("topic create: missing topic NAME");
    if (optind < argc)
        return ctl_usage("unexpected argument '%s'", argv[optind]);
    return 0;
}

static int ctl_topic_create(bk_admin_t *admin, int argc, char **argv)
{
    ctl_create_args_t args = {.partitions = 1,
                              .replication = BK_REPLICATION_DEFAULT};
    mw_err_t err;
    int rc = ctl_create_parse(argc, argv, &args);

    if (rc)
        return rc;
    rc = bk_admin_create_topic(
        admin,
        &(bk_topic_spec_t){.name = args.name,
                           .partitions = args.partitions,
                           .replication = args.replication,
                           .configs = args.configs,
                           .config_cnt = args.config_cnt},
        &err);
    if (rc == MW_ERR_EXISTS && args.if_not_exists)
        return 0;
    if (rc) {
        ctl_out_error("topic create", &err);
        return 1;
    }
    fprintf(stderr, "meshctl: topic %s created (%d partitions)\n", args.name,
            args.partitions);
    return 0;
}

static int ctl_topic_list(bk_admin_t *admin, bool json)
{
    bk_topic_info_t *topics = NULL;
    size_t cnt = 0;
    mw_err_t err;

    if (bk_admin_list_topics(admin, &topics, &cnt, &err)) {
        ctl_out_error("topic list", &err);
        return 1;
    }
    ctl_out_topic_list(stdout, topics, cnt, json);
    bk_topic_list_destroy(topics, cnt);
    return 0;
}

/* Prints the watermarks of info's partitions, then one line per
 * partition whose oldest records are gone.  The consumer never joins its
 * group: it only asks the leaders for offsets.  1 when a query fails. */
static int ctl_topic_watermarks(const mw_conf_t *conf, bk_admin_t *admin,
                                const bk_topic_info_t *info)
{
    bool dev = strcmp(bk_admin_backend_name(admin), "embedded") == 0;
    bk_consumer_t *cons;
    bk_watermarks_t wm;
    int64_t *lows;
    mw_err_t err;
    int p, rc = 0;

    lows = calloc((size_t)info->partitions + 1, sizeof(*lows));
    cons = lows ? bk_consumer_new(conf, "meshctl-topic-describe", NULL, NULL,
                                  NULL, &err)
                : NULL;
    if (!cons) {
        if (!lows)
            mw_err_set(&err, MW_ERR_NOMEM, "out of memory");
        ctl_out_error("topic describe", &err);
        free(lows);
        return 1;
    }
    printf("watermarks:\n");
    for (p = 0; p < info->partitions && rc == 0; p++) {
        if (bk_consumer_watermarks(cons, info->name, p, &wm,
                                   BK_ADMIN_TIMEOUT_MS, &err) != 0) {
            ctl_out_error("topic describe", &err);
            rc = 1;
            break;
        }
        lows[p] = wm.low;
        printf("  partition %d: low=%" PRId64 " high=%" PRId64 "\n", p, wm.low,
               wm.high);
    }
    for (int i = 0; i < p && rc == 0; i++) {
        if (lows[i] <= 0)
            continue;
        if (dev)
            printf("warning: partition %d: the %" PRId64
                   " oldest records were dropped by mesh-broker's retention "
                   "(a development broker keeps only the newest 5 MiB or "
                   "100000 batches of a partition); use more partitions or a "
                   "real Kafka\n",
                   i, lows[i]);
        else
            printf("note: partition %d starts at offset %" PRId64
                   ": older records were removed by the topic's retention "
                   "or deleted (on mesh-broker: its 5 MiB-per-partition "
                   "limit)\n",
                   i, lows[i]);
    }
    bk_consumer_destroy(cons);
    free(lows);
    return rc;
}

static int ctl_topic_describe(const mw_conf_t *conf, bk_admin_t *admin,
                              const char *name, bool json)
{
    bk_topic_info_t *info = NULL;
    mw_err_t err;
    int rc = 0;

    if (bk_admin_describe_topic(admin, name, &info, &err)) {
        ctl_out_error("topic describe", &err);
        return 1;
    }
    ctl_out_topic(stdout, info, json);
    if (!json)
        rc = ctl_topic_watermarks(conf, admin, info);
    bk_topic_info_destroy(info);
    return rc;
}

int ctl_topic_main(const mw_conf_t *conf, int argc, char **argv)
{
    const char *sub = argc > 1 ? argv[1] : NULL;
    bool json = mw_conf_get_bool(conf, "json");
    bk_admin_t *admin;
    mw_err_t err;
    int rc;

    if (ctl_out_wants_help(argc, argv)) {
        fputs(ctl_topic_usage, stdout);
        return 0;
    }
    if (!sub || (strcmp(sub, "create") && strcmp(sub, "list") &&
                 strcmp(sub, "describe")))
        return ctl_usage("topic: unknown or missing sub-command '%s'",
                         sub ? sub : "");
    if (!strcmp(sub, "list") && argc != 2)
        return ctl_usage("unexpected argument '%s'", argv[2]);
    if (!strcmp(sub, "describe") && argc != 3)
        return ctl_usage("topic describe: expected exactly one NAME");
    if (!(admin = bk_admin_new(conf, &err))) {
        ctl_out_error("kafka admin", &err);
        return err.code == MW_ERR_CONFIG ? 2 : 1;
    }
    if (!strcmp(sub, "create"))
        rc = ctl_topic_create(admin, argc - 1, argv + 1);
    else if (!strcmp(sub, "list"))
        rc = ctl_topic_list(admin, json);
    else
        rc = ctl_topic_describe(conf, admin, argv[2], json);
    bk_admin_destroy(admin);
    return rc;
}
