/* What the daemon tells runra-init about the sandbox it is about to become,
 * carried on runra-init's argv so nothing needs parsing between clone and
 * exec. Both ends use this codec. */
#pragma once

#include "base/err.h"

#define NS_CONFIG_MOUNTS_MAX 16

struct ns_config {
    char *root;     /* host path of the sandbox's writable root fs (already mounted) */
    char *hostname; /* the sandbox id */
    char *image;    /* "host": the host's /usr, /etc, ... read-only */
    char *workdir;  /* initial cwd inside, e.g. /workspace */
    char **hide;    /* host paths that must not be visible inside; NULL-terminated */
    int listen_fd;  /* listening unix socket the daemon connects to */
    /* An O_PATH fd of root opened in the sandbox's mount namespace, or -1 to
     * open root by path. The daemon passes one because root lies in its 0700
     * state dir, which the sandbox's root (another host uid) cannot search. */
    int root_fd;
    /* Host mounts the daemon made (detached, idmapped): fd i is attached at
     * mount_targets[i] inside the root before pivot_root. */
    int mount_fds[NS_CONFIG_MOUNTS_MAX];
    char *mount_targets[NS_CONFIG_MOUNTS_MAX];
    size_t nmounts;
    /* An image's root: a detached, idmapped, read-only mount of the shared
     * layer store (-1: the host image), and the layers (64-hex diff-ids,
     * bottom first) found there as sha256/<hex>, stacked into an overlay
     * whose upper layer is the sandbox's disk. */
    int layers_fd;
    char **layers;
    size_t nlayers;
};

/* Bounds the parser enforces. */
#define NS_CONFIG_HIDE_MAX 64
#define NS_CONFIG_HOSTNAME_MAX 64
#define NS_CONFIG_FD_MAX 1023
#define NS_CONFIG_LAYERS_MAX 256

/* argv for execve: { "runra-init", "--ns", "--root", ..., NULL }. Free with
 * strv_free(). -EINVAL when a required field is missing, -ENOMEM. */
int ns_config_to_argv(const struct ns_config *c, char ***ret_argv);
/* Parses what ns_config_to_argv wrote (argv[0] included). Strict: unknown,
 * repeated or missing options and out-of-range values fail with EINVAL. */
int ns_config_from_argv(int argc, char **argv, struct ns_config *ret, struct runra_err **err);
void ns_config_done(struct ns_config *c);
/* Blanks argv[1..] in place. runra-init calls it right after parsing: its
 * /proc/1/cmdline is readable inside the sandbox and would otherwise show
 * host paths (the daemon's state dir, the hidden paths, the disk's mount
 * point). The parsed config holds its own copies. */
void ns_config_scrub_argv(int argc, char **argv);
