#!/usr/bin/env bash
# Puts a Debian guest kernel for runra's VM backend into DIR, without
# installing anything on the host: the kernel package is downloaded with
# apt-get download and unpacked with dpkg-deb -x into a scratch dir.
#
# DIR afterwards holds:
#   vmlinux        the uncompressed kernel (booting it skips the guest's own
#                  decompression, seconds under TCG)
#   modules/*.ko   the drivers runra-init loads, uncompressed
#   modules.order  their names, dependencies first: the order to load them
#   version        the kernel release, e.g. 6.1.0-28-amd64
#
# usage: vm-kernel.sh DIR        (installed as libexec/runra/runra-vm-kernel)
# A .deb already in $RUNRA_VM_KERNEL_DEB (a path) is used instead of apt.
set -euo pipefail
export PATH=$PATH:/usr/sbin:/sbin

dir=${1:?usage: vm-kernel.sh DIR}
[ "$(uname -m)" = x86_64 ] || { echo "vm-kernel: only x86_64 hosts are supported" >&2; exit 1; }
[ -s "$dir/vmlinux" ] && [ -s "$dir/modules.order" ] && exit 0

# What runra-init needs: the virtio transports (mmio for microvm, pci for
# q35), the serial port the protocol runs on, disks, ext4 (crc32c is
# requested by name at mount time, so it is listed), overlay, the NIC.
wanted=(virtio_mmio virtio_pci virtio_console virtio_blk crc32c_generic ext4 overlay virtio_net)

for t in dpkg-deb xz; do
    command -v "$t" >/dev/null || { echo "vm-kernel: '$t' is missing (apt-get install dpkg xz-utils)" >&2; exit 1; }
done

mkdir -p "$(dirname "$dir")"
work=$(mktemp -d "$(dirname "$dir")/.vm-kernel.XXXXXX")
trap 'rm -rf "$work"' EXIT

deb=${RUNRA_VM_KERNEL_DEB:-}
if [ -z "$deb" ]; then
    # The metapackage names the current kernel package; both come from the
    # host's own apt sources.
    # A fresh machine may have no package lists yet: update once and retry.
    (cd "$work" && apt-get download -q linux-image-amd64 >/dev/null 2>"$work/apt.err") ||
        { apt-get update -qq >/dev/null 2>&1 &&
          (cd "$work" && apt-get download -q linux-image-amd64 >/dev/null 2>"$work/apt.err"); } || {
        cat "$work/apt.err" >&2
        echo "vm-kernel: apt-get download linux-image-amd64 failed" >&2; exit 1; }
    meta=$(ls "$work"/linux-image-amd64_*.deb)
    pkg=$(dpkg-deb -f "$meta" Depends | tr ',' '\n' | sed -n 's/^ *\(linux-image-[0-9][^ ]*\).*/\1/p' | head -n1)
    [ -n "$pkg" ] || { echo "vm-kernel: linux-image-amd64 names no kernel package" >&2; exit 1; }
    (cd "$work" && apt-get download -q "$pkg" >/dev/null 2>"$work/apt.err") || {
        cat "$work/apt.err" >&2; echo "vm-kernel: apt-get download $pkg failed" >&2; exit 1; }
    deb=$(ls "$work"/"$pkg"_*.deb)
fi
dpkg-deb -x "$deb" "$work/x"
vmlinuz=$(ls "$work"/x/boot/vmlinuz-* | head -n1)
release=${vmlinuz##*/vmlinuz-}
mods=$work/x/lib/modules/$release
[ -d "$mods" ] || { echo "vm-kernel: the package has no modules for $release" >&2; exit 1; }

# The bzImage carries the kernel as an XZ stream: find its magic and
# decompress from there (trailing bytes after the stream are ignored).
out=$work/out
mkdir -p "$out/modules"
for off in $(LC_ALL=C grep -aboP '\xfd7zXZ\x00' "$vmlinuz" | cut -d: -f1); do
    tail -c +$((off + 1)) "$vmlinuz" | xz -dc >"$out/vmlinux" 2>/dev/null || true
    if [ "$(head -c 4 "$out/vmlinux" | od -An -tx1 | tr -d ' ')" = 7f454c46 ]; then
        break
    fi
    rm -f "$out/vmlinux"
done
[ -s "$out/vmlinux" ] || { echo "vm-kernel: no XZ-compressed kernel found in $vmlinuz" >&2; exit 1; }

declare -A path=() seen=()
while IFS= read -r p; do
    n=$(basename "$p" .ko)
    path[${n//-/_}]=$p
done < <(find "$mods/kernel" -name '*.ko')

order=()
visit() {
    local n=${1//-/_} d
    [ -n "${seen[$n]:-}" ] && return 0
    seen[$n]=1
    local p=${path[$n]:-}
    [ -n "$p" ] || return 0 # built in
    # The .modinfo section's "depends=a,b" string (no kmod needed).
    for d in $(LC_ALL=C grep -ao 'depends=[A-Za-z0-9_,-]*' "$p" | head -n1 | cut -d= -f2 | tr ',' ' '); do
        visit "$d"
    done
    cp "$p" "$out/modules/$n.ko"
    order+=("$n")
}
for m in "${wanted[@]}"; do visit "$m"; done
printf '%s\n' "${order[@]}" >"$out/modules.order"
echo "$release" >"$out/version"

# Into place in one rename: a half-made DIR is never seen.
rm -rf "$dir.old"
[ -e "$dir" ] && mv "$dir" "$dir.old"
mv "$out" "$dir"
rm -rf "$dir.old"
echo "vm-kernel: $release in $dir" >&2
