/* libFuzzer target: hostile tar (or gzip'd tar) streams unpacked for real
 * into a scratch directory. Besides memory errors it checks confinement:
 * the directory holding the target must never gain another entry. */
#include <dirent.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/util.h"
#include "tar/tarx.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char top[] = "/tmp/runra-fuzz-tar-XXXXXX";
static char target[64];

static size_t entries_in(const char *dir)
{
    DIR *d = opendir(dir);
    size_t n = 0;
    struct dirent *de;
    while (d && (de = readdir(d)))
        n += strcmp(de->d_name, ".") && strcmp(de->d_name, "..");
    if (d)
        closedir(d);
    return n;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!target[0]) {
        if (!mkdtemp(top))
            abort();
        snprintf(target, sizeof(target), "%s/t", top);
    }
    rm_rf(target);
    if (mkdir(target, 0755) < 0)
        abort();
    int afd = memfd_create("fuzz", MFD_CLOEXEC);
    if (afd < 0 || write_full(afd, data, size) < 0)
        abort();
    int root = open(target, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    struct tarx_unpack *u = NULL;
    struct runra_err *e = NULL;
    int r = tarx_unpack_new(afd, root, &u, &e);
    for (int steps = 0; r >= 0 && steps < 100000 && (r = tarx_unpack_step(u, &e)) == 0; steps++)
        ;
    tarx_unpack_free(u);
    err_free(e);
    if (entries_in(top) != 1)
        abort(); /* something was written beside the target */
    return 0;
}
