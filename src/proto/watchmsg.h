/* Guest messages and named limits of file watch (WATCH). The request is
 * {"path","recursive"}; events travel as DATA frames of NDJSON lines
 * {"type":"create|write|remove|rename|overflow","path","isDir"[,"from"]}.
 * The first event, {"type":"ready"}, says the watch is in place. */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#include "../base/err.h"

#define RUNRA_WATCHERS_MAX 16        /* open watch calls per sandbox */
#define RUNRA_WATCH_DIRS_MAX 8192    /* directories one recursive watch covers */

int msg_watch_req_encode(const char *path, bool recursive, char **ret);
int msg_watch_req_decode(const void *buf, size_t len, char **ret_path, bool *ret_recursive,
                         struct runra_err **err);
