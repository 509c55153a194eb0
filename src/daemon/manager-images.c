/* Sandboxes and images: a create resolves its image (pulling or importing
 * it when missing) and takes the image's config as its defaults; a box is
 * started on the image's layers; and the image collection keeps whatever
 * any sandbox, running, paused or stopped, is made of. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "base/util.h"
#include "images.h"
#include "manager-internal.h"
#include "proto/limits.h"
#include "proto/msg.h"

/* The image's Env under the spec's own: a key the request set stays. */
static int merge_env(struct sandbox_spec *sp, char *const *image_env)
{
    size_t n = strv_len(image_env);
    if (n == 0)
        return 0;
    struct kv *items = calloc(n + sp->env.n, sizeof(*items));
    if (!items)
        return -ENOMEM;
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        const char *eq = strchr(image_env[i], '=');
        if (!eq || eq == image_env[i])
            continue;
        size_t klen = (size_t)(eq - image_env[i]);
        /* What a create could not say is not taken from an image either
         * (a key like "a.b", too many, too long): the image is not
         * refused for its config, the entry is left out. */
        char key[RUNRA_ENV_KEY_MAX + 1];
        if (klen > RUNRA_ENV_KEY_MAX || k + sp->env.n >= RUNRA_ENV_MAX)
            continue;
        memcpy(key, image_env[i], klen);
        key[klen] = 0;
        if (msg_check_env_key(key, NULL) < 0 || msg_check_env(image_env[i], NULL) < 0)
            continue;
        bool overridden = false;
        for (size_t j = 0; j < sp->env.n && !overridden; j++)
            overridden = strlen(sp->env.items[j].key) == klen &&
                         !strncmp(sp->env.items[j].key, image_env[i], klen);
        for (size_t j = 0; j < k && !overridden; j++)
            if (strlen(items[j].key) == klen && !strncmp(items[j].key, image_env[i], klen)) {
                /* A key the image lists twice: the later one counts. */
                free(items[j].value);
                items[j].value = strdup(eq + 1);
                overridden = true;
                if (!items[j].value)
                    goto oom;
            }
        if (overridden)
            continue;
        items[k].key = strndup(image_env[i], klen);
        items[k].value = strdup(eq + 1);
        if (!items[k].key || !items[k].value) {
            k++;
            goto oom;
        }
        k++;
    }
    for (size_t j = 0; j < sp->env.n; j++)
        items[k++] = sp->env.items[j];
    free(sp->env.items);
    sp->env.items = items;
    sp->env.n = k;
    return 0;
oom:
    for (size_t j = 0; j < k; j++) {
        free(items[j].key);
        free(items[j].value);
    }
    free(items);
    return -ENOMEM;
}

int manager_image_apply(struct manager *m, struct sandbox_spec *sp, bool admin,
                        struct runra_err **err)
{
    if (!strcmp(sp->image, "host"))
        return 0;
    if (!m->cfg.images)
        return err_set(err, ENOSYS, "this runrad has no image store");
    bool local = sp->image[0] == '/' || str_has_prefix(sp->image, "oci:") ||
                 str_has_prefix(sp->image, "oci-archive:") ||
                 str_has_prefix(sp->image, "docker-archive:") || sp->image[0] == '.';
    /* A local source is a host path runrad reads as root: the admin's
     * business alone, like a host mount. */
    if (local && !admin)
        return err_set(err, EPERM, "an image from a host path is for the admin (runrad's unix "
                                   "socket); push it to a registry or import it instead");
    struct image_info info = {0};
    int r = images_resolve(m->cfg.images, sp->image, admin, NULL, NULL, &info, err);
    if (r < 0)
        return err_prefix(err, "image '%.200s'", sp->image);
    free(sp->image_digest);
    sp->image_digest = strdup(info.digest);
    r = sp->image_digest ? merge_env(sp, info.config.env) : -ENOMEM;
    if (r >= 0 && !sp->workdir_set && info.config.workdir &&
        spec_check_workdir(info.config.workdir, NULL) >= 0) {
        char *w = strdup(info.config.workdir);
        if (!w) {
            r = -ENOMEM;
        } else {
            free(sp->workdir);
            sp->workdir = w;
        }
    }
    if (r >= 0 && !sp->user && info.config.user && *info.config.user) {
        if (msg_check_user(info.config.user, NULL) < 0)
            r = err_set(err, EINVAL, "image '%.200s' names the user '%.64s', which is not NAME, "
                                     "UID, NAME:GROUP or UID:GID: say \"user\" on the create",
                        sp->image, info.config.user);
        else if (!(sp->user = strdup(info.config.user)))
            r = -ENOMEM;
    }
    image_info_done(&info);
    return r;
}

int manager_image_layers(struct manager *m, const struct sandbox_spec *sp, char ***ret,
                         size_t *ret_n, struct runra_err **err)
{
    if (!m->cfg.images)
        return err_set(err, ENOSYS, "this runrad has no image store");
    struct image_info info = {0};
    int r = image_store_get(images_store(m->cfg.images), sp->image_digest, &info, err);
    if (r < 0)
        return err_prefix(err, "image '%.200s'", sp->image);
    char **hex = calloc(info.nlayers + 1, sizeof(char *));
    r = hex ? 0 : -ENOMEM;
    for (size_t i = 0; r >= 0 && i < info.nlayers; i++) {
        /* The directory the layer has in the store (by diff-id, or by
         * chain id when what it implies depends on the layers below). */
        if (!info.layer_dirs[i][0])
            r = err_set(err, ENOENT, "layer %zu of image '%.200s' is not unpacked", i,
                        sp->image);
        else if (!(hex[i] = strdup(info.layer_dirs[i])))
            r = -ENOMEM;
    }
    *ret_n = info.nlayers;
    image_info_done(&info);
    if (r < 0) {
        strv_free(hex);
        return r;
    }
    *ret = hex;
    return 0;
}

static int add_digest(char ***v, size_t *n, const char *d)
{
    for (size_t i = 0; i < *n; i++)
        if (!strcmp((*v)[i], d))
            return 0;
    char **nv = realloc(*v, (*n + 2) * sizeof(char *));
    if (!nv)
        return -ENOMEM;
    *v = nv;
    if (!(nv[*n] = strdup(d)))
        return -ENOMEM;
    nv[++*n] = NULL;
    return 0;
}

int manager_image_digests(struct manager *m, char ***ret)
{
    char **v = calloc(1, sizeof(char *));
    size_t n = 0;
    int r = v ? 0 : -ENOMEM;
    pthread_mutex_lock(&m->lock);
    struct sandbox *lists[] = {m->list, m->pool, m->doomed};
    for (size_t l = 0; r >= 0 && l < ARRAY_SIZE(lists); l++)
        for (struct sandbox *s = lists[l]; r >= 0 && s; s = s->next)
            if (s->spec && s->spec->image_digest)
                r = add_digest(&v, &n, s->spec->image_digest);
    /* Being created: the create holds the store (image_store_begin), so no
     * collection runs until it is in the list above. */
    pthread_mutex_unlock(&m->lock);
    if (r < 0) {
        strv_free(v);
        return r;
    }
    *ret = v;
    return 0;
}

int manager_image_users(struct manager *m, const char *digest)
{
    int n = 0;
    pthread_mutex_lock(&m->lock);
    for (struct sandbox *s = m->list; s; s = s->next)
        if (s->spec && s->spec->image_digest && !strcmp(s->spec->image_digest, digest))
            n++;
    pthread_mutex_unlock(&m->lock);
    return n;
}
