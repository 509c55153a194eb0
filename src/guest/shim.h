/* The per-exec shim: a child of runra-init that becomes a subreaper, forks
 * the command and reports on it over a SOCK_SEQPACKET pair, so the command's
 * whole tree stays beneath one process for as long as the exec lasts. */
#pragma once

#include <stdint.h>
#include <sys/resource.h>
#include <sys/types.h>

#include "guest/user.h"

/* Messages on the control socket, one per packet. */
enum shim_msg_kind {
    SHIM_MAIN_PID = 1, /* shim -> init: the command's pid */
    SHIM_STATUS = 2,   /* shim -> init: the command's wait status */
    SHIM_SIGNAL = 3,   /* init -> shim: signal the command if it still runs */
};

struct shim_msg {
    int32_t kind;
    int32_t value;
};

struct shim_args {
    char **argv;       /* argv[0] is looked up on the PATH in envp */
    char **envp;
    const char *cwd;   /* absolute, checked to be a directory just before the fork */
    int ctl;           /* the shim's end of the control socket */
    int out, err;      /* write ends of the output pipes */
    int in;            /* read end of the stdin pipe, or -1 for /dev/null */
    int tty;           /* a pty's terminal end: stdio and controlling tty (out/err/in unused), or -1 */
    struct rlimit nofile; /* restored for the command */
    const struct user_ids *ids; /* who the command runs as; NULL: root */
    pid_t init_pid;
};

/* Runs in the freshly forked shim; never returns. The shim exits when init
 * closes its end of the control socket, or dies with init (PDEATHSIG). */
_Noreturn void shim_run(const struct shim_args *a);
