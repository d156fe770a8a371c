#!/usr/bin/env bash
# completion_test.sh COMPLETIONS_DIR [MATTERCTL]: sources the bash completion of matterctl
# and matterfs as bash-completion would, checks that both are registered (complete -p),
# and completes command lines through COMP_WORDS/COMP_CWORD as bash does on TAB. Given
# MATTERCTL, also checks that every option of every command (`matterctl CMD --help`) is
# completed, so that the completion cannot fall behind the tool.
set -uo pipefail
dir=$1 matterctl=${2:-}
# shellcheck source=/dev/null
source "$dir/matterctl" && source "$dir/matterfs" || { echo "FAIL: sourcing"; exit 1; }

failed=0 passed=0
check() {  # check NAME EXPECTED ACTUAL
  if [[ $2 == "$3" ]]; then
    passed=$((passed + 1))
  else
    echo "FAIL $1: expected '$2', got '$3'"
    failed=$((failed + 1))
  fi
}
# complete WORD... : the completions of the last word, as bash would offer them.
complete_line() {
  COMP_WORDS=("$@")
  COMP_CWORD=$((${#COMP_WORDS[@]} - 1))
  COMP_LINE="$*"
  COMP_POINT=${#COMP_LINE}
  COMPREPLY=()
  local spec
  spec=$(complete -p "$1") || return 1
  local func=${spec#*-F }
  func=${func%% *}
  "$func" "$1" "${COMP_WORDS[COMP_CWORD]}" "${COMP_WORDS[COMP_CWORD - 1]}"
  printf '%s\n' "${COMPREPLY[@]}" | sort | tr '\n' ' ' | sed 's/ $//'
}

check "complete -p matterctl" "complete -F _matterctl matterctl" "$(complete -p matterctl)"
check "complete -p matterfs" "complete -F _matterfs matterfs" "$(complete -p matterfs)"

check "matterctl keys" "keyslot" "$(complete_line matterctl keys)"
check "matterctl rotate" "rotate rotate-master" "$(complete_line matterctl rot)"
check "matterctl keyslot ''" "--help add list remove" "$(complete_line matterctl keyslot '')"
check "matterctl audit r" "report" "$(complete_line matterctl audit r)"
check "matterctl matter list V --j" "--json" "$(complete_line matterctl matter list V --j)"
check "matterctl rotate V --re" "--reencrypt" "$(complete_line matterctl rotate V --re)"
check "matterctl init --cipher ''" "aes-256-gcm xchacha20-poly1305" \
  "$(complete_line matterctl init --cipher '')"
check "matterctl audit report L --format ''" "csv json table" \
  "$(complete_line matterctl audit report L --format '')"
check "matterctl policy explain F --action w" "wipe write" \
  "$(complete_line matterctl policy explain F --action w)"

# Paths: a VAULT is a directory, a LOG or key file a file.
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
mkdir "$tmp/vault-a" "$tmp/vault-b"
touch "$tmp/audit.jsonl" "$tmp/vault.pass"
check "matterctl init DIR" "$tmp/vault-a $tmp/vault-b" "$(complete_line matterctl init "$tmp/va")"
check "matterctl audit verify FILE" "$tmp/audit.jsonl" \
  "$(complete_line matterctl audit verify "$tmp/au")"
check "matterctl matter list V --passphrase-file FILE" "$tmp/vault.pass" \
  "$(complete_line matterctl matter list "$tmp/vault-a" --passphrase-file "$tmp/vault.p")"
check "matterctl fsck V --key-file F (value skipped) --re" "--repair" \
  "$(complete_line matterctl fsck V --key-file F --re)"

check "matterfs --pol" "--policy" "$(complete_line matterfs --pol)"
check "matterfs V M -o allow_other,nonem" "allow_other,nonempty" \
  "$(complete_line matterfs V M -o allow_other,nonem)"
check "matterfs V M -o nox" "noxattr" "$(complete_line matterfs V M -o nox)"
check "matterfs --audit ''" "drop strict" "$(complete_line matterfs --audit '')"
check "matterfs DIR" "$tmp/vault-a $tmp/vault-b" "$(complete_line matterfs "$tmp/vault")"

if [[ -n $matterctl ]]; then
  mapfile -t commands < <("$matterctl" --help | awk '
    /^commands:/ { on = 1; next }
    on && /^$/ { exit }
    on && /^  [^ ]/ {
      name = ""
      for (i = 1; i <= NF && $i ~ /^[a-z][a-z-]*$/; i++) name = name (name == "" ? "" : " ") $i
      print name
    }')
  [[ ${#commands[@]} -ge 10 ]] || check "commands in matterctl --help" "at least 10" "${#commands[@]}"
  for c in "${commands[@]}"; do
    # shellcheck disable=SC2086 # a command is one or two words
    options=$("$matterctl" $c --help | grep -o '^  --[a-z0-9-]*' | tr -d ' ')
    missing=""
    for o in $options; do
      [[ " $(echo $(_matterctl_options "$c")) " == *" $o "* ]] || missing+=" $o"
    done
    check "options of matterctl $c completed" "" "$missing"
  done
fi

echo "$passed passed, $failed failed"
[[ $failed -eq 0 ]]
