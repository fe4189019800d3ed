#!/usr/bin/env bash
# apt-private.sh — a private apt configuration for the Debian suites this machine's own
# sources lack (bullseye, trixie, sid, experimental; amd64 and arm64), kept in the cache.
#
#   source scripts/apt-private.sh      # defines papt (apt-get with the private config)
#   papt_update                         # apt-get update of the private lists, once per run
#   papt download PKG...                # into the current directory
#
# The system's sources are never touched: with those suites in /etc/apt, an
# `apt-get install` would pull packages from sid. Here apt reads only the private sources
# list and keeps its lists and package cache under $GOKMOD_CACHE/apt; nothing is
# installed through it, only downloaded and unpacked with dpkg -x.
#
# PAPT_DIR, PAPT_SUITES and PAPT_ARCHS make another such configuration beside it, with its
# own lists (scripts/setup-arm64.sh reaches bookworm's arm64 packages so, leaving the
# shared lists, and the kernel pick kept as long as they are, as they were).
papt_dir=${PAPT_DIR:-${GOKMOD_CACHE:?GOKMOD_CACHE must be set}/apt}
papt_suites=${PAPT_SUITES:-bullseye trixie sid experimental}
papt_archs=${PAPT_ARCHS:-amd64,arm64}
papt_mirror=${GOKMOD_DEBIAN_MIRROR:-http://deb.debian.org/debian}
# PAPT_SECURITY=1 adds each suite's security updates (SUITE-security), as a stable
# machine's own sources have them: a stable release's kernel moves there between point
# releases.
papt_security=${PAPT_SECURITY:-0}

papt_init() {
  mkdir -p "$papt_dir/lists/partial" "$papt_dir/archives/partial" "$papt_dir/preferences.d"
  local keys=/usr/share/keyrings/debian-archive-keyring.gpg
  # Each run writes its own temporary files: two runs at once (setup.sh and chroot.sh)
  # must not rename each other's.
  local tmp=$papt_dir/.tmp.$$
  local s
  for s in $papt_suites; do
    echo "deb [arch=$papt_archs signed-by=$keys] $papt_mirror $s main"
    if [ "$papt_security" = 1 ]; then
      echo "deb [arch=$papt_archs signed-by=$keys] $papt_mirror-security $s-security main"
    fi
  done > "$tmp.sources"
  mv "$tmp.sources" "$papt_dir/sources.list"
  cat > "$tmp.conf" <<CONF
Dir::Etc::sourcelist "$papt_dir/sources.list";
Dir::Etc::sourceparts "-";
Dir::Etc::preferencesparts "$papt_dir/preferences.d";
Dir::State::Lists "$papt_dir/lists";
Dir::State::status "$papt_dir/status";
Dir::Cache "$papt_dir";
Dir::Cache::archives "$papt_dir/archives";
APT::Architectures { "amd64"; "arm64"; };
Acquire::Languages "none";
APT::Sandbox::User "root";
CONF
  mv "$tmp.conf" "$papt_dir/apt.conf"
  touch "$papt_dir/status"
}

papt() { APT_CONFIG=$papt_dir/apt.conf apt-get -q "$@"; }
papt_cache() { APT_CONFIG=$papt_dir/apt.conf apt-cache "$@"; }

# papt_update refreshes the private lists when they are missing or older than a day (the
# archive moves; a day-old list can name a package it no longer serves).
papt_update() {
  papt_init
  local stamp=$papt_dir/updated
  if [ -f "$stamp" ] && [ -z "$(find "$stamp" -mmin +1440)" ]; then return 0; fi
  echo "[setup] updating the private apt lists ($papt_suites; $papt_archs)" >&2
  papt update -qq >/dev/null && touch "$stamp"
}
