#!/usr/bin/env bash
# setup.sh — install everything gokmod's tests and demo need, idempotently.
#
#   * Debian packages for the host side (qemu, busybox-static, kmod, cpio, xz, zstd, GNU time, strace, kbuild deps);
#   * the arm64 guests' kernels, busybox and kmod, by scripts/setup-arm64.sh (at the end);
#   * Debian's kernel packages of every line people run, picked by querying the archive:
#       bullseye's 5.10 and bookworm's 6.1 (what linux-image-amd64 depends on there),
#       bookworm's newest 6.12 (+deb12), trixie's newest 6.12 (+deb13), sid's newest (7.x),
#       and experimental's newest when it is a newer line (major.minor) than sid's;
#     with their headers, -common and kbuild, fetched with `apt-get download` into
#     $GOKMOD_CACHE/debs and unpacked with `dpkg -x` into $GOKMOD_CACHE/kernels/KVER —
#     never installed, never loaded into this host's kernel. Suites this machine's sources
#     lack are reached through scripts/apt-private.sh (the system's sources are never touched).
#
# GOKMOD_KERNELS pins the kernels instead of the newest ones, to reproduce a failure seen
# with other builds: any number of image packages (or their releases), in any order, and
# exactly those are prepared and listed, e.g.
#   GOKMOD_KERNELS="linux-image-6.1.0-56-amd64 6.12.117+deb12-amd64 7.2.13+deb14-amd64" make test
# Each is looked up in this machine's suite first, then in the private suites. Debian's
# archive keeps the earlier ABIs of a stable release's kernel for a while only: a package
# the archive lacks fails here, naming the package.
#
# Each ready kernel root holds the packages unpacked (the image, and for 7.x's split
# packaging linux-binary-, linux-modules- and linux-base-KVER; linux-headers-KVER, its
# -common and linux-kbuild-*), plus what the tests need: the module tree's modules.dep by
# depmod -b, the headers' Makefile include fixed to the unpacked path, vmlinux (the
# decompressed ELF, for PVH boot), versions.txt (every package and its exact version),
# suite (the Debian suite it came from) and, for merged-/usr packages (usr/lib/modules/KVER
# with vmlinuz and config inside, nothing in /lib or /boot), a lib -> usr/lib link.
# KVER.raw beside it holds the same packages but kbuild exactly as they come (nothing added).
# $GOKMOD_CACHE/kernels/list names the prepared kernels, one a line, oldest version first.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
cache=${GOKMOD_CACHE:-$top/.cache}
mkdir -p "$cache/debs" "$cache/kernels"

log() { echo "[setup] $*" >&2; }

# ---- host packages ----
need=()
for p in qemu-system-x86 busybox-static cpio kmod xz-utils zstd time strace make gcc bc flex bison libelf-dev libssl-dev chromium; do
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

# The suites this machine's sources lack go through the private apt configuration.
# shellcheck source=apt-private.sh
GOKMOD_CACHE=$cache source "$top/scripts/apt-private.sh"
host_suite=$(. /etc/os-release && echo "${VERSION_CODENAME:-bookworm}")
papt_ready=0
papt_once() { if [ "$papt_ready" = 0 ]; then papt_update; papt_ready=1; fi; }

# acache SUITE ARGS...: apt-cache on the host's own sources for its suite, else the
# private configuration.
acache() {
  local suite=$1; shift
  if [ "$suite" = "$host_suite" ]; then apt-cache "$@"; else papt_once; papt_cache "$@"; fi
}

# images_in SUITE: the amd64 kernel image packages (not -cloud, -rt) the suite serves,
# oldest version first.
images_in() {
  local suite=$1 names
  names=$(acache "$suite" search --names-only '^linux-image-[0-9]+\.[0-9]+[-.+0-9a-z]*-amd64$' 2>/dev/null \
          | awk '{print $1}' | grep -Ev -- '-(cloud|rt)-amd64$' || true)
  [ -n "$names" ] || return 0
  # shellcheck disable=SC2086
  acache "$suite" madison $names 2>/dev/null \
    | awk -F' [|] ' -v s="$suite" '{split($3, u, " "); split(u[2], d, "/"); sub(/-(security|updates)$/, "", d[1]); if (d[1] == s && $3 ~ / amd64 Packages/) print $1}' \
    | tr -d ' ' | sort -uV
}

# meta_dep SUITE REGEX: the package linux-image-amd64 of SUITE depends on, matching REGEX.
meta_dep() {
  local suite=$1 re=$2 ver
  ver=$(acache "$suite" madison linux-image-amd64 2>/dev/null \
        | awk -F' [|] ' -v s="$suite" '{split($3, u, " "); split(u[2], d, "/"); sub(/-(security|updates)$/, "", d[1]); if (d[1] == s) {gsub(/ /, "", $2); print $2; exit}}')
  [ -n "$ver" ] || return 0
  acache "$suite" depends "linux-image-amd64=$ver" 2>/dev/null | awk -v re="$re" '$1 == "Depends:" && $2 ~ re {print $2; exit}'
}

# line_of RELEASE: its upstream line, major.minor (7.2.13+deb14-amd64 -> 7.2).
line_of() { echo "$1" | sed -E 's/^([0-9]+\.[0-9]+).*/\1/'; }

# pick_kernels prints "SUITE IMAGE-PACKAGE" for every line, oldest first:
#   bullseye's 5.10 (linux-image-amd64's dependency there), bookworm's 6.1 (likewise) and
#   newest 6.12 (+deb12), trixie's newest 6.12 (+deb13), sid's newest, and experimental's
#   newest when it is a newer line (major.minor) than sid's.
pick_kernels() {
  local k510 k61 k612 k613 ksid kexp
  k510=$(meta_dep bullseye '^linux-image-5\.10\.')
  k61=$(meta_dep "$host_suite" '^linux-image-6\.1\.')
  k612=$(images_in "$host_suite" | grep -E '^linux-image-6\.12\.[0-9]+\+deb12-amd64$' | tail -1 || true)
  k613=$(images_in trixie | grep -E '^linux-image-6\.12\.[0-9]+\+deb13-amd64$' | tail -1 || true)
  ksid=$(images_in sid | tail -1)
  kexp=$(images_in experimental | tail -1)
  local ok=1 n
  for n in k510 k61 k612 k613 ksid; do [ -n "${!n}" ] || { log "cannot find the kernel package for $n"; ok=0; }; done
  [ "$ok" = 1 ] || return 1
  echo "bullseye $k510"
  echo "$host_suite $k61"
  echo "$host_suite $k612"
  echo "trixie $k613"
  echo "sid $ksid"
  if [ -n "$kexp" ]; then
    local ls le
    ls=$(line_of "${ksid#linux-image-}"); le=$(line_of "${kexp#linux-image-}")
    if [ "$(printf '%s\n%s\n' "$ls" "$le" | sort -V | tail -1)" = "$le" ] && [ "$le" != "$ls" ]; then
      echo "experimental $kexp"
    else
      log "experimental's $kexp is not a newer line than sid's $ksid: left out"
    fi
  fi
}

# suite_of IMAGE-PACKAGE: the suite that serves it (the host's own first), for pinning.
suite_of() {
  local pkg=$1 s
  if apt-cache show "$pkg" >/dev/null 2>&1 || { apt_update_once; apt-cache show "$pkg" >/dev/null 2>&1; }; then
    echo "$host_suite"; return
  fi
  papt_once
  s=$(papt_cache madison "$pkg" 2>/dev/null | awk -F' [|] ' '{split($3, u, " "); split(u[2], d, "/"); print d[1]}' \
      | sed -E 's/-(security|updates|backports)$//' | head -1)
  echo "$s"
}

fetch() { # fetch SUITE PKG -> path of its .deb in the cache
  local suite=$1 pkg=$2 f
  f=$(ls "$cache/debs/${pkg}"_*.deb 2>/dev/null | sort -V | tail -1 || true)
  if [ -z "$f" ]; then
    log "downloading $pkg ($suite)"
    if [ "$suite" = "$host_suite" ]; then
      (cd "$cache/debs" && apt-get download -q "$pkg" >/dev/null 2>&1) || { apt_update_once; (cd "$cache/debs" && apt-get download -q "$pkg" >/dev/null); }
    else
      papt_once
      (cd "$cache/debs" && papt download -q "$pkg/$suite" >/dev/null)
    fi
    f=$(ls "$cache/debs/${pkg}"_*.deb | sort -V | tail -1)
  fi
  echo "$f"
}

extract_vmlinux() { # the bzImage payload (XZ in 5.10 and 6.1, ZSTD in 6.12 and 7.x) as an ELF, for QEMU's PVH entry
  local vmlinuz=$1 out=$2 off dec
  off=$(LC_ALL=C grep -obUaP '\xFD7zXZ\x00' "$vmlinuz" | head -1 | cut -d: -f1 || true); dec="xz -dc"
  if [ -z "$off" ]; then off=$(LC_ALL=C grep -obUaP '\x28\xb5\x2f\xfd' "$vmlinuz" | head -1 | cut -d: -f1 || true); dec="zstd -dc"; fi
  { tail -c +$((${off:-0}+1)) "$vmlinuz" | $dec > "$out.tmp"; } 2>/dev/null || true
  [ "$(head -c4 "$out.tmp" | od -An -tx1 | tr -d ' ')" = 7f454c46 ] || { rm -f "$out.tmp"; log "cannot extract vmlinux from $vmlinuz"; exit 1; }
  mv "$out.tmp" "$out"
}

# kernel_packages SUITE IMAGE-PACKAGE: the packages a kernel root is unpacked from, one a
# line: the image; in 7.x's split packaging the binary, modules and base packages the
# image (a metapackage) depends on; the headers, their -common and the kbuild.
kernel_packages() {
  local suite=$1 img=$2 kver hdr deps
  kver=${img#linux-image-}
  hdr=linux-headers-$kver
  echo "$img"
  acache "$suite" depends "$img" 2>/dev/null \
    | awk -v k="$kver" '$1 == "Depends:" && ($2 == "linux-binary-" k || $2 == "linux-modules-" k || $2 == "linux-base-" k) {print $2}'
  echo "$hdr"
  deps=$(acache "$suite" depends "$hdr" 2>/dev/null)
  echo "$deps" | awk '$1 == "Depends:" && $2 ~ /^linux-headers-.*-common$/ {print $2; exit}'
  echo "$deps" | awk '$1 == "Depends:" && $2 ~ /^linux-kbuild-/ {print $2; exit}'
}

# setup_kernel SUITE IMAGE-PACKAGE: the prepared root $cache/kernels/REL.
setup_kernel() {
  local suite=$1 img=$2 kver root tmp f p pkgs t0 moddir vmlinuz mk
  kver=${img#linux-image-}
  root=$cache/kernels/$kver
  if [ -f "$root/.ready" ]; then
    [ -f "$root/suite" ] || echo "$suite" > "$root/suite"   # roots prepared before suites were recorded
    return
  fi
  t0=$(date +%s)
  log "preparing $kver ($suite)"
  pkgs=$(kernel_packages "$suite" "$img")
  echo "$pkgs" | grep -q '^linux-headers-.*-common$' && echo "$pkgs" | grep -q '^linux-kbuild-' \
    || { log "cannot resolve the headers of $img in $suite (got: $(echo $pkgs))"; exit 1; }
  tmp=$root.tmp; rm -rf "$tmp"; mkdir -p "$tmp"
  : > "$tmp/versions.txt"
  for p in $pkgs; do
    f=$(fetch "$suite" "$p")
    dpkg -x "$f" "$tmp"
    echo "$p $(dpkg-deb -f "$f" Version)" >> "$tmp/versions.txt"
  done
  echo "$suite" > "$tmp/suite"
  # Merged-/usr packages (7.x) put everything under usr/lib/modules/REL (vmlinuz and config
  # too) and nothing in /lib or /boot: a lib -> usr/lib link lets depmod -b (and anything
  # reading ROOT/lib/modules) find it, as on an installed merged-/usr system.
  if [ -d "$tmp/usr/lib/modules/$kver" ] && [ ! -e "$tmp/lib" ]; then ln -s usr/lib "$tmp/lib"; fi
  moddir=$tmp/lib/modules/$kver
  [ -d "$moddir" ] || { log "$img: no modules directory (lib/modules/$kver or usr/lib/modules/$kver)"; exit 1; }
  # The headers' Makefile includes the -common tree by absolute path: point it at ours.
  mk=$tmp/usr/src/linux-headers-$kver/Makefile
  [ -f "$mk" ] && sed -i "s|^include /usr/src/|include $root/usr/src/|" "$mk"
  depmod -b "$tmp" "$kver"     # the package ships no modules.dep; this only writes files
  vmlinuz=$tmp/boot/vmlinuz-$kver
  [ -f "$vmlinuz" ] || vmlinuz=$moddir/vmlinuz
  extract_vmlinux "$vmlinuz" "$tmp/vmlinux"
  rm -rf "$root"; mv "$tmp" "$root"
  touch "$root/.ready"
  log "prepared $kver in $(( $(date +%s) - t0 )) s, $(du -sh "$root" | cut -f1)"
}

# setup_raw KVER: the image (with its binary, modules and base packages), headers and
# -common packages unpacked as they come, nothing added or changed (no vmlinux, no
# modules.dep, no lib link, the headers' Makefile as shipped), beside the prepared root:
# the model's fidelity harness reads this one, as a user's would.
setup_raw() {
  local kver=$1 raw=$cache/kernels/$1.raw tmp p f
  [ -f "$raw/.ready" ] && return
  log "unpacking $kver's packages as they come"
  tmp=$raw.tmp; rm -rf "$tmp"; mkdir -p "$tmp"
  while read -r p _; do
    case $p in linux-kbuild-*) continue ;; esac
    f=$(ls "$cache/debs/${p}"_*.deb | sort -V | tail -1)
    dpkg -x "$f" "$tmp"
  done < "$cache/kernels/$kver/versions.txt"
  rm -rf "$raw"; mv "$tmp" "$raw"
  touch "$raw/.ready"
}

picked=()
if [ -n "${GOKMOD_KERNELS:-}" ]; then
  for p in $GOKMOD_KERNELS; do
    p=linux-image-${p#linux-image-}
    s=$(suite_of "$p")
    [ -n "$s" ] || { log "GOKMOD_KERNELS: the archive has no package $p"; exit 1; }
    picked+=("$s $p")
  done
  log "kernels pinned by GOKMOD_KERNELS: $GOKMOD_KERNELS"
else
  # Querying the archive takes about a minute (apt-cache reads every suite's lists each
  # time): the pick is kept for as long as the private lists it came from (a day).
  pickf=$cache/kernels/picked
  papt_once
  if [ -s "$pickf" ] && [ "$pickf" -nt "$papt_dir/updated" ] && [ -z "$(find "$pickf" -mmin +1440)" ]; then
    mapfile -t picked < "$pickf"
  else
    mapfile -t picked < <(pick_kernels || { apt_update_once; pick_kernels; })
    [ "${#picked[@]}" -ge 5 ] || { log "cannot find the kernel packages (found: ${picked[*]:-none})"; exit 1; }
    printf '%s\n' "${picked[@]}" > "$pickf.tmp" && mv "$pickf.tmp" "$pickf"
  fi
fi
for sp in "${picked[@]}"; do
  read -r s p <<<"$sp"
  setup_kernel "$s" "$p"
  setup_raw "${p#linux-image-}"
done
# The list the Go harness reads: one prepared kernel release per line, oldest version first.
for sp in "${picked[@]}"; do read -r _ p <<<"$sp"; echo "${p#linux-image-}"; done | sort -V > "$cache/kernels/list.tmp"
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
  papt_once
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

# ---- the arm64 guests: Debian's arm64 kernels, busybox and kmod (scripts/setup-arm64.sh) ----
# make test boots one arm64 line, trixie's 6.12; `make setup-arm64` prepares all three.
GOKMOD_CACHE=$cache GOKMOD_ARM64_SUITES=${GOKMOD_ARM64_SUITES:-trixie} "$top/scripts/setup-arm64.sh"
