/* `runra agent run`: a coding agent's CLI (Claude Code, Codex, OpenCode) on
 * a task, with a sandbox as its whole world.
 *
 * inside (default): the agent runs in the sandbox. The current directory is
 * mounted at /workspace (read-write), the agent's npm package (installed
 * once into a cache on the host) at /opt/runra/agent (read-only); only the
 * variables the agent needs go in, as secrets; the network allows the model
 * API's host and what --allow-net adds, nothing else.
 *
 * mcp: the agent runs on the host with its built-in tools off and `runra mcp
 * --sandbox ID` as its only tools, so every file and shell operation it
 * makes happens in the sandbox.
 *
 * Either way the agent gets stdin from /dev/null, its output streams through
 * and its exit code is ours; the sandbox goes at the end unless --keep. */
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <limits.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "args.h"
#include "cli.h"

extern char **environ;

const char cli_usage_agent[] =
    "Usage: runra agent run --agent claude-code|codex|opencode [options] TASK\n"
    "Runs a coding agent non-interactively on TASK with a sandbox as its world.\n"
    "  --agent NAME        claude-code, codex or opencode\n"
    "  --model MODEL       the model the agent asks for\n"
    "  --mode inside|mcp   inside (default): the agent runs in the sandbox, the current\n"
    "                      directory mounted at /workspace; mcp: the agent runs here with\n"
    "                      only the sandbox's tools (runra mcp)\n"
    "  --image IMG         the sandbox's image (default host)\n"
    "  --cpu N             cores\n"
    "  --memory SIZE       memory (MB, or 2g ...)\n"
    "  --timeout DURATION  the sandbox's lifetime and the agent's time limit\n"
    "  --allow-net RULE    also let the sandbox reach RULE (domain, *.domain, IP[:PORT]);\n"
    "                      the model API's host is allowed already (repeatable)\n"
    "  --workdir DIR       the host directory mounted at /workspace (default: .)\n"
    "  --sandbox ID        use this sandbox instead of creating one (not destroyed; the\n"
    "                      agent then works on it through its tools, as with --mode mcp)\n"
    "  --keep              keep the sandbox at the end and print its id\n"
    "Credentials: Claude Code takes ANTHROPIC_API_KEY (or ANTHROPIC_AUTH_TOKEN) and\n"
    "ANTHROPIC_BASE_URL; Codex and OpenCode take OPENAI_API_KEY and OPENAI_BASE_URL.\n"
    "Nothing else of this environment reaches the sandbox. The agents are installed\n"
    "from npm into $RUNRA_AGENT_CACHE (default /var/cache/runra/agents) on first use.\n";

#define AGENT_DIR "/opt/runra/agent"
#define ALLOW_MAX 64
#define MCP_SERVER "runra"

struct agent_def {
    const char *name;     /* --agent */
    const char *cache;    /* its directory in the cache */
    const char *package;  /* on npm */
    const char *version;  /* pinned */
    const char *bin;      /* under node_modules/.bin */
    const char *key_vars[2];
    const char *url_var;
    const char *url_default;
};

static const struct agent_def agents[] = {
    { "claude-code", "claude", "@anthropic-ai/claude-code", "2.1.332", "claude",
      { "ANTHROPIC_API_KEY", "ANTHROPIC_AUTH_TOKEN" }, "ANTHROPIC_BASE_URL",
      "https://api.anthropic.com" },
    { "codex", "codex", "@openai/codex", "0.171.0", "codex", { "OPENAI_API_KEY", NULL },
      "OPENAI_BASE_URL", "https://api.openai.com/v1" },
    { "opencode", "opencode", "opencode-ai", "1.18.33", "opencode", { "OPENAI_API_KEY", NULL },
      "OPENAI_BASE_URL", "https://api.openai.com/v1" },
};

struct agent_args {
    const struct agent_def *def;
    const char *model, *image, *workdir, *sandbox, *task;
    bool mcp, keep;
    double cpu;
    uint64_t memory_mb, timeout_ms;
    const char *allow[ALLOW_MAX + 2];
    size_t nallow;
    bool codex_native; /* the cache holds codex's own binary (CODEX_NATIVE) */
};

/* Codex's npm launcher is a node script that only execs the native binary
 * its platform package ships: inside a sandbox the binary is run directly,
 * so an image without node (python:3.12) runs codex all the same. */
#if defined(__x86_64__)
#define CODEX_NATIVE "node_modules/@openai/codex-linux-x64/vendor/x86_64-unknown-linux-musl/bin/codex"
#elif defined(__aarch64__)
#define CODEX_NATIVE "node_modules/@openai/codex-linux-arm64/vendor/aarch64-unknown-linux-musl/bin/codex"
#else
#define CODEX_NATIVE ""
#endif

/* ---- arguments ----------------------------------------------------------- */

static int parse(int argc, char **argv, struct agent_args *a, struct cli_common *co,
                 struct runra_err **err)
{
    *a = (struct agent_args){ 0 };
    int i = 1;
    if (i < argc && !strcmp(argv[i], "run"))
        i++;
    else if (i < argc && strcmp(argv[i], "--help") && strcmp(argv[i], "-h"))
        return err_set(err, EINVAL, "the only agent command is `agent run`");
    const char *agent = NULL, *mode = NULL;
    for (; i < argc; i++) {
        const char *o = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        bool takes = true;
        if (!strcmp(o, "--")) {
            i++;
            break;
        } else if (!strcmp(o, "-h") || !strcmp(o, "--help")) {
            co->help = true;
            return 0;
        } else if (!strcmp(o, "--keep")) {
            a->keep = true;
            takes = false;
        } else if (!strcmp(o, "--json")) {
            co->json = true;
            takes = false;
        } else if (o[0] != '-' || !o[1]) {
            break;
        } else if (!v) {
            return err_set(err, EINVAL, "option '%s' needs a value", o);
        } else if (!strcmp(o, "--agent")) {
            agent = v;
        } else if (!strcmp(o, "--model")) {
            a->model = v;
        } else if (!strcmp(o, "--mode")) {
            mode = v;
        } else if (!strcmp(o, "--image")) {
            a->image = v;
        } else if (!strcmp(o, "--workdir")) {
            a->workdir = v;
        } else if (!strcmp(o, "--sandbox")) {
            a->sandbox = v;
        } else if (!strcmp(o, "--socket")) {
            co->socket = v;
        } else if (!strcmp(o, "--cpu")) {
            char *end = NULL;
            a->cpu = strtod(v, &end);
            if (!end || *end || !(a->cpu > 0) || a->cpu > 1024)
                return err_set(err, EINVAL, "--cpu must be a positive number of cores");
        } else if (!strcmp(o, "--memory")) {
            int r = cli_parse_size_mb(v, &a->memory_mb, err);
            if (r < 0)
                return r;
        } else if (!strcmp(o, "--timeout")) {
            int r = cli_parse_duration_ms(v, &a->timeout_ms, err);
            if (r < 0)
                return r;
        } else if (!strcmp(o, "--allow-net")) {
            if (a->nallow == ALLOW_MAX)
                return err_set(err, E2BIG, "at most %d --allow-net", ALLOW_MAX);
            a->allow[a->nallow++] = v;
        } else {
            return err_set(err, EINVAL, "unknown option '%s'", o);
        }
        if (takes)
            i++;
    }
    if (i != argc - 1)
        return err_set(err, EINVAL, i >= argc ? "expected the TASK" : "expected one TASK");
    a->task = argv[i];
    if (!agent)
        return err_set(err, EINVAL, "--agent is required (claude-code, codex or opencode)");
    for (size_t k = 0; k < ARRAY_SIZE(agents); k++)
        if (!strcmp(agent, agents[k].name))
            a->def = &agents[k];
    if (!a->def)
        return err_set(err, EINVAL, "--agent must be claude-code, codex or opencode");
    if (mode && strcmp(mode, "inside") && strcmp(mode, "mcp"))
        return err_set(err, EINVAL, "--mode must be inside or mcp");
    a->mcp = mode && !strcmp(mode, "mcp");
    return 0;
}

/* ---- the agent's package ------------------------------------------------- */

/* Runs argv (stdin /dev/null, stdout to our stderr: progress is not output),
 * with env (NULL: ours); returns its exit code, or -errno. */
static int run_child(char *const argv[], char *const env[], const char *cwd, bool out_to_err)
{
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
    if (out_to_err)
        posix_spawn_file_actions_adddup2(&fa, 2, 1);
    if (cwd)
        posix_spawn_file_actions_addchdir_np(&fa, cwd);
    pid_t pid;
    int r = posix_spawnp(&pid, argv[0], &fa, NULL, argv, env ? env : environ);
    posix_spawn_file_actions_destroy(&fa);
    if (r != 0)
        return -r;
    int st = 0;
    bool told = false;
    while (waitpid(pid, &st, 0) < 0) {
        if (errno != EINTR)
            return -errno;
        /* ^C or a TERM for us: the child stops, we clean up after it. */
        if (cli_signal_caught() && !told) {
            kill(pid, SIGTERM);
            told = true;
        }
    }
    if (WIFEXITED(st))
        return WEXITSTATUS(st);
    return 128 + (WIFSIGNALED(st) ? WTERMSIG(st) : 0);
}

/* The agent's cache dir, with the pinned package installed in it. */
static int ensure_installed(const struct agent_def *d, char *dir, size_t n)
{
    const char *cache = getenv("RUNRA_AGENT_CACHE");
    if (!cache || !*cache)
        cache = "/var/cache/runra/agents";
    if ((size_t)snprintf(dir, n, "%s/%s", cache, d->cache) >= n)
        return cli_failf("agent run: cache path too long");
    char manifest[2 * PATH_MAX], exe[2 * PATH_MAX], want[128];
    snprintf(manifest, sizeof(manifest), "%s/node_modules/%s/package.json", dir, d->package);
    snprintf(exe, sizeof(exe), "%s/node_modules/.bin/%s", dir, d->bin);
    snprintf(want, sizeof(want), "\"version\": \"%s\"", d->version);
    FILE *f = fopen(manifest, "re");
    char buf[8192];
    size_t got = f ? fread(buf, 1, sizeof(buf) - 1, f) : 0;
    if (f)
        fclose(f);
    buf[got] = 0;
    if (strstr(buf, want) && access(exe, X_OK) == 0)
        return 0;
    char spec[256];
    snprintf(spec, sizeof(spec), "%s@%s", d->package, d->version);
    fprintf(stderr, "runra: installing %s into %s (once)\n", spec, dir);
    char mk[PATH_MAX + 16];
    snprintf(mk, sizeof(mk), "%s", dir);
    for (char *p = mk + 1; *p; p++)
        if (*p == '/') {
            *p = 0;
            mkdir(mk, 0755);
            *p = '/';
        }
    mkdir(mk, 0755);
    char *argv[] = { "npm", "install", "--prefix", dir, "--no-audit", "--no-fund",
                     "--loglevel=error", spec, NULL };
    int r = run_child(argv, NULL, NULL, true);
    if (r < 0)
        return cli_failf("agent run: cannot run npm to install %s: %s", spec, strerror(-r));
    if (r != 0 || access(exe, X_OK) != 0)
        return cli_failf("agent run: npm could not install %s (exit %d)", spec, r);
    return 0;
}

/* ---- credentials, network ------------------------------------------------ */

/* "host[:port]" of an http(s) URL, as an allow rule. */
static int url_rule(const char *url, char *out, size_t n)
{
    const char *p = strstr(url, "://");
    bool https = !strncmp(url, "https://", 8);
    if (!p || (!https && strncmp(url, "http://", 7)))
        return -EINVAL;
    p += 3;
    size_t len = strcspn(p, "/?#");
    const char *at = memchr(p, '@', len);
    if (at) {
        len -= (size_t)(at + 1 - p);
        p = at + 1;
    }
    if (len == 0 || len >= n)
        return -EINVAL;
    bool has_port = false;
    if (p[0] == '[') {
        const char *close = memchr(p, ']', len);
        has_port = close && close + 1 < p + len && close[1] == ':';
    } else {
        has_port = memchr(p, ':', len) != NULL;
    }
    if (has_port)
        snprintf(out, n, "%.*s", (int)len, p);
    else
        snprintf(out, n, "%.*s:%d", (int)len, p, https ? 443 : 80);
    return 0;
}

struct kvs {
    struct runra_kv v[16];
    size_t n;
};

static void kvs_put(struct kvs *k, const char *key, const char *value)
{
    if (k->n < ARRAY_SIZE(k->v))
        k->v[k->n++] = (struct runra_kv){ (char *)key, (char *)value };
}

/* ---- files the agents read ------------------------------------------------ */

static char *toml_str(const char *s)
{
    /* A JSON string is a valid TOML basic string. */
    json_t *j = json_string(s);
    char *out = j ? json_dumps(j, JSON_ENCODE_ANY) : NULL;
    json_decref(j);
    return out;
}

/* Codex's config.toml: one provider (the base URL, Responses API, the key's
 * variable) and, in mcp mode, runra's MCP server and no built-in tools. */
static char *codex_config(const char *model, const char *base_url, const char *const *mcp_argv)
{
    char *out = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&out, &len);
    if (!f)
        return NULL;
    char *m = toml_str(model ? model : "gpt-4.1"), *u = toml_str(base_url);
    fprintf(f, "model = %s\nmodel_provider = \"runra\"\ncheck_for_update_on_startup = false\n",
            m ? m : "\"\"");
    if (mcp_argv)
        fputs("web_search = \"disabled\"\n", f);
    fputs("\n[features]\nplugins = false\n", f);
    if (mcp_argv)
        fputs("shell_tool = false\nunified_exec = false\nview_image = false\ngoals = false\n", f);
    fprintf(f, "\n[agents]\nenabled = false\n\n[analytics]\nenabled = false\n\n"
               "[model_providers.runra]\nname = \"runra\"\nbase_url = %s\n"
               "env_key = \"OPENAI_API_KEY\"\nwire_api = \"responses\"\n",
            u ? u : "\"\"");
    if (mcp_argv) {
        char *cmd = toml_str(mcp_argv[0]);
        fprintf(f, "\n[mcp_servers.%s]\ncommand = %s\nargs = [", MCP_SERVER, cmd ? cmd : "\"\"");
        free(cmd);
        for (size_t i = 1; mcp_argv[i]; i++) {
            char *s = toml_str(mcp_argv[i]);
            fprintf(f, "%s%s", i > 1 ? ", " : "", s ? s : "\"\"");
            free(s);
        }
        fputs("]\n", f);
    }
    free(m);
    free(u);
    fclose(f);
    return out;
}

/* OpenCode's opencode.json: an OpenAI-compatible provider at the base URL;
 * in mcp mode, runra's MCP server and every other tool off. */
static char *opencode_config(const char *model, const char *base_url, const char *key,
                             const char *const *mcp_argv)
{
    const char *mname = model ? model : "gpt-4.1";
    char full[256];
    snprintf(full, sizeof(full), "runra/%s", mname);
    json_t *models = json_object();
    json_object_set_new(models, mname, json_pack("{s:s,s:b}", "name", mname, "tool_call", 1));
    json_t *cfg = json_pack(
        "{s:s,s:{s:{s:s,s:s,s:{s:s,s:s},s:o}},s:s,s:s,s:b,s:s}", "$schema",
        "https://opencode.ai/config.json", "provider", "runra", "npm", "@ai-sdk/openai-compatible",
        "name", "runra", "options", "baseURL", base_url, "apiKey",
        key ? "{env:OPENAI_API_KEY}" : "none", "models", models, "model", full, "small_model",
        full, "autoupdate", 0, "share", "disabled");
    if (!cfg)
        return NULL;
    if (!mcp_argv) {
        json_object_set_new(cfg, "permission", json_string("allow"));
    } else {
        json_t *cmd = json_array();
        for (size_t i = 0; mcp_argv[i]; i++)
            json_array_append_new(cmd, json_string(mcp_argv[i]));
        json_object_set_new(cfg, "mcp", json_pack("{s:{s:s,s:o,s:b}}", MCP_SERVER, "type",
                                                   "local", "command", cmd, "enabled", 1));
        json_object_set_new(cfg, "tools", json_pack("{s:b,s:b}", "*", 0, MCP_SERVER "_*", 1));
    }
    char *out = json_dumps(cfg, JSON_INDENT(2));
    json_decref(cfg);
    return out;
}

/* OpenCode installs its plugin package into each config dir from npm
 * unless a lock file already lists it. */
static const char opencode_lock[] =
    "{\"lockfileVersion\":3,\"packages\":{\"\":{\"dependencies\":"
    "{\"@opencode-ai/plugin\":\"1.18.33\"}}}}\n";

/* ---- the agent's command line -------------------------------------------- */

struct cmdline {
    const char *argv[24];
    size_t n;
};

static void push(struct cmdline *c, const char *s)
{
    if (c->n + 1 < ARRAY_SIZE(c->argv))
        c->argv[c->n++] = s;
    c->argv[c->n] = NULL;
}

static void agent_argv(const struct agent_args *a, const char *exe, const char *mcp_config,
                       struct cmdline *c)
{
    push(c, exe);
    if (!strcmp(a->def->name, "claude-code")) {
        push(c, "-p");
        push(c, a->task);
        push(c, "--output-format");
        push(c, "stream-json");
        push(c, "--verbose");
        if (!mcp_config) {
            push(c, "--dangerously-skip-permissions");
        } else {
            /* Only runra's tools exist, and all of them may run unasked. */
            push(c, "--allowedTools");
            push(c, "mcp__" MCP_SERVER);
        }
        if (a->model) {
            push(c, "--model");
            push(c, a->model);
        }
        if (mcp_config) {
            push(c, "--mcp-config");
            push(c, mcp_config);
            push(c, "--strict-mcp-config");
            push(c, "--tools");
            push(c, "");
        }
    } else if (!strcmp(a->def->name, "codex")) {
        push(c, "exec");
        push(c, "--skip-git-repo-check");
        push(c, "--json");
        /* runra is the sandbox: Codex's own and its approvals are off. */
        push(c, "--dangerously-bypass-approvals-and-sandbox");
        push(c, "--");
        push(c, a->task);
    } else {
        push(c, "run");
        push(c, "--format");
        push(c, "json");
        push(c, "--");
        push(c, a->task);
    }
}

/* ---- the two modes ------------------------------------------------------- */

static int write_file(runra_client *c, const char *id, const char *path, const char *text)
{
    struct runra_error *e = NULL;
    struct runra_write_opts wo = { .mode = 0600 };
    /* Parents first (mkdir -p through the file API). */
    char dir[PATH_MAX];
    snprintf(dir, sizeof(dir), "%s", path);
    char *slash = strrchr(dir, '/');
    if (slash && slash != dir) {
        *slash = 0;
        struct runra_exec_opts mo = { .argv = (const char *const[]){ "mkdir", "-p", dir, NULL } };
        struct runra_exec_result *x = NULL;
        if (runra_sandbox_exec(c, id, &mo, &x, &e) < 0) {
            int r = cli_fail(e, "agent run: mkdir %s", dir);
            runra_error_free(e);
            return r;
        }
        runra_exec_result_free(x);
    }
    if (runra_file_write(c, id, path, text, strlen(text), &wo, NULL, &e) < 0) {
        int r = cli_fail(e, "agent run: write %s", path);
        runra_error_free(e);
        return r;
    }
    return 0;
}

static int exit_code_of(const struct runra_exec_result *x)
{
    if (x->exit_code >= 0 && x->exit_code <= 255)
        return x->exit_code;
    return x->signal > 0 ? 128 + x->signal : CLI_FAIL;
}

static int run_inside(runra_client *c, const char *id, const struct agent_args *a,
                      const char *base_url, const char *key_var, const char *key)
{
    char exe[PATH_MAX];
    snprintf(exe, sizeof(exe), AGENT_DIR "/node_modules/.bin/%s", a->def->bin);
    struct kvs env = { 0 };
    kvs_put(&env, "PATH", AGENT_DIR "/node_modules/.bin:/usr/local/sbin:/usr/local/bin:"
                          "/usr/sbin:/usr/bin:/sbin:/bin");
    kvs_put(&env, "HOME", "/root");
    kvs_put(&env, "LANG", "C.UTF-8");
    kvs_put(&env, "TERM", "dumb");
    kvs_put(&env, "NO_COLOR", "1");
    if (!strcmp(a->def->name, "claude-code")) {
        kvs_put(&env, "ANTHROPIC_BASE_URL", base_url);
        kvs_put(&env, "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC", "1");
        kvs_put(&env, "DISABLE_AUTOUPDATER", "1");
        kvs_put(&env, "IS_SANDBOX", "1"); /* it runs as the sandbox's root */
    } else if (!strcmp(a->def->name, "codex")) {
        kvs_put(&env, "CODEX_HOME", "/root/.codex");
        if (a->codex_native) {
            /* What the launcher would have set before its exec. */
            snprintf(exe, sizeof(exe), AGENT_DIR "/" CODEX_NATIVE);
            kvs_put(&env, "CODEX_MANAGED_PACKAGE_ROOT", AGENT_DIR "/node_modules/@openai/codex");
            kvs_put(&env, "CODEX_MANAGED_BY_NPM", "1");
        }
        char *cfg = codex_config(a->model, base_url, NULL);
        int r = cfg ? write_file(c, id, "/root/.codex/config.toml", cfg) : CLI_FAIL;
        free(cfg);
        if (r != 0)
            return CLI_FAIL;
    } else {
        kvs_put(&env, "XDG_CONFIG_HOME", "/root/.config");
        kvs_put(&env, "OPENCODE_DISABLE_MODELS_FETCH", "1");
        kvs_put(&env, "OPENCODE_DISABLE_AUTOUPDATE", "1");
        kvs_put(&env, "OPENCODE_DISABLE_LSP_DOWNLOAD", "1");
        char *cfg = opencode_config(a->model, base_url, key, NULL);
        int r = cfg ? write_file(c, id, "/root/.config/opencode/opencode.json", cfg) : CLI_FAIL;
        free(cfg);
        if (r == 0)
            r = write_file(c, id, "/root/.config/opencode/package-lock.json", opencode_lock);
        if (r == 0)
            r = write_file(c, id, "/root/.config/opencode/node_modules/.keep", "");
        if (r != 0)
            return CLI_FAIL;
    }
    (void)key_var;
    struct cmdline cl = { 0 };
    agent_argv(a, exe, NULL, &cl);
    struct runra_exec_opts o = {
        .argv = cl.argv,
        .env = env.v,
        .n_env = env.n,
        .cwd = "/workspace",
        /* The agent's own bound; a sandbox lifetime ends it anyway. */
        .timeout_ms = a->timeout_ms ? a->timeout_ms : 7ull * 24 * 3600 * 1000,
    };
    struct runra_exec_result *x = NULL;
    struct runra_error *e = NULL;
    runra_client_set_cancel(c, cli_signal_cancel, NULL);
    int sr = cli_exec_stream(c, id, &o, &x, &e);
    runra_client_set_cancel(c, NULL, NULL);
    if (cli_signal_caught()) {
        runra_error_free(e);
        runra_exec_result_free(x);
        return 128 + cli_signal_caught();
    }
    if (sr < 0) {
        int r = cli_fail(e, "agent run: %s", a->def->name);
        runra_error_free(e);
        return r;
    }
    int code = exit_code_of(x);
    if (x->timed_out)
        fprintf(stderr, "runra: %s ran out of time\n", a->def->name);
    runra_exec_result_free(x);
    return code;
}

/* The agent on the host, with runra's MCP server as its only tools. */
static int run_mcp(struct cli *cli, runra_client *c, const char *id, const struct agent_args *a,
                   const char *cache_dir, const char *base_url, const char *key)
{
    (void)cli;
    char self[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
    if (n < 0)
        return cli_failf("agent run: cannot find runra itself: %s", strerror(errno));
    self[n] = 0;
    const char *ep = runra_client_endpoint(c);
    bool unix_ep = ep && ep[0] == '/';
    const char *mcp_argv[] = { self, "mcp", "--sandbox", id, unix_ep ? "--socket" : NULL,
                               unix_ep ? ep : NULL, NULL };
    /* Not /tmp: Codex refuses to set itself up under a temporary dir. */
    char tmp[] = "/var/tmp/runra-agent-XXXXXX";
    if (!mkdtemp(tmp))
        return cli_failf("agent run: temp dir: %s", strerror(errno));
    char exe[2 * PATH_MAX], cfgpath[PATH_MAX + 64], dirpath[PATH_MAX + 64];
    snprintf(exe, sizeof(exe), "%s/node_modules/.bin/%s", cache_dir, a->def->bin);
    /* Our environment (the agent's credentials among it), plus its files. */
    size_t ne = 0;
    while (environ[ne])
        ne++;
    char **env = calloc(ne + 16, sizeof(*env));
    if (!env)
        return cli_failf("agent run: out of memory");
    size_t k = 0;
    for (size_t i = 0; i < ne; i++)
        env[k++] = environ[i];
    char *owned[8] = { 0 };
    size_t no = 0;
    int r = 0;
    const char *mcp_config = NULL;
    char *text = NULL;
    if (!strcmp(a->def->name, "claude-code")) {
        snprintf(cfgpath, sizeof(cfgpath), "%s/mcp.json", tmp);
        json_t *args = json_array();
        for (size_t i = 1; mcp_argv[i]; i++)
            json_array_append_new(args, json_string(mcp_argv[i]));
        json_t *j = json_pack("{s:{s:{s:s,s:s,s:o}}}", "mcpServers", MCP_SERVER, "type", "stdio",
                              "command", self, "args", args);
        text = j ? json_dumps(j, JSON_COMPACT) : NULL;
        json_decref(j);
        mcp_config = cfgpath;
        env[k++] = "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC=1";
        env[k++] = "DISABLE_AUTOUPDATER=1";
        env[k++] = "ENABLE_TOOL_SEARCH=false";
    } else if (!strcmp(a->def->name, "codex")) {
        snprintf(cfgpath, sizeof(cfgpath), "%s/config.toml", tmp);
        text = codex_config(a->model, base_url, mcp_argv);
        if (asprintf(&owned[no], "CODEX_HOME=%s", tmp) >= 0)
            env[k++] = owned[no++];
    } else {
        snprintf(dirpath, sizeof(dirpath), "%s/opencode", tmp);
        mkdir(dirpath, 0700);
        snprintf(cfgpath, sizeof(cfgpath), "%s/opencode/opencode.json", tmp);
        text = opencode_config(a->model, base_url, key, mcp_argv);
        char lock[2 * PATH_MAX], nm[2 * PATH_MAX];
        snprintf(lock, sizeof(lock), "%s/package-lock.json", dirpath);
        snprintf(nm, sizeof(nm), "%s/node_modules", dirpath);
        mkdir(nm, 0700);
        FILE *lf = fopen(lock, "we");
        if (lf) {
            fputs(opencode_lock, lf);
            fclose(lf);
        }
        if (asprintf(&owned[no], "XDG_CONFIG_HOME=%s", tmp) >= 0)
            env[k++] = owned[no++];
        env[k++] = "OPENCODE_DISABLE_MODELS_FETCH=1";
        env[k++] = "OPENCODE_DISABLE_AUTOUPDATE=1";
        env[k++] = "OPENCODE_DISABLE_LSP_DOWNLOAD=1";
    }
    env[k] = NULL;
    FILE *f = text ? fopen(cfgpath, "we") : NULL;
    if (!f || fputs(text, f) < 0) {
        r = cli_failf("agent run: write %s", cfgpath);
    }
    if (f && fclose(f) != 0 && r == 0)
        r = cli_failf("agent run: write %s", cfgpath);
    free(text);
    if (r == 0) {
        struct cmdline cl = { 0 };
        agent_argv(a, exe, mcp_config, &cl);
        /* Its built-in tools are off, so where it runs changes nothing; the
         * temp dir keeps its scratch files out of the user's directory. */
        r = run_child((char *const *)cl.argv, env, tmp, false);
        if (r < 0)
            r = cli_failf("agent run: cannot start %s: %s", exe, strerror(-r));
    }
    for (size_t i = 0; i < no; i++)
        free(owned[i]);
    free(env);
    char *rm[] = { "rm", "-rf", tmp, NULL };
    run_child(rm, NULL, NULL, true);
    return r;
}

int cmd_agent(struct cli *cli, int argc, char **argv)
{
    struct agent_args a;
    struct cli_common co = { 0 };
    _cleanup_err_ struct runra_err *perr = NULL;
    if (parse(argc, argv, &a, &co, &perr) < 0)
        return cli_usage_error("agent", perr->msg);
    if (co.help) {
        fputs(cli_usage_agent, stdout);
        return CLI_OK;
    }
    cli_apply_common(cli, &co);
    /* From here a ^C ends the agent and still destroys the sandbox. */
    cli_catch_signals();

    /* Credentials come from our environment, and only these. */
    const char *key_var = NULL, *key = NULL;
    for (size_t i = 0; i < 2 && !key; i++)
        if (a.def->key_vars[i] && (key = getenv(a.def->key_vars[i])) && *key)
            key_var = a.def->key_vars[i];
        else
            key = NULL;
    if (!key)
        return cli_failf("agent run: set %s for %s", a.def->key_vars[0], a.def->name);
    const char *base_url = getenv(a.def->url_var);
    if (!base_url || !*base_url)
        base_url = a.def->url_default;
    char model_rule[512];
    if (url_rule(base_url, model_rule, sizeof(model_rule)) < 0)
        return cli_failf("agent run: %s '%s' is not an http(s) URL", a.def->url_var, base_url);

    char cache_dir[PATH_MAX];
    if (ensure_installed(a.def, cache_dir, sizeof(cache_dir)) != 0)
        return CLI_FAIL;
    if (!strcmp(a.def->name, "codex") && CODEX_NATIVE[0]) {
        char native[PATH_MAX + sizeof(CODEX_NATIVE) + 1];
        snprintf(native, sizeof(native), "%s/" CODEX_NATIVE, cache_dir);
        a.codex_native = access(native, X_OK) == 0;
    }
    char workdir[PATH_MAX];
    if (!realpath(a.workdir ? a.workdir : ".", workdir))
        return cli_failf("agent run: workdir '%s': %s", a.workdir ? a.workdir : ".",
                         strerror(errno));

    runra_client *c;
    if (cli_client(cli, &c) < 0)
        return CLI_FAIL;
    struct runra_error *e = NULL;
    char *made = NULL;
    const char *id = a.sandbox;
    if (!id) {
        /* The model API's host is reachable from the sandbox only when the
         * agent runs there; in mcp mode the agent (here) calls it. */
        const char *allow[ALLOW_MAX + 2];
        size_t na = 0;
        if (!a.mcp)
            allow[na++] = model_rule;
        for (size_t i = 0; i < a.nallow; i++)
            allow[na++] = a.allow[i];
        allow[na] = NULL;
        struct runra_mount mounts[2] = {
            { .source = workdir, .target = "/workspace" },
            { .source = cache_dir, .target = AGENT_DIR, .read_only = true },
        };
        struct kvs secrets = { 0 };
        if (!a.mcp)
            kvs_put(&secrets, key_var, key);
        struct runra_kv meta[] = { { (char *)"runra.agent", (char *)a.def->name } };
        struct runra_sandbox_spec spec = {
            .image = a.image,
            /* The project is at /workspace whatever the image's WorkingDir
             * says, and the agent works there. */
            .workdir = "/workspace",
            .resources = { .cpu = a.cpu, .memory_mb = a.memory_mb },
            .timeout_ms = a.timeout_ms,
            .metadata = meta,
            .n_metadata = 1,
            .network = { .mode = na ? "allowlist" : NULL, .allow = na ? allow : NULL },
            .secrets = secrets.v,
            .n_secrets = secrets.n,
            .mounts = mounts,
            .n_mounts = a.mcp ? 1 : 2,
        };
        struct runra_sandbox *sb = NULL;
        if (runra_sandbox_create(c, &spec, &sb, &e) < 0) {
            int r = cli_fail(e, "agent run: create a sandbox");
            runra_error_free(e);
            return r;
        }
        made = strdup(sb->id);
        runra_sandbox_free(sb);
        if (!made)
            return cli_failf("agent run: out of memory");
        id = made;
    } else if (!a.mcp) {
        /* An existing sandbox was made without the agent's package (mounts
         * are made at create), so the agent works on it through its tools. */
        fprintf(stderr, "runra: sandbox %s was not made for the agent; running %s here with "
                        "the sandbox's tools (--mode mcp)\n", id, a.def->name);
        a.mcp = true;
    }
    int code = cli_signal_caught() ? 128 + cli_signal_caught()
               : a.mcp              ? run_mcp(cli, c, id, &a, cache_dir, base_url, key)
                                    : run_inside(c, id, &a, base_url, key_var, key);
    if (cli_signal_caught() && code >= 0 && code < 128)
        code = 128 + cli_signal_caught();
    if (made) {
        if (a.keep) {
            fprintf(stderr, "runra: kept sandbox %s\n", made);
            printf("%s\n", made);
        } else if (runra_sandbox_destroy(c, made, &e) < 0) {
            cli_fail(e, "agent run: destroy %s", made);
            runra_error_free(e);
        }
        free(made);
    }
    return code;
}
