#!/usr/bin/env bash
# man_commands_test.sh MATTERCTL MATTERCTL.8: every command that `matterctl --help` lists
# (one or two words: "init", "keyslot add") must have a SYNOPSIS line "matterctl COMMAND"
# in matterctl(8), so that the page cannot fall behind the tool. Prints what is missing.
set -uo pipefail
matterctl=$1 page=$2

help=$("$matterctl" --help) || { echo "matterctl --help failed"; exit 1; }
# The lines of the "commands:" block that start with two spaces (a longer indent is a
# summary continued): the command is the leading lower-case words, up to the usage.
mapfile -t commands < <(printf '%s\n' "$help" | awk '
  /^commands:/ { on = 1; next }
  on && /^$/ { exit }
  on && /^  [^ ]/ {
    name = ""
    for (i = 1; i <= NF && $i ~ /^[a-z][a-z-]*$/; i++) name = name (name == "" ? "" : " ") $i
    print name
  }')
if [[ ${#commands[@]} -lt 10 ]]; then
  echo "found only ${#commands[@]} commands in matterctl --help:"
  printf '%s\n' "$help"
  exit 1
fi

# The page as a reader sees it, one space between words.
text=$(LC_ALL=C.UTF-8 MANWIDTH=200 man -l "$page" 2>/dev/null | col -b | tr -s ' \t' '  ')
synopsis=$(printf '%s\n' "$text" | sed -n '/^SYNOPSIS/,/^DESCRIPTION/p')
missing=0
for c in "${commands[@]}"; do
  if grep -qF -- " matterctl $c " <<<"$synopsis"; then
    echo "ok      $c"
  else
    echo "MISSING $c: no 'matterctl $c' line in the SYNOPSIS of $page"
    missing=$((missing + 1))
  fi
done
echo "${#commands[@]} commands, $missing missing from $page"
[[ $missing -eq 0 ]]
