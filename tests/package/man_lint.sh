#!/usr/bin/env bash
# man_lint.sh MANDIR: every page in MANDIR must render without a single warning, both as
# man(1) formats it for a reader (man --warnings, 80 columns, UTF-8) and under groff's
# strictest check (-ww: all warnings). Prints each warning; exits 1 if there is any.
set -uo pipefail
mandir=$1
pages=("$mandir"/*.[1-8])
[[ -e ${pages[0]} ]] || { echo "man_lint: no man pages in $mandir"; exit 1; }
failed=0
for page in "${pages[@]}"; do
  man_out=$(LC_ALL=C.UTF-8 MANWIDTH=80 man --warnings -l "$page" 2>&1 >/dev/null)
  groff_out=$(groff -man -ww -z "$page" 2>&1)
  if [[ -n $man_out || -n $groff_out ]]; then
    echo "FAIL $page:"
    [[ -z $man_out ]] || echo "$man_out"
    [[ -z $groff_out ]] || echo "$groff_out"
    failed=1
  else
    echo "ok   $page"
  fi
done
exit $failed
