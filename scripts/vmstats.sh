#!/usr/bin/env bash
# Sum up what the VM tests did during a run (lines appended by internal/testing/vmtest).
f=${1:?stats file}
boots=0; cmds=0
if [ -f "$f" ]; then
  boots=$(grep -c '^boot ' "$f" || true); cmds=$(grep -c '^cmd$' "$f" || true)
fi
echo "== QEMU guests booted: $boots; guest commands run: $cmds =="
if [ -f "$f" ]; then grep '^boot ' "$f" | sort | uniq -c | sed 's/^/   /'; fi
