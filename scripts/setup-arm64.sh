#!/usr/bin/env bash
# setup-arm64.sh — what the arm64 guests need, idempotently (scripts/setup.sh runs it):
#
#   * host tools: qemu-system-arm (qemu-system-aarch64) and qemu-user-static
#     (qemu-aarch64-static, for `go test` of pure packages under user-mode emulation);
#   * Debian's arm64 kernel packages of the lines the arm64 judge boots, picked by
#     querying the archive: bookworm's 6.1 (what linux-image-arm64 depends on there),
#     trixie's newest 6.12 (+deb13) and sid's newest (7.x), each
#     unpacked with `dpkg -x` (image, for 7.x's split packaging its binary, modules and
#     base packages, headers and -common; no kbuild: its programs are arm64 binaries)
#     into $GOKMOD_CACHE/kernels-arm64/REL, never installed; plus REL.raw, the same
#     packages as they come, for the model;
#   * for the playground's cross builds (internal/testing/playground): the host's (amd64)
#     linux-kbuild-VER of each kernel's version, unpacked into REL (never REL.raw), as
#     Debian's own cross builds use it, with the headers' Makefile include pointed at the
#     unpacked -common tree (setup.sh does the same for amd64); then
#     `scripts/chroot.sh --needed-arm64`: the cross compiler each listed kernel needs
#     (gcc-N-aarch64-linux-gnu on this machine, or in the chroot with its gcc-N);
#   * the guests' arm64 user space: busybox-static, and kmod with every library its
#     binary needs (libkmod2, libc6, liblzma5, libzstd1, libssl3t64, zlib1g), from trixie
#     (kmod 34.2) into $GOKMOD_CACHE/guest-arm64/root and from bookworm (kmod 30) into
#     guest-arm64-bookworm/root: each guest carries its kernel's suite's kmod.
#
# The packages come through the private apt configuration of scripts/apt-private.sh,
# which already lists arm64 (APT::Architectures), and for bookworm a second one beside it
# (see in_suite): the machine's dpkg never learns the arm64 architecture and its sources
# are never touched.
#
# Each prepared root holds, besides the packages: modules.dep (depmod -b), Image (the
# arm64 kernel image uncompressed, which QEMU's -kernel boots directly), versions.txt,
# suite, arch (arm64) and, for merged-/usr packages, a lib -> usr/lib link.
# $GOKMOD_CACHE/kernels-arm64/list names the prepared releases, oldest version first.
# GOKMOD_KERNELS_ARM64 pins image packages (or releases) instead, as GOKMOD_KERNELS does
# for amd64.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
cache=${GOKMOD_CACHE:-$top/.cache}
kdir=$cache/kernels-arm64
mkdir -p "$cache/debs" "$kdir"

log() { echo "[setup-arm64] $*" >&2; }
host_suite=$(. /etc/os-release && echo "${VERSION_CODENAME:-bookworm}")

need=()
for p in qemu-system-arm qemu-user-static; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || need+=("$p")
done
if [ ${#need[@]} -gt 0 ]; then
  if [ "$(id -u)" != 0 ]; then log "missing packages (need root to install): ${need[*]}"; exit 1; fi
  log "installing ${need[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends -o DPkg::Lock::Timeout=600 "${need[@]}" >/dev/null
fi

# shellcheck source=apt-private.sh
GOKMOD_CACHE=$cache source "$top/scripts/apt-private.sh"
papt_update

# in_suite SUITE CMD...: CMD with apt reaching SUITE's arm64 packages. The shared private
# configuration has every suite but bookworm, this machine's own, whose sources carry no
# arm64: bookworm gets a configuration of its own (arm64 only, with bookworm-security as
# the machine's own sources have it, lists in apt-bookworm-arm64),
# so that the shared lists, and the amd64 kernel pick kept as long as they are, stay as
# they were.
in_suite() {
  local suite=$1; shift
  if [ "$suite" != bookworm ]; then "$@"; return; fi
  (
    PAPT_DIR=$cache/apt-bookworm-arm64 PAPT_SUITES=bookworm PAPT_ARCHS=arm64 PAPT_SECURITY=1
    # shellcheck source=apt-private.sh
    GOKMOD_CACHE=$cache source "$top/scripts/apt-private.sh"
    papt_update
    "$@"
  )
}

# meta_dep SUITE REGEX: the package linux-image-arm64 of SUITE depends on, matching REGEX.
meta_dep() {
  local suite=$1 re=$2 ver
  ver=$(papt_cache madison linux-image-arm64 2>/dev/null \
        | awk -F' [|] ' -v s="$suite" '{split($3, u, " "); split(u[2], d, "/"); sub(/-(security|updates)$/, "", d[1]); if (d[1] == s) {gsub(/ /, "", $2); print $2; exit}}')
  [ -n "$ver" ] || return 0
  papt_cache depends "linux-image-arm64:arm64=$ver" 2>/dev/null \
    | awk -v re="$re" '$1 == "Depends:" {gsub(/[<>]/, "", $2); sub(/:arm64$/, "", $2); if ($2 ~ re) {print $2; exit}}'
}

# images_in SUITE: the arm64 kernel image packages (not -cloud, -rt) SUITE serves, oldest
# version first.
images_in() {
  local suite=$1 names
  names=$(papt_cache search --names-only '^linux-image-[0-9]+\.[0-9]+[-.+0-9a-z]*-arm64$' 2>/dev/null \
          | awk '{print $1}' | grep -Ev -- '-(cloud|rt)-arm64$' || true)
  [ -n "$names" ] || return 0
  # shellcheck disable=SC2086
  papt_cache madison $names 2>/dev/null \
    | awk -F' [|] ' -v s="$suite" '{split($3, u, " "); split(u[2], d, "/"); sub(/-(security|updates)$/, "", d[1]); if (d[1] == s && $3 ~ / arm64 Packages/) print $1}' \
    | tr -d ' ' | sed 's/:arm64$//' | sort -uV
}

# fetch SUITE PKG[:arm64] [SUB] -> path of its .deb in the cache (arm64 files only: an
# architecture-qualified name never picks up the amd64 .deb of the same package). The
# guests' packages (libc6, kmod...) go to debs/arm64-SUB, one directory per suite, since
# the same package of two suites must not be taken for one another.
fetch() {
  local suite=$1 pkg=$2 base f d=$cache/debs${3:+/arm64-$3}
  base=${pkg%:arm64}
  mkdir -p "$d"
  f=$(ls "$d/${base}"_*_arm64.deb "$d/${base}"_*_all.deb 2>/dev/null | sort -V | tail -1 || true)
  if [ -z "$f" ]; then
    log "downloading $pkg ($suite)"
    # A stable release's kernel may be in its security suite only.
    (cd "$d" && { papt download -q "$pkg/$suite" >/dev/null 2>&1 || papt download -q "$pkg/$suite-security" >/dev/null; })
    f=$(ls "$d/${base}"_*_arm64.deb "$d/${base}"_*_all.deb 2>/dev/null | sort -V | tail -1)
  fi
  echo "$f"
}

# kernel_packages SUITE IMAGE: the image; in 7.x's split packaging the binary, modules and
# base packages it depends on; the headers and their -common.
kernel_packages() {
  local suite=$1 img=$2 kver hdr
  kver=${img#linux-image-}
  hdr=linux-headers-$kver
  echo "$img"
  papt_cache depends "$img:arm64" 2>/dev/null \
    | awk -v k="$kver" '$1 == "Depends:" {gsub(/[<>]/, "", $2); sub(/:arm64$/, "", $2); if ($2 == "linux-binary-" k || $2 == "linux-modules-" k || $2 == "linux-base-" k) print $2}'
  echo "$hdr"
  papt_cache depends "$hdr:arm64" 2>/dev/null | awk '$1 == "Depends:" {gsub(/[<>]/, "", $2); sub(/:arm64$/, "", $2)} $1 == "Depends:" && $2 ~ /^linux-headers-.*-common$/ {print $2; exit}'
}

# unpack_image VMLINUZ OUT: the arm64 Image QEMU boots. Debian ships it gzip-compressed
# (vmlinuz); an EFI zboot image (MZ, "zimg" at offset 4) carries its payload at the
# offset and size its header gives.
unpack_image() {
  local z=$1 out=$2 magic
  magic=$(head -c 8 "$z" | od -An -tx1 | tr -d ' \n')
  case $magic in
    1f8b*) gzip -dc "$z" > "$out.tmp" ;;
    4d5a00007a696d67)
      local off size comp
      off=$(od -An -tu4 -j 8 -N 4 "$z" | tr -d ' '); size=$(od -An -tu4 -j 12 -N 4 "$z" | tr -d ' ')
      comp=$(dd if="$z" bs=1 skip=24 count=8 2>/dev/null | tr -d '\0')
      case $comp in gzip) dec="gzip -dc" ;; zstd|zstd22) dec="zstd -dc" ;; xzkern) dec="xz -dc" ;; *) log "$z: zboot payload compressed as '$comp': not handled"; exit 1 ;; esac
      tail -c +$((off+1)) "$z" | head -c "$size" | $dec > "$out.tmp" ;;
    *) cp "$z" "$out.tmp" ;;
  esac
  # An arm64 Image has "ARM\x64" at offset 56.
  [ "$(dd if="$out.tmp" bs=1 skip=56 count=4 2>/dev/null | od -An -tx1 | tr -d ' ')" = 41524d64 ] \
    || { rm -f "$out.tmp"; log "$z: not an arm64 Image after decompression"; exit 1; }
  mv "$out.tmp" "$out"
}

# setup_kernel SUITE IMAGE: $kdir/REL and $kdir/REL.raw.
setup_kernel() {
  local suite=$1 img=$2 kver root tmp raw f p pkgs t0 moddir vmlinuz
  kver=${img#linux-image-}
  root=$kdir/$kver raw=$kdir/$kver.raw
  [ -f "$root/.ready" ] && [ -f "$raw/.ready" ] && return
  t0=$(date +%s)
  log "preparing $kver ($suite, arm64)"
  pkgs=$(kernel_packages "$suite" "$img")
  echo "$pkgs" | grep -q '^linux-headers-.*-common' || { log "cannot resolve the headers of $img in $suite (got: $(echo $pkgs))"; exit 1; }
  tmp=$root.tmp; rm -rf "$tmp" "$raw.tmp"; mkdir -p "$tmp" "$raw.tmp"
  : > "$tmp/versions.txt"
  for p in $pkgs; do
    f=$(fetch "$suite" "$p")
    dpkg -x "$f" "$tmp"
    dpkg -x "$f" "$raw.tmp"
    echo "$p $(dpkg-deb -f "$f" Version)" >> "$tmp/versions.txt"
  done
  echo "$suite" > "$tmp/suite"
  echo arm64 > "$tmp/arch"
  if [ -d "$tmp/usr/lib/modules/$kver" ] && [ ! -e "$tmp/lib" ]; then ln -s usr/lib "$tmp/lib"; fi
  moddir=$tmp/lib/modules/$kver
  [ -d "$moddir" ] || { log "$img: no modules directory"; exit 1; }
  depmod -b "$tmp" "$kver"     # only writes files under $tmp
  vmlinuz=$tmp/boot/vmlinuz-$kver
  [ -f "$vmlinuz" ] || vmlinuz=$moddir/vmlinuz
  unpack_image "$vmlinuz" "$tmp/Image"
  rm -rf "$root" "$raw"; mv "$tmp" "$root"; mv "$raw.tmp" "$raw"
  touch "$root/.ready" "$raw/.ready"
  log "prepared $kver in $(( $(date +%s) - t0 )) s, $(du -sh "$root" | cut -f1)"
}

# fetch_amd64 SUITE PKG VERSION -> path of the amd64 .deb of PKG=VERSION in the cache,
# downloaded through the host's own apt for the host's suite, else the private one.
fetch_amd64() {
  local suite=$1 pkg=$2 ver=$3 f
  f=$cache/debs/${pkg}_${ver//:/%3a}_amd64.deb
  if [ ! -f "$f" ]; then
    log "downloading $pkg=$ver (amd64, $suite)"
    if [ "$suite" = "$host_suite" ]; then
      (cd "$cache/debs" && { apt-get download -q "$pkg:amd64=$ver" >/dev/null 2>&1 \
        || { apt-get update -qq && apt-get download -q "$pkg:amd64=$ver" >/dev/null; }; })
    else
      (cd "$cache/debs" && papt download -q "$pkg:amd64=$ver" >/dev/null)
    fi
    [ -f "$f" ] || { log "downloading $pkg=$ver left no $f"; exit 1; }
  fi
  echo "$f"
}

# setup_kbuild SUITE KVER: the host's linux-kbuild-VER for the prepared root $kdir/KVER,
# idempotently: the package the headers' scripts and tools links name (VER), at the
# headers' own version, unpacked there and recorded in versions.txt; and the headers'
# Makefile made to include the unpacked -common tree instead of /usr/src's.
setup_kbuild() {
  local suite=$1 kver=$2 root=$kdir/$2 hdr link pkg ver f
  hdr=$root/usr/src/linux-headers-$kver
  [ -f "$root/.kbuild" ] && return
  link=$(readlink "$hdr/scripts") || { log "$hdr/scripts is not a link to a kbuild"; exit 1; }
  pkg=$(basename "$(dirname "$link")")   # ../../lib/linux-kbuild-VER/scripts
  case $pkg in linux-kbuild-*) ;; *) log "$hdr/scripts links to $link, not a linux-kbuild package"; exit 1 ;; esac
  ver=$(awk -v p="linux-headers-$kver" '$1 == p {print $2}' "$root/versions.txt")
  [ -n "$ver" ] || { log "$root/versions.txt has no linux-headers-$kver"; exit 1; }
  f=$(fetch_amd64 "$suite" "$pkg" "$ver")
  dpkg -x "$f" "$root"
  [ -x "$hdr/scripts/mod/modpost" ] || { log "$f: no scripts/mod/modpost behind $hdr/scripts"; exit 1; }
  { grep -v "^$pkg " "$root/versions.txt" || true; echo "$pkg $ver"; } > "$root/versions.txt.tmp"
  mv "$root/versions.txt.tmp" "$root/versions.txt"
  sed -i "s|^include /usr/src/|include $root/usr/src/|" "$hdr/Makefile"
  touch "$root/.kbuild"
  log "unpacked $pkg $ver (amd64) into $kver"
}

# setup_guest SUITE DIR: busybox-static and kmod with its libraries for arm64, from SUITE
# (trixie: kmod 34.2, merged-/usr; bookworm: kmod 30, /bin), into $cache/DIR.
setup_guest() {
  local suite=$1 dir=$cache/$2 tmp p f ssl=libssl3t64
  [ -f "$dir/.ready" ] && return
  log "preparing the arm64 guest's busybox and kmod ($suite)"
  [ "$suite" = bookworm ] && ssl=libssl3
  tmp=$dir.tmp; rm -rf "$tmp"; mkdir -p "$tmp/root"
  : > "$tmp/versions.txt"
  for p in busybox-static kmod libkmod2 libc6 $ssl liblzma5 libzstd1 zlib1g; do
    f=$(fetch "$suite" "$p:arm64" "$suite")
    dpkg -x "$f" "$tmp/root"
    echo "$p $(dpkg-deb -f "$f" Version)" >> "$tmp/versions.txt"
  done
  for f in busybox kmod; do
    [ -f "$tmp/root/usr/bin/$f" ] || [ -f "$tmp/root/bin/$f" ] || { log "arm64 guest ($suite): $f missing from the packages"; exit 1; }
  done
  rm -rf "$dir"; mv "$tmp" "$dir"
  touch "$dir/.ready"
}

# GOKMOD_ARM64_SUITES chooses the lines (suites) to prepare: all three by default;
# make test's setup asks for trixie's alone (its one arm64 guest), `make setup-arm64`
# for all of them.
suites=" ${GOKMOD_ARM64_SUITES:-bookworm trixie sid} "

# pick_kernels prints "SUITE IMAGE-PACKAGE" for each arm64 line of $suites: bookworm's 6.1
# (linux-image-arm64's dependency there), trixie's newest 6.12 (+deb13), sid's newest.
pick_kernels() {
  local k
  case $suites in *" bookworm "*)
    k=$(in_suite bookworm meta_dep bookworm '^linux-image-6\.1\.')
    [ -n "$k" ] || { log "cannot find bookworm's arm64 6.1 kernel"; return 1; }
    echo "bookworm $k" ;;
  esac
  case $suites in *" trixie "*)
    k=$(images_in trixie | grep -E '^linux-image-6\.12\.[0-9]+\+deb13-arm64$' | tail -1 || true)
    [ -n "$k" ] || { log "cannot find trixie's arm64 6.12 kernel"; return 1; }
    echo "trixie $k" ;;
  esac
  case $suites in *" sid "*)
    k=$(images_in sid | tail -1)
    [ -n "$k" ] || { log "cannot find sid's arm64 kernel"; return 1; }
    echo "sid $k" ;;
  esac
}

# The guests carry the kmod of their kernel's suite, as the amd64 ones do
# (testenv.DistroKmod): trixie's 34.2, and bookworm's 30 for 6.1.
setup_guest trixie guest-arm64
case $suites in *" bookworm "*) in_suite bookworm setup_guest bookworm guest-arm64-bookworm ;; esac

picked=()
if [ -n "${GOKMOD_KERNELS_ARM64:-}" ]; then
  for p in $GOKMOD_KERNELS_ARM64; do
    p=linux-image-${p#linux-image-}
    s=$(papt_cache madison "$p:arm64" 2>/dev/null | awk -F' [|] ' '{split($3, u, " "); split(u[2], d, "/"); print d[1]; exit}')
    [ -n "$s" ] || s=$(in_suite bookworm papt_cache madison "$p:arm64" 2>/dev/null | awk -F' [|] ' '{split($3, u, " "); split(u[2], d, "/"); sub(/-security$/, "", d[1]); print d[1]; exit}')
    [ -n "$s" ] || { log "GOKMOD_KERNELS_ARM64: the archive has no package $p for arm64"; exit 1; }
    picked+=("$s $p")
  done
else
  # The archive query takes a minute or two (apt-cache reads every suite's lists): the
  # pick is kept for as long as the lists it came from (a day), as setup.sh keeps its own.
  pickf=$kdir/picked.$(echo $suites | tr ' ' '-')
  fresh=yes
  case $suites in *" bookworm "*)
    in_suite bookworm true   # refreshes bookworm's lists when they are a day old
    [ "$pickf" -nt "$cache/apt-bookworm-arm64/updated" ] || fresh= ;;
  esac
  if [ -n "$fresh" ] && [ -s "$pickf" ] && [ "$pickf" -nt "$papt_dir/updated" ] \
     && [ -z "$(find "$pickf" -mmin +1440)" ]; then
    mapfile -t picked < "$pickf"
  else
    mapfile -t picked < <(pick_kernels)
    [ "${#picked[@]}" = "$(echo $suites | wc -w)" ] || { log "cannot find the arm64 kernel packages of$suites(found: ${picked[*]:-none})"; exit 1; }
    printf '%s\n' "${picked[@]}" > "$pickf.tmp" && mv "$pickf.tmp" "$pickf"
  fi
fi
for sp in "${picked[@]}"; do
  read -r s p <<<"$sp"
  in_suite "$s" setup_kernel "$s" "$p"
done
for sp in "${picked[@]}"; do
  read -r s p <<<"$sp"
  setup_kbuild "$s" "${p#linux-image-}"
done
for sp in "${picked[@]}"; do read -r _ p <<<"$sp"; echo "${p#linux-image-}"; done | sort -V > "$kdir/list.tmp"
mv "$kdir/list.tmp" "$kdir/list"
log "arm64 kernels ready: $(tr '\n' ' ' < "$kdir/list")"
GOKMOD_CACHE=$cache "$top/scripts/chroot.sh" --needed-arm64  # the cross compilers the listed kernels' playgrounds need
