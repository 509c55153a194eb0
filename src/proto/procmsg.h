/* Background-process messages (frames PROC_START..PROC_WAIT, 40-45) and
 * their bounds. Decoders are strict and bounded, because the daemon decodes
 * what a hostile guest sends and the guest decodes what the host sends. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "../base/err.h"
#include "msg.h"

#define RUNRA_PROCS_MAX 64                  /* running background processes per sandbox */
#define RUNRA_PROCS_KEPT 128                /* records kept, exited ones included */
#define RUNRA_PROC_LOG_MAX (1u << 20)       /* output kept per process (the log ring) */
#define RUNRA_PROC_FOLLOWERS_MAX 16         /* log followers and waiters per process */
#define RUNRA_PROC_TAG_MAX 63               /* bytes in a tag */
#define RUNRA_PROC_STDIN_CHUNK (256u << 10) /* stdin bytes in one PROC_STDIN frame */
#define RUNRA_PTY_DIM_MAX 4096              /* terminal columns or rows */
#define RUNRA_PTY_COLS_DEFAULT 80
#define RUNRA_PTY_ROWS_DEFAULT 24

/* PROC_START: the command as an exec request (its timeout and output cap
 * are ignored), an optional tag, and optionally a pseudo-terminal of
 * cols x rows as the process's stdin, stdout and stderr (its controlling
 * terminal). */
struct proc_start_req {
    struct exec_req *exec;
    char *tag; /* NULL: none */
    bool pty;
    uint16_t cols, rows; /* with pty: 1..RUNRA_PTY_DIM_MAX */
};

/* LOGS, STDIN, SIGNAL and WAIT name a process by "ref": all digits is a pid,
 * anything else a tag. Which other fields matter depends on the frame. */
struct proc_ref_req {
    char *ref;
    uint64_t tail;     /* LOGS: the last this many bytes; 0 = all the ring holds */
    bool follow;       /* LOGS: then live output until the process exits */
    int signal;        /* SIGNAL */
    bool close;        /* STDIN: close stdin after data */
    uint8_t *data;     /* STDIN: bytes to write (sent as base64) */
    size_t data_len;
    uint16_t cols, rows; /* RESIZE: the terminal's new size */
};

struct proc_info {
    int64_t pid;
    char *tag;         /* or NULL */
    char **argv;       /* NULL-terminated */
    bool pty;          /* runs on a pseudo-terminal */
    bool running;
    int exit_code;     /* when !running: status, or 128 + signal */
    int signal;
    int64_t started_ms;/* wall clock */
    int64_t exited_ms; /* wall clock, 0 while running */
};

struct proc_list {
    struct proc_info *v;
    size_t n;
};

/* A tag: 1..RUNRA_PROC_TAG_MAX of [A-Za-z0-9_.-], not all digits (those are pids). */
int proc_check_tag(const char *tag, struct runra_err **err);
/* A terminal dimension, 1..RUNRA_PTY_DIM_MAX. */
int proc_check_dim(int64_t v, const char *what, struct runra_err **err);
/* A pid or a tag. */
int proc_check_ref(const char *ref, struct runra_err **err);

int msg_proc_start_encode(const struct proc_start_req *r, char **ret);
int msg_proc_start_decode(const void *buf, size_t len, struct proc_start_req *ret,
                          struct runra_err **err);
void msg_proc_start_done(struct proc_start_req *r);

int msg_proc_ref_encode(const struct proc_ref_req *r, char **ret);
int msg_proc_ref_decode(const void *buf, size_t len, struct proc_ref_req *ret,
                        struct runra_err **err);
void msg_proc_ref_done(struct proc_ref_req *r);

json_t *msg_proc_info_json(const struct proc_info *p);
int msg_proc_info_encode(const struct proc_info *p, char **ret);
int msg_proc_info_decode(const void *buf, size_t len, struct proc_info *ret,
                         struct runra_err **err);
void msg_proc_info_done(struct proc_info *p);

int msg_proc_list_encode(const struct proc_list *l, char **ret);
int msg_proc_list_decode(const void *buf, size_t len, struct proc_list *ret,
                         struct runra_err **err);
void msg_proc_list_done(struct proc_list *l);
