/* Streaming exec and background processes, as the manager offers them: a
 * guest call read event by event (output chunks, then the exit), and the
 * synchronous process calls. The API layer turns events into NDJSON. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "manager.h"
#include "proto/procmsg.h"

struct mstream;
struct guest_frame;

enum mstream_kind { MS_STDOUT, MS_STDERR, MS_EXIT, MS_END };

struct mstream_event {
    enum mstream_kind kind;
    const uint8_t *data; /* MS_STDOUT / MS_STDERR, valid until mstream_event_done */
    size_t len;
    struct exec_exit exit; /* MS_EXIT */
    bool oom_killed;       /* MS_EXIT of an exec */
    struct guest_frame *f;
};

/* Starts a command whose output is read as it comes. A start error (a
 * missing cwd) that the guest reports at once is returned here. */
int manager_exec_stream_open(struct manager *m, const char *id, const struct exec_opts *o,
                             struct mstream **ret, struct runra_err **err);
/* A process's log ring (its last tail bytes; 0: all), then, with follow, its
 * live output until it exits (MS_EXIT); without, MS_END. An unknown pid or
 * tag is an error here. */
int manager_proc_logs_open(struct manager *m, const char *id, const char *ref, uint64_t tail,
                           bool follow, struct mstream **ret, struct runra_err **err);
/* 1 with *ev filled, 0 when nothing came within wait_ms (the caller checks
 * on its client and asks again), or -errno. An exec past its timeout is
 * cancelled and, if the guest stays silent, reported as timed out here. */
int mstream_next(struct mstream *s, uint64_t wait_ms, struct mstream_event *ev,
                 struct runra_err **err);
void mstream_event_done(struct mstream_event *ev);
/* Ends the stream; an exec still running is cancelled (its tree killed). */
void mstream_close(struct mstream *s);

/* o: argv, env, cwd (timeouts and output caps do not apply). cols and rows
 * non-zero: the process runs on a pseudo-terminal of that size. */
int manager_proc_start(struct manager *m, const char *id, const struct exec_opts *o,
                       const char *tag, uint16_t cols, uint16_t rows, struct proc_info *ret,
                       struct runra_err **err);
/* Sets the window size of a process's terminal (ENOTTY: it has none). */
int manager_proc_resize(struct manager *m, const char *id, const char *ref, uint16_t cols,
                        uint16_t rows, struct runra_err **err);
int manager_proc_list(struct manager *m, const char *id, struct proc_list *ret,
                      struct runra_err **err);
int manager_proc_stdin(struct manager *m, const char *id, const char *ref, const void *data,
                       size_t len, bool close_stdin, struct runra_err **err);
int manager_proc_signal(struct manager *m, const char *id, const char *ref, int sig,
                        struct runra_err **err);
/* Waits for the process to exit, up to timeout_ms (0: no bound), asking
 * gone(ud) now and then whether the caller left (then -ECANCELED). */
int manager_proc_wait(struct manager *m, const char *id, const char *ref, uint64_t timeout_ms,
                      bool (*gone)(void *ud), void *ud, struct exec_exit *ret,
                      struct runra_err **err);
