/* librunra: the C client for runrad's HTTP/JSON API, over a unix socket or
 * plain TCP. Every call returns 0 (or a count) on success and -errno on
 * failure, and fills *err with the HTTP status, the API's error code and a
 * message. Everything the library returns is freed by its runra_*_free. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define RUNRA_DEFAULT_SOCKET "/var/lib/runra/runra.sock"

/* One connection to runrad, kept alive across calls. Not thread-safe: use one
 * client per thread. */
typedef struct runra_client runra_client;

/* What went wrong. errnum is the library's vocabulary (ENOENT: no such
 * sandbox or file, EINVAL: rejected input, ECONNREFUSED: nothing listening,
 * ECANCELED: the cancel callback asked to stop, ...). */
struct runra_error {
    int errnum;      /* positive errno */
    int http_status; /* 0 when no HTTP answer arrived */
    char *code;      /* the API's error code ("not_found"), or NULL */
    char *message;   /* one line for a human; never NULL */
};
void runra_error_free(struct runra_error *e);

/* A key and a value. In arguments the caller owns the strings; in results
 * the result owns them. */
struct runra_kv {
    const char *key;
    const char *value;
};

/* The library's version, "0.1.0". */
const char *runra_version(void);

/* ---- client ------------------------------------------------------------ */

/* endpoint: a unix socket path ("/var/lib/runra/runra.sock", or "unix:PATH"),
 * or "http://host:port". NULL means $RUNRA_SOCKET, else RUNRA_DEFAULT_SOCKET.
 * Does not connect; the first call (or runra_client_connect) does. */
int runra_client_new(const char *endpoint, runra_client **ret, struct runra_error **err);
void runra_client_free(runra_client *c);
/* Connects now if not connected: lets a caller tell "nobody is listening"
 * (ECONNREFUSED or ENOENT, http_status 0) from an API error. */
int runra_client_connect(runra_client *c, struct runra_error **err);
/* Sent as "Authorization: Bearer KEY" on every request; NULL clears it. */
int runra_client_set_api_key(runra_client *c, const char *key, struct runra_error **err);
/* Bounds each whole request (0, the default: no bound; exec and file
 * transfers can legitimately take long). */
void runra_client_set_timeout_ms(runra_client *c, uint64_t timeout_ms);
/* Polled (at least every 250 ms, and whenever a signal interrupts a wait)
 * during a request; returning non-zero abandons it with -ECANCELED. */
void runra_client_set_cancel(runra_client *c, int (*cancel)(void *userdata), void *userdata);
/* The endpoint as resolved (the socket path or the URL). */
const char *runra_client_endpoint(const runra_client *c);

/* ---- health ------------------------------------------------------------ */

struct runra_backend_status {
    char *name;
    bool available;
};

struct runra_health {
    char *status;  /* "ok" */
    char *version; /* runrad's version */
    char *cgroup;  /* "v1", "v2" or "hybrid", or NULL */
    int landlock;  /* the landlock ABI version, 0 when absent */
    struct runra_backend_status *backends;
    size_t n_backends;
    char *json; /* the response as runrad sent it */
};
int runra_health(runra_client *c, struct runra_health **ret, struct runra_error **err);
void runra_health_free(struct runra_health *h);

/* ---- sandboxes --------------------------------------------------------- */

struct runra_resources {
    double cpu;         /* cores, fractional allowed; 0: the daemon default */
    uint64_t memory_mb; /* 0: the daemon default */
    uint64_t pids;      /* 0: the daemon default */
    uint64_t disk_mb;   /* 0: the daemon default */
};

/* What to create. Zero-initialize, then set what matters: every NULL or 0
 * field is left to the daemon. */
/* Network egress: mode "none" (the default), "allowlist" or "open"; rules
 * like "api.example.com", "*.example.org", "10.1.2.0/24:5432". */
struct runra_network {
    const char *mode;               /* NULL: not set */
    const char *const *allow;       /* NULL-terminated, or NULL */
    const char *const *deny;        /* NULL-terminated, or NULL */
};

struct runra_mount {
    const char *source; /* absolute host path */
    const char *target; /* absolute path inside */
    bool read_only;
};

struct runra_sandbox_spec {
    const char *image;   /* "host" by default */
    const char *backend; /* "ns" by default */
    const char *workdir; /* absolute path inside; /workspace by default */
    struct runra_resources resources;
    uint64_t timeout_ms; /* lifetime; 0: none */
    const struct runra_kv *metadata;
    size_t n_metadata;
    const struct runra_kv *env;
    size_t n_env;
    struct runra_network network;
    bool auto_resume; /* work on a paused sandbox resumes it (else: EBUSY) */
    const char *on_timeout; /* "destroy" (default) or "pause" at timeout_ms */
    bool persist; /* the disk outlives its processes (host reboots): resume restarts it */
    const struct runra_kv *secrets; /* like env, never shown back; may be NULL */
    size_t n_secrets;
    const struct runra_mount *mounts; /* host paths bound inside (admin only) */
    size_t n_mounts;
};

struct runra_sandbox {
    char *id;
    char *state; /* "running", ... */
    char *image;
    char *backend;
    char *workdir;
    struct runra_resources resources;
    uint64_t timeout_ms;
    struct runra_kv *metadata;
    size_t n_metadata;
    char *created_at; /* RFC 3339 */
    char *expires_at; /* RFC 3339, or NULL when it never expires */
    char *json;       /* this sandbox as runrad sent it */
};

struct runra_sandbox_list {
    struct runra_sandbox *items;
    size_t n;
    char *json; /* the whole response as runrad sent it */
};

int runra_sandbox_create(runra_client *c, const struct runra_sandbox_spec *spec,
                         struct runra_sandbox **ret, struct runra_error **err);
int runra_sandbox_get(runra_client *c, const char *id, struct runra_sandbox **ret,
                      struct runra_error **err);
/* Sandboxes whose metadata holds every pair in filter (n_filter may be 0). */
int runra_sandbox_list(runra_client *c, const struct runra_kv *filter, size_t n_filter,
                       struct runra_sandbox_list **ret, struct runra_error **err);
int runra_sandbox_destroy(runra_client *c, const char *id, struct runra_error **err);
void runra_sandbox_free(struct runra_sandbox *s);
void runra_sandbox_list_free(struct runra_sandbox_list *l);

/* ---- exec -------------------------------------------------------------- */

/* Set command (run by /bin/sh -c) or argv, not both. */
struct runra_exec_opts {
    const char *command;
    const char *const *argv; /* NULL-terminated */
    const struct runra_kv *env;
    size_t n_env;
    const char *cwd;
    /* The command's stdin; NULL means none (/dev/null). The API carries it
     * as a JSON string, so it must be valid UTF-8 (else EINVAL). */
    const void *stdin_data;
    size_t stdin_len;
    uint64_t timeout_ms;       /* 0: the daemon default */
    uint64_t max_output_bytes; /* kept per stream; 0: the daemon default */
};

struct runra_exec_result {
    int exit_code; /* the exit status, or 128 + signal when killed */
    int signal;    /* the terminating signal, or 0 */
    /* The raw bytes (the library asks for base64 and decodes), each also
     * NUL-terminated for convenience. */
    char *stdout_data;
    size_t stdout_len;
    char *stderr_data;
    size_t stderr_len;
    uint64_t duration_ms;
    bool timed_out;
    bool oom_killed;
    bool truncated; /* some output went past max_output_bytes and was dropped */
    char *json;     /* the response as runrad sent it (stdout/stderr in base64) */
};

int runra_sandbox_exec(runra_client *c, const char *id, const struct runra_exec_opts *opts,
                       struct runra_exec_result **ret, struct runra_error **err);
void runra_exec_result_free(struct runra_exec_result *r);

/* ---- streaming exec and background processes ---------------------------- */

enum runra_stream { RUNRA_STREAM_STDOUT = 1, RUNRA_STREAM_STDERR = 2 };

/* Called with each chunk of output as it arrives (raw bytes). Returning
 * non-zero stops the stream: for an exec that kills the command. */
typedef int (*runra_output_fn)(void *userdata, enum runra_stream stream, const void *data,
                               size_t len);

/* Like runra_sandbox_exec, but output goes to on_output as the command
 * prints it; the result carries no output (stdout_data and stderr_data are
 * NULL), only the exit. Closing the connection (a non-zero on_output, a
 * cancel) kills the command's whole process tree. */
int runra_sandbox_exec_stream(runra_client *c, const char *id, const struct runra_exec_opts *opts,
                              runra_output_fn on_output, void *userdata,
                              struct runra_exec_result **ret, struct runra_error **err);

/* A background process: it keeps running when the client goes away and is
 * named later by its pid or its tag. Set command or argv, not both. */
struct runra_process_opts {
    const char *command;
    const char *const *argv;
    const struct runra_kv *env;
    size_t n_env;
    const char *cwd;
    const char *tag; /* NULL: none; unique among running processes */
    /* Non-zero: the process runs on a pseudo-terminal of this size (its
     * stdin, stdout and stderr, and its controlling terminal). */
    unsigned pty_cols, pty_rows;
};

struct runra_process {
    int64_t pid;
    char *tag;   /* or NULL */
    char **argv; /* NULL-terminated */
    bool pty;    /* runs on a pseudo-terminal */
    bool running;
    int exit_code; /* when !running */
    int signal;
    int64_t started_ms, exited_ms; /* ms since the epoch; exited_ms 0 while running */
};

struct runra_process_list {
    struct runra_process *items;
    size_t n;
    char *json;
};

int runra_process_start(runra_client *c, const char *id, const struct runra_process_opts *opts,
                        struct runra_process **ret, struct runra_error **err);
int runra_process_list(runra_client *c, const char *id, struct runra_process_list **ret,
                       struct runra_error **err);
void runra_process_free(struct runra_process *p);
void runra_process_list_free(struct runra_process_list *l);
/* ref: a pid ("123") or a tag. The log ring's last tail bytes (0: all it
 * holds) go to on_output; with follow, live output too, until the process
 * exits (ret_exit, which may be NULL, then gets its exit) or on_output
 * returns non-zero. */
int runra_process_logs(runra_client *c, const char *id, const char *ref, uint64_t tail,
                       bool follow, runra_output_fn on_output, void *userdata,
                       struct runra_exec_result **ret_exit, struct runra_error **err);
/* Writes to the process's stdin; close_stdin closes it after the data. */
int runra_process_stdin(runra_client *c, const char *id, const char *ref, const void *data,
                        size_t len, bool close_stdin, struct runra_error **err);
int runra_process_signal(runra_client *c, const char *id, const char *ref, int sig,
                         struct runra_error **err);
/* Waits for the exit (timeout_ms 0: no bound; ETIMEDOUT past it). */
int runra_process_wait(runra_client *c, const char *id, const char *ref, uint64_t timeout_ms,
                       struct runra_exec_result **ret, struct runra_error **err);

/* Pauses a sandbox (every process stopped, memory and files kept) or
 * resumes it. Work on a paused sandbox fails with EBUSY unless it was created
 * with auto_resume. */
int runra_sandbox_pause(runra_client *c, const char *id, struct runra_error **err);
int runra_sandbox_resume(runra_client *c, const char *id, struct runra_error **err);
/* Replaces a sandbox's network policy; new connections see it at once. */
int runra_sandbox_set_network(runra_client *c, const char *id, const struct runra_network *n,
                              struct runra_error **err);
/* The policy with the sandbox's addresses as runrad's JSON text, or with
 * denied, {"denied":[...]}: the connections and queries it refused. */
int runra_sandbox_network(runra_client *c, const char *id, bool denied, char **ret_json,
                          struct runra_error **err);

/* Sets the window size of a pty process's terminal. */
int runra_process_resize(runra_client *c, const char *id, const char *ref, unsigned cols,
                         unsigned rows, struct runra_error **err);

/* ---- interactive attach (a WebSocket onto a process) -------------------- */

typedef struct runra_attach runra_attach;

struct runra_attach_opts {
    uint64_t tail;      /* first replay the log ring's last tail bytes (0: all it holds) */
    bool kill_on_close; /* end the process when this attach ends (runra exec -it) */
};

enum runra_attach_kind {
    RUNRA_ATTACH_OUTPUT = 1, /* stream, data, len */
    RUNRA_ATTACH_EXIT,       /* exit_code, signal: the process exited */
    RUNRA_ATTACH_ERROR,      /* message: a control message failed; the session goes on */
    RUNRA_ATTACH_CLOSED,     /* close_code, message: the session is over */
};

struct runra_attach_event {
    enum runra_attach_kind kind;
    enum runra_stream stream;
    const void *data; /* valid until the next call on the attach */
    size_t len;
    int exit_code, signal;
    int close_code;      /* 1000 normal; 1006 the connection dropped without a close */
    const char *message; /* valid until the next call on the attach */
};

/* Attaches over its own connection (c stays usable). ref: a pid or a tag. */
int runra_process_attach(runra_client *c, const char *id, const char *ref,
                         const struct runra_attach_opts *opts, runra_attach **ret,
                         struct runra_error **err);
/* The connection, to poll for POLLIN. */
int runra_attach_fd(const runra_attach *a);
/* The next event without blocking: 1 with *ev set, 0 when none is complete
 * yet (poll the fd), or -errno. After CLOSED every call returns CLOSED. */
int runra_attach_next(runra_attach *a, struct runra_attach_event *ev, struct runra_error **err);
/* Input for the process (its stdin, or what is typed at its terminal). */
int runra_attach_write(runra_attach *a, const void *data, size_t len, struct runra_error **err);
int runra_attach_resize(runra_attach *a, unsigned cols, unsigned rows, struct runra_error **err);
int runra_attach_signal(runra_attach *a, int sig, struct runra_error **err);
/* Closes the process's stdin (on a terminal: types the EOF character). */
int runra_attach_eof(runra_attach *a, struct runra_error **err);
/* Sends a close and drops the connection; NULL is fine. */
void runra_attach_close(runra_attach *a);

/* ---- API keys (admin: over the unix socket) ------------------------------ */

/* ret_json: {"id","name","key","createdAt"}; the key is never shown again. */
int runra_key_create(runra_client *c, const char *name, char **ret_json,
                     struct runra_error **err);
/* ret_json: {"keys":[{"id","name","createdAt"}]}. */
int runra_key_list(runra_client *c, char **ret_json, struct runra_error **err);
int runra_key_remove(runra_client *c, const char *id, struct runra_error **err);

/* ---- the audit trail ---------------------------------------------------- */

struct runra_events_opts {
    uint64_t since;      /* events after this id (0: from the oldest kept) */
    const char *sandbox; /* only this sandbox's, or NULL */
    const char *type;    /* only this type ("exec", "sandbox.created", ...), or NULL */
    bool follow;         /* then new events as they happen, until on_event returns non-zero */
};

/* line: one event as runrad's JSON ({"id","time","timeMs","sandbox","type","data"}). */
typedef int (*runra_event_fn)(void *userdata, const char *line);
int runra_events(runra_client *c, const struct runra_events_opts *opts, runra_event_fn on_event,
                 void *userdata, struct runra_error **err);

/* ---- exposed ports ------------------------------------------------------ */

/* A sandbox's TCP port made reachable on the host's 127.0.0.1:host_port. */
struct runra_port {
    uint16_t port;      /* inside the sandbox */
    uint16_t host_port; /* on the host's loopback */
    char url[32];       /* "http://127.0.0.1:<host_port>" */
};

/* EEXIST when already exposed; EBUSY past the per-sandbox limit. */
int runra_port_expose(runra_client *c, const char *id, uint16_t port, struct runra_port *ret,
                      struct runra_error **err);
/* *ret (free() it) holds *ret_n ports. */
int runra_port_list(runra_client *c, const char *id, struct runra_port **ret, size_t *ret_n,
                    struct runra_error **err);
int runra_port_remove(runra_client *c, const char *id, uint16_t port, struct runra_error **err);

/* The sandbox tools a model calls (sandbox_exec, sandbox_read_file, ...). */
/* Their definitions as a JSON array (text; caller frees) in format:
 * "openai-chat" (NULL), "openai-responses", "anthropic" or "mcp". */
int runra_tools_list(runra_client *c, const char *format, char **ret_json,
                     struct runra_error **err);
struct runra_tool_result {
    char *content;         /* the text the model should read */
    bool is_error;         /* the tool ran and failed (a bad path, a non-zero exit, ...) */
    char *structured_json; /* the same as a JSON object */
};
/* Runs tool name in sandbox id with arguments_json (a JSON object's text;
 * NULL: {}). A tool that fails is a result with is_error; a call runrad
 * cannot take (unknown tool, bad arguments: EINVAL) or a sandbox that is
 * not there or not usable is an error. */
int runra_tool_call(runra_client *c, const char *id, const char *name, const char *arguments_json,
                    struct runra_tool_result *ret, struct runra_error **err);
void runra_tool_result_done(struct runra_tool_result *r);

/* ---- files ------------------------------------------------------------- */

enum runra_file_type {
    RUNRA_FILE_REGULAR,
    RUNRA_FILE_DIR,
    RUNRA_FILE_SYMLINK,
    RUNRA_FILE_OTHER,
};

struct runra_file_info {
    char *name; /* the last component */
    char *path; /* absolute, inside the sandbox */
    enum runra_file_type type;
    uint64_t size;
    uint32_t mode; /* permission bits (07777) */
    int64_t mtime_ms;
    uint32_t uid;
    uint32_t gid;
    char *target; /* a symlink's target, or NULL */
    char *json;   /* as runrad sent it; NULL for the entries of a list */
};

struct runra_file_list {
    char *path;
    struct runra_file_info *entries;
    size_t n;
    bool truncated; /* the directory held more than the daemon lists */
    char *json;
};

struct runra_write_opts {
    uint32_t mode; /* permission bits for a new file; 0: the daemon default */
    bool append;
};

/* Reads a whole file into memory (NUL-terminated too; free it with
 * runra_free). Fails with E2BIG when it is larger than max_bytes (0: no
 * bound but memory). */
int runra_file_read(runra_client *c, const char *id, const char *path, size_t max_bytes,
                    void **ret_data, size_t *ret_len, struct runra_error **err);
/* Streams a file into fd without holding it in memory. On a failure halfway
 * fd may hold a prefix; callers that care write to a temporary file. */
int runra_file_read_fd(runra_client *c, const char *id, const char *path, int fd,
                       uint64_t *ret_bytes, struct runra_error **err);
/* Writes a file (parents are created); opts may be NULL. ret_size (may be
 * NULL) receives the file's size as the daemon reports it. */
int runra_file_write(runra_client *c, const char *id, const char *path, const void *data,
                     size_t len, const struct runra_write_opts *opts, uint64_t *ret_size,
                     struct runra_error **err);
/* Streams fd to a file without holding it in memory: a regular file is sent
 * from its current offset to its end with a Content-Length; anything else (a
 * pipe) is sent chunked until EOF. */
int runra_file_write_fd(runra_client *c, const char *id, const char *path, int fd,
                        const struct runra_write_opts *opts, uint64_t *ret_size,
                        struct runra_error **err);
int runra_file_list(runra_client *c, const char *id, const char *path,
                    struct runra_file_list **ret, struct runra_error **err);
int runra_file_stat(runra_client *c, const char *id, const char *path,
                    struct runra_file_info **ret, struct runra_error **err);
/* mode 0: the daemon default. ret may be NULL. */
int runra_file_mkdir(runra_client *c, const char *id, const char *path, bool parents,
                     uint32_t mode, struct runra_file_info **ret, struct runra_error **err);
/* ret may be NULL. */
int runra_file_move(runra_client *c, const char *id, const char *from, const char *to,
                    bool overwrite, struct runra_file_info **ret, struct runra_error **err);
int runra_file_remove(runra_client *c, const char *id, const char *path, bool recursive,
                      struct runra_error **err);
void runra_file_info_free(struct runra_file_info *fi);
void runra_file_list_free(struct runra_file_list *l);

/* Frees a buffer the library handed over (runra_file_read's data). */
void runra_free(void *p);

/* "file", "dir", "symlink" or "other". */
const char *runra_file_type_name(enum runra_file_type t);

/* Tar transfer of whole directories. The sandbox packs and unpacks; these
 * calls move the raw archive. A download writes a tar (pax) stream of path's
 * tree into fd; on a failure halfway fd holds a truncated archive. An upload
 * sends fd's tar stream (plain or gzip; a regular file from its offset, or a
 * pipe until EOF) and the sandbox extracts it into path, created if missing,
 * with every entry confined to path (see docs/security.md). */
struct runra_tar_result {
    uint64_t entries; /* entries extracted */
    uint64_t bytes;   /* file content bytes written */
    uint64_t skipped; /* devices, fifos and sockets left out */
};
int runra_tar_download_fd(runra_client *c, const char *id, const char *path, int fd,
                          uint64_t *ret_bytes, struct runra_error **err);
/* ret may be NULL. */
int runra_tar_upload_fd(runra_client *c, const char *id, const char *path, int fd,
                        struct runra_tar_result *ret, struct runra_error **err);

/* Watches a directory (its whole tree when recursive) and streams the
 * events into fd as NDJSON lines, {"type":"ready"} first, then
 * {"type":"create|write|remove|rename|overflow","path","isDir"[,"from"]},
 * until the connection ends or a write to fd fails. Set no client timeout
 * (runra_client_set_timeout_ms 0) for a watch meant to last. */
int runra_file_watch_fd(runra_client *c, const char *id, const char *path, bool recursive,
                        int fd, struct runra_error **err);

/* Code search: a PCRE2 regex over a tree inside the sandbox, skipping binary
 * files, .git, node_modules and what .gitignore excludes unless no_ignore. */
struct runra_search_opts {
    const char *path;                /* NULL: the sandbox's workdir */
    const char *const *globs;        /* NULL-terminated ripgrep-style globs ("!x" excludes) */
    bool ignore_case;
    bool no_ignore;
    uint32_t max_results;            /* 0: the daemon's default (1000) */
    uint32_t context_lines;          /* lines before and after each match */
    uint64_t timeout_ms;             /* 0: the daemon's default (30 s) */
};

struct runra_search_match {
    char *path;      /* the root as named joined with the file's relative path */
    uint64_t line;   /* 1-based */
    uint64_t column; /* 1-based byte column of the first match in the line */
    char *text;      /* the line, cut at 1024 bytes */
    char **before;   /* NULL-terminated context lines, or NULL */
    char **after;
};

struct runra_search_result {
    struct runra_search_match *matches;
    size_t n;
    bool truncated; /* a limit (results, time, output, file size) cut the results */
    uint64_t files_searched;
    char *json;     /* as runrad sent it */
};

/* o may be NULL. A bad regex fails with EINVAL and PCRE2's message. */
int runra_search(runra_client *c, const char *id, const char *pattern,
                 const struct runra_search_opts *o, struct runra_search_result **ret,
                 struct runra_error **err);
void runra_search_result_free(struct runra_search_result *r);
/* The same search, each match handed to on_match as runrad receives it from
 * the sandbox (the match is valid during the call; non-zero stops the
 * search). *ret, which may be NULL, gets the summary: n, truncated,
 * files_searched, and no matches. */
typedef int (*runra_search_fn)(void *userdata, const struct runra_search_match *m);
int runra_search_stream(runra_client *c, const char *id, const char *pattern,
                        const struct runra_search_opts *o, runra_search_fn on_match,
                        void *userdata, struct runra_search_result **ret,
                        struct runra_error **err);

/* ---- images ------------------------------------------------------------- */

/* An OCI image runrad has stored: pulled from a registry or imported from an
 * archive, its layers unpacked once and shared by every sandbox using it. */
struct runra_image {
    char **names;   /* NULL-terminated ("docker.io/library/node:22", ...); may be empty */
    size_t n_names;
    char *digest;        /* the image manifest's, "sha256:<hex>" */
    char *config_digest; /* the image config's */
    uint64_t size;       /* the layers' compressed sizes, summed */
    uint64_t layers;     /* how many layers */
    char *os;            /* "linux", or NULL */
    char *architecture;  /* "amd64", ..., or NULL */
    int64_t stored_ms;   /* ms since the epoch, when runrad stored it */
    /* The image config: Env ("K=V", NULL-terminated, maybe empty), WorkingDir
     * and User (NULL when unset), Entrypoint and Cmd (NULL-terminated, or
     * NULL when unset). */
    char **env;
    size_t n_env;
    char *workdir;
    char *user;
    char **entrypoint;
    char **cmd;
    char *json; /* this image as runrad sent it */
};

struct runra_image_list {
    struct runra_image *items;
    size_t n;
    char *json; /* the whole response as runrad sent it */
};

/* What a removal or a prune freed. */
struct runra_image_reclaimed {
    uint64_t blobs;  /* blobs deleted from the store */
    uint64_t layers; /* unpacked layer directories deleted */
};

int runra_image_list(runra_client *c, struct runra_image_list **ret, struct runra_error **err);
/* ref: a reference ("node:22", normalised as docker does), a manifest
 * digest, or a unique prefix of one (12 hex digits or more). ENOENT when
 * runrad has no such image. */
int runra_image_inspect(runra_client *c, const char *ref, struct runra_image **ret,
                        struct runra_error **err);
void runra_image_free(struct runra_image *i);
void runra_image_list_free(struct runra_image_list *l);

/* Progress of a pull, as runrad reports it. */
enum runra_pull_event_kind {
    RUNRA_PULL_STARTED = 1,  /* image: the reference as runrad names it */
    RUNRA_PULL_WAITING,      /* image: a pull of it is already running; this one joins it */
    RUNRA_PULL_RESOLVED,     /* digest: the platform's image manifest */
    RUNRA_PULL_LAYER,        /* digest, status, current, total, message */
    RUNRA_PULL_DONE,         /* image_info: what was stored */
    RUNRA_PULL_ERROR,        /* error_code, message: the pull failed (the call then fails too) */
    RUNRA_PULL_OTHER,        /* a kind this library does not know; see line */
};

enum runra_layer_status {
    RUNRA_LAYER_OTHER = 0,   /* a status this library does not know; see status_name */
    RUNRA_LAYER_CACHED,      /* already here: not fetched */
    RUNRA_LAYER_DOWNLOADING, /* current of total bytes (total 0: not known yet) */
    RUNRA_LAYER_RETRY,       /* a transfer failed and is tried again (message says why) */
    RUNRA_LAYER_DOWNLOADED,  /* fetched and verified */
    RUNRA_LAYER_EXTRACTING,  /* being unpacked */
    RUNRA_LAYER_DONE,        /* unpacked and stored */
};

/* Every pointer is valid only during the callback. */
struct runra_pull_event {
    enum runra_pull_event_kind kind;
    const char *image;  /* STARTED, WAITING (and others when runrad says): the full
                         * reference ("docker.io/library/node:22"), or NULL */
    const char *digest; /* RESOLVED: the manifest's; LAYER: the layer blob's */
    enum runra_layer_status status;
    const char *status_name; /* LAYER: the status as runrad named it */
    uint64_t current, total; /* LAYER: bytes */
    const char *message;     /* LAYER, RETRY: why; ERROR: what went wrong; else NULL */
    const char *error_code;  /* ERROR: the API's error code ("not_found"), or NULL */
    const struct runra_image *image_info; /* DONE */
    const char *line; /* the event's JSON line as runrad sent it */
};

/* Returning non-zero stops the pull: the connection is dropped and the call
 * returns -ECANCELED (runrad may still finish storing what it fetched). */
typedef int (*runra_pull_fn)(void *userdata, const struct runra_pull_event *ev);

/* Pulls ref into runrad's store (a no-op beyond resolving when it is there
 * already). With on_event, progress streams to it as it happens; without,
 * the call just waits. The pull's failure (no such image: ENOENT, refused
 * credentials: EACCES, a digest mismatch, ...) is *err with the API's code.
 * ret (may be NULL) receives the stored image. Set no client timeout for
 * large images: a pull takes as long as the registry needs. */
int runra_image_pull(runra_client *c, const char *ref, runra_pull_fn on_event, void *userdata,
                     struct runra_image **ret, struct runra_error **err);

/* Untags ref (a name: only that name goes; a digest: the image and all its
 * names), then collects what nothing uses any more. EBUSY when a sandbox
 * uses the image, unless force (which untags anyway; the data stays while
 * the sandbox lives). ret_removed and ret_reclaimed may be NULL. */
int runra_image_remove(runra_client *c, const char *ref, bool force,
                       struct runra_image **ret_removed,
                       struct runra_image_reclaimed *ret_reclaimed, struct runra_error **err);

/* Deletes every blob and layer that no image and no sandbox uses. ret may
 * be NULL. */
int runra_image_prune(runra_client *c, struct runra_image_reclaimed *ret,
                      struct runra_error **err);

/* Importing archives as `skopeo copy` (oci-archive) and `docker save`
 * (docker-archive) write them. format: "auto" (NULL), "oci-archive" or
 * "docker-archive"; name (may be NULL) tags the image, else the names
 * inside the archive are used. The archive streams from fd (a regular
 * file from its current offset, or a pipe until EOF) without being held
 * in memory. ret (may be NULL) receives the images stored. */
struct runra_image_import_opts {
    const char *format;
    const char *name;
};
int runra_image_import_fd(runra_client *c, int fd, const struct runra_image_import_opts *opts,
                          struct runra_image_list **ret, struct runra_error **err);
/* The same from a file path. */
int runra_image_import_file(runra_client *c, const char *path,
                            const struct runra_image_import_opts *opts,
                            struct runra_image_list **ret, struct runra_error **err);

#ifdef __cplusplus
}
#endif
