#!/usr/bin/env bash
# make test's closing table: per module tree and per kmod release, which differential
# checks of the tools were byte-identical (testenv.Matrix writes the MATRIX lines into
# the report). A "-" is a check that did not run or did not pass: the run's own FAIL lines
# say which.
set -euo pipefail
report=${1:?report file}
[ -f "$report" ] || { echo "(no report: $report)"; exit 0; }
grep -P '^MATRIX\t' "$report" | awk -F'\t' '
# sorted(set, out): the keys of set in out[1..n], sorted (mawk has no asorti).
function sorted(set, out,   n, k, i, j, x) {
  n = 0
  for (k in set) out[++n] = k
  for (i = 2; i <= n; i++) { x = out[i]; for (j = i - 1; j > 0 && out[j] > x; j--) out[j + 1] = out[j]; out[j + 1] = x }
  return n
}
{ key = $2 SUBSEP $3 SUBSEP $4
  if (key in cell) cell[key] = cell[key] "; " $5; else cell[key] = $5
  trees[$2] = 1; kmods[$3] = 1; checks[$4] = 1 }
END {
  nt = sorted(trees, t); nk = sorted(kmods, k); nc = sorted(checks, c)
  print "== byte-identical to kmod, per module tree and kmod release =="
  for (i = 1; i <= nt; i++) for (j = 1; j <= nk; j++) {
    printf "%-24s kmod %-5s", t[i], k[j]
    for (l = 1; l <= nc; l++) {
      key = t[i] SUBSEP k[j] SUBSEP c[l]
      printf "  %s: %s", c[l], (key in cell ? cell[key] : "-")
    }
    printf "\n"
  }
}'
