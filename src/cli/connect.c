/* Reaching runrad: pick the endpoint (--socket, $RUNRA_SOCKET, the default),
 * connect, and when nothing listens on a unix socket start runrad in the
 * background and wait for it to answer /v1/health. The daemon is spawned
 * detached (its own session, stdio to its log) and never waited for. */
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <signal.h>
#include <spawn.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>

#include "base/util.h"
#include "cli.h"

#define AUTOSTART_WAIT_MS 5000

extern char **environ;

static bool executable(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISREG(st.st_mode) && access(path, X_OK) == 0;
}

/* The runrad that belongs with this runra: next to it (an installed tree,
 * or build/bin), or in a meson build tree's src/daemon; else NULL, meaning
 * "search PATH". */
static char *find_runrad(const char *argv0)
{
    char self[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
    char *dirs[2] = { NULL, NULL };
    if (n > 0) {
        self[n] = '\0';
        dirs[0] = strdup(dirname(self));
    }
    if (argv0 && strchr(argv0, '/')) {
        _cleanup_free_ char *copy = strdup(argv0);
        if (copy)
            dirs[1] = strdup(dirname(copy));
    }
    static const char *const rel[] = { "runrad", "../daemon/runrad" };
    char *found = NULL;
    for (size_t d = 0; d < ARRAY_SIZE(dirs) && !found; d++)
        for (size_t i = 0; dirs[d] && i < ARRAY_SIZE(rel) && !found; i++) {
            char *cand = NULL;
            if (asprintf(&cand, "%s/%s", dirs[d], rel[i]) < 0)
                continue;
            if (executable(cand))
                found = cand;
            else
                free(cand);
        }
    free(dirs[0]);
    free(dirs[1]);
    return found;
}

/* The state dir a socket path implies: "<dir>/runra.sock" is runrad's own
 * layout, so <dir> is its state dir; any other name gets runrad's default
 * state dir and an explicit --socket. */
static char *state_dir_of(const char *socket)
{
    const char *slash = strrchr(socket, '/');
    if (!slash || strcmp(slash + 1, "runra.sock") != 0)
        return NULL;
    if (slash == socket)
        return strdup("/");
    return strndup(socket, (size_t)(slash - socket));
}

static int spawn_runrad(const char *argv0, const char *socket, pid_t *ret_pid, char **ret_log)
{
    _cleanup_free_ char *runrad = find_runrad(argv0);
    _cleanup_free_ char *state = state_dir_of(socket);
    _cleanup_free_ char *log = NULL;
    /* The state dir is made here (runrad would make it too, with the same
     * 0700) so that the log, most useful when start-up fails, has a home. */
    struct stat st;
    if (state)
        (void)mkdir_p(state, 0700);
    if (state && stat(state, &st) == 0 && S_ISDIR(st.st_mode) &&
        asprintf(&log, "%s/runrad.log", state) < 0)
        log = NULL;

    char *argv[6];
    size_t k = 0;
    argv[k++] = runrad ? runrad : (char *)"runrad";
    if (state) {
        argv[k++] = (char *)"--state-dir";
        argv[k++] = state;
    } else {
        argv[k++] = (char *)"--socket";
        argv[k++] = (char *)socket;
    }
    argv[k] = NULL;

    posix_spawn_file_actions_t fa;
    posix_spawnattr_t at;
    posix_spawn_file_actions_init(&fa);
    posix_spawnattr_init(&at);
    posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_addopen(&fa, 1, log ? log : "/dev/null",
                                     O_WRONLY | O_CREAT | O_APPEND, 0600);
    posix_spawn_file_actions_adddup2(&fa, 1, 2);
    /* A session of its own: the terminal's ^C for this runra must not reach
     * the daemon, and it must outlive us. Signals start at their defaults
     * whatever this process had set or blocked. */
    sigset_t none, all;
    sigemptyset(&none);
    sigfillset(&all);
    posix_spawnattr_setsigmask(&at, &none);
    posix_spawnattr_setsigdefault(&at, &all);
    posix_spawnattr_setflags(&at, POSIX_SPAWN_SETSID | POSIX_SPAWN_SETSIGMASK |
                                      POSIX_SPAWN_SETSIGDEF);
    pid_t pid;
    int r = runrad ? posix_spawn(&pid, runrad, &fa, &at, argv, environ)
                   : posix_spawnp(&pid, "runrad", &fa, &at, argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    posix_spawnattr_destroy(&at);
    if (r != 0)
        return -r;
    *ret_pid = pid;
    *ret_log = TAKE_PTR(log);
    return 0;
}

/* Starts runrad and waits until it answers /v1/health on c's socket. */
static int autostart(struct cli *cli, runra_client *c, const char *socket)
{
    pid_t pid;
    _cleanup_free_ char *log = NULL;
    int r = spawn_runrad(cli->argv0, socket, &pid, &log);
    if (r < 0) {
        cli_failf("nothing answers at %s and starting runrad failed: %s", socket, strerror(-r));
        return r;
    }
    uint64_t deadline = now_ms() + AUTOSTART_WAIT_MS;
    for (;;) {
        int status;
        if (waitpid(pid, &status, WNOHANG) == pid) {
            cli_failf("started runrad for %s but it exited (%s %d)%s%s", socket,
                      WIFEXITED(status) ? "status" : "signal",
                      WIFEXITED(status) ? WEXITSTATUS(status) : WTERMSIG(status),
                      log ? "; see " : "", log ? log : "");
            return -ESRCH;
        }
        struct runra_error *e = NULL;
        struct runra_health *h = NULL;
        r = runra_client_connect(c, &e);
        if (r >= 0)
            r = runra_health(c, &h, &e);
        runra_health_free(h);
        runra_error_free(e);
        if (r >= 0)
            return 0;
        if (now_ms() >= deadline)
            break;
        nanosleep(&(struct timespec){ .tv_nsec = 10 * 1000 * 1000 }, NULL);
    }
    cli_failf("started runrad (pid %d) but it did not answer at %s within %d s%s%s", (int)pid,
              socket, AUTOSTART_WAIT_MS / 1000, log ? "; see " : "", log ? log : "");
    return -ETIMEDOUT;
}

int cli_client(struct cli *cli, runra_client **ret)
{
    if (cli->client) {
        *ret = cli->client;
        return 0;
    }
    const char *endpoint = cli->socket;
    if (!endpoint || !*endpoint)
        endpoint = getenv("RUNRA_HOST"); /* unix:///path or http://host:port */
    if (!endpoint || !*endpoint)
        endpoint = getenv("RUNRA_SOCKET");
    if (!endpoint || !*endpoint)
        endpoint = RUNRA_DEFAULT_SOCKET;

    struct runra_error *e = NULL;
    runra_client *c = NULL;
    int r = runra_client_new(endpoint, &c, &e);
    const char *key = getenv("RUNRA_API_KEY");
    if (r >= 0 && key && *key)
        r = runra_client_set_api_key(c, key, &e);
    if (r < 0) {
        cli_fail(e, NULL);
        runra_error_free(e);
        runra_client_free(c);
        return r;
    }
    r = runra_client_connect(c, &e);
    const char *hint = "";
    if (r == -ECONNREFUSED || r == -ENOENT) {
        const char *no = getenv("RUNRA_NO_AUTOSTART");
        /* Only a local socket can be served by a runrad we start. */
        bool local = !str_has_prefix(runra_client_endpoint(c), "http://");
        hint = local ? " (RUNRA_NO_AUTOSTART is set, so runrad was not started)"
                     : " (is runrad running?)";
        if (local && !(no && *no)) {
            runra_error_free(e);
            e = NULL;
            r = autostart(cli, c, runra_client_endpoint(c));
            if (r < 0) {
                runra_client_free(c);
                return r;
            }
        }
    }
    if (r < 0) {
        cli_failf("%s%s", e ? e->message : strerror(-r), hint);
        runra_error_free(e);
        runra_client_free(c);
        return r;
    }
    cli->client = c;
    *ret = c;
    return 0;
}
