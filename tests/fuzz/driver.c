/*
 * driver.c: the standalone main that replaces libFuzzer in the gcc build.
 * It reads each file named on the command line (a directory: each regular
 * file in it, sorted) and passes its bytes to LLVMFuzzerTestOneInput, so
 * the regression cases under tests/data/fuzz/<target>/ and the seed
 * corpora run in `make test` with ASan and UBSan, without clang.  A
 * failing case aborts (the sanitizers' exit code or SIGABRT) after the
 * line naming it; otherwise the last line is "fuzz driver: N inputs".
 */
#include "fz.h"

#include <dirent.h>
#include <errno.h>
#include <sys/stat.h>

static size_t run_file(const char *path)
{
    FILE *fp = fopen(path, "rb");
    uint8_t *buf = NULL;
    size_t len = 0, cap = 0, n;

    if (!fp) {
        fprintf(stderr, "fuzz driver: cannot read %s: %s\n", path,
                strerror(errno));
        exit(2);
    }
    do {
        if (len == cap) {
            cap = cap ? cap * 2 : 4096;
            if (!(buf = realloc(buf, cap)))
                fz_fail("out of memory reading %s", path);
        }
        n = fread(buf + len, 1, cap - len, fp);
        len += n;
    } while (n > 0);
    fclose(fp);
    fprintf(stderr, "fuzz driver: %s (%zu bytes)\n", path, len);
    /* An exact-size copy: a read past the end is ASan's to see. */
    uint8_t *exact = malloc(len ? len : 1);
    if (!exact)
        fz_fail("out of memory reading %s", path);
    memcpy(exact, buf, len);
    free(buf);
    LLVMFuzzerTestOneInput(exact, len);
    free(exact);
    return 1;
}

static int by_name(const struct dirent **a, const struct dirent **b)
{
    return strcmp((*a)->d_name, (*b)->d_name);
}

static size_t run_dir(const char *dir)
{
    struct dirent **names;
    int cnt = scandir(dir, &names, NULL, by_name);
    size_t done = 0;

    if (cnt < 0) {
        fprintf(stderr, "fuzz driver: cannot list %s: %s\n", dir,
                strerror(errno));
        exit(2);
    }
    for (int i = 0; i < cnt; i++) {
        char path[4096];
        struct stat st;

        snprintf(path, sizeof(path), "%s/%s", dir, names[i]->d_name);
        if (names[i]->d_name[0] != '.' && stat(path, &st) == 0 &&
            S_ISREG(st.st_mode))
            done += run_file(path);
        free(names[i]);
    }
    free(names);
    return done;
}

int main(int argc, char **argv)
{
    size_t done = 0;

    for (int i = 1; i < argc; i++) {
        struct stat st;

        if (stat(argv[i], &st) == 0 && S_ISDIR(st.st_mode))
            done += run_dir(argv[i]);
        else
            done += run_file(argv[i]);
    }
    printf("fuzz driver: %zu inputs\n", done);
    return 0;
}
