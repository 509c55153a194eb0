/* The shared layer directories (layers.h). */
#include "image/layers.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/util.h"
#include "image/ref.h"

static int path_of(const char *dir, const char *diff_id, char *out, size_t n,
                   struct runra_err **err)
{
    if (!image_digest_ok(diff_id) || strncmp(diff_id, "sha256:", 7) != 0)
        return err_set(err, EINVAL, "bad diff-id '%.80s'", diff_id);
    if ((size_t)snprintf(out, n, "%s/sha256/%s", dir, diff_id + 7) >= n)
        return err_set(err, ENAMETOOLONG, "layer path too long");
    return 0;
}

bool layers_has(const char *dir, const char *diff_id)
{
    char p[PATH_MAX];
    struct stat st;
    return path_of(dir, diff_id, p, sizeof(p), NULL) == 0 && lstat(p, &st) == 0 &&
           S_ISDIR(st.st_mode);
}

int layers_ensure(const char *dir, struct blob_store *blobs, const char *blob_digest,
                  const char *diff_id, const struct layer_limits *lim, struct runra_err **err)
{
    char final[PATH_MAX], sub[PATH_MAX], tmp[PATH_MAX];
    int r = path_of(dir, diff_id, final, sizeof(final), err);
    if (r < 0)
        return r;
    if (layers_has(dir, diff_id))
        return 0;
    snprintf(sub, sizeof(sub), "%s/sha256", dir);
    if ((mkdir(dir, 0700) < 0 && errno != EEXIST) || (mkdir(sub, 0700) < 0 && errno != EEXIST))
        return err_sys(err, errno, "layer store '%s'", dir);
    /* The diff-id first: a layer that is not what the config says is
     * never unpacked at all. */
    _cleanup_close_ int fd = -1;
    if ((r = blob_open(blobs, blob_digest, &fd, err)) < 0)
        return r;
    char got[LAYER_DIFF_ID_LEN];
    if ((r = layer_diff_id(fd, lim->max_bytes, got, err)) < 0)
        return err_prefix(err, "layer %.19s", blob_digest);
    if (strcmp(got, diff_id) != 0)
        return err_set(err, EBADMSG, "layer %.80s: its content is %s, not the %s the image's "
                                     "config names", blob_digest, got, diff_id);
    if (lseek(fd, 0, SEEK_SET) < 0)
        return err_sys(err, errno, "rewind layer");
    snprintf(tmp, sizeof(tmp), "%s/tmp-XXXXXX", dir);
    if (!mkdtemp(tmp))
        return err_sys(err, errno, "layer store: temporary dir");
    /* The layer's root keeps the image's view: root-owned, 0755. */
    chmod(tmp, 0755);
    _cleanup_close_ int dfd = open(tmp, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
    if (dfd < 0) {
        r = err_sys(err, errno, "open %s", tmp);
        rm_rf(tmp);
        return r;
    }
    r = layer_unpack(fd, dfd, lim, NULL, err);
    if (r >= 0 && rename(tmp, final) < 0) {
        /* Someone else made it meanwhile: theirs stands, ours goes. */
        if (errno != ENOTEMPTY && errno != EEXIST)
            r = err_sys(err, errno, "store layer %s", diff_id);
    }
    if (r < 0 || layers_has(dir, diff_id))
        rm_rf(tmp); /* after a good rename tmp no longer exists */
    return r < 0 ? err_prefix(err, "layer %.19s", blob_digest) : 0;
}

int layers_remove(const char *dir, const char *diff_id, struct runra_err **err)
{
    char p[PATH_MAX];
    int r = path_of(dir, diff_id, p, sizeof(p), err);
    if (r < 0)
        return r;
    r = rm_rf(p);
    return r < 0 ? err_sys(err, r, "remove layer %s", diff_id) : 0;
}
