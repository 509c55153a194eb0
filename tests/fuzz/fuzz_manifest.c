/* libFuzzer target: whatever a registry or an archive hands over as a
 * manifest, index or config. Each parser either fails with a message or
 * returns fields that keep to their bounds and forms. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "image/manifest.h"
#include "image/ref.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *b = (const char *)data;
    struct runra_err *e = NULL;
    int k = manifest_kind(NULL, b, size, &e);
    if (k < 0 && (!e || !e->msg))
        abort();
    err_free(e);
    e = NULL;
    struct descriptor d;
    if (index_pick(b, size, "linux", "amd64", NULL, &d, &e) == 0) {
        if (!image_digest_ok(d.digest))
            abort();
        descriptor_done(&d);
    }
    err_free(e);
    e = NULL;
    struct image_manifest m;
    if (manifest_parse(b, size, &m, &e) == 0) {
        if (m.nlayers > MANIFEST_LAYERS_MAX || !image_digest_ok(m.config.digest))
            abort();
        for (size_t i = 0; i < m.nlayers; i++)
            if (!image_digest_ok(m.layers[i].digest) || m.compression[i] > LAYER_ZSTD)
                abort();
        image_manifest_done(&m);
    }
    err_free(e);
    e = NULL;
    struct image_config c;
    if (config_parse(b, size, &c, &e) == 0) {
        for (size_t i = 0; i < c.ndiff_ids; i++)
            if (!image_digest_ok(c.diff_ids[i]))
                abort();
        if (!c.env || (c.workdir && c.workdir[0] != '/'))
            abort();
        for (size_t i = 0; c.env[i]; i++)
            if (!strchr(c.env[i], '='))
                abort();
        image_config_done(&c);
    }
    err_free(e);
    return 0;
}
