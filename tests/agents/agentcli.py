"""How to run each agent CLI non-interactively against the mock model.

For every agent this builds the argv, the environment and the config files
that make it talk only to the mock (127.0.0.1), keep its state in a scratch
home, run tools without asking, and optionally see nothing but one MCP
server's tools. tests/agents/README.md explains each choice; the tests and,
later, `runra agent run` tests share this module so the recipes live once.
"""

import json
import os
import pathlib
import signal
import subprocess
import time

HERE = pathlib.Path(__file__).resolve().parent
TOP = HERE.parent.parent
AGENTS_SH = TOP / "scripts" / "agents.sh"
MODEL = "mock-model"
API_KEY = "sk-mock-not-a-secret"

# Tool names each agent's model sees, by role. Patterns are full-match
# regular expressions tried in order (see mockmodel.tool).
SHELL_TOOL = {
    "claude": ["Bash"],
    # Codex 0.171 offers unified exec (exec_command); older or
    # differently-configured builds offer shell_command or shell.
    "codex": ["exec_command", "shell_command", "shell", "local_shell"],
    "opencode": ["bash"],
}
MCP_TOOL = {
    "claude": ["mcp__{server}__{tool}"],
    # Codex groups an MCP server's tools in a namespace "mcp__SERVER"; the
    # mock lists them as mcp__SERVER__TOOL.
    "codex": ["mcp__{server}__{tool}"],
    "opencode": ["{server}_{tool}"],
}
# Built-in tools that must be absent when an agent is limited to MCP.
BUILTIN_TOOLS = {
    "claude": {"Bash", "Write", "Edit", "Read", "Glob", "Grep", "Agent",
               "WebFetch", "NotebookEdit"},
    "codex": {"exec_command", "write_stdin", "shell", "shell_command",
              "local_shell", "apply_patch", "web_search", "view_image"},
    "opencode": {"bash", "write", "edit", "read", "glob", "grep", "task",
                 "webfetch", "patch", "apply_patch"},
}


def shell_input(command):
    """A mock tool input that adapts to the shell tool's schema."""

    def build(name, tool_def):
        if name == "local_shell":
            return {"command": ["bash", "-lc", command]}
        params = tool_def.get("input_schema") or tool_def.get("parameters") \
            or (tool_def.get("function") or {}).get("parameters") or {}
        props = params.get("properties") or {}
        if "cmd" in props:
            return {"cmd": command}
        if (props.get("command") or {}).get("type") == "array":
            return {"command": ["bash", "-lc", command]}
        out = {"command": command}
        if "description" in props:
            out["description"] = "Run a shell command"
        return out

    return build


def install(names=("claude", "codex", "opencode"), timeout=900):
    """Run scripts/agents.sh; return ({name: path}, error text or None)."""
    try:
        p = subprocess.run(["bash", str(AGENTS_SH), *names], stdin=subprocess.DEVNULL,
                           capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return {}, "scripts/agents.sh timed out after %d s" % timeout
    except OSError as e:
        return {}, "cannot run scripts/agents.sh: %s" % e
    paths = {}
    for line in p.stdout.splitlines():
        name, _, path = line.partition(" ")
        if path and os.access(path, os.X_OK):
            paths[name] = path
    err = None
    if p.returncode != 0:
        err = "scripts/agents.sh failed (exit %d): %s" % (
            p.returncode, p.stderr.strip()[-1500:])
    return paths, err


def base_env(home):
    """A scrubbed environment whose home and XDG dirs are all under HOME."""
    home = pathlib.Path(home)
    env = {
        "PATH": "/usr/local/bin:/usr/bin:/bin",
        "HOME": str(home),
        "XDG_CONFIG_HOME": str(home / ".config"),
        "XDG_CACHE_HOME": str(home / ".cache"),
        "XDG_DATA_HOME": str(home / ".local" / "share"),
        "XDG_STATE_HOME": str(home / ".local" / "state"),
        "LANG": "C.UTF-8",
        "TERM": "dumb",
        "NO_COLOR": "1",
    }
    for d in ("XDG_CONFIG_HOME", "XDG_CACHE_HOME", "XDG_DATA_HOME", "XDG_STATE_HOME"):
        pathlib.Path(env[d]).mkdir(parents=True, exist_ok=True)
    return env


def mcp_stdio_server(name, command, args=(), env=None):
    """Describe one stdio MCP server in an agent-neutral way."""
    return {"name": name, "command": command, "args": list(args), "env": dict(env or {})}


# ---------------------------------------------------------------------------
# Per-agent recipes. Each returns (argv, env); files go under HOME.


def claude(exe, base_url, task, home, mcp=None):
    env = base_env(home)
    env.update({
        "ANTHROPIC_BASE_URL": base_url,
        "ANTHROPIC_API_KEY": API_KEY,
        # No telemetry, error reporting, update checks or other calls to
        # anything but ANTHROPIC_BASE_URL.
        "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC": "1",
        "DISABLE_AUTOUPDATER": "1",
        # A failed request is a test failure; do not back off and retry.
        "CLAUDE_CODE_MAX_RETRIES": "0",
    })
    if os.geteuid() == 0:
        # --dangerously-skip-permissions refuses to run as root otherwise.
        env["IS_SANDBOX"] = "1"
    argv = [exe, "-p", task, "--output-format", "stream-json", "--verbose",
            "--dangerously-skip-permissions", "--model", MODEL]
    if mcp is not None:
        cfg = pathlib.Path(home) / "mcp.json"
        cfg.write_text(json.dumps({"mcpServers": {mcp["name"]: {
            "type": "stdio", "command": mcp["command"], "args": mcp["args"],
            "env": mcp["env"]}}}))
        # Only the servers in --mcp-config, and no built-in tools at all.
        argv += ["--mcp-config", str(cfg), "--strict-mcp-config", "--tools", ""]
        # Send MCP tool schemas up front instead of behind ToolSearch, which
        # Claude Code may otherwise use when MCP tools are many.
        env["ENABLE_TOOL_SEARCH"] = "false"
    return argv, env


def _toml_str(s):
    return json.dumps(str(s))  # a JSON string is a valid TOML basic string


def codex(exe, base_url, task, home, mcp=None):
    env = base_env(home)
    codex_home = pathlib.Path(home) / ".codex"
    codex_home.mkdir(parents=True, exist_ok=True)
    env["CODEX_HOME"] = str(codex_home)
    env["MOCK_API_KEY"] = API_KEY
    lines = [
        "model = %s" % _toml_str(MODEL),
        'model_provider = "mock"',
        "check_for_update_on_startup = false",
    ]
    if mcp is not None:
        lines.append('web_search = "disabled"')
    lines += [
        "",
        "[features]",
        # Plugins sync a marketplace from github.com at startup.
        "plugins = false",
    ]
    if mcp is not None:
        # Without these the model gets no shell (exec_command/write_stdin),
        # no image viewer and no goal tools; web_search is off above.
        lines += ["shell_tool = false", "unified_exec = false",
                  "view_image = false", "goals = false"]
    lines += [
        "",
        "[agents]",
        "enabled = false",
        "",
        "[analytics]",
        # Analytics events go to chatgpt.com otherwise.
        "enabled = false",
        "",
        "[model_providers.mock]",
        'name = "mock"',
        "base_url = %s" % _toml_str(base_url + "/v1"),
        'env_key = "MOCK_API_KEY"',
        'wire_api = "responses"',
        "request_max_retries = 0",
        "stream_max_retries = 0",
    ]
    if mcp is not None:
        lines += ["", "[mcp_servers.%s]" % mcp["name"],
                  "command = %s" % _toml_str(mcp["command"]),
                  "args = [%s]" % ", ".join(_toml_str(a) for a in mcp["args"])]
        if mcp["env"]:
            lines.append("env = { %s }" % ", ".join(
                "%s = %s" % (k, _toml_str(v)) for k, v in mcp["env"].items()))
    (codex_home / "config.toml").write_text("\n".join(lines) + "\n")
    argv = [exe, "exec", "--skip-git-repo-check", "--json",
            # runra is the sandbox; Codex's own (bwrap) sandbox and its
            # approval prompts are both off.
            "--dangerously-bypass-approvals-and-sandbox", task]
    return argv, env


OPENCODE_VERSION = "1.18.33"


def opencode(exe, base_url, task, home, mcp=None):
    env = base_env(home)
    env.update({
        # Skip fetching the models.dev catalogue (the built-in snapshot is used).
        "OPENCODE_DISABLE_MODELS_FETCH": "1",
        "OPENCODE_DISABLE_AUTOUPDATE": "1",
        "OPENCODE_DISABLE_LSP_DOWNLOAD": "1",
    })
    confdir = pathlib.Path(env["XDG_CONFIG_HOME"]) / "opencode"
    confdir.mkdir(parents=True, exist_ok=True)
    # OpenCode installs @opencode-ai/plugin into every config directory it
    # reads, in the background, from the npm registry, unless node_modules/
    # exists and package-lock.json already lists it. Nothing here uses
    # plugins, so a lock that lists it is enough to keep the run offline.
    (confdir / "node_modules").mkdir(exist_ok=True)
    (confdir / "package-lock.json").write_text(json.dumps({
        "lockfileVersion": 3, "packages": {"": {"dependencies": {
            "@opencode-ai/plugin": OPENCODE_VERSION}}}}))
    cfg = {
        "$schema": "https://opencode.ai/config.json",
        "provider": {"mock": {
            "npm": "@ai-sdk/openai-compatible",
            "name": "Mock",
            "options": {"baseURL": base_url + "/v1", "apiKey": API_KEY},
            "models": {MODEL: {"name": MODEL, "tool_call": True}},
        }},
        "model": "mock/" + MODEL,
        "small_model": "mock/" + MODEL,
        "autoupdate": False,
        "share": "disabled",
    }
    if mcp is None:
        cfg["permission"] = "allow"
    else:
        cfg["mcp"] = {mcp["name"]: {
            "type": "local", "command": [mcp["command"], *mcp["args"]],
            "environment": mcp["env"], "enabled": True}}
        # Every tool off except this server's ("SERVER_TOOL").
        cfg["tools"] = {"*": False, mcp["name"] + "_*": True}
    (confdir / "opencode.json").write_text(json.dumps(cfg, indent=2))
    argv = [exe, "run", "--format", "json", task]
    return argv, env


RECIPES = {"claude": claude, "codex": codex, "opencode": opencode}


class Result:
    def __init__(self, returncode, stdout, stderr, elapsed, killed_reason=None):
        self.returncode = returncode
        self.stdout = stdout
        self.stderr = stderr
        self.elapsed = elapsed
        self.killed_reason = killed_reason

    def describe(self, limit=4000):
        return "exit=%s elapsed=%.1fs killed=%s\n--- stdout ---\n%s\n--- stderr ---\n%s" % (
            self.returncode, self.elapsed, self.killed_reason,
            self.stdout[-limit:], self.stderr[-limit:])


def run(argv, env, cwd, mock=None, timeout=120, grace=3.0):
    """Run an agent with stdin from /dev/null; stop it early if the mock failed.

    The agent runs in its own process group so that it and everything it
    started (MCP servers, shells) are stopped together.
    """
    cwd = pathlib.Path(cwd)
    out_path = cwd.parent / (cwd.name + ".stdout")
    err_path = cwd.parent / (cwd.name + ".stderr")
    start = time.monotonic()
    killed = None
    with open(out_path, "wb") as out, open(err_path, "wb") as err:
        proc = subprocess.Popen(argv, cwd=str(cwd), env=env, stdin=subprocess.DEVNULL,
                                stdout=out, stderr=err, start_new_session=True)
        error_seen = None
        try:
            while proc.poll() is None:
                now = time.monotonic()
                if now - start > timeout:
                    killed = "timeout after %d s" % timeout
                    break
                if mock is not None and mock.errors:
                    error_seen = error_seen or now
                    if now - error_seen > grace:
                        killed = "mock error: " + mock.errors[0]
                        break
                time.sleep(0.1)
        finally:
            if proc.poll() is None:
                try:
                    os.killpg(proc.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            proc.wait()
        # Reap the rest of the group (e.g. an MCP server left behind).
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
    return Result(proc.returncode, out_path.read_text(errors="replace"),
                  err_path.read_text(errors="replace"), time.monotonic() - start,
                  killed)
