/* What the API files share: the per-request context the HTTP layer fills,
 * and the response helpers. The api-*.c files translate HTTP to manager
 * calls and back; they decide nothing. */
#pragma once

#include <jansson.h>
#include <microhttpd.h>
#include <stdint.h>

#include "base/err.h"
#include "manager.h"
#include "router.h"

struct attach;

struct events;

struct keys;

struct images;

struct api {
    struct manager *m;
    const char *state_dir;
    struct events *events; /* the audit trail (GET /v1/events), or NULL */
    struct keys *keys;     /* API keys */
    struct images *images; /* the image store and pulls */
    bool tcp;              /* the TCP listener: every request needs a key */
};

struct api_req {
    struct route_match match;
    char *body;
    size_t body_len;
    bool body_too_big;
    struct file_wstream *ws;
    struct tar_wstream *tws; /* PUT files/tar */
    struct attach *attach;   /* an attach not yet upgraded */
    int import_fd;           /* POST /v1/images/import: the spooled archive, or -1 */
    struct runra_err *upload_err;
    int upload_r;
    uint64_t uploaded;
    uint64_t start_ns;
    /* An error found from the headers alone, answered once the body (if
     * any) has been read, so the client sees it rather than a reset. */
    int early_r;
    char early_msg[256];
    /* Over TCP: the API key's id, which owns what it creates; "" on the
     * unix socket (the admin, who sees everything). */
    char tenant[32];
};

typedef enum MHD_Result (*api_handler)(struct api *a, struct MHD_Connection *c, struct api_req *rq);

enum MHD_Result api_respond_json(struct MHD_Connection *c, unsigned status, json_t *j);
enum MHD_Result api_respond_empty(struct MHD_Connection *c, unsigned status);
/* Responds with {"error":{"code","message"}} for -errno r and its message. */
enum MHD_Result api_respond_err(struct MHD_Connection *c, int r, const struct runra_err *e);
enum MHD_Result api_respond_errf(struct MHD_Connection *c, int r, const char *fmt, ...)
    _printf_(3, 4);

/* Query helpers. api_check_query fails (400) on any key not in allowed
 * (NULL-terminated), so typos are errors rather than silently ignored. */
int api_check_query(struct MHD_Connection *c, const char *const *allowed, const char *prefix_ok,
                    struct runra_err **err);
const char *api_query(struct MHD_Connection *c, const char *key);
/* True once the client on fd has hung up; data it sent does not count. */
bool api_client_gone(int fd);
/* The connection's socket, or -1. */
int api_conn_fd(struct MHD_Connection *c);
/* A signal by number, or by name with or without "SIG" ("TERM", "SIGKILL"). */
int api_parse_signal(json_t *v, int *ret, struct runra_err **err);
int api_query_bool(struct MHD_Connection *c, const char *key, bool *ret, struct runra_err **err);
int api_query_u64(struct MHD_Connection *c, const char *key, uint64_t *ret,
                  struct runra_err **err);
/* Loads the request body as a JSON object (strict: duplicates rejected). */
int api_body_json(struct api_req *rq, json_t **ret, struct runra_err **err);

enum MHD_Result api_health(struct api *a, struct MHD_Connection *c, struct api_req *rq);
enum MHD_Result api_tools_list(struct api *a, struct MHD_Connection *c, struct api_req *rq);
enum MHD_Result api_tool_call(struct api *a, struct MHD_Connection *c, struct api_req *rq);
enum MHD_Result api_metrics(struct api *a, struct MHD_Connection *c, struct api_req *rq);
/* api-keys.c (admin only). */
enum MHD_Result api_keys_create(struct api *a, struct MHD_Connection *c, struct api_req *rq);
enum MHD_Result api_keys_list(struct api *a, struct MHD_Connection *c, struct api_req *rq);
enum MHD_Result api_keys_delete(struct api *a, struct MHD_Connection *c, struct api_req *rq);
/* api-events.c: the audit trail, as NDJSON, optionally followed. */
enum MHD_Result api_events(struct api *a, struct MHD_Connection *c, struct api_req *rq);
enum MHD_Result api_sandbox_create(struct api *a, struct MHD_Connection *c, struct api_req *rq);
enum MHD_Result api_sandbox_list(struct api *a, struct MHD_Connection *c, struct api_req *rq);
enum MHD_Result api_sandbox_get(struct api *a, struct MHD_Connection *c, struct api_req *rq);
enum MHD_Result api_sandbox_delete(struct api *a, struct MHD_Connection *c, struct api_req *rq);
enum MHD_Result api_sandbox_patch(struct api *a, struct MHD_Connection *c, struct api_req *rq);
enum MHD_Result api_sandbox_pause(struct api *a, struct MHD_Connection *c, struct api_req *rq);
enum MHD_Result api_sandbox_resume(struct api *a, struct MHD_Connection *c, struct api_req *rq);
enum MHD_Result api_network_get(struct api *a, struct MHD_Connection *c, struct api_req *rq);
enum MHD_Result api_network_denied(struct api *a, struct MHD_Connection *c, struct api_req *rq);
enum MHD_Result api_exec(struct api *a, struct MHD_Connection *c, struct api_req *rq);
enum MHD_Result api_file_read(struct api *a, struct MHD_Connection *c, struct api_req *rq);
enum MHD_Result api_file_write_begin(struct api *a, struct MHD_Connection *c, struct api_req *rq);
enum MHD_Result api_file_write_end(struct api *a, struct MHD_Connection *c, struct api_req *rq);
enum MHD_Result api_file_remove(struct api *a, struct MHD_Connection *c, struct api_req *rq);
enum MHD_Result api_file_list(struct api *a, struct MHD_Connection *c, struct api_req *rq);
enum MHD_Result api_file_stat(struct api *a, struct MHD_Connection *c, struct api_req *rq);
enum MHD_Result api_file_mkdir(struct api *a, struct MHD_Connection *c, struct api_req *rq);
enum MHD_Result api_file_move(struct api *a, struct MHD_Connection *c, struct api_req *rq);
enum MHD_Result api_search(struct api *a, struct MHD_Connection *c, struct api_req *rq);

json_t *api_file_info_json(const struct file_info *fi);

/* api-proc.c: streaming exec (api_exec hands over when asked to stream)
 * and background processes. */
enum MHD_Result api_exec_stream(struct api *a, struct MHD_Connection *c, struct api_req *rq,
                                const struct exec_opts *o);
enum MHD_Result api_proc_start(struct api *a, struct MHD_Connection *c, struct api_req *rq);
enum MHD_Result api_proc_list(struct api *a, struct MHD_Connection *c, struct api_req *rq);
enum MHD_Result api_proc_logs(struct api *a, struct MHD_Connection *c, struct api_req *rq);
enum MHD_Result api_proc_stdin(struct api *a, struct MHD_Connection *c, struct api_req *rq);
enum MHD_Result api_proc_signal(struct api *a, struct MHD_Connection *c, struct api_req *rq);
enum MHD_Result api_proc_wait(struct api *a, struct MHD_Connection *c, struct api_req *rq);
enum MHD_Result api_proc_resize(struct api *a, struct MHD_Connection *c, struct api_req *rq);
/* api-attach.c: a WebSocket onto a process (stdin, output, resize, exit). */
enum MHD_Result api_proc_attach(struct api *a, struct MHD_Connection *c, struct api_req *rq);
bool api_attach_upgraded(const struct attach *at);
void api_attach_free(struct attach *at);
/* Ends every attach session (the daemon is stopping). */
void api_attach_stop_all(void);
/* Waits (bounded) until every attach session has ended. */
void api_attach_drain(unsigned timeout_ms);

/* api-tar.c. A tar upload is a BODY_STREAM route: begin from the headers,
 * data per body chunk (-errno on failure, err in rq->upload_err), end once
 * the body is read, req_done when the request goes. */
enum MHD_Result api_tar_get(struct api *a, struct MHD_Connection *c, struct api_req *rq);
enum MHD_Result api_tar_put_begin(struct api *a, struct MHD_Connection *c, struct api_req *rq);
int api_tar_put_data(struct api_req *rq, const void *p, size_t n);
enum MHD_Result api_tar_put_end(struct api *a, struct MHD_Connection *c, struct api_req *rq);
void api_tar_req_done(struct api_req *rq);
/* api-watch.c: NDJSON file events until the client disconnects. */
enum MHD_Result api_images_list(struct api *a, struct MHD_Connection *c, struct api_req *rq);
enum MHD_Result api_images_inspect(struct api *a, struct MHD_Connection *c, struct api_req *rq);
enum MHD_Result api_images_pull(struct api *a, struct MHD_Connection *c, struct api_req *rq);
enum MHD_Result api_images_delete(struct api *a, struct MHD_Connection *c, struct api_req *rq);
enum MHD_Result api_images_prune(struct api *a, struct MHD_Connection *c, struct api_req *rq);
enum MHD_Result api_images_import_begin(struct api *a, struct MHD_Connection *c,
                                        struct api_req *rq);
int api_images_import_data(struct api_req *rq, const void *p, size_t n);
enum MHD_Result api_images_import_end(struct api *a, struct MHD_Connection *c,
                                      struct api_req *rq);

enum MHD_Result api_watch(struct api *a, struct MHD_Connection *c, struct api_req *rq);
/* api-ports.c: exposed ports. */
enum MHD_Result api_port_add(struct api *a, struct MHD_Connection *c, struct api_req *rq);
enum MHD_Result api_port_list(struct api *a, struct MHD_Connection *c, struct api_req *rq);
enum MHD_Result api_port_remove(struct api *a, struct MHD_Connection *c, struct api_req *rq);
