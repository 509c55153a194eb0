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
    json_t *j = json_pack("{s:s,s:b}", "path", path, "recursive", recursive);
    if (!j)
        return -ENOMEM;
    char *s = json_dumps(j, JSON_COMPACT);
    json_decref(j);
    if (!s)
        return -ENOMEM;
    *ret = s;
    return 0;
}

int msg_watch_req_decode(const void *buf, size_t len, char **ret_path, bool *ret_recursive,
                         struct runra_err **err)
{
    if (len > RUNRA_FRAME_MAX_PAYLOAD)
        return err_set(err, E2BIG, "message too large");
    json_error_t je;
    json_t *j = json_loadb(buf, len, JSON_REJECT_DUPLICATES, &je);
    if (!j)
        return err_set(err, EINVAL, "malformed JSON: %s", je.text);
    const char *path = NULL;
    int recursive = 0;
    if (json_unpack_ex(j, &je, JSON_STRICT, "{s:s,s:b}", "path", &path, "recursive",
                       &recursive) < 0) {
        json_decref(j);
        return err_set(err, EINVAL, "bad watch request: %s", je.text);
    }
    int r = msg_check_path(path, err);
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
