/* The manager decides: it owns the table of sandboxes, their lifecycle and
 * limits, and turns API actions into backend and guest calls. The API layer
 * only translates HTTP to these functions and back. */
#pragma once

#include <jansson.h>

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/err.h"
#include "proto/msg.h"
#include "proto/spec.h"

struct manager;
struct store;

struct manager_config {
    const char *state_dir;
    const char *socket_path;
    const char *init_path;          /* runra-init on the host */
    uint64_t exec_timeout_ms;       /* default exec timeout when a request names none */
    uint64_t max_output;            /* default bytes kept per stream */
    struct store *store;
    unsigned pool_size;             /* warm sandboxes kept ready for creates; 0: none */
    struct egress *egress;          /* NULL: no network access for sandboxes */
    struct events *events;          /* the audit trail; NULL: none */
    const char *egress_error;       /* why egress is NULL */
    /* Exiting leaves sandboxes running for the next daemon (the default);
     * false: exiting destroys them. */
    bool keep_sandboxes;
    /* Seals secrets in the store; NULL: they live only in memory and a
     * restarted daemon does not have them. */
    const struct secrets_key *secrets_key;
    const char *secrets_key_path; /* never visible in, or mountable into, a sandbox */
    struct images *images;        /* the image store; NULL: only the host image */
};

struct sandbox_info {
    char *id;
    char owner[32];
    char *state;
    struct sandbox_spec *spec;
    int64_t created_ms;
    int64_t expires_ms; /* 0: never */
};

/* Takes back what the store says a previous daemon left: each sandbox is
 * reattached (its runra-init reconnected, network and ports made again),
 * or, when its processes are gone, kept as "stopped" (persist) or "failed". */
int manager_new(const struct manager_config *cfg, struct manager **ret, struct runra_err **err);
/* Destroys every sandbox (or, keep_sandboxes, lets go of them running)
 * and frees the manager. */
void manager_free(struct manager *m);

/* The manifest digests of the images every sandbox (pooled, running,
 * paused, stopped, being torn down) is made of, NULL-terminated. */
int manager_image_digests(struct manager *m, char ***ret);
/* How many sandboxes use the image with this manifest digest. */
int manager_image_users(struct manager *m, const char *digest);

/* Takes ownership of spec (also on failure). */
int manager_create(struct manager *m, struct sandbox_spec *spec, struct sandbox_info **ret,
                   struct runra_err **err);
int manager_get(struct manager *m, const char *id, struct sandbox_info **ret,
                struct runra_err **err);
/* Sandboxes whose metadata holds every pair in filter. */
int manager_list(struct manager *m, const struct kv_list *filter, struct sandbox_info ***ret,
                 size_t *ret_n, struct runra_err **err);
int manager_destroy(struct manager *m, const char *id, struct runra_err **err);
/* Pauses (every process stopped by the cgroup freezer, memory and files
 * kept) or resumes a sandbox; doing what is already done is fine. */
int manager_pause(struct manager *m, const char *id, bool pause, struct runra_err **err);
/* True when sandbox id exists and owner (an API key's id) made it; the
 * admin ("") owns everything. */
bool manager_owned_by(struct manager *m, const char *id, const char *owner);
/* Sets the lifetime to timeout_ms from now (0: none) and/or what happens at
 * its end; NULL leaves that part as it is. */
int manager_set_timeout(struct manager *m, const char *id, const uint64_t *timeout_ms,
                        const bool *pause_on_timeout, struct runra_err **err);
void sandbox_info_free(struct sandbox_info *i);
void sandbox_info_list_free(struct sandbox_info **v, size_t n);

struct exec_opts {
    char **argv;          /* borrowed */
    char **env;           /* borrowed "K=V" overrides over the sandbox env; may be NULL */
    const char *cwd;      /* may be NULL */
    const char *user;     /* may be NULL: the sandbox's default user */
    uint64_t timeout_ms;  /* 0: the daemon default */
    uint64_t max_output;  /* 0: the daemon default */
    const void *stdin_data;
    size_t stdin_len;
    bool has_stdin;
};

struct exec_result {
    int exit_code;
    int signal;
    char *out;
    size_t out_len;
    char *errb;
    size_t err_len;
    uint64_t duration_ms;
    bool timed_out;
    bool oom_killed;
    bool truncated;
};

int manager_exec(struct manager *m, const char *id, const struct exec_opts *o,
                 struct exec_result **ret, struct runra_err **err);
void exec_result_free(struct exec_result *r);

/* Streaming file read: opening waits for the guest's first answer, so a
 * missing file is an error here and not halfway through a response. */
struct file_rstream;
int manager_file_read_open(struct manager *m, const char *id, const char *path, uint64_t offset,
                           uint64_t limit, struct file_rstream **ret, struct runra_err **err);
/* Copies up to max bytes into buf; returns bytes (> 0), 0 at the end, or -errno. */
ssize_t file_rstream_read(struct file_rstream *s, void *buf, size_t max, struct runra_err **err);
void file_rstream_close(struct file_rstream *s);

struct file_wstream;
int manager_file_write_open(struct manager *m, const char *id, const char *path, uint32_t mode,
                            bool append, struct file_wstream **ret, struct runra_err **err);
int file_wstream_write(struct file_wstream *s, const void *buf, size_t len,
                       struct runra_err **err);
/* Ends the upload and waits for the guest's result. */
int file_wstream_finish(struct file_wstream *s, uint64_t *ret_size, struct runra_err **err);
void file_wstream_close(struct file_wstream *s);

int manager_file_list(struct manager *m, const char *id, const char *path, struct file_list *ret,
                      struct runra_err **err);
int manager_file_stat(struct manager *m, const char *id, const char *path, struct file_info *ret,
                      struct runra_err **err);
int manager_file_mkdir(struct manager *m, const char *id, const char *path, bool parents,
                       uint32_t mode, struct file_info *ret, struct runra_err **err);
int manager_file_remove(struct manager *m, const char *id, const char *path, bool recursive,
                        struct runra_err **err);
int manager_file_move(struct manager *m, const char *id, const char *from, const char *to,
                      bool overwrite, struct file_info *ret, struct runra_err **err);

/* Network policy (manager-net.c). network: the spec's "network" object. */
int manager_net_check(const char *network_json, struct runra_err **err);
int manager_set_network(struct manager *m, const char *id, json_t *network,
                        struct runra_err **err);
/* The policy with the sandbox's addresses, or (denied) {"denied": [...]}. */
int manager_network_get(struct manager *m, const char *id, bool denied, json_t **ret,
                        struct runra_err **err);

/* GET /metrics: the Prometheus text exposition (caller frees). */
int manager_metrics(struct manager *m, char **ret, size_t *ret_len);

/* Facts for /v1/health. */
/* NULL when sandboxes can have network access, else why not. */
const char *manager_network_unavailable(struct manager *m);
size_t manager_count(struct manager *m);
size_t manager_pool_count(struct manager *m);
/* Sandboxes deleted whose teardown has not finished yet. */
size_t manager_destroying_count(struct manager *m);
