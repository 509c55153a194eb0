/* The call table and the send helpers. A linear scan over RUNRA_CALLS_MAX
 * slots per frame is cheap next to the syscalls each frame costs. */
#include "guest.h"

#include <string.h>

#include "exec.h"
#include "filestream.h"
#include "proto/msg.h"
#include "search.h"
#include "tar.h"
#include "tcp.h"
#include "watch.h"

struct call *guest_call_find(struct guest *g, uint32_t id)
{
    for (size_t i = 0; i < RUNRA_CALLS_MAX; i++)
        if (g->calls[i].kind != CALL_FREE && g->calls[i].id == id)
            return &g->calls[i];
    return NULL;
}

struct call *guest_call_alloc(struct guest *g)
{
    for (size_t i = 0; i < RUNRA_CALLS_MAX; i++)
        if (g->calls[i].kind == CALL_FREE)
            return &g->calls[i];
    return NULL;
}

void guest_call_abort(struct guest *g, struct call *c)
{
    switch (c->kind) {
    case CALL_EXEC:
        exec_abort(g, c->exec);
        break;
    case CALL_READ:
        file_read_free(c->rd);
        break;
    case CALL_WRITE:
        file_write_free(c->wr);
        break;
    case CALL_SEARCH:
        search_free(c->search);
        break;
    case CALL_TAR_GET:
        tar_get_free(c->tar_get);
        break;
    case CALL_TAR_PUT:
        tar_put_free(c->tar_put);
        break;
    case CALL_WATCH:
        watch_free(c->fwatch);
        break;
    case CALL_TCP:
        tcp_free(c->tcp);
        break;
    case CALL_FREE:
        break;
    }
    guest_call_release(c);
}

void guest_send(struct guest *g, uint16_t type, uint32_t id, const void *payload, size_t len)
{
    if (g->conn)
        conn_send(g->conn, type, id, payload, len);
}

void guest_send_error(struct guest *g, uint32_t id, int errnum, const char *message)
{
    _cleanup_free_ char *json = NULL;
    if (errnum <= 0)
        errnum = EIO;
    if (msg_error_encode(errnum, message ? message : strerror(errnum), &json) < 0) {
        /* Out of memory: the connection cannot carry a truthful answer, so
         * drop it and let the host reconnect rather than leave it waiting. */
        if (g->conn)
            g->conn->dead = true;
        return;
    }
    guest_send(g, FRAME_ERROR, id, json, strlen(json));
}

void guest_send_err(struct guest *g, uint32_t id, int r, const struct runra_err *err)
{
    int code = r < 0 ? -r : r;
    if (err)
        code = err->code;
    guest_send_error(g, id, code, err && err->msg ? err->msg : NULL);
}

void guest_send_json(struct guest *g, uint16_t type, uint32_t id, char *json)
{
    if (!json) {
        guest_send_error(g, id, ENOMEM, "out of memory encoding the reply");
        return;
    }
    size_t len = strlen(json);
    if (len > RUNRA_FRAME_MAX_PAYLOAD)
        guest_send_error(g, id, E2BIG, "reply larger than one frame");
    else
        guest_send(g, type, id, json, len);
    free(json);
}

bool guest_busy(const struct guest *g) { return g->conn && conn_busy(g->conn); }
