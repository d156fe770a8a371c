#!/usr/bin/env bash
# Every golden vault (tests/golden/README.md) still opens and decrypts, offline.
set -uo pipefail
matterctl=$1
here=$(cd "$(dirname "$0")" && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
passed=0
failed=0
check() {  # name, command result
  if [[ $2 -eq 0 ]]; then passed=$((passed + 1)); else failed=$((failed + 1)); echo "FAIL: $1"; fi
}
# Work on a copy: the tools may create matterfs.lock.
cp -a "$here/v1/vault" "$work/v1"
pass="$here/v1/passphrase"
out=$("$matterctl" cat "$work/v1" acme-v-smith/pleadings/complaint.txt --passphrase-file "$pass")
[[ "$out" == "Complaint, Acme Corp. v. Smith" ]]
check "v1 complaint.txt decrypts" $?
expected=$(python3 -c "import sys; sys.stdout.buffer.write(bytes(range(256))*40)" | md5sum)
got=$("$matterctl" cat "$work/v1" acme-v-smith/blocks.bin --passphrase-file "$pass" | md5sum)
[[ "$got" == "$expected" ]]
check "v1 blocks.bin decrypts" $?
"$matterctl" matter list "$work/v1" --passphrase-file "$pass" | grep -q "^acme-v-smith	open	"
check "v1 matter list" $?
"$matterctl" keyslot list "$work/v1" | grep -q "passphrase"
check "v1 keyslot list" $?
echo "golden: $passed passed, $failed failed"
[[ $failed -eq 0 ]]
