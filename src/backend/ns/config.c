/* The ns_config argv codec. The daemon writes the argv, runra-init parses it;
 * the parser still checks every value strictly because it decides what the
 * sandbox's setup does with paths, and values are never interpreted, only
 * compared and copied, so hostile strings round-trip unchanged. */
#include "backend/ns/config.h"

#include <errno.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/util.h"
#include "proto/limits.h"
#include "proto/msg.h"

void ns_config_done(struct ns_config *c)
{
    if (!c)
        return;
    free(c->root);
    free(c->hostname);
    free(c->image);
    free(c->workdir);
    strv_free(c->hide);
    for (size_t i = 0; i < c->nmounts; i++)
        free(c->mount_targets[i]);
    c->nmounts = 0;
    strv_free(c->layers);
    *c = (struct ns_config){.listen_fd = -1, .root_fd = -1, .layers_fd = -1};
}

/* A small growable argv; on failure everything is freed by the caller. */
struct argv_buf {
    char **v;
    size_t n, cap;
};

static int push(struct argv_buf *b, const char *s)
{
    if (b->n + 2 > b->cap) {
        size_t cap = b->cap ? b->cap * 2 : 16;
        char **v = realloc(b->v, cap * sizeof(*v));
        if (!v)
            return -ENOMEM;
        b->v = v;
        b->cap = cap;
    }
    char *d = strdup(s);
    if (!d)
        return -ENOMEM;
    b->v[b->n++] = d;
    b->v[b->n] = NULL;
    return 0;
}

static int push_opt(struct argv_buf *b, const char *opt, const char *val)
{
    int r = push(b, opt);
    return r < 0 ? r : push(b, val);
}

static int push_fd(struct argv_buf *b, const char *opt, int fd)
{
    char num[16];
    snprintf(num, sizeof(num), "%d", fd);
    return push_opt(b, opt, num);
}

int ns_config_to_argv(const struct ns_config *c, char ***ret_argv)
{
    if (!c || !c->root || !c->hostname || !c->image || !c->workdir || c->listen_fd < 0)
        return -EINVAL;
    struct argv_buf b = {0};
    int r = push(&b, "runra-init");
    if (r >= 0)
        r = push(&b, "--ns");
    if (r >= 0)
        r = push_opt(&b, "--root", c->root);
    if (r >= 0 && c->root_fd >= 0)
        r = push_fd(&b, "--root-fd", c->root_fd);
    if (r >= 0)
        r = push_opt(&b, "--hostname", c->hostname);
    if (r >= 0)
        r = push_opt(&b, "--image", c->image);
    if (r >= 0)
        r = push_opt(&b, "--workdir", c->workdir);
    if (r >= 0)
        r = push_fd(&b, "--listen-fd", c->listen_fd);
    for (size_t i = 0; r >= 0 && c->hide && c->hide[i]; i++)
        r = push_opt(&b, "--hide", c->hide[i]);
    for (size_t i = 0; r >= 0 && i < c->nmounts; i++) {
        char *v = NULL;
        if (asprintf(&v, "%d:%s", c->mount_fds[i], c->mount_targets[i]) < 0)
            r = -ENOMEM;
        else
            r = push_opt(&b, "--mount", v);
        free(v);
    }
    if (r >= 0 && c->layers_fd >= 0)
        r = push_fd(&b, "--layers-fd", c->layers_fd);
    for (size_t i = 0; r >= 0 && c->layers_fd >= 0 && i < c->nlayers; i++)
        r = push_opt(&b, "--layer", c->layers[i]);
    if (r < 0) {
        strv_free(b.v);
        return r;
    }
    *ret_argv = b.v;
    return 0;
}

/* Absolute, bounded, and without "." or ".." components or empty ones, so a
 * path names exactly one place and compares by prefix. */
static bool path_ok(const char *p, size_t max)
{
    size_t len = strlen(p);
    if (len == 0 || len >= max || p[0] != '/')
        return false;
    if (len == 1)
        return true;
    if (p[len - 1] == '/')
        return false;
    for (const char *s = p; *s;) {
        s++; /* past the '/' */
        const char *e = strchrnul(s, '/');
        size_t n = (size_t)(e - s);
        if (n == 0 || (n == 1 && s[0] == '.') || (n == 2 && s[0] == '.' && s[1] == '.'))
            return false;
        s = e;
    }
    return true;
}

/* A hostname is also written into /etc/hosts, so it is held to RFC 1123
 * letters, digits, '-' and '.', starting with a letter or digit. */
static bool hostname_ok(const char *h)
{
    size_t len = strlen(h);
    if (len == 0 || len > NS_CONFIG_HOSTNAME_MAX)
        return false;
    for (size_t i = 0; i < len; i++) {
        char ch = h[i];
        bool alnum =
            (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9');
        if (!alnum && (i == 0 || (ch != '-' && ch != '.')))
            return false;
    }
    return true;
}

static int parse_fd(const char *s, int *ret)
{
    int64_t v;
    if (parse_i64(s, &v) < 0 || v < 3 || v > NS_CONFIG_FD_MAX)
        return -EINVAL;
    *ret = (int)v;
    return 0;
}

static int set_once(char **slot, const char *opt, const char *val, struct runra_err **err)
{
    if (*slot)
        return err_set(err, EINVAL, "ns config: %s given twice", opt);
    *slot = strdup(val);
    return *slot ? 0 : -ENOMEM;
}

static int parse_into(int argc, char **argv, struct ns_config *c, struct runra_err **err)
{
    if (argc < 2 || !argv[1] || strcmp(argv[1], "--ns") != 0)
        return err_set(err, EINVAL, "ns config: argv must start with --ns");
    size_t nhide = 0;
    bool have_listen = false, have_root_fd = false, have_layers_fd = false;
    for (int i = 2; i < argc; i += 2) {
        const char *opt = argv[i];
        if (!opt)
            return err_set(err, EINVAL, "ns config: argv ends early");
        if (i + 1 >= argc || !argv[i + 1])
            return err_set(err, EINVAL, "ns config: %.32s needs a value", opt);
        const char *val = argv[i + 1];
        int r;
        if (!strcmp(opt, "--root")) {
            if (!path_ok(val, PATH_MAX))
                return err_set(err, EINVAL, "ns config: bad --root");
            r = set_once(&c->root, opt, val, err);
        } else if (!strcmp(opt, "--hostname")) {
            if (!hostname_ok(val))
                return err_set(err, EINVAL, "ns config: bad --hostname");
            r = set_once(&c->hostname, opt, val, err);
        } else if (!strcmp(opt, "--image")) {
            if (!*val || strlen(val) > RUNRA_IMAGE_MAX)
                return err_set(err, EINVAL, "ns config: bad --image");
            r = set_once(&c->image, opt, val, err);
        } else if (!strcmp(opt, "--workdir")) {
            if (!path_ok(val, RUNRA_PATH_MAX))
                return err_set(err, EINVAL, "ns config: bad --workdir");
            r = set_once(&c->workdir, opt, val, err);
        } else if (!strcmp(opt, "--listen-fd") || !strcmp(opt, "--root-fd")) {
            bool listen = opt[2] == 'l';
            bool *have = listen ? &have_listen : &have_root_fd;
            if (*have)
                return err_set(err, EINVAL, "ns config: %s given twice", opt);
            r = parse_fd(val, listen ? &c->listen_fd : &c->root_fd);
            if (r < 0)
                return err_set(err, EINVAL, "ns config: bad %s", opt);
            *have = true;
        } else if (!strcmp(opt, "--hide")) {
            /* "/" would mask the whole root; it can only be a mistake. */
            if (!path_ok(val, PATH_MAX) || !strcmp(val, "/"))
                return err_set(err, EINVAL, "ns config: bad --hide");
            if (nhide == NS_CONFIG_HIDE_MAX)
                return err_set(err, E2BIG, "ns config: more than %d --hide", NS_CONFIG_HIDE_MAX);
            char **v = realloc(c->hide, (nhide + 2) * sizeof(*v));
            if (!v)
                return -ENOMEM;
            c->hide = v;
            if (!(v[nhide] = strdup(val)))
                return -ENOMEM;
            v[++nhide] = NULL;
            r = 0;
        } else if (!strcmp(opt, "--layers-fd")) {
            if (have_layers_fd || parse_fd(val, &c->layers_fd) < 0)
                return err_set(err, EINVAL, "ns config: bad or repeated --layers-fd");
            have_layers_fd = true;
            r = 0;
        } else if (!strcmp(opt, "--layer")) {
            /* A diff-id's 64 hex digits: it becomes a path component. */
            if (strlen(val) != 64 || strspn(val, "0123456789abcdef") != 64)
                return err_set(err, EINVAL, "ns config: bad --layer");
            if (c->nlayers == NS_CONFIG_LAYERS_MAX)
                return err_set(err, E2BIG, "ns config: more than %d --layer",
                               NS_CONFIG_LAYERS_MAX);
            char **v = realloc(c->layers, (c->nlayers + 2) * sizeof(*v));
            if (!v)
                return -ENOMEM;
            c->layers = v;
            if (!(v[c->nlayers] = strdup(val)))
                return -ENOMEM;
            v[++c->nlayers] = NULL;
            r = 0;
        } else if (!strcmp(opt, "--mount")) {
            /* FD:TARGET, TARGET a clean absolute path inside. */
            const char *colon = strchr(val, ':');
            char fdtext[16];
            int fd = -1;
            if (!colon || colon == val || (size_t)(colon - val) >= sizeof(fdtext))
                return err_set(err, EINVAL, "ns config: bad --mount");
            memcpy(fdtext, val, (size_t)(colon - val));
            fdtext[colon - val] = 0;
            if (parse_fd(fdtext, &fd) < 0 || !path_ok(colon + 1, RUNRA_PATH_MAX) ||
                !strcmp(colon + 1, "/"))
                return err_set(err, EINVAL, "ns config: bad --mount");
            if (c->nmounts == NS_CONFIG_MOUNTS_MAX)
                return err_set(err, E2BIG, "ns config: more than %d --mount",
                               NS_CONFIG_MOUNTS_MAX);
            if (!(c->mount_targets[c->nmounts] = strdup(colon + 1)))
                return -ENOMEM;
            c->mount_fds[c->nmounts++] = fd;
            r = 0;
        } else {
            return err_set(err, EINVAL, "ns config: unknown option '%.32s'", opt);
        }
        if (r < 0)
            return r;
    }
    if (!c->root || !c->hostname || !c->image || !c->workdir || !have_listen)
        return err_set(
            err, EINVAL,
            "ns config: --root, --hostname, --image, --workdir and --listen-fd are required");
    if (have_root_fd && c->root_fd == c->listen_fd)
        return err_set(err, EINVAL, "ns config: --root-fd equals --listen-fd");
    if (c->nlayers && !have_layers_fd)
        return err_set(err, EINVAL, "ns config: --layer without --layers-fd");
    if (!c->hide && !(c->hide = calloc(1, sizeof(char *))))
        return -ENOMEM;
    return 0;
}

int ns_config_from_argv(int argc, char **argv, struct ns_config *ret, struct runra_err **err)
{
    struct ns_config c = {.listen_fd = -1, .root_fd = -1, .layers_fd = -1};
    int r = parse_into(argc, argv, &c, err);
    if (r < 0) {
        ns_config_done(&c);
        return r;
    }
    *ret = c;
    return 0;
}

void ns_config_scrub_argv(int argc, char **argv)
{
    for (int i = 1; i < argc && argv[i]; i++)
        memset(argv[i], 0, strlen(argv[i]));
}
