/* Image reference parsing (ref.h). The grammar is the distribution
 * project's: a name of '/'-separated components, the first one a registry
 * when it has a '.' or a ':' or is "localhost"; each repository component
 * lower-case alphanumerics joined by single '.', '_', "__" or runs of '-';
 * a tag of word characters, '.' and '-' not starting with '.' or '-'; a
 * digest of an algorithm and its hex. */
#include "image/ref.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/macro.h"

static bool lower_alnum(char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'); }

/* One repository path component, n bytes at p. */
static bool component_ok(const char *p, size_t n)
{
    if (n == 0 || !lower_alnum(p[0]) || !lower_alnum(p[n - 1]))
        return false;
    for (size_t i = 1; i < n; i++) {
        char c = p[i];
        if (lower_alnum(c))
            continue;
        if (c == '.' || c == '_') {
            /* '.', '_' or "__", each between alphanumerics */
            if (c == '_' && p[i + 1] == '_' && i + 2 < n && lower_alnum(p[i + 2])) {
                i++;
                continue;
            }
            if (!lower_alnum(p[i + 1]))
                return false;
            continue;
        }
        if (c == '-') {
            while (i < n && p[i] == '-')
                i++;
            if (i >= n || !lower_alnum(p[i]))
                return false;
            continue;
        }
        return false;
    }
    return true;
}

/* A registry: a DNS name or an IPv4 address, or a bracketed IPv6 address,
 * with an optional :port. */
static bool registry_ok(const char *p, size_t n)
{
    if (n == 0 || n > 253)
        return false;
    const char *colon = NULL;
    size_t host_n = n;
    if (p[0] == '[') {
        const char *close = memchr(p, ']', n);
        if (!close || close == p + 1)
            return false;
        for (const char *c = p + 1; c < close; c++)
            if (!((*c >= '0' && *c <= '9') || (*c >= 'a' && *c <= 'f') ||
                  (*c >= 'A' && *c <= 'F') || *c == ':' || *c == '.'))
                return false;
        host_n = (size_t)(close - p) + 1;
        if (host_n < n && p[host_n] != ':')
            return false;
        colon = host_n < n ? p + host_n : NULL;
    } else {
        colon = memchr(p, ':', n);
        host_n = colon ? (size_t)(colon - p) : n;
        if (host_n == 0)
            return false;
        size_t label = 0;
        for (size_t i = 0; i < host_n; i++) {
            char c = p[i];
            bool alnum = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
            if (alnum) {
                label++;
            } else if (c == '-' && label > 0 && i + 1 < host_n && p[i + 1] != '.') {
                label++;
            } else if (c == '.' && label > 0 && i + 1 < host_n) {
                label = 0;
            } else {
                return false;
            }
            if (label > 63)
                return false;
        }
    }
    if (colon) {
        size_t pn = n - (size_t)(colon - p) - 1;
        if (pn == 0 || pn > 5)
            return false;
        unsigned long port = 0;
        for (size_t i = 1; i <= pn; i++) {
            if (colon[i] < '0' || colon[i] > '9')
                return false;
            port = port * 10 + (unsigned long)(colon[i] - '0');
        }
        if (port == 0 || port > 65535)
            return false;
    }
    return true;
}

static bool tag_ok(const char *t)
{
    size_t n = strlen(t);
    if (n == 0 || n > IMAGE_TAG_MAX || t[0] == '.' || t[0] == '-')
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = t[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '_' || c == '.' || c == '-'))
            return false;
    }
    return true;
}

bool image_digest_ok(const char *d)
{
    size_t want;
    if (!strncmp(d, "sha256:", 7))
        want = 64;
    else if (!strncmp(d, "sha512:", 7))
        want = 128;
    else
        return false;
    const char *h = d + 7;
    size_t n = strlen(h);
    if (n != want)
        return false;
    for (size_t i = 0; i < n; i++)
        if (!((h[i] >= '0' && h[i] <= '9') || (h[i] >= 'a' && h[i] <= 'f')))
            return false;
    return true;
}

void image_ref_done(struct image_ref *r)
{
    if (!r)
        return;
    free(r->registry);
    free(r->repository);
    free(r->tag);
    free(r->digest);
    *r = (struct image_ref){0};
}

int image_ref_parse(const char *s, struct image_ref *ret, struct runra_err **err)
{
    struct image_ref r = {0};
    size_t len = strlen(s);
    if (len == 0 || len > IMAGE_NAME_MAX + 1 + IMAGE_TAG_MAX + 1 + 7 + 128)
        return err_set(err, EINVAL, "image reference is empty or too long");
    /* "@digest" ends it; a ':' after the last '/' starts the tag. */
    const char *at = strchr(s, '@');
    size_t name_end = at ? (size_t)(at - s) : len;
    if (at && !image_digest_ok(at + 1))
        return err_set(err, EINVAL, "image '%.300s': bad digest (want sha256:<64 hex>)", s);
    const char *slash = NULL;
    for (size_t i = 0; i < name_end; i++)
        if (s[i] == '/')
            slash = s + i;
    const char *tag = NULL;
    for (const char *p = slash ? slash + 1 : s; p < s + name_end; p++)
        if (*p == ':') {
            tag = p + 1;
            break;
        }
    /* A bracketed IPv6 registry with no path has no '/', so ':' inside its
     * brackets is not a tag; such a string is no image anyway. */
    size_t path_end = tag ? (size_t)(tag - 1 - s) : name_end;
    const char *first_slash = memchr(s, '/', path_end);
    const char *path = s;
    if (first_slash) {
        size_t fn = (size_t)(first_slash - s);
        bool is_registry = memchr(s, '.', fn) || memchr(s, ':', fn) || s[0] == '[' ||
                           (fn == 9 && !strncmp(s, "localhost", 9));
        if (is_registry) {
            if (!registry_ok(s, fn))
                return err_set(err, EINVAL, "image '%.300s': bad registry '%.*s'", s, (int)fn, s);
            r.registry = strndup(s, fn);
            path = first_slash + 1;
        }
    }
    if (!r.registry)
        r.registry = strdup("docker.io");
    if (!r.registry)
        return -ENOMEM;
    if (!strcmp(r.registry, "index.docker.io") || !strcmp(r.registry, "registry-1.docker.io")) {
        free(r.registry);
        if (!(r.registry = strdup("docker.io")))
            return -ENOMEM;
    }
    size_t pn = (size_t)(s + path_end - path);
    if (pn == 0 || s + path_end < path) {
        image_ref_done(&r);
        return err_set(err, EINVAL, "image '%.300s': no repository name", s);
    }
    for (const char *c = path; c < path + pn;) {
        const char *e = memchr(c, '/', (size_t)(path + pn - c));
        size_t cn = e ? (size_t)(e - c) : (size_t)(path + pn - c);
        if (!component_ok(c, cn)) {
            image_ref_done(&r);
            return err_set(err, EINVAL,
                           "image '%.300s': '%.*s' is not a valid repository name (lower-case "
                           "letters, digits and single separators)",
                           s, (int)cn, c);
        }
        c += cn + (e ? 1 : 0);
        if (e && c == path + pn) {
            image_ref_done(&r);
            return err_set(err, EINVAL, "image '%.300s': empty repository component", s);
        }
    }
    bool library = !strcmp(r.registry, "docker.io") && !memchr(path, '/', pn);
    if (asprintf(&r.repository, "%s%.*s", library ? "library/" : "", (int)pn, path) < 0) {
        r.repository = NULL;
        image_ref_done(&r);
        return -ENOMEM;
    }
    if (strlen(r.registry) + 1 + strlen(r.repository) > IMAGE_NAME_MAX) {
        image_ref_done(&r);
        return err_set(err, EINVAL, "image '%.300s': name longer than %d", s, IMAGE_NAME_MAX);
    }
    if (tag) {
        r.tag = strndup(tag, (size_t)(s + name_end - tag));
        if (r.tag && !tag_ok(r.tag)) {
            image_ref_done(&r);
            return err_set(err, EINVAL, "image '%.300s': bad tag", s);
        }
    } else if (!at) {
        r.tag = strdup("latest");
    }
    if (at)
        r.digest = strdup(at + 1);
    if ((tag || !at) && !r.tag) {
        image_ref_done(&r);
        return -ENOMEM;
    }
    if (at && !r.digest) {
        image_ref_done(&r);
        return -ENOMEM;
    }
    *ret = r;
    return 0;
}

char *image_ref_string(const struct image_ref *r)
{
    char *s = NULL;
    if (asprintf(&s, "%s/%s%s%s%s%s", r->registry, r->repository, r->tag ? ":" : "",
                 r->tag ? r->tag : "", r->digest ? "@" : "", r->digest ? r->digest : "") < 0)
        return NULL;
    return s;
}

const char *image_ref_api_host(const struct image_ref *r)
{
    return !strcmp(r->registry, "docker.io") ? "registry-1.docker.io" : r->registry;
}
