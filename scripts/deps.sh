#!/usr/bin/env bash
# Installs the Debian packages runra needs to build, test, demo and bench,
# but only those missing, so a second run costs a few dpkg queries.
# usage: scripts/deps.sh [build|test|bench]...
set -euo pipefail

build_pkgs=(meson ninja-build pkg-config gcc libc6-dev libmicrohttpd-dev libjansson-dev
            libsqlite3-dev libseccomp-dev libarchive-dev zlib1g-dev libpcre2-dev e2fsprogs util-linux
            libnftables-dev nftables libssl-dev libcurl4-openssl-dev)
test_pkgs=(python3 python3-pytest python3-yaml clang libclang-rt-14-dev iproute2 procps dnsmasq-base
           openssl curl prometheus docker-registry skopeo umoci apache2-utils zstd
           qemu-system-x86 xz-utils)
bench_pkgs=(bubblewrap crun hyperfine ripgrep dnsmasq-base openssl curl iproute2 util-linux docker-registry
            skopeo umoci e2fsprogs qemu-system-x86 xz-utils)

want=("${build_pkgs[@]}")
for what in "$@"; do
    case "$what" in
    build) ;;
    test) want+=("${test_pkgs[@]}") ;;
    bench) want+=("${bench_pkgs[@]}") ;;
    *) echo "deps.sh: unknown set '$what'" >&2; exit 2 ;;
    esac
done

missing=()
for p in "${want[@]}"; do
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
        missing+=("$p")
    fi
done
[ ${#missing[@]} -eq 0 ] && exit 0

if [ "$(id -u)" -ne 0 ]; then
    echo "runra needs these Debian packages: ${missing[*]}" >&2
    echo "run as root, or: sudo apt-get install ${missing[*]}" >&2
    exit 1
fi
echo "installing: ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq >/dev/null
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
