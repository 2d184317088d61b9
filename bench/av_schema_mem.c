/*
 * av_schema_mem: heap bytes one parsed schema keeps (the registry's
 * memory goal).  Parses 10,000 distinct copies of the registry benchmark's
 * 10-field record (the serde benchmark's Order, first field renamed f<i>
 * so no two texts are equal), keeps them all alive and prints the heap
 * growth per schema as seen by glibc (mallinfo2: bytes in use, which
 * includes malloc's own per-chunk overhead) and the resident set growth
 * (/proc/self/statm).  The JSON text itself is built before the first
 * measurement and is not counted.
 *
 *     build/bench/av_schema_mem [count]
 */
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "mw_err.h"
#include "av_schema.h"
#include "bench_order.h"

#define DEFAULT_COUNT 10000

#define FMT_TEXT                                                               \
    BENCH_ORDER_OPEN "{\"name\":\"f%d\",\"type\":\"long\"}," BENCH_ORDER_MONEY \
                     "{\"name\":\"qty\",\"type\":\"int\"}," BENCH_ORDER_TAIL   \
                     "]}"

/* Resident pages of this process. */
static long rss_bytes(void)
{
    long size = 0, res = 0;
    FILE *f = fopen("/proc/self/statm", "r");
    if (!f)
        return 0;
    if (fscanf(f, "%ld %ld", &size, &res) != 2)
        res = 0;
    fclose(f);
    return res * sysconf(_SC_PAGESIZE);
}

int main(int argc, char **argv)
{
    int count = argc > 1 ? atoi(argv[1]) : DEFAULT_COUNT;
    if (count <= 0)
        count = DEFAULT_COUNT;
    char **texts = calloc((size_t)count, sizeof(*texts));
    av_schema_t **schemas = calloc((size_t)count, sizeof(*schemas));
    if (!texts || !schemas)
        return 1;
    for (int i = 0; i < count; i++)
        if (asprintf(&texts[i], FMT_TEXT, i) < 0)
            return 1;

    /* One parse first so one-time allocations (jansson's hash seed, the
     * error tables) are outside the window. */
    mw_err_t err = {0};
    av_schema_release(
        av_schema_parse(texts[0], strlen(texts[0]), NULL, 0, &err));
    malloc_trim(0);
    struct mallinfo2 before = mallinfo2();
    long rss_before = rss_bytes();
    for (int i = 0; i < count; i++) {
        schemas[i] = av_schema_parse(texts[i], strlen(texts[i]), NULL, 0, &err);
        if (!schemas[i]) {
            fprintf(stderr, "parse failed: %s\n", err.msg);
            return 1;
        }
    }
    struct mallinfo2 after = mallinfo2();
    long rss_after = rss_bytes();

    double heap = (double)(after.uordblks + after.hblkhd) -
                  (double)(before.uordblks + before.hblkhd);
    printf("schemas: %d, text %zu bytes, normalized %zu bytes\n", count,
           strlen(texts[0]), strlen(av_schema_normalized(schemas[0])));
    printf("heap bytes per parsed schema: %.0f\n", heap / count);
    printf("rss bytes per parsed schema:  %.0f\n",
           (double)(rss_after - rss_before) / count);

    for (int i = 0; i < count; i++) {
        av_schema_release(schemas[i]);
        free(texts[i]);
    }
    free(schemas);
    free(texts);
    return 0;
}
