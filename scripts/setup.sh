#!/usr/bin/env bash
# setup.sh — install everything gokmod's tests and demo need, idempotently.
#
#   * Debian packages for the host side (qemu, busybox-static, kmod, cpio, xz, zstd, kbuild deps);
#   * Debian's kernel packages for 6.1 (what linux-image-amd64 depends on) and the newest 6.12
#     (linux-image-6.12.*+deb12-amd64), with their headers and kbuild, fetched with
#     `apt-get download` into $GOKMOD_CACHE/debs and unpacked with `dpkg -x` into
#     $GOKMOD_CACHE/kernels/KVER — never installed, never loaded into this host's kernel.
#
# GOKMOD_KERNELS pins the kernels instead of the newest ones, to reproduce a failure seen
# with an older build: the two image packages (or their releases), 6.1's first, e.g.
#   GOKMOD_KERNELS="linux-image-6.1.0-56-amd64 linux-image-6.12.117+deb12-amd64" make test
# Debian's archive keeps the earlier ABIs of a stable release's kernel for a while, so a
# pair the archive has dropped fails here, naming the package.
#
# Each ready kernel root holds boot/, lib/modules/KVER (with modules.dep made by depmod -b),
# usr/src/linux-headers-* (Makefile include fixed to the unpacked path), vmlinux (the
# decompressed ELF, for PVH boot) and versions.txt (the exact package versions).
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
cache=${GOKMOD_CACHE:-$top/.cache}
mkdir -p "$cache/debs" "$cache/kernels"

log() { echo "[setup] $*" >&2; }

# ---- host packages ----
need=()
for p in qemu-system-x86 busybox-static cpio kmod xz-utils zstd make gcc bc flex bison libelf-dev libssl-dev chromium; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || need+=("$p")
done
if [ ${#need[@]} -gt 0 ]; then
  if [ "$(id -u)" != 0 ]; then log "missing packages (need root to install): ${need[*]}"; exit 1; fi
  log "installing ${need[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends -o DPkg::Lock::Timeout=600 "${need[@]}" >/dev/null
fi

apt_updated=0
apt_update_once() {
  if [ "$apt_updated" = 0 ] && [ "$(id -u)" = 0 ]; then apt-get update -qq; apt_updated=1; fi
}

# pick_kernels prints the two image package names: 6.1 (linux-image-amd64's dependency) and
# the newest 6.12 whose headers exist too.
pick_kernels() {
  local k61 k612
  k61=$(apt-cache depends linux-image-amd64 2>/dev/null | awk '/Depends: linux-image-6\.1\./{print $2; exit}')
  k612=$(apt-cache search --names-only '^linux-image-6\.12\.[0-9]+\+deb12-amd64$' 2>/dev/null \
         | awk '{print $1}' | sort -V | tail -1)
  echo "$k61 $k612"
}

fetch() { # fetch PKG -> path of its .deb in the cache
  local pkg=$1 f
  f=$(ls "$cache/debs/${pkg}"_*.deb 2>/dev/null | sort -V | tail -1 || true)
  if [ -z "$f" ]; then
    log "downloading $pkg"
    (cd "$cache/debs" && apt-get download -q "$pkg" >/dev/null 2>&1) || { apt_update_once; (cd "$cache/debs" && apt-get download -q "$pkg" >/dev/null); }
    f=$(ls "$cache/debs/${pkg}"_*.deb | sort -V | tail -1)
  fi
  echo "$f"
}

extract_vmlinux() { # the bzImage payload (XZ in 6.1, ZSTD in 6.12) as an ELF, for QEMU's PVH entry
  local vmlinuz=$1 out=$2 off dec
  off=$(LC_ALL=C grep -obUaP '\xFD7zXZ\x00' "$vmlinuz" | head -1 | cut -d: -f1 || true); dec="xz -dc"
  if [ -z "$off" ]; then off=$(LC_ALL=C grep -obUaP '\x28\xb5\x2f\xfd' "$vmlinuz" | head -1 | cut -d: -f1 || true); dec="zstd -dc"; fi
  { tail -c +$((${off:-0}+1)) "$vmlinuz" | $dec > "$out.tmp"; } 2>/dev/null || true
  [ "$(head -c4 "$out.tmp" | od -An -tx1 | tr -d ' ')" = 7f454c46 ] || { rm -f "$out.tmp"; log "cannot extract vmlinux from $vmlinuz"; exit 1; }
  mv "$out.tmp" "$out"
}

setup_kernel() { # setup_kernel IMAGE-PACKAGE
  local img=$1 kver root tmp hdr common kbuild f
  kver=${img#linux-image-}
  root=$cache/kernels/$kver
  if [ -f "$root/.ready" ]; then return; fi
  log "preparing $kver"
  hdr=linux-headers-$kver
  common=$(apt-cache depends "$hdr" | awk '/Depends: linux-headers-.*-common/{print $2; exit}')
  kbuild=$(apt-cache depends "$hdr" | awk '/Depends: linux-kbuild-/{print $2; exit}')
  [ -n "$common" ] && [ -n "$kbuild" ] || { log "cannot resolve headers of $hdr"; exit 1; }
  tmp=$root.tmp; rm -rf "$tmp"; mkdir -p "$tmp"
  : > "$tmp/versions.txt"
  for p in "$img" "$hdr" "$common" "$kbuild"; do
    f=$(fetch "$p")
    dpkg -x "$f" "$tmp"
    echo "$p $(dpkg-deb -f "$f" Version)" >> "$tmp/versions.txt"
  done
  # The headers' Makefile includes the -common tree by absolute path: point it at ours.
  sed -i "s|^include /usr/src/|include $root/usr/src/|" "$tmp/usr/src/linux-headers-$kver/Makefile"
  depmod -b "$tmp" "$kver"     # the package ships no modules.dep; this only writes files
  extract_vmlinux "$tmp/boot/vmlinuz-$kver" "$tmp/vmlinux"
  rm -rf "$root"; mv "$tmp" "$root"
  touch "$root/.ready"
}

if [ -n "${GOKMOD_KERNELS:-}" ]; then
  read -r k61 k612 extra <<<"$GOKMOD_KERNELS"
  [ -n "$k61" ] && [ -n "$k612" ] && [ -z "${extra:-}" ] || { log "GOKMOD_KERNELS must name two kernels (6.1's, then 6.12's): '$GOKMOD_KERNELS'"; exit 1; }
  k61=linux-image-${k61#linux-image-}; k612=linux-image-${k612#linux-image-}
  for p in "$k61" "$k612"; do
    if ! apt-cache show "$p" >/dev/null 2>&1; then apt_update_once; fi
    apt-cache show "$p" >/dev/null 2>&1 || { log "GOKMOD_KERNELS: the archive has no package $p"; exit 1; }
  done
  log "kernels pinned by GOKMOD_KERNELS: $k61 $k612"
else
  read -r k61 k612 < <(pick_kernels)
  if [ -z "$k61" ] || [ -z "$k612" ]; then apt_update_once; read -r k61 k612 < <(pick_kernels); fi
  [ -n "$k61" ] && [ -n "$k612" ] || { log "cannot find the kernel packages (6.1: '$k61', 6.12: '$k612')"; exit 1; }
fi
setup_kernel "$k61"
setup_kernel "$k612"

# setup_raw KVER: the image, headers and -common packages unpacked as they come, nothing
# added or changed (no vmlinux, no modules.dep, the headers' Makefile as shipped), beside
# the prepared root: the model's fidelity harness reads this one, as a user's would.
setup_raw() {
  local kver=$1 raw=$cache/kernels/$1.raw tmp p f
  [ -f "$raw/.ready" ] && return
  log "unpacking $kver's packages as they come"
  tmp=$raw.tmp; rm -rf "$tmp"; mkdir -p "$tmp"
  while read -r p _; do
    case $p in linux-kbuild-*) continue ;; esac
    f=$(fetch "$p")
    dpkg -x "$f" "$tmp"
  done < "$cache/kernels/$kver/versions.txt"
  rm -rf "$raw"; mv "$tmp" "$raw"
  touch "$raw/.ready"
}
setup_raw "${k61#linux-image-}"
setup_raw "${k612#linux-image-}"
# The list the Go harness reads: one kernel release per line, 6.1 first.
printf '%s\n%s\n' "${k61#linux-image-}" "${k612#linux-image-}" > "$cache/kernels/list.tmp"
mv "$cache/kernels/list.tmp" "$cache/kernels/list"
log "kernels ready: $(tr '\n' ' ' < "$cache/kernels/list")"
GOKMOD_CACHE=$cache "$top/scripts/chroot.sh" --needed  # chroots with the gcc the listed kernels need, where the host's is too old

# ---- kmod 34.2, as Debian 13 (trixie) ships it, beside this machine's kmod 30 ----
# Downloaded through the private apt configuration and unpacked with its own glibc (it
# needs glibc >= 2.38); never installed. $cache/kmod34/bin/TOOL runs it through that
# glibc's dynamic loader, with argv[0] set to TOOL, as kmod's multi-call binary wants.
setup_kmod34() {
  local dir=$cache/kmod34 tmp f p t
  [ -f "$dir/.ready" ] && return
  log "preparing kmod 34 from trixie"
  # shellcheck source=apt-private.sh
  GOKMOD_CACHE=$cache source "$top/scripts/apt-private.sh"
  papt_update
  tmp=$dir.tmp; rm -rf "$tmp"; mkdir -p "$tmp/debs" "$tmp/root" "$tmp/bin"
  (cd "$tmp/debs" && papt download kmod/trixie libkmod2/trixie libc6/trixie libssl3t64/trixie \
     liblzma5/trixie libzstd1/trixie zlib1g/trixie >/dev/null)
  : > "$tmp/versions.txt"
  for f in "$tmp"/debs/*.deb; do
    dpkg -x "$f" "$tmp/root"
    echo "$(dpkg-deb -f "$f" Package) $(dpkg-deb -f "$f" Version)" >> "$tmp/versions.txt"
  done
  rm -rf "$tmp/debs"
  for t in kmod depmod modprobe modinfo insmod rmmod lsmod; do
    cat > "$tmp/bin/$t" <<WRAP
#!/bin/sh
# kmod 34 from trixie's packages, through their own glibc (scripts/setup.sh).
r=$dir/root
exec "\$r/usr/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2" --library-path "\$r/usr/lib/x86_64-linux-gnu" --argv0 $t "\$r/usr/bin/kmod" "\$@"
WRAP
    chmod +x "$tmp/bin/$t"
  done
  rm -rf "$dir"; mv "$tmp" "$dir"
  "$dir/bin/kmod" -V | grep -q '^kmod version 34' || { log "kmod 34 from trixie does not run: $("$dir/bin/kmod" -V 2>&1)"; exit 1; }
  touch "$dir/.ready"
}
setup_kmod34
log "kmod 34 ready: $("$cache/kmod34/bin/kmod" -V | head -1)"
