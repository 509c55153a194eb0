/* libFuzzer target: sandbox create bodies as an API client could send. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "proto/spec.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct sandbox_spec *s = NULL;
    struct runra_err *e = NULL;
    if (spec_parse_json((const char *)data, size, &s, &e) == 0) {
        char *json = NULL;
        if (spec_to_json(s, true, &json) == 0) {
            /* What the store writes back must parse again. */
            struct sandbox_spec *s2 = NULL;
            struct runra_err *e2 = NULL;
            if (spec_parse_json(json, strlen(json), &s2, &e2) != 0)
                abort();
            spec_free(s2);
            err_free(e2);
            free(json);
        }
        spec_free(s);
    }
    err_free(e);
    return 0;
}
