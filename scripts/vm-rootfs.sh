#!/usr/bin/env bash
# Builds the read-only root disk (ext4, no journal) a VM sandbox boots on,
# from the host's tree or from an image's layers. runrad runs it once per
# image (and once per state of the host's packages) and keeps the result.
#
# usage: vm-rootfs.sh OUT host
#        vm-rootfs.sh OUT layers LAYERS_DIR NAME...   (bottom layer first;
#                     NAME is a directory beneath LAYERS_DIR, e.g. sha256/HEX)
#
# host: /usr and /etc as the host has them, the host's /bin, /lib... links,
# the usual empty top-level dirs; host secrets (/etc/shadow and the like,
# SSH host keys, TLS private keys, runrad's own config) are left out, as the
# ns backend masks them.
# layers: the layers merged by a read-only overlay (whiteouts applied).
# Runs in a private mount namespace of its own; nothing stays mounted.
set -euo pipefail
export PATH=/usr/sbin:/usr/bin:/sbin:/bin LC_ALL=C

out=${1:?usage: vm-rootfs.sh OUT host|layers ...}
kind=${2:?usage: vm-rootfs.sh OUT host|layers ...}
if [ -z "${RUNRA_ROOTFS_UNSHARED:-}" ]; then
    RUNRA_ROOTFS_UNSHARED=1 exec unshare --mount --propagation private -- "$0" "$@"
fi

stage=$(mktemp -d "$(dirname "$out")/.rootfs.XXXXXX")
# Only an unmounted stage is removed (the binds in it are the host's).
trap 'umount -R "$stage" 2>/dev/null || true; mountpoint -q "$stage" || rm -rf "$stage"; rm -f "$out.tmp"' EXIT
mount -t tmpfs -o mode=0755 tmpfs "$stage"
tree=$stage/tree
mkdir "$tree" "$stage/empty"
: >"$stage/empty.file"

case "$kind" in
host)
    mkdir -p "$tree"/{usr,etc,proc,sys,dev,run,workspace,home,opt,srv,mnt,var}
    mkdir -m 1777 "$tree/tmp" "$tree/var/tmp"
    mkdir -m 0700 "$tree/root"
    mount --bind -o ro /usr "$tree/usr"
    mount --bind -o ro /etc "$tree/etc"
    for t in bin sbin lib lib32 lib64 libx32; do
        if [ -L "/$t" ]; then
            ln -s "$(readlink "/$t")" "$tree/$t"
        elif [ -d "/$t" ]; then
            mkdir "$tree/$t"
            mount --bind -o ro "/$t" "$tree/$t"
        fi
    done
    # Files and dirs of the host's /etc that are secrets: covered with an
    # empty one of the same kind, so the copy has them empty.
    for f in shadow gshadow shadow- gshadow- security/opasswd ssh/ssh_host_*_key; do
        for p in /etc/$f; do
            [ -f "$p" ] && mount --bind "$stage/empty.file" "$tree$p"
        done
    done
    for d in ssl/private runra; do
        [ -d "/etc/$d" ] && mount --bind "$stage/empty" "$tree/etc/$d"
    done
    ;;
layers)
    dir=${3:?usage: vm-rootfs.sh OUT layers LAYERS_DIR NAME...}
    shift 3
    [ $# -gt 0 ] || { echo "vm-rootfs: no layers" >&2; exit 2; }
    lower=
    for n in "$@"; do
        case "$n" in /* | *..* | *:* | *,*) echo "vm-rootfs: bad layer name '$n'" >&2; exit 2 ;; esac
        [ -d "$dir/$n" ] || { echo "vm-rootfs: no layer $n in $dir" >&2; exit 2; }
        lower=$n${lower:+:$lower} # the top layer comes first
    done
    if [ $# -eq 1 ]; then
        mount --bind -o ro "$dir/$1" "$tree"
    else
        [ ${#lower} -lt 4000 ] || { echo "vm-rootfs: too many layers for one overlay mount" >&2; exit 2; }
        (cd "$dir" && mount -t overlay overlay -o "ro,lowerdir=$lower" "$tree")
    fi
    ;;
*)
    echo "vm-rootfs: unknown kind '$kind'" >&2
    exit 2
    ;;
esac

# Room for what is there, ext4's own tables, and a margin; the file is
# sparse, so the margin costs nothing on the host.
used_mb=$(du -s --block-size=1M "$tree" | cut -f1)
inodes=$(find "$tree" | wc -l)
size_mb=$((used_mb + used_mb / 4 + inodes / 64 + 64))
rm -f "$out.tmp"
mkfs.ext4 -q -F -d "$tree" -O ^has_journal -m 0 -N $((inodes + inodes / 4 + 1024)) \
    -E root_owner=0:0 -L runra-root "$out.tmp" "${size_mb}M"
chmod 0644 "$out.tmp"
mv "$out.tmp" "$out"
