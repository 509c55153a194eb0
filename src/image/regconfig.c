/* Registry settings (regconfig.h): the "registries" object of runrad's
 * config, parsed strictly, and the "auths" of a Docker config.json, read
 * leniently the way docker reads it. Pure: strings in, a table out. The
 * credentials kept here are secrets: they are never put in an error message
 * and are wiped when the table is freed. */
#include "image/regconfig.h"

#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "base/enc.h"
#include "base/util.h"

/* A Docker config.json is small; one with a megabyte of "auths" is not one. */
#define DOCKER_CONFIG_MAX (1u << 20)
#define REGISTRIES_JSON_MAX (256u << 10)
#define CRED_USER_MAX 256
/* Cloud registries hand out passwords that are tokens of a few kilobytes. */
#define CRED_PASSWORD_MAX 8192

struct registry_entry {
    char *name; /* "docker.io", "127.0.0.1:5000" */
    char *mirrors[REGISTRY_MIRRORS_MAX];
    size_t nmirrors;
    bool mirrors_only, insecure, configured;
    char *user, *password;
};

struct registry_config {
    struct registry_entry e[REGISTRY_ENTRIES_MAX];
    size_t n;
};

int registry_config_new(struct registry_config **ret)
{
    struct registry_config *c = calloc(1, sizeof(*c));
    if (!c)
        return -ENOMEM;
    *ret = c;
    return 0;
}

static void free_secret(char *s)
{
    if (!s)
        return;
    explicit_bzero(s, strlen(s));
    free(s);
}

void registry_config_free(struct registry_config *c)
{
    if (!c)
        return;
    for (size_t i = 0; i < c->n; i++) {
        struct registry_entry *e = &c->e[i];
        free(e->name);
        for (size_t k = 0; k < e->nmirrors; k++)
            free(e->mirrors[k]);
        free_secret(e->user);
        free_secret(e->password);
    }
    free(c);
}

static bool host_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           c == '-' || c == '.';
}

/* host[:port] as a reference names a registry: DNS labels or an IPv4
 * address, or a bracketed IPv6 address; a port of 1-65535. */
static bool host_port_ok(const char *s, size_t n)
{
    if (n == 0 || n > 253)
        return false;
    size_t host_n;
    if (s[0] == '[') {
        const char *close = memchr(s, ']', n);
        if (!close || close == s + 1)
            return false;
        for (const char *p = s + 1; p < close; p++)
            if (!((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'f') ||
                  (*p >= 'A' && *p <= 'F') || *p == ':' || *p == '.'))
                return false;
        host_n = (size_t)(close - s) + 1;
    } else {
        const char *colon = memchr(s, ':', n);
        host_n = colon ? (size_t)(colon - s) : n;
        if (host_n == 0 || s[0] == '.' || s[0] == '-' || s[host_n - 1] == '.' ||
            s[host_n - 1] == '-')
            return false;
        for (size_t i = 0; i < host_n; i++)
            if (!host_char(s[i]) || (s[i] == '.' && s[i + 1] == '.'))
                return false;
    }
    if (host_n == n)
        return true;
    if (s[host_n] != ':' || n - host_n - 1 == 0 || n - host_n - 1 > 5)
        return false;
    unsigned long port = 0;
    for (size_t i = host_n + 1; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return false;
        port = port * 10 + (unsigned long)(s[i] - '0');
    }
    return port >= 1 && port <= 65535;
}

/* Docker Hub answers to several names; a reference and this table say
 * "docker.io". */
static const char *canonical_name(const char *name)
{
    if (!strcasecmp(name, "index.docker.io") || !strcasecmp(name, "registry-1.docker.io"))
        return "docker.io";
    return name;
}

static struct registry_entry *find(const struct registry_config *c, const char *name)
{
    for (size_t i = 0; i < c->n; i++)
        if (!strcasecmp(c->e[i].name, name))
            return (struct registry_entry *)&c->e[i];
    return NULL;
}

static int get_entry(struct registry_config *c, const char *name, struct registry_entry **ret,
                     struct runra_err **err)
{
    struct registry_entry *e = find(c, name);
    if (!e) {
        if (c->n >= REGISTRY_ENTRIES_MAX)
            return err_set(err, E2BIG, "more than %d registries configured", REGISTRY_ENTRIES_MAX);
        e = &c->e[c->n];
        *e = (struct registry_entry){0};
        if (!(e->name = strdup(name)))
            return -ENOMEM;
        c->n++;
    }
    *ret = e;
    return 0;
}

/* A mirror's URL: "http://" or "https://", then host[:port], then at most
 * a trailing '/'. No user info, path, query or fragment: the distribution
 * API's paths start at the root, and credentials belong in the auths. */
static int mirror_url(const char *reg, const char *url, char **ret, struct runra_err **err)
{
    const char *rest;
    if (str_has_prefix(url, "https://"))
        rest = url + 8;
    else if (str_has_prefix(url, "http://"))
        rest = url + 7;
    else
        return err_set(err, EINVAL,
                       "registries.%.255s.mirrors: '%.300s' is not an http:// or https:// URL", reg,
                       url);
    size_t n = strlen(rest);
    if (n > 0 && rest[n - 1] == '/')
        n--;
    if (!host_port_ok(rest, n))
        return err_set(err, EINVAL,
                       "registries.%.255s.mirrors: '%.300s' is not scheme://host[:port] (no user, "
                       "path or query)",
                       reg, url);
    char *s = NULL;
    if (asprintf(&s, "%.*s%.*s", (int)(rest - url), url, (int)n, rest) < 0)
        return -ENOMEM;
    if (strlen(s) >= sizeof(((struct registry_endpoint *)0)->base)) {
        free(s);
        return err_set(err, EINVAL, "registries.%.255s.mirrors: URL too long", reg);
    }
    *ret = s;
    return 0;
}

static int add_one(struct registry_config *c, const char *key, json_t *v, struct runra_err **err)
{
    json_t *mirrors = NULL;
    int mirrors_only = 0, insecure = 0;
    json_error_t je;
    if (!host_port_ok(key, strlen(key)))
        return err_set(err, EINVAL, "registries: '%.255s' is not a registry name (host[:port])",
                       key);
    if (json_unpack_ex(v, &je, JSON_STRICT, "{s?o,s?b,s?b}", "mirrors", &mirrors, "mirrorsOnly",
                       &mirrors_only, "insecure", &insecure) < 0)
        return err_set(err, EINVAL, "registries.%.255s: %s", key, je.text);
    size_t nm = mirrors ? json_array_size(mirrors) : 0;
    if (mirrors && !json_is_array(mirrors))
        return err_set(err, EINVAL, "registries.%.255s.mirrors: not an array", key);
    if (nm > REGISTRY_MIRRORS_MAX)
        return err_set(err, EINVAL, "registries.%.255s.mirrors: more than %d", key,
                       REGISTRY_MIRRORS_MAX);
    if (mirrors_only && nm == 0)
        return err_set(err, EINVAL, "registries.%.255s: mirrorsOnly without mirrors", key);
    const char *name = canonical_name(key);
    struct registry_entry *e = find(c, name);
    if (e && e->configured)
        return err_set(err, EEXIST, "registries: '%.255s' configured twice", name);
    /* Every URL is checked before the table changes, so a bad one leaves
     * it as it was. */
    char *urls[REGISTRY_MIRRORS_MAX] = {0};
    int r = 0;
    for (size_t i = 0; i < nm && r == 0; i++) {
        json_t *u = json_array_get(mirrors, i);
        if (!json_is_string(u))
            r = err_set(err, EINVAL, "registries.%.255s.mirrors[%zu]: not a string", key, i);
        else
            r = mirror_url(key, json_string_value(u), &urls[i], err);
    }
    if (r == 0)
        r = get_entry(c, name, &e, err);
    if (r < 0) {
        for (size_t i = 0; i < nm; i++)
            free(urls[i]);
        return r;
    }
    memcpy(e->mirrors, urls, sizeof(urls));
    e->nmirrors = nm;
    e->mirrors_only = mirrors_only;
    e->insecure = insecure;
    e->configured = true;
    return 0;
}

int registry_config_add_registries(struct registry_config *c, const char *json, size_t len,
                                   struct runra_err **err)
{
    if (len > REGISTRIES_JSON_MAX)
        return err_set(err, E2BIG, "registries: larger than %u bytes", REGISTRIES_JSON_MAX);
    json_error_t je;
    json_auto_t *j = json_loadb(json, len, JSON_REJECT_DUPLICATES, &je);
    if (!j)
        return err_set(err, EINVAL, "registries: not JSON: %s (line %d)", je.text, je.line);
    if (!json_is_object(j))
        return err_set(err, EINVAL, "registries: not a JSON object");
    if (json_object_size(j) > REGISTRY_ENTRIES_MAX)
        return err_set(err, E2BIG, "registries: more than %d", REGISTRY_ENTRIES_MAX);
    /* Checked in full first, so that an error changes nothing. */
    struct registry_config *scratch = NULL;
    int r = registry_config_new(&scratch);
    if (r < 0)
        return r;
    const char *key;
    json_t *v;
    json_object_foreach(j, key, v) {
        if ((r = add_one(scratch, key, v, err)) < 0)
            break;
        if (find(c, canonical_name(key)) && find(c, canonical_name(key))->configured) {
            r = err_set(err, EEXIST, "registries: '%.255s' configured twice", key);
            break;
        }
    }
    if (r == 0 && c->n + scratch->n > REGISTRY_ENTRIES_MAX) {
        size_t fresh = 0;
        for (size_t i = 0; i < scratch->n; i++)
            fresh += !find(c, scratch->e[i].name);
        if (c->n + fresh > REGISTRY_ENTRIES_MAX)
            r = err_set(err, E2BIG, "more than %d registries configured", REGISTRY_ENTRIES_MAX);
    }
    for (size_t i = 0; r == 0 && i < scratch->n; i++) {
        struct registry_entry *s = &scratch->e[i], *e = NULL;
        if ((r = get_entry(c, s->name, &e, err)) < 0)
            break;
        memcpy(e->mirrors, s->mirrors, sizeof(s->mirrors));
        e->nmirrors = s->nmirrors;
        s->nmirrors = 0;
        e->mirrors_only = s->mirrors_only;
        e->insecure = s->insecure;
        e->configured = true;
    }
    registry_config_free(scratch);
    return r;
}

/* The registry a Docker config's "auths" key names: "ghcr.io",
 * "https://index.docker.io/v1/", "http://127.0.0.1:5000/v2/" each say
 * host[:port] with a scheme and a path around it. False for a key that
 * names no registry; docker skips those, and so do we. */
static bool auth_key_name(const char *key, char out[256])
{
    const char *h = key;
    if (!strncasecmp(h, "https://", 8))
        h += 8;
    else if (!strncasecmp(h, "http://", 7))
        h += 7;
    size_t n = strcspn(h, "/");
    if (n == 0 || n >= 256 || !host_port_ok(h, n))
        return false;
    memcpy(out, h, n);
    out[n] = 0;
    const char *canon = canonical_name(out);
    if (canon != out)
        snprintf(out, 256, "%s", canon);
    return true;
}

static bool cred_ok(const char *s, size_t n, size_t max)
{
    if (n > max || memchr(s, 0, n))
        return false;
    return true;
}

/* "auth": base64 of "user:password". Docker writes it padded; some tools
 * do not, so missing padding is restored before the strict decoder runs. */
static int decode_auth(const char *b64, char **user, char **password)
{
    size_t n = strlen(b64);
    if (n > 4 * (CRED_USER_MAX + CRED_PASSWORD_MAX))
        return -E2BIG;
    _cleanup_free_ char *padded = malloc(n + 4);
    if (!padded)
        return -ENOMEM;
    memcpy(padded, b64, n);
    while (n % 4)
        padded[n++] = '=';
    unsigned char *raw = NULL;
    size_t rn = 0;
    int r = base64_decode(padded, n, &raw, &rn);
    explicit_bzero(padded, n);
    if (r < 0)
        return r;
    char *colon = memchr(raw, ':', rn);
    r = 0;
    if (!colon || colon == (char *)raw)
        r = -EINVAL;
    else if (!cred_ok((char *)raw, (size_t)(colon - (char *)raw), CRED_USER_MAX) ||
             !cred_ok(colon + 1, rn - (size_t)(colon + 1 - (char *)raw), CRED_PASSWORD_MAX))
        r = -EINVAL;
    if (r == 0) {
        *user = strndup((char *)raw, (size_t)(colon - (char *)raw));
        *password = strndup(colon + 1, rn - (size_t)(colon + 1 - (char *)raw));
        if (!*user || !*password) {
            free_secret(*user);
            free_secret(*password);
            r = -ENOMEM;
        }
    }
    explicit_bzero(raw, rn);
    free(raw);
    return r;
}

int registry_config_add_docker_auths(struct registry_config *c, const char *json, size_t len,
                                     struct runra_err **err)
{
    if (len > DOCKER_CONFIG_MAX)
        return err_set(err, E2BIG, "docker config: larger than %u bytes", DOCKER_CONFIG_MAX);
    json_error_t je;
    json_auto_t *j = json_loadb(json, len, 0, &je);
    if (!j)
        return err_set(err, EINVAL, "docker config: not JSON: %s (line %d)", je.text, je.line);
    if (!json_is_object(j))
        return err_set(err, EINVAL, "docker config: not a JSON object");
    json_t *auths = json_object_get(j, "auths");
    if (!auths || json_is_null(auths))
        return 0;
    if (!json_is_object(auths))
        return err_set(err, EINVAL, "docker config: 'auths' is not an object");
    const char *key;
    json_t *v;
    json_object_foreach(auths, key, v) {
        char name[256];
        if (!auth_key_name(key, name) || !json_is_object(v))
            continue;
        json_t *a = json_object_get(v, "auth"), *u = json_object_get(v, "username"),
               *p = json_object_get(v, "password");
        char *user = NULL, *password = NULL;
        if (json_is_string(a) && json_string_length(a) > 0) {
            int r = decode_auth(json_string_value(a), &user, &password);
            if (r == -ENOMEM)
                return r;
            if (r < 0)
                return err_set(err, EINVAL,
                               "docker config: auths.%.255s.auth is not base64 of user:password",
                               name);
        } else if (json_is_string(u) && json_is_string(p) && json_string_length(u) > 0) {
            if (!cred_ok(json_string_value(u), json_string_length(u), CRED_USER_MAX) ||
                !cred_ok(json_string_value(p), json_string_length(p), CRED_PASSWORD_MAX))
                return err_set(err, EINVAL, "docker config: auths.%.255s: bad username or password",
                               name);
            user = strdup(json_string_value(u));
            password = strdup(json_string_value(p));
            if (!user || !password) {
                free_secret(user);
                free_secret(password);
                return -ENOMEM;
            }
        } else {
            /* An entry a credential helper fills ({} beside "credsStore"),
             * or an identity token: nothing we can send. */
            continue;
        }
        struct registry_entry *e = NULL;
        int r = get_entry(c, name, &e, err);
        if (r < 0) {
            free_secret(user);
            free_secret(password);
            return r;
        }
        /* A later source (RUNRA_REGISTRY_AUTH after ~/.docker/config.json)
         * overrides an earlier one. */
        free_secret(e->user);
        free_secret(e->password);
        e->user = user;
        e->password = password;
    }
    return 0;
}

int registry_config_endpoints(const struct registry_config *c, const char *registry,
                              struct registry_endpoint *out, size_t max, size_t *n)
{
    const struct registry_entry *e = c ? find(c, canonical_name(registry)) : NULL;
    size_t k = 0;
    for (size_t i = 0; e && i < e->nmirrors; i++) {
        if (k >= max)
            return -E2BIG;
        snprintf(out[k].base, sizeof(out[k].base), "%s", e->mirrors[i]);
        out[k++].mirror = true;
    }
    if (!e || !e->mirrors_only) {
        if (k >= max)
            return -E2BIG;
        const char *host = strcmp(canonical_name(registry), "docker.io") ? registry
                                                                          : "registry-1.docker.io";
        int w = snprintf(out[k].base, sizeof(out[k].base), "%s://%s",
                         e && e->insecure ? "http" : "https", host);
        if (w < 0 || (size_t)w >= sizeof(out[k].base))
            return -EINVAL;
        out[k++].mirror = false;
    }
    *n = k;
    return 0;
}

bool registry_config_credentials(const struct registry_config *c, const char *registry,
                                 const char **user, const char **password)
{
    const struct registry_entry *e = c ? find(c, canonical_name(registry)) : NULL;
    if (!e || !e->user || !e->password)
        return false;
    *user = e->user;
    *password = e->password;
    return true;
}

bool registry_config_known(const struct registry_config *c, const char *registry)
{
    const char *name = canonical_name(registry);
    if (!strcasecmp(name, "docker.io"))
        return true;
    const struct registry_entry *e = c ? find(c, name) : NULL;
    return e && e->configured;
}
