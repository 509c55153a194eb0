/* Typed guest-protocol messages and their JSON payload codec. Decoders are
 * strict (unknown keys, wrong types and out-of-range values are errors) and
 * bounded by limits.h, because the daemon decodes what a hostile guest sends. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../base/err.h"

typedef struct json_t json_t;

struct hello_msg {
    int version;
    int64_t pid;
};

/* FRAME_VM_SETUP. The root is made once per boot (a template's restores
 * have it already), the identity and limits once per sandbox; the clock
 * and the seed on every one. */
#define VM_SEED_LEN 32
enum vm_setup_kind {
    VM_SETUP_SANDBOX,  /* the root, then this sandbox's identity and limits */
    VM_SETUP_TEMPLATE, /* a template's boot: the root only */
    VM_SETUP_PROBE,    /* an acceleration probe: answer HELLO, nothing else */
};
struct vm_setup_msg {
    char hostname[65];  /* the sandbox id */
    char workdir[4097]; /* initial cwd inside (absolute) */
    bool image;         /* the root disk is an image's tree (not the host's) */
    enum vm_setup_kind kind;
    int64_t time_ns;    /* the host's CLOCK_REALTIME */
    /* The sandbox's limits, enforced by a cgroup in the guest (0: none). */
    uint64_t memory_mb;
    uint64_t pids;
    uint32_t cpu_milli;  /* cores x 1000 */
    uint8_t seed[VM_SEED_LEN]; /* mixed into the guest's random pool */
};

/* FRAME_NET_CONFIG: the NIC with this MAC takes the address (dotted
 * IPv4); the gateway is on its link. */
struct net_config_msg {
    char mac[18]; /* "52:54:00:12:34:56", lower case */
    char address[16];
    char gateway[16];
    unsigned prefix; /* 1 to 30 */
};

struct exec_req {
    char **argv;         /* NULL-terminated, at least one entry */
    char **env;          /* NULL-terminated "KEY=VALUE", applied over the sandbox env; may be NULL */
    char *cwd;           /* NULL: /workspace; relative paths resolve against /workspace */
    uint64_t timeout_ms; /* 0: none */
    uint64_t max_output; /* bytes kept per stream; 0: unlimited (streaming) */
    bool stdin_pipe;     /* true: STDIN frames follow; false: stdin is /dev/null */
    char *user;          /* NAME, UID, NAME:GROUP or UID:GID inside; NULL: root */
};

struct exec_exit {
    int exit_code;       /* the exit status, or 128 + signal when killed */
    int signal;          /* the terminating signal, or 0 */
    bool timed_out;      /* the guest killed the tree at timeout_ms */
    bool truncated;      /* some output was dropped past max_output */
    uint64_t duration_ms;
    uint64_t stdout_bytes; /* produced, including what was dropped */
    uint64_t stderr_bytes;
    bool oom_killed;     /* the guest saw an OOM kill among the sandbox's processes while it
                            ran (VM guests, whose OOM kills the host's cgroup cannot see) */
};

enum file_type { FILE_TYPE_FILE, FILE_TYPE_DIR, FILE_TYPE_SYMLINK, FILE_TYPE_OTHER };

struct file_info {
    char *name;    /* last component */
    char *path;    /* absolute path inside the sandbox */
    enum file_type type;
    uint64_t size;
    uint32_t mode; /* permission bits (07777) */
    int64_t mtime_ms;
    uint32_t uid, gid;
    char *target;  /* symlink target, or NULL */
};

/* One request shape for every file call; which fields matter depends on the
 * frame type (see frame.h). */
struct file_req {
    char *path;
    char *to;          /* FILE_MOVE */
    uint64_t offset;   /* FILE_READ */
    uint64_t limit;    /* FILE_READ: 0 = to the end */
    uint32_t mode;     /* FILE_WRITE / FILE_MKDIR: 0 = default */
    bool parents;      /* FILE_MKDIR; FILE_WRITE creates parents too when set */
    bool recursive;    /* FILE_REMOVE */
    bool append;       /* FILE_WRITE */
    bool overwrite;    /* FILE_MOVE: replace an existing "to" */
};

struct file_list {
    struct file_info *entries;
    size_t n;
    bool truncated;
};

struct guest_error {
    int err;           /* positive errno */
    char *message;
};

int msg_hello_encode(const struct hello_msg *m, char **ret);
int msg_hello_decode(const void *buf, size_t len, struct hello_msg *ret, struct runra_err **err);

int msg_net_config_encode(const struct net_config_msg *m, char **ret);
int msg_net_config_decode(const void *buf, size_t len, struct net_config_msg *ret,
                          struct runra_err **err);
int msg_vm_setup_encode(const struct vm_setup_msg *m, char **ret);
int msg_vm_setup_decode(const void *buf, size_t len, struct vm_setup_msg *ret,
                        struct runra_err **err);

int msg_exec_req_encode(const struct exec_req *r, char **ret);
int msg_exec_req_decode(const void *buf, size_t len, struct exec_req **ret, struct runra_err **err);
void msg_exec_req_free(struct exec_req *r);
DEFINE_CLEANUP(struct exec_req, msg_exec_req_free)

int msg_exec_exit_encode(const struct exec_exit *e, char **ret);
int msg_exec_exit_decode(const void *buf, size_t len, struct exec_exit *ret, struct runra_err **err);

int msg_signal_encode(int sig, char **ret);
int msg_signal_decode(const void *buf, size_t len, int *ret, struct runra_err **err);

int msg_file_req_encode(uint16_t frame_type, const struct file_req *r, char **ret);
int msg_file_req_decode(uint16_t frame_type, const void *buf, size_t len, struct file_req **ret,
                        struct runra_err **err);
void msg_file_req_free(struct file_req *r);
DEFINE_CLEANUP(struct file_req, msg_file_req_free)

int msg_file_info_encode(const struct file_info *fi, char **ret);
int msg_file_info_decode(const void *buf, size_t len, struct file_info *ret, struct runra_err **err);
void msg_file_info_done(struct file_info *fi); /* frees the members */

int msg_file_list_encode(const struct file_list *l, char **ret);
int msg_file_list_decode(const void *buf, size_t len, struct file_list *ret, struct runra_err **err);
void msg_file_list_done(struct file_list *l);

/* FILE_WRITE result: {"size": N} (bytes written by this call). */
int msg_size_encode(uint64_t size, char **ret);
int msg_size_decode(const void *buf, size_t len, uint64_t *ret, struct runra_err **err);

int msg_error_encode(int errnum, const char *message, char **ret);
int msg_error_decode(const void *buf, size_t len, struct guest_error *ret, struct runra_err **err);
void msg_guest_error_done(struct guest_error *e);

/* The one JSON object reader every guest message decoder uses: bounded by
 * the frame size, duplicate keys rejected, objects only. */
int msg_json_load(const void *buf, size_t len, json_t **ret, struct runra_err **err);
/* Serializes and releases j (NULL, from a failed pack, is -ENOMEM). */
int msg_json_dump(json_t *j, char **ret);

const char *file_type_name(enum file_type t);
int file_type_from_name(const char *s, enum file_type *ret);

/* Checks a path given by a caller: non-empty, no NUL, bounded. */
int msg_check_path(const char *p, struct runra_err **err);
/* Checks an env entry "KEY=VALUE": key non-empty, [A-Za-z_][A-Za-z0-9_]*, bounded. */
int msg_check_env(const char *kv, struct runra_err **err);
/* Checks an env name alone (no '='), as an object key in the API spells it. */
int msg_check_env_key(const char *key, struct runra_err **err);
/* Frees a NULL-terminated string vector. */
void strv_free(char **v);
/* "NAME", "UID", "NAME:GROUP", "UID:GID": the spelling only (bounded,
 * passwd-safe characters); the guest resolves it. */
int msg_check_user(const char *user, struct runra_err **err);
/* ms since the epoch as an RFC 3339 JSON string (UTC, milliseconds); 0 or
 * less is null ("never"). */
json_t *msg_time_json(int64_t ms);
/* A deep copy of a NULL-terminated vector (NULL for NULL or no memory). */
char **strv_dup(char *const *v);
size_t strv_len(char *const *v);
