/* What the exec and process calls share: an exec's options as the request
 * body's JSON (exec.c), reused by the streaming exec (proc.c). */
#pragma once

#include <jansson.h>

#include "runra/runra.h"

int lib_exec_opts_json(const struct runra_exec_opts *o, json_t *body, struct runra_error **err);
