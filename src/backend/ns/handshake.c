/* runra-init's socket, daemon side (see handshake.h). The first frame comes
 * from our own runra-init before any sandbox code runs, but it is still
 * read as untrusted: bounded size, strict decoding, a deadline, and never a
 * byte beyond the frame, since what follows belongs to the guest stream. */
#include "backend/ns/handshake.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "base/util.h"
#include "proto/frame.h"
#include "proto/msg.h"

/* HELLO and ERROR are small JSON objects; anything bigger is not one. */
#define HELLO_MAX (64 * 1024)

static int sock_addr(const char *path, struct sockaddr_un *sa, struct runra_err **err)
{
    *sa = (struct sockaddr_un){.sun_family = AF_UNIX};
    if (strlen(path) >= sizeof(sa->sun_path))
        return err_set(err, ENAMETOOLONG, "socket path '%s' too long", path);
    memcpy(sa->sun_path, path, strlen(path) + 1);
    return 0;
}

int ns_sock_listen(const char *path, int *ret_fd, struct runra_err **err)
{
    struct sockaddr_un sa;
    int r = sock_addr(path, &sa, err);
    if (r < 0)
        return r;
    _cleanup_close_ int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return err_sys(err, errno, "socket");
    if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
        return err_sys(err, errno, "bind %s", path);
    /* Between bind and chmod the socket has the umask's mode, but it sits
     * in the daemon's private per-sandbox dir, which nobody else can
     * search; the chmod is for the day that dir is shared. */
    if (chmod(path, 0600) < 0 || listen(fd, 16) < 0) {
        r = err_sys(err, errno, "listen on %s", path);
        unlink(path);
        return r;
    }
    *ret_fd = TAKE_FD(fd);
    return 0;
}

/* Reads exactly len bytes before deadline (ms, monotonic). */
static int read_by(int fd, int pidfd, void *buf, size_t len, uint64_t deadline,
                   struct runra_err **err)
{
    uint8_t *p = buf;
    while (len > 0) {
        uint64_t now = now_ms();
        if (now >= deadline)
            return err_set(err, ETIMEDOUT, "runra-init sent no HELLO in time");
        struct pollfd pf[2] = {{.fd = fd, .events = POLLIN}, {.fd = pidfd, .events = POLLIN}};
        int n = poll(pf, pidfd >= 0 ? 2 : 1, (int)(deadline - now));
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return err_sys(err, errno, "poll");
        /* The socket first: a runra-init that wrote ERROR and exited has
         * both ready, and its message is the one worth reporting. */
        if (pf[0].revents) {
            ssize_t k = recv(fd, p, len, MSG_DONTWAIT);
            if (k < 0 && (errno == EAGAIN || errno == EINTR))
                continue;
            if (k < 0)
                return err_sys(err, errno, "read from runra-init");
            if (k == 0)
                return err_set(err, EPIPE, "runra-init closed the connection before HELLO");
            p += k;
            len -= (size_t)k;
            continue;
        }
        if (pidfd >= 0 && pf[1].revents)
            return err_set(err, ECHILD, "runra-init exited before HELLO");
    }
    return 0;
}

int ns_sock_first_frame(int fd, int pidfd, uint64_t deadline, bool *ret_refused,
                        struct runra_err **err)
{
    if (ret_refused)
        *ret_refused = false;
    uint8_t hdr_buf[FRAME_HDR_SIZE];
    struct frame_hdr h;
    int r = read_by(fd, pidfd, hdr_buf, sizeof(hdr_buf), deadline, err);
    if (r < 0)
        return r;
    r = frame_hdr_decode(hdr_buf, &h);
    if (r < 0)
        return err_sys(err, r, "bad first frame from runra-init");
    if ((h.type != FRAME_HELLO && h.type != FRAME_ERROR) || h.len > HELLO_MAX)
        return err_set(err, EPROTO, "runra-init sent %s (%u bytes) instead of HELLO",
                       frame_type_name(h.type), h.len);
    _cleanup_free_ uint8_t *payload = malloc(h.len + 1);
    if (!payload)
        return -ENOMEM;
    r = read_by(fd, pidfd, payload, h.len, deadline, err);
    if (r < 0)
        return r;
    if (h.type == FRAME_ERROR) {
        struct guest_error ge = {0};
        r = msg_error_decode(payload, h.len, &ge, err);
        if (r < 0)
            return err_prefix(err, "runra-init failed with an undecodable error");
        r = err_set(err, ge.err > 0 ? ge.err : EIO, "runra-init: %s",
                    ge.message ? ge.message : "unknown error");
        msg_guest_error_done(&ge);
        if (ret_refused)
            *ret_refused = true;
        return r;
    }
    struct hello_msg hello;
    r = msg_hello_decode(payload, h.len, &hello, err);
    if (r < 0)
        return err_prefix(err, "runra-init HELLO");
    if (hello.version != FRAME_PROTO_VERSION)
        return err_set(err, EPROTO, "runra-init speaks protocol %d, the daemon %d", hello.version,
                       FRAME_PROTO_VERSION);
    return 0;
}

int ns_sock_connect(const char *path, int *ret_fd, struct runra_err **err)
{
    struct sockaddr_un sa;
    int r = sock_addr(path, &sa, err);
    if (r < 0)
        return r;
    _cleanup_close_ int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return err_sys(err, errno, "socket");
    if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
        return err_sys(err, errno, "connect to %s", path);
    *ret_fd = TAKE_FD(fd);
    return 0;
}

int ns_sock_hello(const char *path, int pidfd, uint64_t timeout_ms, int *ret_fd,
                  struct runra_err **err)
{
    /* The listening socket has room in its backlog, so the connect does
     * not wait for runra-init to accept. */
    _cleanup_close_ int fd = -1;
    int r = ns_sock_connect(path, &fd, err);
    if (r < 0)
        return r;
    r = ns_sock_first_frame(fd, pidfd, now_ms() + timeout_ms, NULL, err);
    if (r < 0)
        return r;
    *ret_fd = TAKE_FD(fd);
    return 0;
}
