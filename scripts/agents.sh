#!/usr/bin/env bash
# Installs the agent CLIs that `runra agent run` drives (Claude Code, Codex,
# OpenCode) from the npm registry into a cache, one directory per agent, at
# pinned versions, and prints "NAME PATH" for each agent's executable.
# A second run only checks the installed versions, so it costs a second or so.
#
# usage: scripts/agents.sh [--check] [claude|codex|opencode]...
#   --check   install nothing; print what is installed, exit 1 if any is missing
# env:   RUNRA_AGENT_CACHE  cache directory (default /var/cache/runra/agents)
set -euo pipefail

# name|npm package|version|executable under node_modules/.bin
agents=(
    "claude|@anthropic-ai/claude-code|2.1.332|claude"
    "codex|@openai/codex|0.171.0|codex"
    "opencode|opencode-ai|1.18.33|opencode"
)

cache=${RUNRA_AGENT_CACHE:-/var/cache/runra/agents}
check_only=0
want=()
for arg in "$@"; do
    case "$arg" in
    --check) check_only=1 ;;
    -h|--help) sed -n '2,10p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    claude|codex|opencode) want+=("$arg") ;;
    *) echo "agents.sh: unknown argument '$arg'" >&2; exit 2 ;;
    esac
done
[ ${#want[@]} -eq 0 ] && want=(claude codex opencode)

# The version checks run the agents, which write state into their home
# directory; give them a scratch one so the caller's config stays untouched.
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT

# Prints the version that DIR's executable reports, or nothing if it does not
# run. Claude Code and OpenCode ship a placeholder in bin/ that their
# postinstall replaces with the native binary for this platform (taken from an
# optional dependency such as @anthropic-ai/claude-code-linux-x64 or
# opencode-linux-x64); Codex's bin is a small node launcher that execs the
# static musl binary from @openai/codex-linux-x64. Running the executable
# proves the native part is there.
reported_version() {
    local exe=$1
    [ -x "$exe" ] || return 0
    HOME=$scratch CODEX_HOME=$scratch/codex XDG_CONFIG_HOME=$scratch/config \
        XDG_CACHE_HOME=$scratch/cache XDG_DATA_HOME=$scratch/data \
        timeout 60 "$exe" --version </dev/null 2>/dev/null |
        grep -oE '[0-9]+\.[0-9]+\.[0-9]+' | head -n1 || true
}

installed_ok() {
    local dir=$1 pkg=$2 version=$3 bin=$4
    local manifest=$dir/node_modules/$pkg/package.json
    [ -f "$manifest" ] || return 1
    grep -q "\"version\": *\"$version\"" "$manifest" || return 1
    [ "$(reported_version "$dir/node_modules/.bin/$bin")" = "$version" ]
}

install_one() {
    local name=$1 pkg=$2 version=$3 bin=$4
    local dir=$cache/$name tmp=$cache/.$name.new
    local start=$SECONDS
    if ! command -v npm >/dev/null || ! command -v node >/dev/null; then
        echo "agents.sh: cannot install $name: npm and node are needed (Debian: apt-get install npm)" >&2
        return 1
    fi
    echo "agents.sh: installing $pkg@$version into $dir" >&2
    rm -rf "$tmp"
    mkdir -p "$tmp"
    # npm picks the optional platform package that matches this machine
    # (linux-x64 here) and runs the wrapper's postinstall, which links the
    # native binary into bin/.
    if ! npm install --prefix "$tmp" --no-audit --no-fund --loglevel=error \
            "$pkg@$version" >&2; then
        rm -rf "$tmp"
        echo "agents.sh: npm install $pkg@$version failed" >&2
        return 1
    fi
    # Should this npm have skipped install scripts, run the postinstall that
    # puts the native binary in place ourselves.
    if [ -z "$(reported_version "$tmp/node_modules/.bin/$bin")" ]; then
        local pkgdir=$tmp/node_modules/$pkg script
        script=$(node -e 'const s=require(process.argv[1]).scripts||{};
            process.stdout.write(s.postinstall||"")' "$pkgdir/package.json")
        if [ -n "$script" ]; then
            echo "agents.sh: running $pkg postinstall: $script" >&2
            (cd "$pkgdir" && sh -c "$script") >&2
        fi
    fi
    if ! installed_ok "$tmp" "$pkg" "$version" "$bin"; then
        echo "agents.sh: $pkg@$version installed but $bin --version does not report $version" >&2
        rm -rf "$tmp"
        return 1
    fi
    # Swap in only a complete install, so a failed or interrupted run never
    # leaves a directory that a later run would take as installed.
    rm -rf "$dir"
    mv "$tmp" "$dir"
    echo "agents.sh: $name $version installed in $((SECONDS - start))s," \
        "$(du -sh "$dir" | cut -f1)" >&2
}

mkdir -p "$cache"
# Concurrent callers (parallel test runs) wait for each other.
exec 9>"$cache/.lock"
flock 9

status=0
for name in "${want[@]}"; do
    for entry in "${agents[@]}"; do
        IFS='|' read -r n pkg version bin <<<"$entry"
        [ "$n" = "$name" ] || continue
        dir=$cache/$name
        if ! installed_ok "$dir" "$pkg" "$version" "$bin"; then
            if [ $check_only -eq 1 ]; then
                echo "agents.sh: $name $version is not installed in $dir" >&2
                status=1
                continue
            fi
            if ! install_one "$name" "$pkg" "$version" "$bin"; then
                status=1
                continue
            fi
        fi
        echo "$name $dir/node_modules/.bin/$bin"
    done
done
exit $status
