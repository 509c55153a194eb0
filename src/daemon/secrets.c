/* Secrets at rest (secrets.h). The sealed form is a version byte, a 12-byte
 * random nonce, the ciphertext of a JSON object {"NAME":"value",...} and
 * the 16-byte GCM tag; the sandbox's id is the associated data, so a sealed
 * blob moved to another row does not open. */
#include "secrets.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <openssl/evp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/util.h"

#define VERSION 1
#define NONCE_LEN 12
#define TAG_LEN 16
#define HEAD_LEN (1 + NONCE_LEN)
#define PLAIN_MAX (64u << 20)

static int fill_random(uint8_t *p, size_t n)
{
    while (n > 0) {
        ssize_t k = getrandom(p, n, 0);
        if (k < 0 && errno == EINTR)
            continue;
        if (k < 0)
            return -errno;
        p += k;
        n -= (size_t)k;
    }
    return 0;
}

static int mkdir_parent(const char *path)
{
    _cleanup_free_ char *dir = strdup(path);
    if (!dir)
        return -ENOMEM;
    char *slash = strrchr(dir, '/');
    if (!slash || slash == dir)
        return 0;
    *slash = 0;
    if (mkdir(dir, 0700) < 0 && errno != EEXIST)
        return -errno;
    return 0;
}

int secrets_key_load(const char *path, struct secrets_key *ret, struct runra_err **err)
{
    int r = mkdir_parent(path);
    if (r < 0)
        return err_sys(err, r, "secrets key dir for '%s'", path);
    _cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0 && errno == ENOENT) {
        struct secrets_key k;
        if ((r = fill_random(k.k, sizeof(k.k))) < 0)
            return err_sys(err, r, "random key");
        /* O_EXCL: two daemons racing here must not each keep their own. */
        _cleanup_close_ int w = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
        if (w >= 0) {
            if (write(w, k.k, sizeof(k.k)) != (ssize_t)sizeof(k.k) || fsync(w) < 0) {
                r = err_sys(err, errno, "write secrets key '%s'", path);
                unlink(path);
                return r;
            }
            *ret = k;
            explicit_bzero(&k, sizeof(k));
            return 0;
        }
        if (errno != EEXIST)
            return err_sys(err, errno, "create secrets key '%s'", path);
        fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    }
    if (fd < 0)
        return err_sys(err, errno, "open secrets key '%s'", path);
    struct stat st;
    if (fstat(fd, &st) < 0)
        return err_sys(err, errno, "stat secrets key '%s'", path);
    if (!S_ISREG(st.st_mode) || st.st_uid != geteuid() || (st.st_mode & 077))
        return err_set(err, EPERM,
                       "secrets key '%s' must be a regular file owned by runrad's user with mode "
                       "0600",
                       path);
    if (st.st_size != SECRETS_KEY_LEN)
        return err_set(err, EINVAL, "secrets key '%s' must hold exactly %d bytes", path,
                       SECRETS_KEY_LEN);
    if (read(fd, ret->k, sizeof(ret->k)) != (ssize_t)sizeof(ret->k))
        return err_sys(err, errno ? errno : EIO, "read secrets key '%s'", path);
    return 0;
}

int secrets_seal(const struct secrets_key *k, const char *id, const struct kv_list *l, void **ret,
                 size_t *ret_len, struct runra_err **err)
{
    json_t *o = json_object();
    for (size_t i = 0; o && i < l->n; i++)
        if (json_object_set_new(o, l->items[i].key, json_string(l->items[i].value)) < 0) {
            json_decref(o);
            o = NULL;
        }
    char *plain = o ? json_dumps(o, JSON_COMPACT) : NULL;
    json_decref(o);
    if (!plain)
        return err_set(err, ENOMEM, "encode secrets");
    size_t plen = strlen(plain);
    uint8_t *out = malloc(HEAD_LEN + plen + TAG_LEN);
    EVP_CIPHER_CTX *c = EVP_CIPHER_CTX_new();
    int r = 0, n = 0, fin = 0;
    if (!out || !c) {
        r = err_set(err, ENOMEM, "seal secrets");
        goto out;
    }
    out[0] = VERSION;
    if ((r = fill_random(out + 1, NONCE_LEN)) < 0) {
        r = err_sys(err, r, "random nonce");
        goto out;
    }
    if (EVP_EncryptInit_ex(c, EVP_aes_256_gcm(), NULL, k->k, out + 1) != 1 ||
        EVP_EncryptUpdate(c, NULL, &n, (const uint8_t *)id, (int)strlen(id)) != 1 ||
        EVP_EncryptUpdate(c, out + HEAD_LEN, &n, (const uint8_t *)plain, (int)plen) != 1 ||
        EVP_EncryptFinal_ex(c, out + HEAD_LEN + n, &fin) != 1 ||
        EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_GET_TAG, TAG_LEN, out + HEAD_LEN + plen) != 1) {
        r = err_set(err, EIO, "seal secrets: cipher failed");
        goto out;
    }
    *ret = out;
    *ret_len = HEAD_LEN + plen + TAG_LEN;
    out = NULL;
out:
    EVP_CIPHER_CTX_free(c);
    explicit_bzero(plain, plen);
    free(plain);
    free(out);
    return r;
}

int secrets_open(const struct secrets_key *k, const char *id, const void *blob, size_t len,
                 struct kv_list *ret, struct runra_err **err)
{
    const uint8_t *b = blob;
    if (len < HEAD_LEN + TAG_LEN || b[0] != VERSION || len - HEAD_LEN - TAG_LEN > PLAIN_MAX)
        return err_set(err, EBADMSG, "sealed secrets: not a sealed blob");
    size_t clen = len - HEAD_LEN - TAG_LEN;
    char *plain = malloc(clen + 1);
    EVP_CIPHER_CTX *c = EVP_CIPHER_CTX_new();
    int r = 0, n = 0, fin = 0;
    json_t *o = NULL;
    if (!plain || !c) {
        r = err_set(err, ENOMEM, "open secrets");
        goto out;
    }
    if (EVP_DecryptInit_ex(c, EVP_aes_256_gcm(), NULL, k->k, b + 1) != 1 ||
        EVP_DecryptUpdate(c, NULL, &n, (const uint8_t *)id, (int)strlen(id)) != 1 ||
        EVP_DecryptUpdate(c, (uint8_t *)plain, &n, b + HEAD_LEN, (int)clen) != 1 ||
        EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_SET_TAG, TAG_LEN, (void *)(b + HEAD_LEN + clen)) != 1 ||
        EVP_DecryptFinal_ex(c, (uint8_t *)plain + n, &fin) != 1) {
        r = err_set(err, EBADMSG, "sealed secrets do not open with this key");
        goto out;
    }
    plain[clen] = 0;
    o = json_loadb(plain, clen, JSON_REJECT_DUPLICATES, NULL);
    if (!json_is_object(o)) {
        r = err_set(err, EBADMSG, "sealed secrets: not a JSON object");
        goto out;
    }
    struct kv_list l = {.items = calloc(json_object_size(o) + 1, sizeof(struct kv))};
    if (!l.items) {
        r = -ENOMEM;
        goto out;
    }
    const char *key;
    json_t *v;
    json_object_foreach(o, key, v) {
        if (!json_is_string(v)) {
            kv_list_done(&l);
            r = err_set(err, EBADMSG, "sealed secrets: a value is not a string");
            goto out;
        }
        l.items[l.n].key = strdup(key);
        l.items[l.n].value = strdup(json_string_value(v));
        if (!l.items[l.n].key || !l.items[l.n].value) {
            free(l.items[l.n].key);
            free(l.items[l.n].value);
            kv_list_done(&l);
            r = -ENOMEM;
            goto out;
        }
        l.n++;
    }
    *ret = l;
out:
    json_decref(o);
    EVP_CIPHER_CTX_free(c);
    if (plain) {
        explicit_bzero(plain, clen + 1);
        free(plain);
    }
    return r;
}
