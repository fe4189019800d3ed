#!/usr/bin/env bash
# Print the exact versions every test run uses: host tools and the unpacked kernel packages.
set -euo pipefail
cache=${GOKMOD_CACHE:-$(cd "$(dirname "$0")/.." && pwd)/.cache}
echo "== versions =="
echo "go: $(go version | awk '{print $3}')"
for p in qemu-system-x86 kmod busybox-static gcc-12; do
  echo "$p: $(dpkg-query -W -f='${Version}' "$p" 2>/dev/null || echo missing)"
done
while read -r k; do
  [ -n "$k" ] && sed 's/^/kernel: /' "$cache/kernels/$k/versions.txt"
done < "$cache/kernels/list"
[ -f "$cache/kmod34/versions.txt" ] && sed 's/^/kmod 34 (trixie, run with its own glibc): /' "$cache/kmod34/versions.txt" | head -2
for d in "$cache"/chroots/*/; do
  [ -f "$d/.ready" ] && [ -f "$d/compiler" ] || continue
  c=$(cat "$d/compiler")
  echo "chroot $(basename "$d") (playground builds): $(grep -m1 "^$c " "$d/versions.txt" 2>/dev/null || echo "$c")"
done
