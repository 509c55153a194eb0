/* WATCH request codec, strict like every guest message. */
#include "watchmsg.h"

#include <errno.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "limits.h"
#include "msg.h"

int msg_watch_req_encode(const char *path, bool recursive, char **ret)
{
    return msg_json_dump(json_pack("{s:s,s:b}", "path", path, "recursive", recursive), ret);
}

int msg_watch_req_decode(const void *buf, size_t len, char **ret_path, bool *ret_recursive,
                         struct runra_err **err)
{
    json_t *j = NULL;
    int r = msg_json_load(buf, len, &j, err);
    if (r < 0)
        return r;
    json_error_t je;
    const char *path = NULL;
    int recursive = 0;
    if (json_unpack_ex(j, &je, JSON_STRICT, "{s:s,s:b}", "path", &path, "recursive",
                       &recursive) < 0) {
        json_decref(j);
        return err_set(err, EINVAL, "bad watch request: %s", je.text);
    }
    r = msg_check_path(path, err);
    char *p = r < 0 ? NULL : strdup(path);
    json_decref(j);
    if (r < 0)
        return r;
    if (!p)
        return -ENOMEM;
    *ret_path = p;
    *ret_recursive = recursive;
    return 0;
}
