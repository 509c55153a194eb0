/* errno -> (HTTP status, error code). Anything unlisted is a 500 "internal":
 * an errno nobody expected is a bug to find, not a client mistake. */
#include "errmap.h"

#include <errno.h>

#include "base/macro.h"

static const struct errmap_entry table[] = {
    {EINVAL, 400, "invalid_argument"},
    {ENAMETOOLONG, 400, "invalid_argument"},
    {ELOOP, 400, "invalid_argument"},
    {EISDIR, 400, "is_a_directory"},
    {ENOTDIR, 400, "not_a_directory"},
    {EXDEV, 400, "cross_device"},
    {ENOKEY, 401, "unauthorized"},
    {EPERM, 403, "permission_denied"},
    {EACCES, 403, "permission_denied"},
    {EROFS, 403, "read_only"},
    {ENOENT, 404, "not_found"},
    {EOPNOTSUPP, 405, "method_not_allowed"},
    {EEXIST, 409, "already_exists"},
    {EBUSY, 409, "conflict"},
    {ENOTEMPTY, 409, "not_empty"},
    {ENOTTY, 409, "not_a_terminal"},
    {EPROTONOSUPPORT, 426, "upgrade_required"},
    {E2BIG, 413, "payload_too_large"},
    {EFBIG, 413, "payload_too_large"},
    {ENOSPC, 507, "insufficient_storage"},
    {EDQUOT, 507, "insufficient_storage"},
    {ENOSYS, 501, "not_implemented"},
    {EPIPE, 502, "sandbox_unavailable"},
    {EPROTO, 502, "sandbox_protocol_error"},
    {ECONNRESET, 502, "sandbox_unavailable"},
    {EAGAIN, 503, "unavailable"},
    {ENOMEM, 503, "unavailable"},
    {EMFILE, 503, "unavailable"},
    {ETIMEDOUT, 504, "timeout"},
    /* A registry runrad could not reach, or whose answer was malformed or
     * did not match its digest (an import's archive too). */
    {ECONNREFUSED, 502, "registry_unavailable"},
    {EHOSTUNREACH, 502, "registry_unavailable"},
    {ENETUNREACH, 502, "registry_unavailable"},
    {EBADMSG, 422, "invalid_content"},
    {ECANCELED, 503, "unavailable"},
};

static const struct errmap_entry internal = {EIO, 500, "internal"};

const struct errmap_entry *errmap_lookup(int err)
{
    if (err < 0)
        err = -err;
    for (size_t i = 0; i < ARRAY_SIZE(table); i++)
        if (table[i].err == err)
            return &table[i];
    return &internal;
}
