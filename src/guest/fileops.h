/* One-shot file calls: stat, list, mkdir, remove and move. Each decodes its
 * request strictly, acts inside the sandbox's root and answers with the JSON
 * for its RESULT frame. */
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "base/err.h"

/* type is FRAME_FILE_{STAT,LIST,MKDIR,REMOVE,MOVE}. On success *ret_json is
 * the RESULT payload (at most one frame). */
int fileops_run(const char *workdir, uint16_t type, const void *payload, size_t len,
                char **ret_json, struct runra_err **err);
