/* The VM cache's templates (vm-snapshot.c makes them), each a dir
 * templates/KEY holding snap (the saved VM) and disk (its sandbox disk),
 * published whole by one rename; KEY.wanted marks a shape's first create
 * (its second builds the template) and KEY.failed a build that failed
 * (vm-snapshot.c tries none again for an hour). Everything in the cache
 * is runrad's own: nothing here reads what a guest or QEMU wrote. */
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "base/err.h"

/* Keeps the kept templates of dir used last (a use touches KEY/snap), keep
 * (a KEY, never removed) among them, and removes the others; marks older
 * than max_mark_age_s; what a build left (build.* and KEY.new dirs); and
 * what an older runrad laid out (KEY.snap, KEY.snap.tmp and KEY.disk files). Call with
 * the cache locked (no build running). 0 with *ret_pruned (templates
 * removed), or -errno. */
int vm_cache_prune(const char *dir, const char *keep, size_t kept, int64_t now_s,
                   int64_t max_mark_age_s, size_t *ret_pruned, struct runra_err **err);

/* Copies size bytes of in to out (both from offset 0), leaving in's holes
 * holes and out size bytes long: copy_file_range, or reads and writes
 * where the kernel will not (out on another filesystem). */
int vm_sparse_copy(int in, int out, uint64_t size, struct runra_err **err);
