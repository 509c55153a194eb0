/* libFuzzer target: what a registry and its token server say about auth
 * (WWW-Authenticate values, token answers) and the registry settings a
 * config file holds. The first byte picks the parser. Each either fails
 * with a message or returns fields that keep to their bounds and forms. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "image/auth.h"
#include "image/regconfig.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void challenge(const char *b, size_t n)
{
    struct auth_challenge ch;
    struct runra_err *e = NULL;
    int r = auth_challenge_parse(b, n, &ch, &e);
    if (r < 0) {
        if (!e || !e->msg)
            abort();
        err_free(e);
        return;
    }
    if (ch.scheme != AUTH_BASIC && ch.scheme != AUTH_BEARER)
        abort();
    if (strlen(ch.realm) > AUTH_REALM_MAX || strlen(ch.service) > AUTH_SERVICE_MAX ||
        strlen(ch.scope) > AUTH_SCOPE_MAX)
        abort();
    if (ch.scheme != AUTH_BEARER)
        return;
    char *url = NULL;
    if (auth_token_url(&ch, "repository:x:pull", ch.realm[4] == ':', &url, &e) == 0) {
        /* The URL goes on a request line: no whitespace or control bytes. */
        for (const char *p = url; *p; p++)
            if ((unsigned char)*p <= 0x20 || (unsigned char)*p >= 0x7f)
                abort();
        if (strncmp(url, "https://", 8) && strncmp(url, "http://", 7))
            abort();
        free(url);
    }
    err_free(e);
}

static void token(const char *b, size_t n)
{
    char *t = NULL;
    struct runra_err *e = NULL;
    if (auth_token_parse(b, n, &t, &e) == 0) {
        size_t k = strlen(t);
        if (k == 0 || k > AUTH_TOKEN_MAX)
            abort();
        for (size_t i = 0; i < k; i++)
            if ((unsigned char)t[i] <= 0x20 || (unsigned char)t[i] >= 0x7f)
                abort();
        free(t);
    }
    err_free(e);
}

static void settings(const char *b, size_t n, bool docker)
{
    struct registry_config *c = NULL;
    struct runra_err *e = NULL;
    if (registry_config_new(&c) < 0)
        return;
    int r = docker ? registry_config_add_docker_auths(c, b, n, &e)
                   : registry_config_add_registries(c, b, n, &e);
    if (r < 0 && r != -ENOMEM && (!e || !e->msg))
        abort();
    struct registry_endpoint ep[REGISTRY_MIRRORS_MAX + 1];
    size_t k = 0;
    if (registry_config_endpoints(c, "docker.io", ep, REGISTRY_MIRRORS_MAX + 1, &k) < 0 ||
        k == 0 || k > REGISTRY_MIRRORS_MAX + 1)
        abort();
    for (size_t i = 0; i < k; i++)
        if (strncmp(ep[i].base, "https://", 8) && strncmp(ep[i].base, "http://", 7))
            abort();
    const char *u, *p;
    if (registry_config_credentials(c, "docker.io", &u, &p) && (!*u || strlen(u) > 256))
        abort();
    err_free(e);
    registry_config_free(c);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    const char *b = (const char *)data + 1;
    size_t n = size - 1;
    switch (data[0] % 4) {
    case 0: challenge(b, n); break;
    case 1: token(b, n); break;
    case 2: settings(b, n, false); break;
    default: settings(b, n, true); break;
    }
    return 0;
}
