/* QMP, the QEMU Machine Protocol, as runrad speaks it to a VM's QEMU over
 * the private socket: one JSON object per line each way. This is the codec
 * alone (pure: building commands, reading what QEMU sends), bounded and
 * strict, since a QEMU whose guest escaped is not to be believed either. */
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "base/err.h"

#define QMP_LINE_MAX (64u << 10)

enum qmp_kind {
    QMP_GREETING, /* {"QMP": {...}}: the server's hello */
    QMP_RETURN,   /* {"return": ..., "id": ...} */
    QMP_ERROR,    /* {"error": {"class", "desc"}, "id": ...} */
    QMP_EVENT,    /* {"event": NAME, "data": ..., "timestamp": ...} */
};

struct qmp_msg {
    enum qmp_kind kind;
    int64_t id;          /* RETURN and ERROR: the command's id (-1: none) */
    char event[64];      /* EVENT: its name ("STOP", "SHUTDOWN", "MIGRATION", ...) */
    char status[32];     /* RETURN of query-status or query-migrate, and the
                            MIGRATION event: the "status" field, else "" */
    char error[256];     /* ERROR: "class: desc" */
    int running;         /* RETURN of query-status: 1 running, 0 not, -1 absent */
};

/* {"execute": CMD, "arguments": ARGS, "id": ID}\n. args_json is a JSON
 * object's text or NULL. */
int qmp_build(const char *cmd, const char *args_json, int64_t id, char **ret,
              struct runra_err **err);
/* One line from QEMU (without its newline). EBADMSG for anything else. */
int qmp_parse(const char *line, size_t len, struct qmp_msg *ret, struct runra_err **err);
