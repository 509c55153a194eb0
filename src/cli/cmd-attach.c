/* `runra exec -t/-it` and `runra attach`: a terminal session over runrad's
 * attach WebSocket. The local terminal goes raw (every key, ^C included,
 * reaches the remote terminal, whose line discipline decides what it
 * means), window size changes are forwarded, and the terminal is restored
 * however the session ends. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <termios.h>
#include <unistd.h>

#include "cli.h"

#define DETACH_1 0x10 /* ^P */
#define DETACH_2 0x11 /* ^Q: ^P^Q detaches, as in docker attach */

const char cli_usage_attach[] =
    "Usage: runra attach [--no-stdin] ID PID|TAG\n"
    "Attaches this terminal to a background process: its output (what the log\n"
    "ring holds first, then live), your keystrokes to its stdin, window size\n"
    "changes to its terminal. Ends when the process exits (runra exits with its\n"
    "code) or on ^P^Q, which detaches and leaves it running.\n"
    "\n"
    "  --no-stdin   only watch: send nothing to the process\n";

static struct termios saved;
static bool raw_on;
static int sig_pipe[2] = {-1, -1};

static void restore_tty(void)
{
    if (raw_on) {
        tcsetattr(STDIN_FILENO, TCSADRAIN, &saved);
        raw_on = false;
    }
}

static void on_sig(int sig)
{
    int e = errno;
    unsigned char b = (unsigned char)sig;
    if (sig_pipe[1] >= 0 && write(sig_pipe[1], &b, 1) < 0) {
        /* full: a signal is already pending */
    }
    errno = e;
}

static int make_raw(void)
{
    if (!isatty(STDIN_FILENO) || tcgetattr(STDIN_FILENO, &saved) < 0)
        return 0;
    struct termios t = saved;
    cfmakeraw(&t);
    if (tcsetattr(STDIN_FILENO, TCSADRAIN, &t) < 0)
        return -errno;
    raw_on = true;
    atexit(restore_tty);
    return 0;
}

static void window_size(unsigned *cols, unsigned *rows)
{
    struct winsize ws = {0};
    int fds[] = {STDIN_FILENO, STDOUT_FILENO, STDERR_FILENO};
    for (size_t i = 0; i < ARRAY_SIZE(fds); i++)
        if (ioctl(fds[i], TIOCGWINSZ, &ws) == 0 && ws.ws_col && ws.ws_row) {
            *cols = ws.ws_col;
            *rows = ws.ws_row;
            return;
        }
    *cols = 80;
    *rows = 24;
}

struct session {
    runra_attach *a;
    bool tty;        /* the local stdin is a terminal put in raw mode */
    bool send_stdin;
    bool detach_keys;
    bool prev_p;     /* the last key read was ^P */
    bool detached;
    bool exited;
    int exit_code;
};

/* Writes keys, watching for ^P^Q when detaching is allowed; a ^P that
 * ends a read is held back until the next key shows what it was. */
static int forward_keys(struct session *s, const unsigned char *p, size_t n,
                        struct runra_error **err)
{
    if (!s->detach_keys)
        return runra_attach_write(s->a, p, n, err);
    if (s->prev_p) {
        s->prev_p = false;
        if (n > 0 && p[0] == DETACH_2) {
            s->detached = true;
            return 0;
        }
        static const unsigned char held = DETACH_1;
        int r = runra_attach_write(s->a, &held, 1, err);
        if (r < 0)
            return r;
    }
    for (size_t i = 0; i + 1 < n; i++)
        if (p[i] == DETACH_1 && p[i + 1] == DETACH_2) {
            s->detached = true;
            return i ? runra_attach_write(s->a, p, i, err) : 0;
        }
    if (n > 0 && p[n - 1] == DETACH_1) {
        s->prev_p = true;
        n--;
    }
    return n ? runra_attach_write(s->a, p, n, err) : 0;
}

static int pump(struct session *s)
{
    struct runra_error *e = NULL;
    unsigned char buf[16384];
    bool stdin_open = s->send_stdin;
    for (;;) {
        struct pollfd pf[3] = {
            {.fd = runra_attach_fd(s->a), .events = POLLIN},
            {.fd = sig_pipe[0], .events = POLLIN},
            {.fd = stdin_open ? STDIN_FILENO : -1, .events = POLLIN},
        };
        /* Whatever is already decoded comes first. */
        struct runra_attach_event ev;
        int r;
        while ((r = runra_attach_next(s->a, &ev, &e)) > 0) {
            switch (ev.kind) {
            case RUNRA_ATTACH_OUTPUT:
                if (cli_write(ev.stream == RUNRA_STREAM_STDERR ? STDERR_FILENO : STDOUT_FILENO,
                              ev.data, ev.len) < 0)
                    return CLI_FAIL;
                break;
            case RUNRA_ATTACH_EXIT:
                s->exited = true;
                s->exit_code = ev.exit_code;
                break;
            case RUNRA_ATTACH_ERROR:
                restore_tty();
                fprintf(stderr, "runra: %s\n", ev.message);
                break;
            case RUNRA_ATTACH_CLOSED:
                if (!s->exited && ev.close_code != 1000) {
                    restore_tty();
                    fprintf(stderr, "runra: the session ended: %s (%d)\n",
                            ev.message && *ev.message ? ev.message : "connection closed",
                            ev.close_code);
                    return CLI_FAIL;
                }
                return CLI_OK;
            }
        }
        if (r < 0) {
            restore_tty();
            cli_fail(e, "attach");
            runra_error_free(e);
            return CLI_FAIL;
        }
        if (poll(pf, 3, -1) < 0 && errno != EINTR)
            return CLI_FAIL;
        if (pf[1].revents & POLLIN) {
            unsigned char sig;
            while (read(sig_pipe[0], &sig, 1) == 1) {
                if (sig == SIGWINCH) {
                    unsigned cols, rows;
                    window_size(&cols, &rows);
                    r = runra_attach_resize(s->a, cols, rows, &e);
                } else if (s->tty) {
                    continue; /* in raw mode ^C is a key, not a signal */
                } else {
                    /* Not a terminal here: pass the signal on, as a shell would. */
                    r = runra_attach_signal(s->a, sig, &e);
                }
                if (r < 0) {
                    runra_error_free(e);
                    e = NULL;
                }
            }
        }
        if (stdin_open && (pf[2].revents & (POLLIN | POLLHUP | POLLERR))) {
            ssize_t n = read(STDIN_FILENO, buf, sizeof(buf));
            if (n < 0 && (errno == EINTR || errno == EAGAIN))
                continue;
            if (n <= 0) {
                stdin_open = false;
                r = runra_attach_eof(s->a, &e);
            } else {
                r = forward_keys(s, buf, (size_t)n, &e);
            }
            if (r < 0) {
                runra_error_free(e);
                e = NULL;
            }
            if (s->detached) {
                restore_tty();
                fprintf(stderr, "runra: detached; the process keeps running\n");
                return CLI_OK;
            }
        }
    }
}

/* The session: raw mode when there is a terminal on both ends, signals to
 * the pipe, the pump, and everything put back. */
static int run_session(struct session *s, bool remote_tty)
{
    if (pipe2(sig_pipe, O_CLOEXEC | O_NONBLOCK) < 0)
        return cli_failf("pipe: %s", strerror(errno));
    struct sigaction sa = {.sa_handler = on_sig};
    sigemptyset(&sa.sa_mask);
    int sigs[] = {SIGWINCH, SIGINT, SIGTERM, SIGHUP, SIGQUIT};
    struct sigaction old[ARRAY_SIZE(sigs)];
    for (size_t i = 0; i < ARRAY_SIZE(sigs); i++)
        sigaction(sigs[i], &sa, &old[i]);
    signal(SIGPIPE, SIG_IGN);
    s->tty = false;
    if (remote_tty && s->send_stdin && isatty(STDIN_FILENO)) {
        int r = make_raw();
        if (r < 0)
            fprintf(stderr, "runra: cannot put the terminal in raw mode: %s\n", strerror(-r));
        s->tty = raw_on;
    }
    int rc = pump(s);
    restore_tty();
    for (size_t i = 0; i < ARRAY_SIZE(sigs); i++)
        sigaction(sigs[i], &old[i], NULL);
    close(sig_pipe[0]);
    close(sig_pipe[1]);
    sig_pipe[0] = sig_pipe[1] = -1;
    if (rc != CLI_OK || s->detached)
        return rc;
    return s->exited ? s->exit_code : CLI_FAIL;
}

int cli_exec_tty(runra_client *c, const char *id, const struct runra_exec_opts *o,
                 bool send_stdin)
{
    unsigned cols, rows;
    window_size(&cols, &rows);
    /* The remote terminal speaks what the local one does. */
    const char *term = getenv("TERM");
    bool has_term = false;
    for (size_t i = 0; i < o->n_env; i++)
        has_term |= !strcmp(o->env[i].key, "TERM");
    struct runra_kv *env = calloc(o->n_env + 1, sizeof(*env));
    if (!env)
        return cli_failf("out of memory");
    if (o->n_env)
        memcpy(env, o->env, o->n_env * sizeof(*env));
    size_t n_env = o->n_env;
    if (!has_term)
        env[n_env++] = (struct runra_kv){.key = "TERM", .value = term && *term ? term : "xterm"};
    struct runra_process_opts po = {.argv = o->argv,
                                    .env = env,
                                    .n_env = n_env,
                                    .cwd = o->cwd,
                                    .pty_cols = cols,
                                    .pty_rows = rows};
    struct runra_error *e = NULL;
    struct runra_process *p = NULL;
    int r = runra_process_start(c, id, &po, &p, &e);
    free(env);
    if (r < 0) {
        cli_fail(e, "exec %s", id);
        runra_error_free(e);
        return CLI_FAIL;
    }
    char ref[24];
    snprintf(ref, sizeof(ref), "%lld", (long long)p->pid);
    runra_process_free(p);
    /* kill_on_close: the process is this session's, like a plain exec's. */
    struct runra_attach_opts ao = {.kill_on_close = true};
    struct session s = {.send_stdin = send_stdin};
    r = runra_process_attach(c, id, ref, &ao, &s.a, &e);
    if (r < 0) {
        cli_fail(e, "exec %s: attach", id);
        runra_error_free(e);
        runra_process_signal(c, id, ref, SIGKILL, NULL);
        return CLI_FAIL;
    }
    int rc = run_session(&s, true);
    runra_attach_close(s.a);
    return rc;
}

int cmd_attach(struct cli *cli, int argc, char **argv)
{
    bool no_stdin = false;
    const struct simple_opt opts[] = {
        {.name = "no-stdin", .flag = &no_stdin},
    };
    char **pos;
    int r = cli_two_args("attach", cli_usage_attach, argc, argv, opts, ARRAY_SIZE(opts), cli,
                         &pos);
    if (r != 0)
        return r < 0 ? CLI_OK : r;
    runra_client *c;
    if (cli_client(cli, &c) < 0)
        return CLI_FAIL;
    /* Whether the process has a terminal decides raw mode. */
    struct runra_error *e = NULL;
    struct runra_process_list *l = NULL;
    if (runra_process_list(c, pos[0], &l, &e) < 0) {
        r = cli_fail(e, "attach %s", pos[0]);
        runra_error_free(e);
        return r;
    }
    bool remote_tty = false, found = false;
    for (size_t i = 0; i < l->n; i++) {
        char pid[24];
        snprintf(pid, sizeof(pid), "%lld", (long long)l->items[i].pid);
        bool match = !strcmp(pid, pos[1]) || (l->items[i].tag && !strcmp(l->items[i].tag, pos[1]));
        /* The running one wins, as runrad picks it too. */
        if (match && (!found || l->items[i].running)) {
            remote_tty = l->items[i].pty;
            found = true;
        }
    }
    runra_process_list_free(l);
    struct runra_attach_opts ao = {0};
    struct session s = {.send_stdin = !no_stdin, .detach_keys = true};
    if (runra_process_attach(c, pos[0], pos[1], &ao, &s.a, &e) < 0) {
        r = cli_fail(e, "attach %s %s", pos[0], pos[1]);
        runra_error_free(e);
        return r;
    }
    /* A resize makes a full-screen program or a shell redraw itself. */
    if (remote_tty) {
        unsigned cols, rows;
        window_size(&cols, &rows);
        runra_attach_resize(s.a, cols, rows, NULL);
    }
    int rc = run_session(&s, remote_tty);
    runra_attach_close(s.a);
    return rc;
}
