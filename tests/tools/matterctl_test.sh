#!/usr/bin/env bash
# Command-line tests for matterctl: exit codes, messages and on-disk effects of every
# command, run against throw-away vaults in a temporary directory.
#
#   tests/tools/matterctl_test.sh PATH/TO/matterctl PATH/TO/make_test_certificate
#
# make_test_certificate (tests/tools/make_test_certificate.cc) signs certificates of
# destruction with a test vault's key, for the `certificate verify` checks.
#
# ctest runs it through tests/tools/CMakeLists.txt. Every check prints "ok" or
# "FAIL: <check>: <why>" with the command's output; the last line is "N passed, M failed"
# and the exit status is non-zero if any check failed. MATTERCTL_TEST_KEEP=1 keeps the
# temporary directory for inspection.
#
# KDF parameters are the smallest allowed (8 MiB, 1 pass) so the suite runs in seconds;
# the KDF itself is tested in tests/crypto.
set -uo pipefail

if [[ $# -ne 2 || ! -x "$1" || ! -x "$2" ]]; then
  echo "usage: $0 PATH/TO/matterctl PATH/TO/make_test_certificate" >&2
  exit 2
fi
MATTERCTL=$(cd "$(dirname "$1")" && pwd)/$(basename "$1")
MAKE_CERTIFICATE=$(cd "$(dirname "$2")" && pwd)/$(basename "$2")

T=$(mktemp -d "${TMPDIR:-/tmp}/matterctl-test.XXXXXX")
cleanup() {
  if [[ "${MATTERCTL_TEST_KEEP:-0}" == 1 ]]; then
    echo "kept $T"
  else
    rm -rf "$T"
  fi
}
trap cleanup EXIT
cd "$T" || exit 1

KDF=(--kdf-memory 8 --kdf-ops 1)
passed=0
failed=0

# ---- helpers --------------------------------------------------------------------------

# run CMD...: runs matterctl with stdin from /dev/null and without a controlling
# terminal (setsid), so that a missing credential can never hang on a prompt.
# Sets RC, OUT and ERR.
run() {
  setsid -w "$MATTERCTL" "$@" </dev/null >"$T/.out" 2>"$T/.err"
  RC=$?
  OUT=$(cat "$T/.out")
  ERR=$(cat "$T/.err")
  LAST="matterctl $*"
}

pass() {
  passed=$((passed + 1))
  echo "ok   $1"
}

fail() {
  failed=$((failed + 1))
  echo "FAIL: $1: $2"
  echo "      last command: ${LAST:-}"
  echo "      exit ${RC:-?}; stdout: ${OUT:-}"
  echo "      stderr: ${ERR:-}"
}

# check NAME CONDITION...: passes if the command CONDITION succeeds.
check() {
  local name=$1
  shift
  if "$@"; then pass "$name"; else fail "$name" "condition failed: $*"; fi
}

# expect_rc NAME CODE MATTERCTL-ARGS...: runs matterctl and checks its exit status.
expect_rc() {
  local name=$1 code=$2
  shift 2
  run "$@"
  if [[ $RC -eq $code ]]; then pass "$name (exit $code)"; else fail "$name" "expected exit $code, got $RC"; fi
}

# The error contract: a failing command prints exactly one line, "matterctl...", on
# stderr and nothing on stdout.
expect_one_line_error() {
  local name=$1
  local lines
  lines=$(printf '%s\n' "$ERR" | grep -c . || true)
  if [[ $lines -eq 1 && "$ERR" == matterctl* && -z "$OUT" ]]; then
    pass "$name: one-line error on stderr, nothing on stdout"
  else
    fail "$name" "expected one 'matterctl...' line on stderr and empty stdout"
  fi
}

stderr_has() {
  local name=$1 pattern=$2
  if grep -qiE -- "$pattern" <<<"$ERR"; then pass "$name: stderr says /$pattern/"; else fail "$name" "stderr lacks /$pattern/"; fi
}

stdout_has() {
  local name=$1 pattern=$2
  if grep -qE -- "$pattern" <<<"$OUT"; then pass "$name: stdout says /$pattern/"; else fail "$name" "stdout lacks /$pattern/"; fi
}

# snapshot DIR...: one line per file and directory: path, type, mode, size, content hash.
# Two equal snapshots mean nothing was created, removed, renamed, chmodded or rewritten.
snapshot() {
  local d
  for d in "$@"; do
    (cd "$d" && find . -printf '%p %y %m %s\n' | LC_ALL=C sort)
    (cd "$d" && find . -type f -print0 | LC_ALL=C sort -z | xargs -0 -r sha256sum)
  done
}

# unchanged NAME BEFORE DIR...: the snapshot of DIR... still equals BEFORE.
unchanged() {
  local name=$1 before=$2
  shift 2
  if [[ "$(snapshot "$@")" == "$before" ]]; then
    pass "$name: vault unchanged"
  else
    fail "$name" "the vault changed although the command failed"
    diff <(printf '%s\n' "$before") <(snapshot "$@") | sed 's/^/      /'
  fi
}

file_size() { stat -c %s "$1"; }

# flip_byte FILE OFFSET: inverts the lowest bit of one byte in place.
flip_byte() {
  local file=$1 off=$2 byte
  byte=$(od -An -tu1 -j "$off" -N1 "$file" | tr -d ' ')
  printf '%b' "\\x$(printf '%02x' $((byte ^ 1)))" | dd of="$file" bs=1 seek="$off" conv=notrunc status=none
}

# put_bytes FILE OFFSET HEX: overwrites bytes at OFFSET with the given hex string.
put_bytes() {
  # shellcheck disable=SC2001  # sed, because bash patterns cannot say "every 2 chars"
  printf '%b' "$(sed 's/../\\x&/g' <<<"$3")" | dd of="$1" bs=1 seek="$2" conv=notrunc status=none
}

# The config ends in MAC (32 bytes) and checksum (32 bytes) = BLAKE2b-256 of everything
# before it (docs/FORMAT.md). An attacker can recompute the checksum; only the MAC, keyed
# by the vault master key, can catch such an edit.
fix_checksum() {
  local file=$1 size body sum
  size=$(file_size "$file")
  body=$((size - 32))
  sum=$(head -c "$body" "$file" | b2sum -l 256 | cut -d' ' -f1)
  put_bytes "$file" "$body" "$sum"
}

section() { echo "== $* =="; }

# tty_run ANSWERS MATTERCTL-ARGS...: runs matterctl on a pseudo-terminal (script(1)) and
# types each ';'-separated answer only after its prompt has appeared: the prompt turns
# echo off with TCSAFLUSH, which discards anything typed earlier. Sets RC and OUT (the
# terminal's whole output, prompts included); bounded by a timeout.
tty_run() {
  local answers=$1 answer shown i
  shift
  local -a list
  IFS=';' read -ra list <<<"$answers"
  rm -f "$T/.fifo" "$T/.tty"
  mkfifo "$T/.fifo"
  timeout 60 script -qec "$(printf '%q ' "$MATTERCTL" "$@")" /dev/null <"$T/.fifo" >"$T/.tty" 2>&1 &
  local pid=$!
  exec 9>"$T/.fifo"
  shown=0
  for answer in "${list[@]}"; do
    shown=$((shown + 1))
    for ((i = 0; i < 600; i++)); do
      (($(grep -o 'assphrase[^:]*: ' "$T/.tty" 2>/dev/null | wc -l) >= shown)) && break
      sleep 0.05
    done
    printf '%s\n' "$answer" >&9 2>/dev/null
  done
  wait "$pid"
  RC=$?
  exec 9>&-
  OUT=$(tr -d '\r' <"$T/.tty")
  ERR=""
  LAST="(on a terminal) matterctl $*"
}

# ---- fixtures -------------------------------------------------------------------------

printf 'correct horse battery staple\n' >pw
printf 'Tr0ub4dor&3\n' >pw2
printf 'not the passphrase\n' >bad
V=$T/vault
M1=acme-v-smith
M2=estate-of-jones

# ---- help and usage -------------------------------------------------------------------
section "help and usage"
expect_rc "--help" 0 --help
stdout_has "--help" "^usage: matterctl COMMAND"
stdout_has "--help lists exit codes" "3 wrong key"
expect_rc "no arguments is a usage error" 2
expect_rc "--version" 0 --version
stdout_has "--version" "vault format [0-9]+"
for cmd in "init" "keyslot add" "keyslot list" "keyslot remove" "matter create" "matter list" \
  "cat" "genkey" "rotate-master"; do
  # shellcheck disable=SC2086  # split "keyslot add" into two words on purpose
  expect_rc "$cmd --help" 0 $cmd --help
  stdout_has "$cmd --help" "^usage: matterctl $cmd "
done
expect_rc "unknown command" 2 frobnicate
stderr_has "unknown command" "unknown command 'frobnicate'"
expect_one_line_error "unknown command"
expect_rc "group without subcommand" 2 matter
stderr_has "group without subcommand" "needs a subcommand: create list"
expect_rc "group --help" 0 matter --help
stdout_has "group --help" "matter close VAULT[|]MOUNTPOINT MATTER"
expect_rc "missing required argument" 2 matter list
stderr_has "missing required argument" "vault"
expect_rc "unknown option" 2 keyslot list "$V" --no-such-option
expect_rc "too many arguments" 2 keyslot list "$V" extra
expect_rc "unknown cipher" 2 init "$T/x" --passphrase-file pw --cipher rot13 "${KDF[@]}"
expect_rc "KDF memory out of range" 2 init "$T/x" --passphrase-file pw --kdf-memory 0
check "rejected init leaves no vault" test ! -e "$T/x/matterfs.vault"

# ---- init -----------------------------------------------------------------------------
section "init"
expect_rc "init" 0 init "$V" --passphrase-file pw "${KDF[@]}"
stdout_has "init" "^created vault $V \(cipher (aes-256-gcm|xchacha20-poly1305), file format 3, keyslot 0 passphrase, argon2id ops=1 memory=8MiB\)$"
check "the config has two copies (version 3)" test "$(file_size "$V/matterfs.vault")" -eq 16384
check "init wrote the config" test -f "$V/matterfs.vault"
check "init made the data directory" test -d "$V/d"
check "init made the keystore" test -d "$V/keys"
check "config is private (0600)" test "$(stat -c %a "$V/matterfs.vault")" = 600
check "vault directory is private (0700)" test "$(stat -c %a "$V")" = 700

before=$(snapshot "$V")
expect_rc "init over an existing vault" 7 init "$V" --passphrase-file pw "${KDF[@]}"
stderr_has "init over an existing vault" "already a matterfs vault"
expect_one_line_error "init over an existing vault"
unchanged "init over an existing vault" "$before" "$V"

mkdir full && echo "brief" >full/brief.txt
expect_rc "init in a non-empty directory" 7 init full --passphrase-file pw "${KDF[@]}"
check "non-empty directory untouched" test "$(ls -A full)" = brief.txt

expect_rc "init xchacha20-poly1305" 0 init xc --cipher xchacha20-poly1305 --passphrase-file pw "${KDF[@]}"
stdout_has "init xchacha20-poly1305" "cipher xchacha20-poly1305"
expect_rc "init makes missing parents" 0 init "$T/new/parents/vault" --passphrase-file pw "${KDF[@]}"
check "init made the parents" test -f "$T/new/parents/vault/matterfs.vault"
check "the vault directory is 0700" test "$(stat -c %a "$T/new/parents/vault")" = 700
printf 'x\n' >short-pw
expect_rc "init with a one-character passphrase" 0 init short-v --passphrase-file short-pw "${KDF[@]}"
stderr_has "a short passphrase is not accepted silently" "warning: this passphrase is weak \\(about [0-9]+ bits by zxcvbn"
expect_rc "keyslot add with a short passphrase" 0 keyslot add short-v --passphrase-file short-pw --new-passphrase-file pw2 "${KDF[@]}"
stderr_has "keyslot add warns too" "warning: this passphrase is weak"

printf '' >empty-pw
expect_rc "empty passphrase refused" 2 init "$T/e" --passphrase-file empty-pw "${KDF[@]}"
check "refused init leaves no config" test ! -e "$T/e/matterfs.vault"
expect_rc "no credential and no terminal" 2 init "$T/e2" "${KDF[@]}"
stderr_has "no credential and no terminal" "no terminal"

section "passphrase prompt on a terminal"
tty_run "typed secret 1;typed secret 1" init tv "${KDF[@]}"
if [[ $RC -eq 0 ]]; then pass "init asks twice on the terminal (exit 0)"; else fail "init on a terminal" "exit $RC"; fi
check "init prompts for a new passphrase" grep -q "New passphrase for tv: " <<<"$OUT"
check "init asks to repeat it" grep -q "Repeat the passphrase: " <<<"$OUT"
check "typed passphrase is not echoed" test "$(grep -c 'typed secret' <<<"$OUT")" -eq 0
printf 'typed secret 1\n' >typed-pw
expect_rc "prompted passphrase equals the file's" 0 matter list tv --passphrase-file typed-pw
tty_run "typed secret 1" matter list tv
if [[ $RC -eq 0 ]]; then pass "unlock by prompt (exit 0)"; else fail "unlock by prompt" "exit $RC"; fi
tty_run "wrong one" matter list tv
if [[ $RC -eq 3 ]]; then pass "wrong passphrase at the prompt (exit 3)"; else fail "wrong passphrase at the prompt" "exit $RC"; fi
tty_run "one;two" init tv2 "${KDF[@]}"
if [[ $RC -eq 2 ]]; then pass "mismatched repeat refused (exit 2)"; else fail "mismatched repeat" "exit $RC"; fi
check "mismatched repeat says so" grep -q "do not match" <<<"$OUT"
check "mismatched repeat creates no vault" test ! -e tv2/matterfs.vault

section "passphrase on standard input (--passphrase-file -)"
# run_stdin INPUT CMD...: run with INPUT piped to standard input.
run_stdin() {
  local input=$1
  shift
  printf '%s' "$input" | setsid -w "$MATTERCTL" "$@" >"$T/.out" 2>"$T/.err"
  RC=$?
  OUT=$(cat "$T/.out")
  ERR=$(cat "$T/.err")
  LAST="printf ... | matterctl $*"
}
run_stdin $'typed secret 1\n' matter list tv --passphrase-file -
if [[ $RC -eq 0 ]]; then pass "passphrase piped in (exit 0)"; else fail "passphrase piped in" "exit $RC: $ERR"; fi
run_stdin $'wrong one\n' matter list tv --passphrase-file -
if [[ $RC -eq 3 ]]; then pass "wrong passphrase piped in (exit 3)"; else fail "wrong passphrase piped in" "exit $RC"; fi
run_stdin $'typed secret 1\n' keyslot add tv --passphrase-file - --new-passphrase-file - "${KDF[@]}"
if [[ $RC -eq 2 ]]; then pass "two passphrases from standard input refused (exit 2)"; else fail "two from stdin" "exit $RC"; fi
stderr_has "two passphrases from standard input" "both read standard input"
expect_one_line_error "two passphrases from standard input"
run_stdin $'second secret 22\n' keyslot add tv --passphrase-file typed-pw --new-passphrase-file - "${KDF[@]}"
if [[ $RC -eq 0 ]]; then pass "new passphrase piped in (exit 0)"; else fail "new passphrase piped in" "exit $RC: $ERR"; fi
printf 'second secret 22\n' >second-pw
expect_rc "the piped-in new passphrase opens the vault" 0 matter list tv --passphrase-file second-pw
tty_run "" matter list tv --passphrase-file -
if [[ $RC -eq 2 ]]; then pass "--passphrase-file - on a terminal refused (exit 2)"; else fail "--passphrase-file - on a terminal" "exit $RC"; fi
check "--passphrase-file - on a terminal says why" grep -q "standard input is a terminal" <<<"$OUT"

# ---- matters --------------------------------------------------------------------------
section "matter create / list"
expect_rc "matter list of a new vault" 0 matter list "$V" --passphrase-file pw
check "a new vault has no matters" test -z "$OUT"
expect_rc "matter create $M1" 0 matter create "$V" "$M1" --passphrase-file pw
stdout_has "matter create $M1" "^created matter $M1 \(id [0-9a-f]{32}\)$"
id1=$(sed -E 's/.*id ([0-9a-f]{32}).*/\1/' <<<"$OUT")
expect_rc "matter create $M2" 0 matter create "$V" "$M2" --passphrase-file pw
id2=$(sed -E 's/.*id ([0-9a-f]{32}).*/\1/' <<<"$OUT")
check "matters get different ids" test "$id1" != "$id2"
check "one keyring per matter" test "$(find "$V/keys" -type f -name '*.keyring' | wc -l)" -eq 2
check "the key table holds one entry per matter (header + 2 x 1024 bytes)" \
  test "$(stat -c %s "$V/keys/keytable")" -eq 2560
check "keyring named by matter id" test -f "$V/keys/$id1.keyring"

expect_rc "matter list" 0 matter list "$V" --passphrase-file pw
expected_list=$(printf '%s\topen\t%s\tkey-version 1\n%s\topen\t%s\tkey-version 1' "$M1" "$id1" "$M2" "$id2")
if [[ "$OUT" == "$expected_list" ]]; then
  pass "matter list prints 'name<TAB>status<TAB>id<TAB>key-version N', sorted by name"
else
  fail "matter list output" "expected:"$'\n'"$expected_list"
fi

expect_rc "rotate offline" 0 rotate "$V" "$M1" --passphrase-file pw
expect_rc "matter list after a rotation" 0 matter list "$V" --passphrase-file pw
if grep -qE "^$M1	open	$id1	key-version 2	rotated [0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9:]{8}Z\$" <<<"$OUT"; then
  pass "matter list shows the rotated matter's key version 2 and when it was rotated"
else
  fail "key version after rotate" "$OUT"
fi
expect_rc "rotate without a matter" 2 rotate "$V" --passphrase-file pw
expect_rc "rotate of an unknown matter" 5 rotate "$V" no-such-matter --passphrase-file pw
expect_rc "rotate of a path that does not exist" 5 rotate "$T/no-such-vault" "$M1" --passphrase-file pw
expect_one_line_error "rotate of a path that does not exist"
stderr_has "rotate of a path that does not exist" "no such vault or mount point"
expect_rc "rotate --reencrypt without a matter" 2 rotate "$V" --reencrypt --passphrase-file pw

before=$(snapshot "$V")
expect_rc "duplicate matter" 7 matter create "$V" "$M1" --passphrase-file pw
stderr_has "duplicate matter" "already exists"
unchanged "duplicate matter" "$before" "$V"
for bad_name in "a/b" ".." "." "" "wall]" $'tab\there' $'bell\a'; do
  expect_rc "matter name '$bad_name' refused" 2 matter create "$V" "$bad_name" --passphrase-file pw
done
expect_rc "matter name over 255 bytes refused" 2 matter create "$V" "$(printf 'x%.0s' {1..300})" --passphrase-file pw
unchanged "refused matter names" "$before" "$V"

long_name=$(printf 'in-re-%.0s' {1..30})  # 180 bytes: its ciphertext needs a long-name file
expect_rc "matter with a long name" 0 matter create "$V" "$long_name" --passphrase-file pw
expect_rc "matter list with a long name" 0 matter list "$V" --passphrase-file pw
stdout_has "long matter name listed intact" "^$long_name	open	[0-9a-f]{32}	key-version 1$"
check "three matters listed" test "$(grep -c . <<<"$OUT")" -eq 3

# policy check against the vault: a section for a matter that does not exist is a warning
printf '[matter %s]\nread = root\n[matter acme-v-smiht]\nread = root\n' "$M1" > "$T/typo.ini"
expect_rc "policy check --vault with a typo" 0 policy check "$T/typo.ini" --vault "$V" --passphrase-file pw
stderr_has "policy check --vault with a typo" "typo.ini:3: warning: \\[matter acme-v-smiht\\] names no matter in vault .*did you mean 'acme-v-smith'"
stdout_has "policy check --vault counts it" "1 warning"

# ---- names are ciphertext -------------------------------------------------------------
section "no plaintext names or secrets on disk"
for secret in "$M1" "$M2" "in-re-in-re" "acme" "jones" "correct horse"; do
  if grep -r -a -q -F -- "$secret" "$V"; then
    fail "'$secret' not in any vault file" "found by grep -r"
  else
    pass "'$secret' not in any vault file"
  fi
  if find "$V" | grep -q -F -- "$secret"; then
    fail "'$secret' not in any vault path" "found in a file or directory name"
  else
    pass "'$secret' not in any vault path"
  fi
done

# ---- keyslots -------------------------------------------------------------------------
section "genkey and keyslots"
expect_rc "genkey" 0 genkey key1
check "key file has 64 bytes" test "$(file_size key1)" -eq 64
check "key file is private (0600)" test "$(stat -c %a key1)" = 600
cp key1 key1.orig
expect_rc "genkey over an existing file" 7 genkey key1
check "existing key file not overwritten" cmp -s key1 key1.orig
mkdir keydir
expect_rc "genkey into a subdirectory" 0 genkey keydir/key2
check "genkey into a subdirectory wrote it" test "$(file_size keydir/key2)" -eq 64
check "two key files differ" test "$(sha256sum <key1)" != "$(sha256sum <keydir/key2)"
expect_rc "genkey into a missing directory" 1 genkey no/such/dir/key

expect_rc "keyslot list" 0 keyslot list "$V"
check "one keyslot after init" test "$(grep -c . <<<"$OUT")" -eq 1
stdout_has "keyslot list" "^0  passphrase  created [0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9:]{8}Z  argon2id ops=1 memory=8MiB$"

expect_rc "keyslot add key file" 0 keyslot add "$V" --passphrase-file pw --new-key-file key1
stdout_has "keyslot add key file" "^added keyslot 1 \(key-file\)$"
expect_rc "keyslot add passphrase" 0 keyslot add "$V" --key-file key1 --new-passphrase-file pw2 "${KDF[@]}"
stdout_has "keyslot add passphrase" "^added keyslot 2 \(passphrase, argon2id ops=1 memory=8MiB\)$"
expect_rc "keyslot list" 0 keyslot list "$V"
check "three keyslots" test "$(grep -c . <<<"$OUT")" -eq 3
stdout_has "keyslot list" "^1  key-file  created "
stdout_has "keyslot list" "^2  passphrase  created .* ops=1 memory=8MiB$"

expect_rc "unlock with the key file" 0 matter list "$V" --key-file key1
check "key file sees the same matters" test "$(grep -c . <<<"$OUT")" -eq 3
expect_rc "unlock with the second passphrase" 0 matter list "$V" --passphrase-file pw2
expect_rc "create a matter with the key file" 0 matter create "$V" closing-binder --key-file key1

expect_rc "keyslot remove 2" 0 keyslot remove "$V" 2 --passphrase-file pw
stdout_has "keyslot remove 2" "^removed keyslot 2 \\(passphrase\\)$"
expect_rc "removed passphrase no longer unlocks" 3 matter list "$V" --passphrase-file pw2
expect_rc "keyslot list after remove" 0 keyslot list "$V"
check "two keyslots left" test "$(grep -c . <<<"$OUT")" -eq 2
before=$(snapshot "$V")
expect_rc "keyslot remove out of range" 5 keyslot remove "$V" 9 --passphrase-file pw
stderr_has "keyslot remove out of range" "no keyslot 9"
unchanged "keyslot remove out of range" "$before" "$V"

# The last keyslot can never be removed (the vault would be lost).
cp -a "$V" last
expect_rc "remove the passphrase slot, keep the key file" 0 keyslot remove last 0 --key-file key1
expect_rc "passphrase gone" 3 matter list last --passphrase-file pw
expect_rc "key file still unlocks" 0 matter list last --key-file key1
before=$(snapshot last)
run keyslot remove last 0 --key-file key1
if [[ $RC -ne 0 ]]; then pass "last keyslot not removed (exit $RC)"; else fail "last keyslot" "removal succeeded"; fi
stderr_has "last keyslot" "last keyslot"
unchanged "remove last keyslot" "$before" last

# ---- wrong keys -----------------------------------------------------------------------
section "wrong passphrase or key file"
before=$(snapshot "$V")
expect_rc "wrong passphrase" 3 matter list "$V" --passphrase-file bad
stderr_has "wrong passphrase" "wrong passphrase"
expect_one_line_error "wrong passphrase"
expect_rc "wrong passphrase for matter create" 3 matter create "$V" new-matter --passphrase-file bad
expect_rc "wrong passphrase for keyslot add" 3 keyslot add "$V" --passphrase-file bad --new-key-file keydir/key2
expect_rc "wrong passphrase for keyslot remove" 3 keyslot remove "$V" 1 --passphrase-file bad
expect_rc "wrong passphrase for cat" 3 cat "$V" "$M1/brief.docx" --passphrase-file bad
expect_rc "wrong key file" 3 matter list "$V" --key-file keydir/key2
stderr_has "wrong key file" "key file does not unlock"
expect_one_line_error "wrong key file"
unchanged "wrong passphrase and key file" "$before" "$V"

# ---- credentials that cannot be read ---------------------------------------------------
section "unreadable credentials"
expect_rc "missing key file" 5 matter list "$V" --key-file no-such-key
stderr_has "missing key file" "key file no-such-key does not exist"
expect_one_line_error "missing key file"
expect_rc "missing passphrase file" 5 matter list "$V" --passphrase-file no-such-pw
stderr_has "missing passphrase file" "passphrase file no-such-pw does not exist"
expect_rc "key file is a directory" 1 matter list "$V" --key-file keydir
stderr_has "key file is a directory" "key file.*is a directory"
expect_one_line_error "key file is a directory"
head -c 16 key1 >short-key
expect_rc "key file too short" 2 matter list "$V" --key-file short-key
stderr_has "key file too short" "shorter than 32 bytes"
if [[ $(id -u) -ne 0 ]]; then
  cp key1 locked-key && chmod 000 locked-key
  expect_rc "key file without read permission" 1 matter list "$V" --key-file locked-key
  stderr_has "key file without read permission" "cannot read key file.*permission denied"
fi
# Both together are one two-factor credential: this vault has no such slot.
expect_rc "both passphrase and key file" 3 matter list "$V" --passphrase-file pw --key-file key1
stderr_has "both passphrase and key file" "passphrase and key file together open no keyslot"
unchanged "unreadable credentials" "$before" "$V"

# ---- missing vaults and matters -------------------------------------------------------
section "not found"
expect_rc "missing vault (matter list)" 5 matter list "$T/no-such-vault" --passphrase-file pw
stderr_has "missing vault" "does not exist"
expect_one_line_error "missing vault"
expect_rc "missing vault (keyslot list)" 5 keyslot list "$T/no-such-vault"
mkdir not-a-vault
expect_rc "directory without a config" 5 matter list not-a-vault --passphrase-file pw
stderr_has "directory without a config" "not a matterfs vault"
expect_rc "cat from an unknown matter" 5 cat "$V" no-such-matter/brief.docx --passphrase-file pw
stderr_has "cat from an unknown matter" "no matter named 'no-such-matter'"
expect_one_line_error "cat from an unknown matter"
expect_rc "cat of a missing file" 5 cat "$V" "$M1/brief.docx" --passphrase-file pw
check "cat of a missing file prints nothing" test -z "$OUT"
expect_rc "cat without a path in the matter" 2 cat "$V" "$M1" --passphrase-file pw
unchanged "not found" "$before" "$V"

# ---- corrupt and unsupported configs --------------------------------------------------
section "corrupt config"
# A config of version 2 (one copy; vaults of file format 2 still get it). Version 3 keeps
# two copies, so one damaged byte is harmless there: "key custody" below.
V2=$T/vault2
expect_rc "init a version 2 config" 0 init "$V2" --file-format 2 --passphrase-file pw "${KDF[@]}"
expect_rc "a matter in it" 0 matter create "$V2" "$M1" --passphrase-file pw
cfg=$V2/matterfs.vault
cp "$cfg" config.orig
cfg_size=$(file_size config.orig)

head -c $((cfg_size - 10)) config.orig >"$cfg"
before=$(snapshot "$V2")
expect_rc "truncated config (matter list)" 4 matter list "$V2" --passphrase-file pw
stderr_has "truncated config" "corrupt"
expect_one_line_error "truncated config"
expect_rc "truncated config (keyslot list)" 4 keyslot list "$V2"
expect_rc "truncated config (matter create)" 4 matter create "$V2" new-matter --passphrase-file pw
expect_rc "truncated config (keyslot add)" 4 keyslot add "$V2" --passphrase-file pw --new-key-file keydir/key2
unchanged "truncated config" "$before" "$V2"
head -c 100 config.orig >"$cfg"
expect_rc "config cut to 100 bytes" 4 keyslot list "$V2"
: >"$cfg"
expect_rc "empty config" 4 keyslot list "$V2"
{ cat config.orig; printf 'x'; } >"$cfg"
expect_rc "config with a byte appended" 4 keyslot list "$V2"

cp config.orig "$cfg"
flip_byte "$cfg" 200
before=$(snapshot "$V2")
expect_rc "bit-flipped config (matter list)" 4 matter list "$V2" --passphrase-file pw
stderr_has "bit-flipped config" "corrupt"
expect_one_line_error "bit-flipped config"
expect_rc "bit-flipped config (matter create)" 4 matter create "$V2" new-matter --passphrase-file pw
expect_rc "bit-flipped config (keyslot remove)" 4 keyslot remove "$V2" 1 --passphrase-file pw
unchanged "bit-flipped config" "$before" "$V2"

# Every byte of the config, one at a time, except the version (bytes 8-9, tested below):
# a newer version may have another layout, so it is read before the checksum.
sweep_fail=""
for ((off = 0; off < cfg_size; off++)); do
  if ((off >= 8 && off <= 9)); then continue; fi
  cp config.orig "$cfg"
  flip_byte "$cfg" "$off"
  setsid -w "$MATTERCTL" keyslot list "$V2" </dev/null >/dev/null 2>&1
  rc=$?
  if [[ $rc -ne 4 ]]; then sweep_fail+=" byte $off: exit $rc;"; fi
done
cp config.orig "$cfg"
RC=""; OUT=""; ERR=""; LAST="keyslot list with each config byte flipped"
if [[ -z "$sweep_fail" ]]; then
  pass "flipping any one config byte exits 4 ($cfg_size bytes)"
else
  fail "flip every config byte" "$sweep_fail"
fi

# An edit that also recomputes the (unkeyed) checksum is caught by the keyed MAC once the
# vault is unlocked; keyslot list needs no key and cannot see it.
cp config.orig "$cfg"
flip_byte "$cfg" 100  # inside the wrapped signing key
fix_checksum "$cfg"
before=$(snapshot "$V2")
expect_rc "edited config with a valid checksum" 4 matter list "$V2" --passphrase-file pw
stderr_has "edited config with a valid checksum" "authentication failed"
expect_one_line_error "edited config with a valid checksum"
unchanged "edited config with a valid checksum" "$before" "$V2"

section "unsupported version"
cp config.orig "$cfg"
put_bytes "$cfg" 8 0400  # version 4, little-endian
before=$(snapshot "$V2")
expect_rc "config version 4 (matter list)" 6 matter list "$V2" --passphrase-file pw
stderr_has "config version 4" "version 4"
expect_one_line_error "config version 4"
expect_rc "config version 4 (keyslot list)" 6 keyslot list "$V2"
stderr_has "config version 4 (keyslot list)" "version 4"
expect_rc "config version 4 (keyslot add)" 6 keyslot add "$V2" --passphrase-file pw --new-key-file keydir/key2
unchanged "config version 4" "$before" "$V2"
put_bytes "$cfg" 8 0001  # version 256
expect_rc "config version 256" 6 keyslot list "$V2"
stderr_has "config version 256" "version 256"

# An unknown required feature with a valid checksum (what a newer matterfs would write).
cp config.orig "$cfg"
put_bytes "$cfg" 12 00000080  # feature bit 31, little-endian
fix_checksum "$cfg"
before=$(snapshot "$V2")
expect_rc "unknown required feature" 6 keyslot list "$V2"
stderr_has "unknown required feature" "feature"
expect_rc "unknown required feature (matter create)" 6 matter create "$V2" new-matter --passphrase-file pw
unchanged "unknown required feature" "$before" "$V2"

cp config.orig "$cfg"
expect_rc "restored config works again" 0 matter list "$V2" --passphrase-file pw

# ---- external keystore ----------------------------------------------------------------
section "external keystore (--keystore)"
XV=$T/xvault
KS=$T/offsite-keys
expect_rc "init with --keystore" 0 init "$XV" --keystore "$KS" --passphrase-file pw "${KDF[@]}"
check "no keystore inside the vault" test ! -e "$XV/keys"
check "keystore directory created" test -d "$KS"
expect_rc "matter create with --keystore" 0 matter create "$XV" "$M1" --keystore "$KS" --passphrase-file pw
check "keyring written to the keystore" test "$(find "$KS" -name '*.keyring' | wc -l)" -eq 1
check "no keyring in the vault" test "$(find "$XV" -name '*.keyring' | wc -l)" -eq 0
before=$(snapshot "$XV" "$KS")
run matter list "$XV" --passphrase-file pw
if [[ $RC -ne 0 ]]; then pass "matter list without --keystore fails (exit $RC)"; else fail "matter list without --keystore" "succeeded"; fi
stderr_has "matter list without --keystore" "--keystore"
expect_one_line_error "matter list without --keystore"
mkdir empty-keystore
run matter list "$XV" --keystore empty-keystore --passphrase-file pw
if [[ $RC -ne 0 ]]; then pass "matter list with the wrong keystore fails (exit $RC)"; else fail "wrong keystore" "succeeded"; fi
stderr_has "matter list with the wrong keystore" "keyring"
unchanged "keystore missing or wrong" "$before" "$XV" "$KS"
expect_rc "matter list with --keystore" 0 matter list "$XV" --keystore "$KS" --passphrase-file pw
stdout_has "matter list with --keystore" "^$M1	open	[0-9a-f]{32}	key-version 1$"
for secret in "$M1" "acme" "correct horse"; do
  if grep -r -a -q -F -- "$secret" "$XV" "$KS" || find "$XV" "$KS" | grep -q -F -- "$secret"; then
    fail "'$secret' not in the vault or keystore" "found"
  else
    pass "'$secret' not in the vault or keystore"
  fi
done

# ---- master key rotation ----------------------------------------------------------------
section "master key rotation (rotate-master)"
# On the external-keystore vault: --keystore is honoured like everywhere else.
expect_rc "genkey for a second slot" 0 genkey xkey
expect_rc "keyslot add key file" 0 keyslot add "$XV" --keystore "$KS" --passphrase-file pw --new-key-file xkey
cp "$XV/matterfs.vault" xconfig.orig
before=$(snapshot "$XV" "$KS")
expect_rc "rotate-master with another slot unaccounted for" 2 rotate-master "$XV" --keystore "$KS" --passphrase-file pw
stderr_has "rotate-master names the slot" "keyslot 1 \(key-file, created [0-9T:-]+Z\) would stop working"
stderr_has "rotate-master names the options" "--keep-key-file F.*--drop-other-slots"
expect_one_line_error "rotate-master with another slot unaccounted for"
expect_rc "rotate-master keeping a key file that opens no slot" 3 rotate-master "$XV" --keystore "$KS" --passphrase-file pw --keep-key-file key1
unchanged "rotate-master refused" "$before" "$XV" "$KS"
expect_rc "rotate-master of a missing vault" 5 rotate-master "$T/no-such-vault" --passphrase-file pw
expect_rc "rotate-master keeping the key file" 0 rotate-master "$XV" --keystore "$KS" --passphrase-file pw --keep-key-file xkey
stdout_has "rotate-master summary" "^vault master key replaced: 1 matters rewrapped, 2 keyslots kept, 0 dropped; [0-9.]+ s$"
check "no journal left" test ! -e "$XV/matterfs.master-rotation"
expect_rc "matter list with the kept key file" 0 matter list "$XV" --keystore "$KS" --key-file xkey
stdout_has "matter list after rotate-master" "^$M1	open	[0-9a-f]{32}	key-version 1$"
# Interrupted after the new config: every command but rotate-master refuses, in one line.
# (The braces keep bash's "Killed" note out of the output.)
{ MATTERFS_FAULT_INJECT_MASTER_KILL_AT=config run rotate-master "$XV" --keystore "$KS" --passphrase-file pw --keep-key-file xkey; } 2>/dev/null
if [[ $RC -eq 137 ]]; then pass "rotate-master killed after its config (exit 137)"; else fail "rotate-master killed" "exit $RC"; fi
check "the journal is there" test -e "$XV/matterfs.master-rotation"
expect_rc "matter list while interrupted" 9 matter list "$XV" --keystore "$KS" --passphrase-file pw
stderr_has "matter list while interrupted" "vault .*: a master key rotation was interrupted; run matterctl rotate-master .* to finish it"
expect_one_line_error "matter list while interrupted"
expect_rc "matter create while interrupted" 9 matter create "$XV" new-matter --keystore "$KS" --key-file xkey
expect_rc "keyslot list while interrupted (config only)" 0 keyslot list "$XV"
expect_rc "rotate-master completes it" 0 rotate-master "$XV" --keystore "$KS" --key-file xkey
stdout_has "rotate-master completes it" "^vault master key replaced \(an interrupted rotation, completed\): 1 matters rewrapped, 2 keyslots kept; "
check "no journal left after the rerun" test ! -e "$XV/matterfs.master-rotation"
expect_rc "matter list after the rerun" 0 matter list "$XV" --keystore "$KS" --passphrase-file pw
# The config of before, with the passphrase of before, opens no matter.
cp "$XV/matterfs.vault" xconfig.now
cp xconfig.orig "$XV/matterfs.vault"
expect_rc "old config and old passphrase" 4 matter list "$XV" --keystore "$KS" --passphrase-file pw
cp xconfig.now "$XV/matterfs.vault"
expect_rc "dropping the key-file slot" 0 rotate-master "$XV" --keystore "$KS" --passphrase-file pw --drop-other-slots
stdout_has "dropping the key-file slot" "1 keyslots kept, 1 dropped"
expect_rc "the dropped key file opens nothing" 3 matter list "$XV" --keystore "$KS" --key-file xkey

# ---- certificates of destruction --------------------------------------------------------
section "certificate verify"
CV=$T/cert-vault
expect_rc "init a vault for certificates" 0 init "$CV" --passphrase-file pw "${KDF[@]}"
expect_rc "matter create in it" 0 matter create "$CV" "$M1" --passphrase-file pw
if "$MAKE_CERTIFICATE" "$CV" pw "$M1" cert.json; then pass "a certificate signed with the vault's key"; else fail "make_test_certificate" "exit $?"; fi
cv_id=$(grep -oE '"vault_id": "[0-9a-f]{32}"' cert.json | grep -oE '[0-9a-f]{32}')
expect_rc "certificate verify" 0 certificate verify "$CV" cert.json
stdout_has "certificate verify" "^valid: matter $M1 of vault $cv_id, 3 files, 10245 bytes, destroyed 2026-11-02T09:00:07Z, signed by the vault's key$"
check "certificate verify prints one line" test "$(wc -l <<<"$OUT")" -eq 1
# One character changed: a digit of a count, a letter of the matter, a space of the layout.
sed 's/"files": 3,/"files": 4,/' cert.json >edited-count.json
expect_rc "certificate with an edited count" 4 certificate verify "$CV" edited-count.json
stderr_has "certificate with an edited count" "certificate verify: edited-count.json: .*signature does not match"
expect_one_line_error "certificate with an edited count"
sed "s/\"matter\": \"$M1\"/\"matter\": \"${M1/a/A}\"/" cert.json >edited-matter.json
check "the matter name was edited" test "$(cmp -l cert.json edited-matter.json | wc -l)" -eq 1
expect_rc "certificate with an edited matter" 4 certificate verify "$CV" edited-matter.json
sed 's/^  "host": /  "host":  /' cert.json >edited-space.json
expect_rc "certificate with one more space" 4 certificate verify "$CV" edited-space.json
stderr_has "certificate with one more space" "differ from the form in which it was signed"
head -c -1 cert.json >edited-newline.json
expect_rc "certificate without its final newline" 4 certificate verify "$CV" edited-newline.json
expect_rc "certificate verify against another vault" 4 certificate verify "$V" cert.json
stderr_has "certificate verify against another vault" "certifies a matter of vault $cv_id, not of this vault"
expect_one_line_error "certificate verify against another vault"
printf 'not json\n' >not-json.json
expect_rc "certificate that is not JSON" 4 certificate verify "$CV" not-json.json
stderr_has "certificate that is not JSON" "not a valid certificate of destruction: not JSON"
expect_one_line_error "certificate that is not JSON"
expect_rc "missing certificate" 5 certificate verify "$CV" no-such.json
stderr_has "missing certificate" "no-such.json: no such file"
expect_one_line_error "missing certificate"
expect_rc "certificate verify on a missing vault" 5 certificate verify "$T/no-such-vault" cert.json
expect_rc "certificate verify without a certificate" 2 certificate verify "$CV"

# ---- wipe -------------------------------------------------------------------------------
section "wipe"
WV=$T/wipe-vault
WM=zq-wipe-marker-matter
expect_rc "init a vault for wipes" 0 init "$WV" --passphrase-file pw "${KDF[@]}"
for m in "$WM" keep-me held-matter; do
  expect_rc "matter create $m" 0 matter create "$WV" "$m" --passphrase-file pw
done
expect_rc "hold a matter" 0 matter hold "$WV" held-matter --passphrase-file pw
before=$(snapshot "$WV")
expect_rc "wipe of an open matter" 2 wipe "$WV" "$WM" --confirm "$WM" --passphrase-file pw
stderr_has "wipe of an open matter" "matter '$WM' is open: only a closed matter can be wiped \(matterctl matter close first\); nothing was changed"
expect_one_line_error "wipe of an open matter"
expect_rc "wipe with a wrong --confirm" 2 wipe "$WV" "$WM" --confirm "${WM}x" --passphrase-file pw
stderr_has "wipe with a wrong --confirm" "wipe: --confirm '${WM}x' does not repeat the matter's name '$WM'; nothing was changed"
expect_one_line_error "wipe with a wrong --confirm"
expect_rc "wipe without --confirm" 2 wipe "$WV" "$WM" --passphrase-file pw
expect_rc "wipe of a held matter" 2 wipe "$WV" held-matter --confirm held-matter --passphrase-file pw
stderr_has "wipe of a held matter" "matter 'held-matter' is under legal hold: a held matter cannot be wiped"
expect_one_line_error "wipe of a held matter"
expect_rc "wipe of an unknown matter" 5 wipe "$WV" no-such-matter --confirm no-such-matter --passphrase-file pw
stderr_has "wipe of an unknown matter" "no matter named 'no-such-matter'"
expect_one_line_error "wipe of an unknown matter"
expect_rc "wipe --passes 17" 2 wipe "$WV" "$WM" --confirm "$WM" --passes 17 --passphrase-file pw
expect_rc "wipe with a wrong passphrase" 3 wipe "$WV" "$WM" --confirm "$WM" --passphrase-file bad
expect_rc "wipe of a missing vault" 5 wipe "$T/no-such-vault" "$WM" --confirm "$WM" --passphrase-file pw
unchanged "refused wipes" "$before" "$WV"

expect_rc "close the matter to wipe" 0 matter close "$WV" "$WM" --passphrase-file pw
before=$(snapshot "$WV")
printf 'something else\n' >taken.json
expect_rc "wipe onto an existing certificate file" 7 wipe "$WV" "$WM" --confirm "$WM" --certificate taken.json --passphrase-file pw
stderr_has "wipe onto an existing certificate file" "--certificate taken.json exists: name a new file"
expect_one_line_error "wipe onto an existing certificate file"
expect_rc "wipe with a certificate in a missing directory" 5 wipe "$WV" "$WM" --confirm "$WM" --certificate "$T/no/such/dir/c.json" --passphrase-file pw
unchanged "wipes refused for their certificate file" "$before" "$WV"

expect_rc "wipe" 0 wipe "$WV" "$WM" --confirm "$WM" --certificate wipe-cert.json --passphrase-file pw
stdout_has "wipe summary" "^matter $WM wiped: 0 files \(0 bytes\), key version 1 destroyed, 1 overwrite pass; [0-9.]+ s$"
stdout_has "wipe names the certificate" "^certificate of destruction: wipe-cert.json$"
check "the certificate is mode 0644" test "$(stat -c %a wipe-cert.json)" = 644
check "no wipe journal is left" test -z "$(find "$WV/keys" -name '*.wipe*')"
check "nothing of the matter is left in d/ (the root IV and two matters)" test "$(find "$WV/d" -mindepth 1 -maxdepth 1 | wc -l)" -eq 3
if grep -r -a -q -F -- "$WM" "$WV"; then fail "the wiped matter's name is nowhere in the vault" "found"; else pass "the wiped matter's name is nowhere in the vault"; fi
expect_rc "certificate verify of the wipe's certificate" 0 certificate verify "$WV" wipe-cert.json
stdout_has "certificate verify of the wipe's certificate" "^valid: matter $WM of vault [0-9a-f]{32}, 0 files, 0 bytes, destroyed [0-9T:-]+Z, signed by the vault's key$"
check "the certificate names the method" grep -q '"method": "crypto-shred+overwrite"' wipe-cert.json
check "the certificate carries the backup caveat" grep -q 'backup, snapshot or replica' wipe-cert.json
check "no legacy caveat for a matter in the key table" test "$(grep -c "predates the vault.s key table" wipe-cert.json)" -eq 0
sed 's/"passes": 1,/"passes": 2,/' wipe-cert.json >wipe-cert-edited.json
check "the edit is one character" test "$(cmp -l wipe-cert.json wipe-cert-edited.json | wc -l)" -eq 1
expect_rc "a one-character edit of the wipe's certificate" 4 certificate verify "$WV" wipe-cert-edited.json
expect_rc "matter list after the wipe" 0 matter list "$WV" --passphrase-file pw
check "the other matters are listed" test "$(cut -f1 <<<"$OUT" | tr '\n' ' ')" = "held-matter keep-me "
expect_rc "a second wipe of the matter" 5 wipe "$WV" "$WM" --confirm "$WM" --passphrase-file pw

# Without --certificate: the certificate is standard output, the summary on stderr.
expect_rc "matter create for a wipe to stdout" 0 matter create "$WV" second --passphrase-file pw
expect_rc "matter close second" 0 matter close "$WV" second --passphrase-file pw
expect_rc "wipe to stdout" 0 wipe "$WV" second --confirm second --passes 0 --passphrase-file pw
cp "$T/.out" stdout-cert.json
stderr_has "wipe to stdout" "matterctl: matter second wiped: 0 files \(0 bytes\), key version 1 destroyed, 0 overwrite passes"
expect_rc "the certificate from stdout verifies" 0 certificate verify "$WV" stdout-cert.json
check "--passes 0 is crypto-shredding only" grep -q '"method": "crypto-shred",' stdout-cert.json

# Killed after the keys: the matter is gone from sight, rotate-master waits, a rerun
# completes and certifies.
expect_rc "matter create third" 0 matter create "$WV" third --passphrase-file pw
expect_rc "matter close third" 0 matter close "$WV" third --passphrase-file pw
{ MATTERFS_FAULT_INJECT_WIPE_KILL_AT=after-keys run wipe "$WV" third --confirm third --passphrase-file pw; } 2>/dev/null
if [[ $RC -eq 137 ]]; then pass "wipe killed after the keys (exit 137)"; else fail "wipe killed after the keys" "exit $RC"; fi
check "its journal is in the keystore" test "$(find "$WV/keys" -name '*.wipe' | wc -l)" -eq 1
expect_rc "matter list while a wipe is unfinished" 0 matter list "$WV" --passphrase-file pw
check "the half-wiped matter is not listed" test "$(grep -c '^third' <<<"$OUT")" -eq 0
expect_rc "rotate-master while a wipe is unfinished" 9 rotate-master "$WV" --passphrase-file pw
stderr_has "rotate-master while a wipe is unfinished" "the wipe of matter third is unfinished \([0-9a-f]{32}\.wipe\): run the same matterctl wipe again"
expect_rc "the rerun completes the wipe" 0 wipe "$WV" third --confirm third --certificate third.json --passphrase-file pw
stdout_has "the rerun completes the wipe" "^matter third wiped \(an unfinished wipe, completed\): "
expect_rc "its certificate verifies" 0 certificate verify "$WV" third.json
check "no wipe journal after the rerun" test -z "$(find "$WV/keys" -name '*.wipe*')"

# Killed right after writing the certificate: the rerun finds the same certificate there.
expect_rc "matter create fourth" 0 matter create "$WV" fourth --passphrase-file pw
expect_rc "matter close fourth" 0 matter close "$WV" fourth --passphrase-file pw
{ MATTERFS_FAULT_INJECT_WIPE_KILL_AT=after-certificate run wipe "$WV" fourth --confirm fourth --certificate fourth.json --passphrase-file pw; } 2>/dev/null
if [[ $RC -eq 137 ]]; then pass "wipe killed after its certificate (exit 137)"; else fail "wipe killed after its certificate" "exit $RC"; fi
cp fourth.json fourth.first
expect_rc "the rerun with the same certificate file" 0 wipe "$WV" fourth --confirm fourth --certificate fourth.json --passphrase-file pw
stdout_has "the rerun with the same certificate file" "^matter fourth wiped \(finished by an earlier run; certificate issued from its journal\): "
check "the certificate is the same" cmp -s fourth.json fourth.first
check "no wipe journal after that rerun" test -z "$(find "$WV/keys" -name '*.wipe*')"
expect_rc "rotate-master after the wipes" 0 rotate-master "$WV" --passphrase-file pw

# ---- key custody ------------------------------------------------------------------------
section "key custody: two factors, escrow, config copies, backup, restore, upgrade"
KV=$T/custody
printf 'a long passphrase for two factors\n' >kpw
expect_rc "genkey for two factors" 0 genkey usb-key
expect_rc "init with a passphrase and a key file" 0 init "$KV" --passphrase-file kpw --key-file usb-key "${KDF[@]}"
stdout_has "init with two factors" "keyslot 0 passphrase\+key-file, argon2id ops=1"
expect_rc "a matter in it" 0 matter create "$KV" "$M1" --passphrase-file kpw --key-file usb-key
expect_rc "both factors" 0 matter list "$KV" --passphrase-file kpw --key-file usb-key
stdout_has "both factors" "^$M1	open"
expect_rc "the passphrase alone" 3 matter list "$KV" --passphrase-file kpw
stderr_has "the passphrase alone" "need a key file with the passphrase: add --key-file"
expect_one_line_error "the passphrase alone"
expect_rc "the key file alone, no terminal to ask" 2 matter list "$KV" --key-file usb-key
stderr_has "the key file alone asks for the passphrase" "no terminal"
expect_rc "another key file with the passphrase" 3 matter list "$KV" --passphrase-file kpw --key-file key1
expect_rc "another passphrase with the key file" 3 matter list "$KV" --passphrase-file pw --key-file usb-key
tty_run "a long passphrase for two factors" matter list "$KV" --key-file usb-key
check "the key file alone asks for the passphrase on a terminal" test "$RC" -eq 0
check "and then opens the vault" grep -q "$M1" <<<"$OUT"

expect_rc "escrow keygen" 0 escrow keygen firm.key firm.pub
stdout_has "escrow keygen" "fingerprint [0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}"
check "the escrow private key is private (0600)" test "$(stat -c %a firm.key)" = 600
check "the public key file is one line" grep -qE '^matterfs-escrow-public-key-v1 [0-9a-f]{64}$' firm.pub
expect_rc "escrow keygen does not overwrite" 7 escrow keygen firm.key other.pub
check "nor leaves a lone public key" test ! -e other.pub
expect_rc "escrow add" 0 escrow add "$KV" --public-key firm.pub --passphrase-file kpw --key-file usb-key
stdout_has "escrow add" "^added keyslot 1 \(escrow to the firm key [0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}\)$"
expect_rc "escrow add of the same key again" 7 escrow add "$KV" --public-key firm.pub --passphrase-file kpw --key-file usb-key
expect_rc "escrow add of a private key file" 2 escrow add "$KV" --public-key firm.key --passphrase-file kpw --key-file usb-key
expect_rc "keyslot list" 0 keyslot list "$KV"
stdout_has "keyslot list shows the escrow slot" "^1  escrow  created .*  firm key [0-9a-f-]{19}$"
stdout_has "keyslot list shows the two-factor slot" "^0  passphrase\+key-file  created "
expect_rc "a second firm's key pair" 0 escrow keygen other.key other.pub
printf 'the recovered user passphrase\n' >rpw
before=$(snapshot "$KV")
expect_rc "another firm's key recovers nothing" 3 recover "$KV" --escrow-key other.key --new-passphrase-file rpw "${KDF[@]}"
stderr_has "another firm's key" "opens no escrow keyslot"
expect_rc "a public key file is no escrow key" 2 recover "$KV" --escrow-key firm.pub --new-passphrase-file rpw "${KDF[@]}"
unchanged "failed recoveries" "$before" "$KV"
expect_rc "recover with the firm key" 0 recover "$KV" --escrow-key firm.key --new-passphrase-file rpw "${KDF[@]}"
stdout_has "recover" "^recovered with escrow keyslot 1; added keyslot 2 \(passphrase\)$"
expect_rc "the recovered passphrase opens the vault" 0 matter list "$KV" --passphrase-file rpw
stdout_has "the recovered passphrase opens the vault" "^$M1	open"
expect_rc "the two-factor passphrase alone, beside a passphrase slot" 3 matter list "$KV" --passphrase-file kpw
stderr_has "the two-factor passphrase alone" "two-factor keyslots also need --key-file\)$"
expect_one_line_error "the two-factor passphrase alone"

cp "$KV/matterfs.vault" kconfig.orig
flip_byte "$KV/matterfs.vault" 200
expect_rc "one damaged copy: the vault still opens" 0 matter list "$KV" --passphrase-file rpw
expect_rc "fsck reports the damaged copy" 4 fsck "$KV" --passphrase-file rpw
stdout_has "fsck reports the damaged copy" "copy A is damaged"
expect_rc "fsck --repair rewrites it" 1 fsck "$KV" --repair --passphrase-file rpw
check "the repaired config is the original" cmp -s kconfig.orig "$KV/matterfs.vault"
flip_byte "$KV/matterfs.vault" $((8192 + 4000))
expect_rc "damage in copy B: still opens" 0 matter list "$KV" --passphrase-file rpw
cp kconfig.orig "$KV/matterfs.vault"

expect_rc "config backup" 0 config backup "$KV" kbackup
check "the backup is private (0600)" test "$(stat -c %a kbackup)" = 600
check "the backup is the config" cmp -s kbackup "$KV/matterfs.vault"
expect_rc "config backup does not overwrite" 7 config backup "$KV" kbackup
expect_rc "remove the two-factor slot" 0 keyslot remove "$KV" 0 --passphrase-file rpw
stdout_has "remove the two-factor slot" "^removed keyslot 0 \(passphrase\+key-file\)$"
expect_rc "the removed slot opens nothing" 3 matter list "$KV" --passphrase-file kpw --key-file usb-key
flip_byte "$KV/matterfs.vault" 20
flip_byte "$KV/matterfs.vault" $((8192 + 20))
expect_rc "both copies damaged" 4 matter list "$KV" --passphrase-file rpw
expect_rc "restore with a slot of the backup" 0 config restore "$KV" kbackup --passphrase-file kpw --key-file usb-key
stdout_has "config restore" "^restored the config of .* from kbackup \(3 keyslots\)$"
expect_rc "the restored config brings back the removed slot" 0 matter list "$KV" --passphrase-file kpw --key-file usb-key
before=$(snapshot "$KV")
expect_rc "restore of another vault's config" 2 config restore "$KV" "$V2/matterfs.vault" --passphrase-file pw
stderr_has "restore of another vault's config" "another vault"
expect_rc "restore with a credential the backup does not have" 3 config restore "$KV" kbackup --passphrase-file bad
unchanged "refused restores" "$before" "$KV"
expect_rc "rotate-master keeps escrow and the two-factor pair" 0 rotate-master "$KV" --passphrase-file rpw --keep-passphrase-file kpw --keep-key-file usb-key
stdout_has "rotate-master keeps them" "3 keyslots kept, 0 dropped"
expect_rc "the two-factor slot after rotate-master" 0 matter list "$KV" --passphrase-file kpw --key-file usb-key
printf 'a second recovery passphrase\n' >rpw2
expect_rc "escrow still recovers after rotate-master" 0 recover "$KV" --escrow-key firm.key --new-passphrase-file rpw2 "${KDF[@]}"
before=$(snapshot "$KV")
expect_rc "a backup from before rotate-master is refused" 2 config restore "$KV" kbackup --passphrase-file kpw --key-file usb-key
stderr_has "a backup from before rotate-master" "rotate-master"
unchanged "pre-rotation backup refused" "$before" "$KV"

cp -a "$V2" v2up
expect_rc "a two-factor slot on a version 2 config" 2 keyslot add v2up --passphrase-file pw --new-passphrase-file kpw --new-key-file usb-key "${KDF[@]}"
stderr_has "a two-factor slot on a version 2 config" "config upgrade"
expect_rc "config upgrade" 0 config upgrade v2up --passphrase-file pw
stdout_has "config upgrade" "from version 2 to 3"
check "the upgraded config has two copies" test "$(file_size v2up/matterfs.vault)" -eq 16384
expect_rc "the old slot opens the upgraded vault" 0 matter list v2up --passphrase-file pw
stdout_has "the old slot opens the upgraded vault" "^$M1	open"
expect_rc "now a two-factor slot" 0 keyslot add v2up --passphrase-file pw --new-passphrase-file kpw --new-key-file usb-key "${KDF[@]}"
expect_rc "config upgrade again" 0 config upgrade v2up --passphrase-file pw
stdout_has "config upgrade again" "already version 3"

expect_rc "init calibrates Argon2id" 0 init calibrated --passphrase-file rpw --kdf-memory 8 --kdf-time 0.05
stdout_has "init calibrates Argon2id" "argon2id ops=[0-9]+ memory=8MiB"
expect_rc "--kdf-time out of range" 2 init calibrated2 --passphrase-file rpw --kdf-time 0

# ---- summary ----------------------------------------------------------------------------
echo
echo "$passed passed, $failed failed"
[[ $failed -eq 0 ]]
