/* Frame codec. Everything here is pure except frame_read/frame_write; the
 * decoder rejects unknown types, non-zero flags and oversized lengths before
 * any payload is read, so a hostile peer cannot make us allocate or wait on
 * more than one bounded frame. */
#include "frame.h"

#include <errno.h>
#include <string.h>
#include <sys/uio.h>
#include <unistd.h>

#include "../base/util.h"

static const struct {
    uint16_t type;
    const char *name;
} names[] = {
    {FRAME_HELLO, "hello"},           {FRAME_ERROR, "error"},
    {FRAME_RESULT, "result"},         {FRAME_EXEC, "exec"},
    {FRAME_STDIN, "stdin"},           {FRAME_STDOUT, "stdout"},
    {FRAME_STDERR, "stderr"},         {FRAME_EXIT, "exit"},
    {FRAME_SIGNAL, "signal"},         {FRAME_CANCEL, "cancel"},
    {FRAME_FILE_READ, "file_read"},   {FRAME_FILE_WRITE, "file_write"},
    {FRAME_DATA, "data"},             {FRAME_FILE_LIST, "file_list"},
    {FRAME_FILE_STAT, "file_stat"},   {FRAME_FILE_MKDIR, "file_mkdir"},
    {FRAME_FILE_REMOVE, "file_remove"}, {FRAME_FILE_MOVE, "file_move"},
    {FRAME_PING, "ping"},
    {FRAME_PROC_START, "proc_start"}, {FRAME_PROC_LIST, "proc_list"},
    {FRAME_PROC_LOGS, "proc_logs"},   {FRAME_PROC_STDIN, "proc_stdin"},
    {FRAME_PROC_SIGNAL, "proc_signal"}, {FRAME_PROC_WAIT, "proc_wait"},
    {FRAME_PROC_RESIZE, "proc_resize"},
    {FRAME_SEARCH, "search"},
    {FRAME_VM_SETUP, "vm_setup"},     {FRAME_NET_CONFIG, "net_config"},
    {FRAME_TAR_GET, "tar_get"}, {FRAME_TAR_PUT, "tar_put"},
    {FRAME_WATCH, "watch"},
    {FRAME_TCP_CONNECT, "tcp_connect"}, {FRAME_TCP_ACK, "tcp_ack"},
};

const char *frame_type_name(uint16_t type)
{
    for (size_t i = 0; i < ARRAY_SIZE(names); i++)
        if (names[i].type == type)
            return names[i].name;
    return "unknown";
}

int frame_type_known(uint16_t type)
{
    for (size_t i = 0; i < ARRAY_SIZE(names); i++)
        if (names[i].type == type)
            return 1;
    return 0;
}

static void put32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
    p[2] = (uint8_t)(v >> 16);
    p[3] = (uint8_t)(v >> 24);
}
static void put16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
}
static uint32_t get32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}
static uint16_t get16(const uint8_t *p) { return (uint16_t)(p[0] | p[1] << 8); }

void frame_hdr_encode(uint8_t out[FRAME_HDR_SIZE], const struct frame_hdr *h)
{
    put32(out, h->len);
    put32(out + 4, h->id);
    put16(out + 8, h->type);
    put16(out + 10, h->flags);
}

int frame_hdr_decode(const uint8_t in[FRAME_HDR_SIZE], struct frame_hdr *ret)
{
    struct frame_hdr h = {
        .len = get32(in), .id = get32(in + 4), .type = get16(in + 8), .flags = get16(in + 10)};
    if (h.len > RUNRA_FRAME_MAX_PAYLOAD)
        return -E2BIG;
    if (!frame_type_known(h.type) || h.flags != 0)
        return -EBADMSG;
    *ret = h;
    return 0;
}

int frame_parse(const uint8_t *buf, size_t len, struct frame_hdr *ret_hdr,
                const uint8_t **ret_payload, size_t *ret_consumed)
{
    if (len < FRAME_HDR_SIZE)
        return -EAGAIN;
    struct frame_hdr h;
    int r = frame_hdr_decode(buf, &h);
    if (r < 0)
        return r;
    if (len - FRAME_HDR_SIZE < h.len)
        return -EAGAIN;
    *ret_hdr = h;
    *ret_payload = buf + FRAME_HDR_SIZE;
    *ret_consumed = FRAME_HDR_SIZE + (size_t)h.len;
    return 0;
}

int frame_read(int fd, struct frame_hdr *ret_hdr, uint8_t *payload)
{
    uint8_t hb[FRAME_HDR_SIZE];
    int r = read_full(fd, hb, sizeof(hb));
    if (r < 0)
        return r;
    struct frame_hdr h;
    r = frame_hdr_decode(hb, &h);
    if (r < 0)
        return r;
    if (h.len > 0) {
        r = read_full(fd, payload, h.len);
        if (r < 0)
            return r;
    }
    *ret_hdr = h;
    return 0;
}

int frame_write(int fd, uint16_t type, uint32_t id, const void *payload, size_t len)
{
    if (len > RUNRA_FRAME_MAX_PAYLOAD)
        return -E2BIG;
    uint8_t hb[FRAME_HDR_SIZE];
    struct frame_hdr h = {.len = (uint32_t)len, .id = id, .type = type, .flags = 0};
    frame_hdr_encode(hb, &h);
    struct iovec iov[2] = {{hb, sizeof(hb)}, {(void *)payload, len}};
    int cnt = len ? 2 : 1;
    size_t total = sizeof(hb) + len;
    while (total > 0) {
        ssize_t n = writev(fd, iov, cnt);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return -errno;
        }
        total -= (size_t)n;
        /* Advance over what was written (short writes on a busy socket). */
        for (int i = 0; i < cnt && n > 0; i++) {
            size_t take = (size_t)n < iov[i].iov_len ? (size_t)n : iov[i].iov_len;
            iov[i].iov_base = (char *)iov[i].iov_base + take;
            iov[i].iov_len -= take;
            n -= (ssize_t)take;
        }
    }
    return 0;
}
