/* What the daemon tells runra-init about the sandbox it is about to become,
 * carried on runra-init's argv so nothing needs parsing between clone and
 * exec. Both ends use this codec. */
#pragma once

#include "base/err.h"

struct ns_config {
    char *root;      /* host path of the sandbox's writable root fs (already mounted) */
    char *hostname;  /* the sandbox id */
    char *image;     /* "host": the host's /usr, /etc, ... read-only */
    char *workdir;   /* initial cwd inside, e.g. /workspace */
    char **hide;     /* host paths that must not be visible inside; NULL-terminated */
    int listen_fd;   /* listening unix socket the daemon connects to */
};

/* argv for execve: { "runra-init", "--ns", "--root", ..., NULL }. */
int ns_config_to_argv(const struct ns_config *c, char ***ret_argv);
/* Parses what ns_config_to_argv wrote (argv[0] included). */
int ns_config_from_argv(int argc, char **argv, struct ns_config *ret, struct runra_err **err);
void ns_config_done(struct ns_config *c);
