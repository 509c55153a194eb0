/* libFuzzer target: image references. Whatever parses must print back to a
 * canonical string that parses again to the same fields (a fixed point), and
 * its parts must keep to the grammar's bounds. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "image/ref.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int same(const char *a, const char *b) { return (!a && !b) || (a && b && !strcmp(a, b)); }

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *s = malloc(size + 1);
    if (!s)
        return 0;
    memcpy(s, data, size);
    s[size] = 0;
    struct image_ref r;
    struct runra_err *e = NULL;
    if (image_ref_parse(s, &r, &e) == 0) {
        if (!r.registry || !r.repository || (!r.tag && !r.digest) ||
            strlen(r.registry) + 1 + strlen(r.repository) > IMAGE_NAME_MAX ||
            (r.tag && strlen(r.tag) > IMAGE_TAG_MAX) || (r.digest && !image_digest_ok(r.digest)))
            abort();
        char *canon = image_ref_string(&r);
        struct image_ref r2;
        if (!canon || image_ref_parse(canon, &r2, NULL) != 0)
            abort();
        if (!same(r.registry, r2.registry) || !same(r.repository, r2.repository) ||
            !same(r.tag, r2.tag) || !same(r.digest, r2.digest))
            abort();
        image_ref_done(&r2);
        free(canon);
        image_ref_done(&r);
    }
    err_free(e);
    free(s);
    return 0;
}
