/* Registry settings: per registry, mirrors and whether it is plain HTTP;
 * credentials from a Docker config.json "auths" object. Parsed strictly from
 * runrad's config file (the "registries" object, docs/images.md), from
 * ~/.docker/config.json and from RUNRA_REGISTRY_AUTH. Pure: no I/O here. */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#include "base/err.h"

#define REGISTRY_MIRRORS_MAX 8
#define REGISTRY_ENTRIES_MAX 64

struct registry_config;

/* An empty config: every registry over https, no mirrors, no credentials. */
int registry_config_new(struct registry_config **ret);
/* Adds the "registries" object of runrad's config file:
 *   {"docker.io": {"mirrors": ["http://127.0.0.1:5000"], "mirrorsOnly": true},
 *    "127.0.0.1:5000": {"insecure": true}}
 * EINVAL (with the field named) for unknown keys, wrong types, bad URLs. */
int registry_config_add_registries(struct registry_config *c, const char *json, size_t len,
                                   struct runra_err **err);
/* Adds the credentials of a Docker config.json ("auths": {host: {"auth":
 * base64(user:pass)} or {"username","password"}}); other keys are ignored,
 * as docker ignores what it does not use. Entries may be URLs
 * ("https://index.docker.io/v1/" means docker.io). */
int registry_config_add_docker_auths(struct registry_config *c, const char *json, size_t len,
                                     struct runra_err **err);
void registry_config_free(struct registry_config *c);

/* Where to send requests for a registry, in order: each mirror, then the
 * registry itself unless mirrorsOnly. base: "https://host[:port]" or
 * "http://..."; for docker.io the registry itself is
 * https://registry-1.docker.io. n: how many were filled. */
struct registry_endpoint {
    char base[300];
    bool mirror;
};
int registry_config_endpoints(const struct registry_config *c, const char *registry,
                              struct registry_endpoint *out, size_t max, size_t *n);
/* True for docker.io and for a registry runrad's config file names: the
 * registries an API key (not the admin) may pull from, so a key cannot
 * make runrad fetch from any host it can reach. */
bool registry_config_known(const struct registry_config *c, const char *registry);
/* The credentials for a registry (by its name as in a reference, e.g.
 * "docker.io", "127.0.0.1:5000"), or false. */
bool registry_config_credentials(const struct registry_config *c, const char *registry,
                                 const char **user, const char **password);
