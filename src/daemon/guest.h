/* The daemon's end of one sandbox's guest stream: a reader thread that
 * demultiplexes frames into calls by id, and a writer lock. Every exec, file
 * and process operation is a call on this one long-lived stream. */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "base/err.h"

struct guest;
struct guest_call;

struct guest_frame {
    uint16_t type;
    uint32_t len;
    uint8_t data[]; /* len bytes, plus a NUL so JSON payloads can be read as text */
};

/* Takes ownership of fd (already past HELLO). */
int guest_new(int fd, const char *label, struct guest **ret, struct runra_err **err);
/* Closes the stream, fails every pending call with EPIPE, joins the reader. */
void guest_free(struct guest *g);
bool guest_alive(struct guest *g);
/* Shuts the stream down without freeing: every waiting call gets EPIPE. */
void guest_shutdown(struct guest *g);

/* For a VM's pause (its memory written to a file and QEMU ended): blocks
 * every writer, then waits (up to timeout_ms) until the guest has read
 * everything sent before, so the snapshot holds no half-read frame. Until
 * guest_unquiesce, nothing is sent. */
int guest_quiesce(struct guest *g, uint64_t timeout_ms, struct runra_err **err);
void guest_unquiesce(struct guest *g);
/* The stream again on a new connection to the same guest (a VM resumed
 * from its snapshot; fd past HELLO): the old one must be dead. Calls open
 * on the old stream have seen EPIPE; new calls go to the new one. */
int guest_reconnect(struct guest *g, int fd, struct runra_err **err);

/* Opens a call by sending its first frame. */
int guest_call_start(struct guest *g, uint16_t type, const void *payload, size_t len,
                     struct guest_call **ret, struct runra_err **err);
/* Sends a follow-up frame (STDIN, DATA, SIGNAL, CANCEL) on the call. */
int guest_call_send(struct guest_call *c, uint16_t type, const void *payload, size_t len);
/* Next frame of the call, waiting until deadline_ms (monotonic; 0 = forever).
 * -ETIMEDOUT at the deadline, -EPIPE when the stream is gone, -ENODATA after
 * the call's final frame was already returned. */
int guest_call_recv(struct guest_call *c, uint64_t deadline_ms, struct guest_frame **ret);
/* Ends the call: if the guest has not finished it, sends CANCEL. Frees c. */
void guest_call_end(struct guest_call *c);
bool guest_call_finished(struct guest_call *c);

/* Turns an ERROR frame into a runra_err with the guest's errno and message. */
int guest_frame_error(const struct guest_frame *f, const char *what, struct runra_err **err);
