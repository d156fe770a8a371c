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
for v in v1 v2; do
  # Work on a copy: the tools may create matterfs.lock.
  cp -a "$here/$v/vault" "$work/$v"
  pass="$here/$v/passphrase"
  out=$("$matterctl" cat "$work/$v" acme-v-smith/pleadings/complaint.txt --passphrase-file "$pass")
  [[ "$out" == "Complaint, Acme Corp. v. Smith" ]]
  check "$v complaint.txt decrypts" $?
  expected=$(python3 -c "import sys; sys.stdout.buffer.write(bytes(range(256))*40)" | md5sum)
  got=$("$matterctl" cat "$work/$v" acme-v-smith/blocks.bin --passphrase-file "$pass" | md5sum)
  [[ "$got" == "$expected" ]]
  check "$v blocks.bin decrypts" $?
  "$matterctl" matter list "$work/$v" --passphrase-file "$pass" | grep -q "^acme-v-smith	open	"
  check "$v matter list" $?
  "$matterctl" keyslot list "$work/$v" | grep -q "passphrase"
  check "$v keyslot list" $?
done

# v2 only: a sparse file (holes read as zeros) and format 2 headers.
expected=$(python3 -c "
import sys
b = bytearray(1048576 + 100)
b[524288:524288 + 9] = b'Exhibit 7'
sys.stdout.buffer.write(bytes(b))" | md5sum)
got=$("$matterctl" cat "$work/v2" acme-v-smith/sparse.bin --passphrase-file "$here/v2/passphrase" | md5sum)
[[ "$got" == "$expected" ]]
check "v2 sparse.bin decrypts (holes read as zeros)" $?
headers=$(find "$work/v2/d" -type f -size +1023c ! -name '.*' -exec head -c 5 {} \; | od -An -c | tr -d ' \n')
[[ "$headers" == "MFSF002MFSF002MFSF002" ]]
check "v2 files have format 2 headers" $?
echo "golden: $passed passed, $failed failed"
[[ $failed -eq 0 ]]
