"""Code search: POST /v1/sandboxes/{id}/search runs inside the sandbox.
Matches with line and column, context, ignoreCase, globs, .gitignore,
.git and node_modules skipped unless noIgnore, binary files skipped, limits
that set truncated, bad regexes and paths, symlink loops, unicode; and the
`runra search` command."""

import json
import os
import subprocess

import pytest

BUILD_DIR = os.path.realpath(
    os.environ.get("RUNRA_BUILD_DIR", os.path.join(os.path.dirname(__file__), "..", "..", "build")))
RUNRA = os.path.join(BUILD_DIR, "src", "cli", "runra")

TREE = r"""
set -e
rm -rf /workspace/s && mkdir -p /workspace/s && cd /workspace/s
mkdir -p src/sub .git node_modules/pkg build logs
printf 'int main(void)\n{\n    return needle(1);\n}\n' > src/main.c
printf 'alpha\nbeta\nNEEDLE upper\ngamma\ndelta\n' > src/sub/notes.txt
printf 'needle in js\n' > src/app.js
printf 'needle in git\n' > .git/config
printf 'needle in node_modules\n' > node_modules/pkg/index.js
printf 'needle in build\n' > build/out.txt
printf 'needle in log\n' > logs/a.log
printf 'needle kept log\n' > logs/keep.log
printf 'build/\n*.log\n!keep.log\n' > .gitignore
printf 'needle\0binary\n' > src/blob.bin
printf 'caf\303\251 needle \342\234\223\n' > src/uni.txt
ln -s .. src/loop
ln -s /workspace/s src/sub/loop2
"""


@pytest.fixture(scope="module")
def tree(client, sandbox):
    client.sh(sandbox, TREE)
    return sandbox


def search(client, sid, **body):
    return client.post(f"/v1/sandboxes/{sid}/search", body)


def ok(client, sid, **body):
    r = search(client, sid, **body)
    assert r.status == 200, r
    return r.json()


def paths(res):
    return sorted({m["path"] for m in res["matches"]})


def test_basic_line_and_column(client, tree):
    res = ok(client, tree, pattern="needle", path="s/src/main.c")
    assert res["matches"] == [{"path": "s/src/main.c", "line": 3, "column": 12,
                               "text": "    return needle(1);"}]
    assert res["truncated"] is False and res["filesSearched"] == 1


def test_ignores_and_binary(client, tree):
    res = ok(client, tree, pattern="needle", path="/workspace/s")
    assert paths(res) == ["/workspace/s/logs/keep.log", "/workspace/s/src/app.js",
                          "/workspace/s/src/main.c", "/workspace/s/src/uni.txt"]


def test_no_ignore_includes_everything_but_binary(client, tree):
    res = ok(client, tree, pattern="needle", path="s", noIgnore=True)
    got = paths(res)
    for p in ["s/.git/config", "s/node_modules/pkg/index.js", "s/build/out.txt", "s/logs/a.log"]:
        assert p in got
    assert "s/src/blob.bin" not in got


def test_ignore_case_and_context(client, tree):
    res = ok(client, tree, pattern="needle", path="s/src/sub", ignoreCase=True, contextLines=2)
    assert res["matches"] == [{"path": "s/src/sub/notes.txt", "line": 3, "column": 1,
                               "text": "NEEDLE upper", "before": ["alpha", "beta"],
                               "after": ["gamma", "delta"]}]
    assert ok(client, tree, pattern="needle", path="s/src/sub")["matches"] == []


def test_globs(client, tree):
    assert paths(ok(client, tree, pattern="needle", path="s", glob="*.js")) == ["s/src/app.js"]
    got = paths(ok(client, tree, pattern="needle", path="s", glob=["*.c", "*.txt"]))
    assert got == ["s/src/main.c", "s/src/uni.txt"]
    got = paths(ok(client, tree, pattern="needle", path="s", glob=["!src/**"]))
    assert got == ["s/logs/keep.log"]


def test_unicode(client, tree):
    res = ok(client, tree, pattern="café ne+dle ✓", path="s")
    assert len(res["matches"]) == 1
    m = res["matches"][0]
    assert m["text"] == "café needle ✓" and m["column"] == 1


def test_max_results_truncates(client, tree):
    client.sh(tree, "mkdir -p /workspace/many && seq 1 5000 | sed 's/^/hit /' > /workspace/many/f")
    res = ok(client, tree, pattern="^hit", path="/workspace/many", maxResults=10)
    assert len(res["matches"]) == 10 and res["truncated"] is True
    assert [m["line"] for m in res["matches"]] == list(range(1, 11))
    res = ok(client, tree, pattern="^hit", path="/workspace/many", maxResults=100000)
    assert len(res["matches"]) == 5000 and res["truncated"] is False


def test_long_lines_are_cut(client, tree):
    client.sh(tree, "mkdir -p /workspace/long && head -c 100000 /dev/zero | tr '\\0' x > /workspace/long/f && echo >> /workspace/long/f")
    res = ok(client, tree, pattern="x$", path="/workspace/long")
    assert len(res["matches"]) == 1 and len(res["matches"][0]["text"]) == 1024


def test_symlink_loops_do_not_hang(client, tree):
    res = ok(client, tree, pattern="needle", path="s/src", timeoutMs=10000)
    assert res["truncated"] is False


def test_bad_regex(client, tree):
    r = search(client, tree, pattern="a(b")
    assert r.status == 400 and r.error_code == "invalid_argument", r
    assert "offset 3" in r.json()["error"]["message"]


def test_bad_requests(client, tree):
    for body in [{}, {"pattern": ""}, {"pattern": "x", "bogus": 1},
                 {"pattern": "x", "maxResults": 100001}, {"pattern": "x", "contextLines": 99},
                 {"pattern": "x", "glob": 5}, {"pattern": "x", "glob": [1]}]:
        r = client.post(f"/v1/sandboxes/{tree}/search", body)
        assert r.status == 400, (body, r)


def test_missing_paths(client, tree, tmp_path):
    r = search(client, tree, pattern="x", path="/no/such/dir")
    assert r.status == 404, r
    # A host path that exists is not visible inside the sandbox, even via "..".
    host = str(tmp_path)
    r = search(client, tree, pattern="x", path="../../../.." + host)
    assert r.status == 404, r
    r = search(client, "nosuchbox", pattern="x")
    assert r.status == 404, r


def run_cli(daemon, *args):
    return subprocess.run([RUNRA, "--socket", daemon.socket, *args],
                          capture_output=True, text=True, timeout=60)


def test_cli(daemon, tree):
    p = run_cli(daemon, "search", tree, "needle", "s/src")
    assert p.returncode == 0, p.stderr
    lines = sorted(p.stdout.splitlines())
    assert "s/src/main.c:3:12:    return needle(1);" in lines
    p = run_cli(daemon, "search", "-i", "-g", "*.txt", "-C", "1", "--json", tree, "NEEDLE", "s/src")
    assert p.returncode == 0, p.stderr
    res = json.loads(p.stdout)
    assert {m["path"] for m in res["matches"]} == {"s/src/sub/notes.txt", "s/src/uni.txt"}
    p = run_cli(daemon, "search", tree, "nothing-matches-this", "s")
    assert p.returncode == 1 and p.stdout == ""
    p = run_cli(daemon, "search", tree, "a(b")
    assert p.returncode == 2 and "regex" in p.stderr


# .gitignore files above the search root, as git and ripgrep apply them: from
# the root's parent up to the repository's top (the nearest directory with a
# .git), each with patterns relative to its own directory.
ANCESTOR_FILES = {
    # A repository whose top ignores things a search of r/src must skip.
    "r/.git/HEAD": "ref: refs/heads/main\n",
    "r/.gitignore": "*.log\n!keep.log\nbuild/\n/src/top.txt\nsrc/gen/\n",
    "r/src/a.c": "needle a\n",
    "r/src/x.log": "needle x\n",
    "r/src/keep.log": "needle keep\n",
    "r/src/top.txt": "needle top\n",
    "r/src/build/out.c": "needle build\n",
    "r/src/gen/g.c": "needle gen\n",
    "r/src/sub/top.txt": "needle sub top\n",
    "r/src/sub/build/deep.c": "needle deep build\n",
    "r/src/sub/y.log": "needle y\n",
    # A .gitignore between the top and the root: the deeper file decides.
    "r/src/.gitignore": "!y.log\n",
    # Above the repository's top: never applies.
    ".gitignore": "*.md\n",
    "r/src/notes.md": "needle notes\n",
    # No repository anywhere above: ancestors' .gitignore files do not
    # apply (ripgrep's default), the tree's own still do.
    "nogit/.gitignore": "*.txt\n",
    "nogit/sub/a.txt": "needle nogit a\n",
    "nogit/sub/.gitignore": "*.md\n",
    "nogit/sub/b.md": "needle nogit b\n",
    # A repository nested in the searched tree is not governed by the
    # .gitignore files around it.
    "r/src/inner/.git": "gitdir: ../../.git/modules/inner\n",
    "r/src/inner/z.log": "needle inner\n",
}


@pytest.fixture(scope="module")
def ancestors(client, sandbox):
    client.sh(sandbox, "rm -rf /workspace/anc")
    for path, text in ANCESTOR_FILES.items():
        r = client.write(sandbox, "/workspace/anc/" + path, text.encode())
        assert r.status == 200, (path, r)
    return sandbox


def test_gitignore_above_root(client, ancestors):
    res = ok(client, ancestors, pattern="needle", path="/workspace/anc/r/src")
    assert paths(res) == ["/workspace/anc/r/src/a.c", "/workspace/anc/r/src/inner/z.log",
                          "/workspace/anc/r/src/keep.log", "/workspace/anc/r/src/notes.md",
                          "/workspace/anc/r/src/sub/top.txt", "/workspace/anc/r/src/sub/y.log"]


def test_gitignore_above_root_from_deeper(client, ancestors):
    # Two levels down, relative to the workdir: the rules still apply
    # relative to each .gitignore's own directory.
    res = ok(client, ancestors, pattern="needle", path="anc/r/src/sub")
    assert paths(res) == ["anc/r/src/sub/top.txt", "anc/r/src/sub/y.log"]
    res = ok(client, ancestors, pattern="needle", path="anc/r/src/gen")
    assert paths(res) == ["anc/r/src/gen/g.c"]  # the root itself is never ignored


def test_gitignore_above_root_needs_a_repository(client, ancestors):
    res = ok(client, ancestors, pattern="needle", path="/workspace/anc/nogit/sub")
    assert paths(res) == ["/workspace/anc/nogit/sub/a.txt"]


def test_gitignore_above_root_no_ignore(client, ancestors):
    res = ok(client, ancestors, pattern="needle", path="/workspace/anc/r/src", noIgnore=True)
    assert len(paths(res)) == 11


def test_gitignore_repository_root_is_the_search_root(client, ancestors):
    res = ok(client, ancestors, pattern="needle", path="/workspace/anc/r")
    assert paths(res) == ["/workspace/anc/r/src/a.c", "/workspace/anc/r/src/inner/z.log",
                          "/workspace/anc/r/src/keep.log", "/workspace/anc/r/src/notes.md",
                          "/workspace/anc/r/src/sub/top.txt", "/workspace/anc/r/src/sub/y.log"]


def test_undecodable_file_name(client, tree):
    # A name that is not UTF-8 is reported with U+FFFD, not an error.
    client.sh(tree, "mkdir -p /workspace/badname && "
                    "printf 'needle\\n' > /workspace/badname/\"$(printf 'x\\377y')\"")
    res = ok(client, tree, pattern="needle", path="/workspace/badname")
    assert paths(res) == ["/workspace/badname/x\ufffdy"]


# The literal prefilter must not change which lines match, or where.
PREFILTER = (
    "the SPINLOCK\n"
    "a \u017fpin_loc\u212a here\n"         # s and k have non-ASCII case partners
    "foo\n"
    "bar end\n"
    "x foo bar\n"
    "\u212aelvin and kelvin\n"
    "caf\u00e9 CAF\u00c9\n"
    "struct a_ops {\n"
    "SPinlock, pinlock\n"
)


@pytest.fixture(scope="module")
def prefilter(client, sandbox):
    r = client.write(sandbox, "/workspace/pf/f.txt", PREFILTER.encode())
    assert r.status == 200, r
    return sandbox


@pytest.mark.parametrize("pattern,ignore_case,want", [
    ("(?i)spin_?lock", False, [(1, 5), (2, 3), (9, 1)]),
    ("spin_?lock", True, [(1, 5), (2, 3), (9, 1)]),
    ("(?i)kelvin", False, [(6, 1)]),
    ("café", True, [(7, 1)]),
    ("foo\\s+bar", False, [(5, 3)]),         # a match across lines is not reported
    ("foo\\s*$", False, [(3, 1)]),
    ("[a-z]+_ops \\{", False, [(8, 8)]),
    ("\\bbar\\b", False, [(4, 1), (5, 7)]),
    ("(?i)sp(?-i)inlock", False, [(9, 1)]),  # "SPINLOCK" does not match
    ("pin(?=lock)", False, [(9, 11)]),
    ("\\Qfoo bar\\E", False, [(5, 3)]),
])
def test_prefilter_keeps_results(client, prefilter, pattern, ignore_case, want):
    res = ok(client, prefilter, pattern=pattern, ignoreCase=ignore_case, path="/workspace/pf")
    assert [(m["line"], m["column"]) for m in res["matches"]] == want, res


def stream(client, sid, **body):
    r = client.post(f"/v1/sandboxes/{sid}/search", dict(body, stream=True))
    return r


def test_stream_gives_the_same_matches_as_lines(client, tree):
    for body in ({"pattern": "needle", "path": "/workspace/s"},
                 {"pattern": "needle", "path": "s/src/sub", "ignoreCase": True, "contextLines": 2},
                 {"pattern": "needle", "path": "s", "noIgnore": True, "maxResults": 2}):
        whole = ok(client, tree, **body)
        r = stream(client, tree, **body)
        assert r.status == 200 and r.headers["content-type"] == "application/x-ndjson", r
        lines = [json.loads(l) for l in r.body.decode().splitlines()]
        assert lines[-1] == {"done": True, "truncated": whole["truncated"],
                             "filesSearched": whole["filesSearched"],
                             "matches": len(whole["matches"])}, lines[-1]
        assert sorted(lines[:-1], key=json.dumps) == sorted(whole["matches"], key=json.dumps)


def test_stream_errors_are_http_errors_up_front(client, tree):
    r = stream(client, tree, pattern="(unclosed")
    assert r.status == 400 and r.error_code == "invalid_argument", r
    r = stream(client, tree, pattern="x", path="/no/such/dir")
    assert r.status == 404, r
    r = client.post(f"/v1/sandboxes/{tree}/search", {"pattern": "x", "stream": "yes"})
    assert r.status == 400, r
    r = stream(client, tree, pattern="no-such-text-anywhere-x9", path="s")
    lines = r.body.decode().splitlines()
    assert r.status == 200 and len(lines) == 1 and json.loads(lines[0])["matches"] == 0, r


def test_cli_search_streams_in_ripgrep_form(daemon, tree):
    env = dict(os.environ, RUNRA_NO_AUTOSTART="1")
    p = subprocess.run([RUNRA, "--socket", daemon.socket, "search", tree, "needle",
                        "/workspace/s/src/main.c"], stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, env=env, timeout=60)
    assert p.returncode == 0, p
    assert p.stdout == b"/workspace/s/src/main.c:3:12:    return needle(1);\n", p
    p = subprocess.run([RUNRA, "--socket", daemon.socket, "search", tree, "zz-nothing-zz", "s"],
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, timeout=60)
    assert p.returncode == 1 and p.stdout == b"", p
