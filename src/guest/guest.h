/* runra-init's state: the connection (when there is one), the table of open
 * calls keyed by the host's frame id, and the send helpers every call uses.
 * Calls in the table are the only things that hold processes, fds or buffers. */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <sys/resource.h>

#include "base/err.h"
#include "conn.h"
#include "proto/limits.h"

struct exec;
struct file_read;
struct file_write;
struct search;
struct tar_get;
struct tar_put;
struct fwatch;
struct tcpfwd;

enum call_kind { CALL_FREE = 0, CALL_EXEC, CALL_READ, CALL_WRITE, CALL_SEARCH,
                 CALL_TAR_GET, CALL_TAR_PUT, CALL_WATCH, CALL_TCP };

struct call {
    uint32_t id;
    enum call_kind kind;
    union {
        struct exec *exec;
        struct file_read *rd;
        struct file_write *wr;
        struct search *search;
        struct tar_get *tar_get;
        struct tar_put *tar_put;
        struct fwatch *fwatch;
        struct tcpfwd *tcp;
    };
};

struct guest {
    struct conn *conn;          /* NULL while waiting for the host to (re)connect */
    const char *workdir;        /* absolute; relative request paths resolve against it */
    struct call calls[RUNRA_CALLS_MAX];
    uint64_t stdin_buffered;    /* stdin bytes held for all execs together */
    struct rlimit nofile;       /* RLIMIT_NOFILE as we found it, restored for commands */
    pid_t pid;                  /* our own pid, which shims check their parent against */
    int vm_port;                /* a VM's init: the virtio port the host connects to; else -1 */
    bool vm_await;              /* a VM's init: this connection's VM_SETUP has not come yet */
};

struct call *guest_call_find(struct guest *g, uint32_t id);
/* A free slot, or NULL when RUNRA_CALLS_MAX calls are open. */
struct call *guest_call_alloc(struct guest *g);
/* Frees whatever the call holds, without telling the host (it is gone, or
 * the call already ended on the wire), and killing an exec's process tree. */
void guest_call_abort(struct guest *g, struct call *c);
static inline void guest_call_release(struct call *c) { *c = (struct call){0}; }

/* Output is dropped while no host is connected. */
void guest_send(struct guest *g, uint16_t type, uint32_t id, const void *payload, size_t len);
/* Sends a JSON payload and frees it; a NULL json (encoding failed) becomes
 * an ERROR so the call still ends. */
void guest_send_json(struct guest *g, uint16_t type, uint32_t id, char *json);
void guest_send_error(struct guest *g, uint32_t id, int errnum, const char *message);
/* Sends ERROR for r (a -errno), with err's message when there is one. */
void guest_send_err(struct guest *g, uint32_t id, int r, const struct runra_err *err);
/* True while producers should pause (see CONN_OUT_HIGH). */
bool guest_busy(const struct guest *g);
