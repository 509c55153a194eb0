/* A minimal stand-in for runra-init for the ns backend's end-to-end test:
 * accepts, runs ns_child_setup, sends HELLO, then serves EXEC frames one at a
 * time (both streams as STDOUT, then EXIT). "@x32", "@i386" and "@clone" are
 * built-in probes of the seccomp filter, judged by their exit status. */
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "backend/ns/child.h"
#include "backend/ns/config.h"
#include "base/util.h"
#include "proto/frame.h"
#include "proto/msg.h"

#define OUT_MAX (256 * 1024)

static int send_json(int fd, uint16_t type, uint32_t id, char *json)
{
    int r = json ? frame_write(fd, type, id, json, strlen(json)) : -ENOMEM;
    free(json);
    return r;
}

static _Noreturn void x32_child(void)
{
    /* getpid through the x32 syscall table: the filter must kill us. */
    syscall(0x40000000 | 39);
    _exit(0);
}

static _Noreturn void i386_child(void)
{
    /* getpid through int 0x80, the i386 table: the filter must kill us. */
#if defined(__x86_64__)
    long ret;
    __asm__ volatile("int $0x80" : "=a"(ret) : "a"(20L) : "memory");
#endif
    _exit(0);
}

static _Noreturn void clone_child(void)
{
    /* A new mount namespace through clone must be refused (EPERM), and
     * clone3 must look absent (ENOSYS) so libc falls back to clone. */
    long r1 = syscall(SYS_clone, CLONE_NEWNS | SIGCHLD, NULL, NULL, NULL, 0);
    int e1 = errno;
    if (r1 == 0)
        _exit(0);
    long r2 = syscall(SYS_clone3, NULL, 0);
    int e2 = errno;
    _exit(r1 < 0 && e1 == EPERM && r2 < 0 && e2 == ENOSYS ? 42 : 1);
}

static int run(int conn, uint32_t id, struct exec_req *req)
{
    /* PID 1 reaps whatever earlier commands orphaned. */
    while (waitpid(-1, NULL, WNOHANG) > 0)
        ;
    int p[2];
    if (pipe2(p, O_CLOEXEC) < 0)
        return -errno;
    uint64_t t0 = now_ms();
    pid_t pid = fork();
    if (pid < 0)
        return -errno;
    if (pid == 0) {
        int null = open("/dev/null", O_RDONLY);
        dup2(null, 0);
        dup2(p[1], 1);
        dup2(p[1], 2);
        setsid();
        if (!strcmp(req->argv[0], "@x32"))
            x32_child();
        if (!strcmp(req->argv[0], "@i386"))
            i386_child();
        if (!strcmp(req->argv[0], "@clone"))
            clone_child();
        execvp(req->argv[0], req->argv);
        dprintf(2, "exec %s: %s\n", req->argv[0], strerror(errno));
        _exit(127);
    }
    close(p[1]);
    char *out = malloc(OUT_MAX);
    size_t len = 0;
    for (;;) {
        char buf[4096];
        ssize_t n = read(p[0], buf, sizeof(buf));
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        size_t take = (size_t)n < OUT_MAX - len ? (size_t)n : OUT_MAX - len;
        memcpy(out + len, buf, take);
        len += take;
    }
    close(p[0]);
    int st = 0;
    while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
        ;
    /* PID 1 also reaps whatever the command orphaned. */
    while (waitpid(-1, NULL, WNOHANG) > 0)
        ;
    if (len)
        frame_write(conn, FRAME_STDOUT, id, out, len);
    free(out);
    struct exec_exit ex = {.duration_ms = now_ms() - t0};
    if (WIFSIGNALED(st)) {
        ex.signal = WTERMSIG(st);
        ex.exit_code = 128 + ex.signal;
    } else {
        ex.exit_code = WEXITSTATUS(st);
    }
    char *json = NULL;
    msg_exec_exit_encode(&ex, &json);
    return send_json(conn, FRAME_EXIT, id, json);
}

int main(int argc, char **argv)
{
    struct ns_config c;
    struct runra_err *e = NULL;
    if (ns_config_from_argv(argc, argv, &c, &e) < 0)
        return 2;
    ns_config_scrub_argv(argc, argv);
    int conn = accept4(c.listen_fd, NULL, NULL, SOCK_CLOEXEC);
    if (conn < 0)
        return 3;
    if (ns_child_setup(&c, &e) < 0) {
        char *json = NULL;
        msg_error_encode(e ? e->code : EIO, e && e->msg ? e->msg : "setup failed", &json);
        send_json(conn, FRAME_ERROR, 0, json);
        return 1;
    }
    struct hello_msg h = {.version = FRAME_PROTO_VERSION, .pid = getpid()};
    char *json = NULL;
    msg_hello_encode(&h, &json);
    if (send_json(conn, FRAME_HELLO, 0, json) < 0)
        return 4;
    uint8_t *payload = malloc(RUNRA_FRAME_MAX_PAYLOAD);
    for (;;) {
        struct frame_hdr hdr;
        if (!payload || frame_read(conn, &hdr, payload) < 0)
            return 0;
        if (hdr.type != FRAME_EXEC)
            continue;
        struct exec_req *req = NULL;
        if (msg_exec_req_decode(payload, hdr.len, &req, NULL) < 0) {
            msg_error_encode(EINVAL, "bad exec request", &json);
            send_json(conn, FRAME_ERROR, hdr.id, json);
            continue;
        }
        run(conn, hdr.id, req);
        msg_exec_req_free(req);
    }
}
