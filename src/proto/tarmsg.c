/* TAR_GET / TAR_PUT payloads. The daemon decodes the guest's result
 * strictly and range-checks every count against the named limits. */
#include "tarmsg.h"

#include <errno.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "msg.h"

int msg_tar_req_encode(const char *path, char **ret)
{
    return msg_json_dump(json_pack("{s:s}", "path", path), ret);
}

int msg_tar_req_decode(const void *buf, size_t len, char **ret_path, struct runra_err **err)
{
    json_t *j = NULL;
    int r = msg_json_load(buf, len, &j, err);
    if (r < 0)
        return r;
    json_error_t je;
    const char *path = NULL;
    if (json_unpack_ex(j, &je, JSON_STRICT, "{s:s}", "path", &path) < 0) {
        json_decref(j);
        return err_set(err, EINVAL, "bad tar request: %s", je.text);
    }
    r = msg_check_path(path, err);
    char *p = r < 0 ? NULL : strdup(path);
    json_decref(j);
    if (r < 0)
        return r;
    if (!p)
        return -ENOMEM;
    *ret_path = p;
    return 0;
}

int msg_tar_result_encode(const struct tar_result *t, char **ret)
{
    return msg_json_dump(json_pack("{s:I,s:I,s:I}", "entries", (json_int_t)t->entries, "bytes",
                              (json_int_t)t->bytes, "skipped", (json_int_t)t->skipped),
                    ret);
}

int msg_tar_result_decode(const void *buf, size_t len, struct tar_result *ret,
                          struct runra_err **err)
{
    json_t *j = NULL;
    int r = msg_json_load(buf, len, &j, err);
    if (r < 0)
        return r;
    json_error_t je;
    json_int_t entries = 0, bytes = 0, skipped = 0;
    r = json_unpack_ex(j, &je, JSON_STRICT, "{s:I,s:I,s:I}", "entries", &entries, "bytes",
                       &bytes, "skipped", &skipped);
    json_decref(j);
    /* A packed tree may hold more than the upload limit's entries only up
     * to the same bound, so anything past it is a lying guest. */
    if (r < 0 || entries < 0 || bytes < 0 || skipped < 0 ||
        (uint64_t)entries > RUNRA_TAR_ENTRIES_MAX || (uint64_t)skipped > RUNRA_TAR_ENTRIES_MAX)
        return err_set(err, EINVAL, "bad tar result message");
    *ret = (struct tar_result){
        .entries = (uint64_t)entries, .bytes = (uint64_t)bytes, .skipped = (uint64_t)skipped};
    return 0;
}
