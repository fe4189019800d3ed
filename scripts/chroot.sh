#!/usr/bin/env bash
# chroot.sh — cached debootstrap chroots of Debian suites, with the compiler a kernel line's
# kbuild needs where this machine's own gcc is too old (internal/testing/playground builds there).
#
#   scripts/chroot.sh SUITE [GCC]   make $GOKMOD_CACHE/chroots/SUITE (GCC: a package such as
#                                   gcc-14; default: the newest gcc-N SUITE ships) and print
#                                   its path
#   scripts/chroot.sh --needed      make the chroots the prepared kernels ($cache/kernels/list)
#                                   need, and only those: a kernel whose compiler (its
#                                   headers' CONFIG_CC_VERSION_TEXT) is newer than the host's
#                                   gcc, or whose kbuild binaries do not run here, needs the
#                                   oldest of bullseye, trixie, sid that ships that gcc-N
#   scripts/chroot.sh --needed-arm64  the same for the prepared arm64 kernels
#                                   ($cache/kernels-arm64/list), whose playground is
#                                   cross-built: a kernel whose kbuild runs here and whose gcc
#                                   is no newer than the host's gets the host's
#                                   gcc-N-aarch64-linux-gnu (apt-get install on the host);
#                                   any other gets gcc-N-aarch64-linux-gnu added to the chroot
#                                   with its gcc-N (made first when missing)
#   scripts/chroot.sh --cross SUITE GCC CROSS   add the cross compiler package CROSS (e.g.
#                                   gcc-14-aarch64-linux-gnu) to the chroot of SUITE with GCC
#   scripts/chroot.sh --suite-for GCC-MAJOR   print that suite
#
# Idempotent: a chroot is made in SUITE.tmp and renamed into place, then marked .ready; a
# half-made one (no .ready, or made for another compiler) is removed and made again. Each
# ready chroot holds compiler (the gcc-N package it was made for) and versions.txt (the
# packages debootstrap put in it, from dpkg-query). Packages come from Debian's archive;
# nothing is installed on the host but debootstrap itself (and, for --needed-arm64, the
# host's own cross compiler). Needs root.
#
# A chroot may also hold cross compilers, installed after debootstrap with the chroot's own
# apt (its lists as debootstrap left them, so that nothing already there moves; updated
# only when the archive no longer serves those versions). Then cross names them, one a
# line, and versions-cross.txt lists every package in the chroot, the cross builds' cache
# key; versions.txt keeps listing the packages debootstrap installed (at their versions
# now), so that the native builds' key, and their cached playgrounds, stay as they were
# unless one of those packages had to move.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
cache=${GOKMOD_CACHE:-$top/.cache}
export GOKMOD_CACHE=$cache
mirror=${GOKMOD_DEBIAN_MIRROR:-http://deb.debian.org/debian}
log() { echo "[chroot] $*" >&2; }

# shellcheck source=apt-private.sh
source "$top/scripts/apt-private.sh"
papt_ready=0
papt_once() { # papt_update, once, and never beside another run's (they share its files)
  if [ "$papt_ready" = 0 ]; then
    mkdir -p "$cache/chroots"
    flock "$cache/chroots/.apt.lock" bash -c 'source "$1/scripts/apt-private.sh" && papt_update' _ "$top"
    papt_init
    papt_ready=1
  fi
}

# in_suite PKG SUITE: whether SUITE's amd64 archive has PKG (per the private lists).
in_suite() {
  papt_once
  papt_cache madison "$1" 2>/dev/null | grep -q " $2/main amd64 Packages"
}

# newest_gcc SUITE prints the newest gcc-N package SUITE ships.
newest_gcc() {
  papt_once
  local names n
  names=$(papt_cache search --names-only '^gcc-[0-9]+$' | awk '{print $1}')
  # shellcheck disable=SC2086 # one apt-cache run for all of them: each takes seconds
  n=$(papt_cache madison $names 2>/dev/null | awk -v s=" $1/main amd64 Packages" 'index($0, s) {print $1}' \
      | sed 's/^gcc-//' | sort -n | tail -1)
  [ -n "$n" ] || { log "$1 ships no gcc-N"; return 1; }
  echo "gcc-$n"
}

# suite_for MAJOR prints the oldest of bullseye, trixie, sid that ships gcc-MAJOR.
suite_for() {
  papt_once
  local out s
  out=$(papt_cache madison "gcc-$1" 2>/dev/null)
  for s in bullseye trixie sid; do
    if grep -q " $s/main amd64 Packages" <<<"$out"; then echo "$s"; return; fi
  done
  log "no suite ships gcc-$1"; return 1
}

# have_chroot GCC: whether a ready chroot has compiler GCC; prints its directory.
have_chroot() {
  local c
  for c in "$cache"/chroots/*/compiler; do
    [ -f "$(dirname "$c")/.ready" ] && [ "$(cat "$c")" = "$1" ] && { dirname "$c"; return 0; }
  done
  return 1
}

# unmount_under DIR unmounts whatever a killed debootstrap left mounted inside DIR.
unmount_under() {
  local m
  { awk '{print $5}' /proc/self/mountinfo | grep -E "^$1(/|\$)" || true; } | sort -r | while read -r m; do
    umount -l "$m" || true
  done
}

make_chroot() { # make_chroot SUITE [GCC]
  local suite=$1 cc=${2:-} dir tmp start inc p
  dir=$cache/chroots/$suite
  if [ -z "$cc" ]; then
    # A ready chroot answers without asking the archive.
    if [ -f "$dir/.ready" ]; then echo "$dir"; return; fi
    cc=$(newest_gcc "$suite")
  fi
  if [ -f "$dir/.ready" ] && [ "$(cat "$dir/compiler" 2>/dev/null)" = "$cc" ]; then echo "$dir"; return; fi
  [ "$(id -u)" = 0 ] || { log "making a chroot needs root"; return 1; }
  command -v debootstrap >/dev/null || {
    log "installing debootstrap"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends debootstrap >/dev/null
  }
  mkdir -p "$cache/chroots"
  exec 9>"$cache/chroots/.$suite.lock"
  flock 9
  if [ -f "$dir/.ready" ] && [ "$(cat "$dir/compiler" 2>/dev/null)" = "$cc" ]; then echo "$dir"; exec 9>&-; return; fi
  # What kbuild needs for external modules; the gcc-N-for-host package (where the suite has
  # one) is what Debian's headers of that suite depend on.
  inc="$cc,make,libc6-dev,libelf-dev,libssl-dev,bc,flex,bison,cpio,kmod,xz-utils"
  if in_suite "$cc-for-host" "$suite"; then inc="$inc,$cc-for-host"; fi
  log "making the $suite chroot with $cc in $dir"
  start=$(date +%s)
  for p in "$dir.tmp" "$dir"; do
    if [ -e "$p" ]; then unmount_under "$p"; rm -rf --one-file-system "$p"; fi
  done
  # A private mount namespace: debootstrap's /proc and /sys mounts inside the chroot go away
  # with it, even when it is killed.
  unshare -m --propagation private \
    debootstrap --variant=minbase --include="$inc" "$suite" "$dir.tmp" "$mirror" \
    > "$cache/chroots/$suite.debootstrap.log" 2>&1 || {
      log "debootstrap $suite failed: see $cache/chroots/$suite.debootstrap.log"
      tail -5 "$cache/chroots/$suite.debootstrap.log" >&2; return 1; }
  rm -f "$dir.tmp"/var/cache/apt/archives/*.deb
  echo "$cc" > "$dir.tmp/compiler"
  dpkg-query --admindir="$dir.tmp/var/lib/dpkg" -W -f='${Package} ${Version}\n' > "$dir.tmp/versions.txt"
  grep -q "^$cc " "$dir.tmp/versions.txt" || { log "the $suite chroot has no $cc"; return 1; }
  mv "$dir.tmp" "$dir"
  touch "$dir/.ready"
  exec 9>&-
  log "$suite chroot ready in $(( $(date +%s) - start )) s, $(du -sh --one-file-system "$dir" | cut -f1): $(grep "^$cc " "$dir/versions.txt")"
  echo "$dir"
}

# kernel_gcc_major HEADERS prints the gcc major the kernel was built with.
kernel_gcc_major() {
  sed -n 's/^CONFIG_CC_VERSION_TEXT="[^"]*gcc[^"]*) \([0-9]*\)\..*/\1/p' "$1/.config" | head -1
}

# kbuild_runs HEADERS: whether the headers' kbuild programs (fixdep, modpost, objtool...) run
# on this machine: whether the newest glibc symbol version they need is the host's or older.
kbuild_runs() {
  local need have
  have=$(getconf GNU_LIBC_VERSION | awk '{print $2}')
  need=$(find -L "$1/scripts/" "$1/tools/" -type f -perm -u+x 2>/dev/null \
         | while read -r f; do objdump -T "$f" 2>/dev/null || true; done \
         | grep -o 'GLIBC_[0-9][0-9.]*' | sed 's/^GLIBC_//' | sort -uV | tail -1 || true)
  [ -z "$need" ] || [ "$(printf '%s\n%s\n' "$need" "$have" | sort -V | tail -1)" = "$have" ]
}

needed() {
  local host rel hdr major s
  host=$(gcc -dumpversion | cut -d. -f1)
  [ -f "$cache/kernels/list" ] || { log "no prepared kernels"; return 0; }
  while read -r rel; do
    [ -n "$rel" ] || continue
    hdr=$cache/kernels/$rel/usr/src/linux-headers-$rel
    major=$(kernel_gcc_major "$hdr")
    [ -n "$major" ] || { log "$rel: no gcc in CONFIG_CC_VERSION_TEXT"; continue; }
    if [ "$major" -le "$host" ] && kbuild_runs "$hdr"; then continue; fi
    if have_chroot "gcc-$major" >/dev/null; then continue; fi
    s=$(suite_for "$major")
    log "$rel was built with gcc-$major: needs the $s chroot"
    make_chroot "$s" "gcc-$major" >/dev/null
  done < "$cache/kernels/list"
}

# in_chroot DIR CMD...: CMD run inside the chroot DIR with /proc mounted, in a private
# mount namespace: the mount goes away with it, however CMD ends.
in_chroot() {
  local dir=$1; shift
  unshare -m --propagation private sh -c 'd=$1; shift; mount -t proc proc "$d/proc" && exec chroot "$d" "$@"' \
    sh "$dir" env DEBIAN_FRONTEND=noninteractive PATH=/usr/sbin:/usr/bin:/sbin:/bin "$@"
}

# has_cross DIR CROSS: whether the chroot DIR holds the cross compiler package CROSS.
has_cross() { grep -qx "$2" "$1/cross" 2>/dev/null && [ -f "$1/versions-cross.txt" ]; }

# add_cross DIR CROSS: install the cross compiler package CROSS in the ready chroot DIR with
# the chroot's own apt, idempotently; then rewrite versions-cross.txt, cross and, should the
# install have moved one of them, versions.txt (see the head of this file).
add_cross() {
  local dir=$1 cross=$2 suite start log install
  suite=$(basename "$dir")
  [ -f "$dir/.ready" ] || { log "$dir is not a ready chroot"; return 1; }
  has_cross "$dir" "$cross" && return 0
  [ "$(id -u)" = 0 ] || { log "adding $cross to the $suite chroot needs root"; return 1; }
  exec 9>"$cache/chroots/.$suite.lock"
  flock 9
  if has_cross "$dir" "$cross"; then exec 9>&-; return 0; fi
  log "adding $cross to the $suite chroot"
  start=$(date +%s)
  log=$cache/chroots/$suite.cross.log
  install=(apt-get install -y -q --no-install-recommends -o Dpkg::Use-Pty=0 "$cross")
  # The lists debootstrap left name the versions already installed: nothing moves. The
  # archive drops superseded versions (sid's, within days); then the lists are refreshed.
  if ! in_chroot "$dir" "${install[@]}" > "$log" 2>&1; then
    log "the archive no longer serves what the $suite chroot's lists name: updating them"
    { in_chroot "$dir" apt-get update -q && in_chroot "$dir" "${install[@]}"; } >> "$log" 2>&1 || {
      log "installing $cross in the $suite chroot failed: see $log"; tail -5 "$log" >&2; exec 9>&-; return 1; }
  fi
  rm -f "$dir"/var/cache/apt/archives/*.deb
  dpkg-query --admindir="$dir/var/lib/dpkg" -W -f='${Package} ${Version}\n' > "$dir/versions-cross.txt.tmp"
  grep -q "^$cross " "$dir/versions-cross.txt.tmp" || { log "the $suite chroot has no $cross after apt-get install"; exec 9>&-; return 1; }
  awk 'NR == FNR {base[$1]; next} $1 in base' "$dir/versions.txt" "$dir/versions-cross.txt.tmp" > "$dir/versions.txt.tmp"
  if cmp -s "$dir/versions.txt" "$dir/versions.txt.tmp"; then
    rm "$dir/versions.txt.tmp"
  else
    log "installing $cross moved packages debootstrap had installed in the $suite chroot (its native builds will be made again):"
    diff "$dir/versions.txt" "$dir/versions.txt.tmp" >&2 || true
    mv "$dir/versions.txt.tmp" "$dir/versions.txt"
  fi
  mv "$dir/versions-cross.txt.tmp" "$dir/versions-cross.txt"
  { cat "$dir/cross" 2>/dev/null || true; echo "$cross"; } | sort -u > "$dir/cross.tmp"
  mv "$dir/cross.tmp" "$dir/cross"
  exec 9>&-
  log "$cross in the $suite chroot in $(( $(date +%s) - start )) s: $(grep "^$cross " "$dir/versions-cross.txt")"
}

# host_cross PKG: the host's cross compiler package PKG, installed with the host's apt.
host_cross() {
  dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q 'install ok installed' && return 0
  [ "$(id -u)" = 0 ] || { log "installing $1 on this machine needs root"; return 1; }
  log "installing $1 on this machine"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends -o DPkg::Lock::Timeout=600 "$1" >/dev/null
}

# needed_arm64: what the prepared arm64 kernels' cross builds need (see the head of this
# file). Their kbuild must be the host's (amd64) one, which setup-arm64.sh unpacks.
needed_arm64() {
  local host rel hdr major dir list=$cache/kernels-arm64/list
  host=$(gcc -dumpversion | cut -d. -f1)
  [ -f "$list" ] || { log "no prepared arm64 kernels"; return 0; }
  while read -r rel; do
    [ -n "$rel" ] || continue
    hdr=$cache/kernels-arm64/$rel/usr/src/linux-headers-$rel
    [ -x "$hdr/scripts/mod/modpost" ] || { log "$rel: no kbuild in $hdr/scripts (scripts/setup-arm64.sh unpacks it)"; return 1; }
    major=$(kernel_gcc_major "$hdr")
    [ -n "$major" ] || { log "$rel: no gcc in CONFIG_CC_VERSION_TEXT"; return 1; }
    if [ "$major" -le "$host" ] && kbuild_runs "$hdr"; then
      host_cross "gcc-$host-aarch64-linux-gnu"
      continue
    fi
    dir=$(have_chroot "gcc-$major") || dir=$(make_chroot "$(suite_for "$major")" "gcc-$major")
    add_cross "$dir" "gcc-$major-aarch64-linux-gnu"
  done < "$list"
}

case ${1:-} in
  --needed) needed ;;
  --needed-arm64) needed_arm64 ;;
  --cross) add_cross "$(make_chroot "${2:?usage: chroot.sh --cross SUITE GCC CROSS}" "${3:?}")" "${4:?}" ;;
  --suite-for) suite_for "${2:?usage: chroot.sh --suite-for GCC-MAJOR}" ;;
  ''|-*) sed -n '2,37p' "$0" >&2; exit 2 ;;
  *) make_chroot "$1" "${2:-}" ;;
esac
