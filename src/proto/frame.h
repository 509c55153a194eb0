/* The runra guest protocol's framing: a 12-byte little-endian header
 * (payload length, call id, type, flags) and a bounded payload. The same
 * frames travel over a unix socket (ns backend) or virtio-serial (vm). */
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "limits.h"

#define FRAME_HDR_SIZE 12
#define FRAME_PROTO_VERSION 1

enum frame_type {
    FRAME_HELLO = 1,       /* g->h, id 0, JSON {"version","pid"}: sent once per connection */
    FRAME_ERROR = 2,       /* g->h, JSON {"errno","message"}: ends the call */
    FRAME_RESULT = 3,      /* g->h, JSON: ends the call successfully */
    FRAME_EXEC = 10,       /* h->g, JSON exec request: opens a call */
    FRAME_STDIN = 11,      /* h->g, bytes; an empty payload closes stdin */
    FRAME_STDOUT = 12,     /* g->h, bytes */
    FRAME_STDERR = 13,     /* g->h, bytes */
    FRAME_EXIT = 14,       /* g->h, JSON exit result: ends an exec call */
    FRAME_SIGNAL = 15,     /* h->g, JSON {"signal"}: signal the exec's main process */
    FRAME_CANCEL = 16,     /* h->g, empty: kill the call's whole process tree / abort it */
    FRAME_FILE_READ = 20,  /* h->g, JSON {"path","offset","limit"}: DATA frames then RESULT */
    FRAME_FILE_WRITE = 21, /* h->g, JSON {"path","mode","append"}: then DATA...; empty DATA = end */
    FRAME_DATA = 22,       /* bytes, either way */
    FRAME_FILE_LIST = 23,  /* h->g, JSON {"path"}: RESULT {"entries":[stat...],"truncated"} */
    FRAME_FILE_STAT = 24,  /* h->g, JSON {"path"}: RESULT stat */
    FRAME_FILE_MKDIR = 25, /* h->g, JSON {"path","parents","mode"}: RESULT stat */
    FRAME_FILE_REMOVE = 26,/* h->g, JSON {"path","recursive"}: RESULT {} */
    FRAME_FILE_MOVE = 27,  /* h->g, JSON {"from","to","overwrite"}: RESULT stat of "to" */
    FRAME_PING = 30,       /* h->g, empty: RESULT {} */
    FRAME_PROC_START = 40, /* h->g, JSON {"exec","tag"}: RESULT process info */
    FRAME_PROC_LIST = 41,  /* h->g, JSON {}: RESULT {"processes":[...]} */
    FRAME_PROC_LOGS = 42,  /* h->g, JSON {"ref","tail","follow"}: STDOUT/STDERR..., RESULT or EXIT */
    FRAME_PROC_STDIN = 43, /* h->g, JSON {"ref","data","close"}: RESULT {} */
    FRAME_PROC_SIGNAL = 44,/* h->g, JSON {"ref","signal"}: RESULT {} */
    FRAME_PROC_WAIT = 45,  /* h->g, JSON {"ref"}: EXIT once the process has exited */
    FRAME_PROC_RESIZE = 46,/* h->g, JSON {"ref","cols","rows"}: RESULT {} (a pty process) */
    FRAME_TAR_GET = 55,    /* h->g, JSON {"path"}: DATA (a tar stream)... then RESULT tar_result */
    FRAME_TAR_PUT = 56,    /* h->g, JSON {"path"}: then DATA...; empty DATA = end -> RESULT */
    FRAME_WATCH = 57,      /* h->g, JSON {"path","recursive"}: DATA (NDJSON events, the first is ready) until CANCEL */
    FRAME_TCP_CONNECT = 70,/* h->g, JSON {"port"}: DATA both ways (empty = EOF), TCP_ACK, until RESULT/ERROR */
    FRAME_TCP_ACK = 71,    /* both, JSON {"bytes"}: relay bytes delivered, returning send credit */
    FRAME_SEARCH = 50,     /* h->g, JSON search request: DATA (NDJSON matches)... then RESULT */
    /* VM backend only: the host's first frame on every connection to a
     * VM's runra-init (the guest cannot see a host connect), id 0, JSON
     * vm_setup_msg. The first one also makes the guest's root; HELLO or
     * ERROR answers it. */
    FRAME_VM_SETUP = 80,
    /* VM backend only, h->g, JSON net_config_msg: the guest's NIC takes
     * the address and the default route (RESULT {}). */
    FRAME_NET_CONFIG = 81,
};

struct frame_hdr {
    uint32_t len;  /* payload bytes, <= RUNRA_FRAME_MAX_PAYLOAD */
    uint32_t id;   /* call id chosen by the host; 0 is the connection itself */
    uint16_t type; /* enum frame_type */
    uint16_t flags;/* reserved, must be 0 */
};

const char *frame_type_name(uint16_t type);
int frame_type_known(uint16_t type);

void frame_hdr_encode(uint8_t out[FRAME_HDR_SIZE], const struct frame_hdr *h);
/* Validates: known type, zero flags, len within bound. 0 or -EBADMSG / -E2BIG. */
int frame_hdr_decode(const uint8_t in[FRAME_HDR_SIZE], struct frame_hdr *ret);

/* Pure parse of the first frame in buf: 0 with *ret_consumed set when a
 * whole valid frame is there, -EAGAIN when more bytes are needed, or a
 * negative errno when the bytes can never form a valid frame. */
int frame_parse(const uint8_t *buf, size_t len, struct frame_hdr *ret_hdr,
                const uint8_t **ret_payload, size_t *ret_consumed);

/* Blocking I/O on a stream fd. frame_read fills payload (which must hold
 * RUNRA_FRAME_MAX_PAYLOAD bytes); frame_write sends header and payload with
 * one writev, looping on short writes (callers serialize writers). */
int frame_read(int fd, struct frame_hdr *ret_hdr, uint8_t *payload);
int frame_write(int fd, uint16_t type, uint32_t id, const void *payload, size_t len);
