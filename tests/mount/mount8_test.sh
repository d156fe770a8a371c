#!/usr/bin/env bash
# mount(8) and /etc/fstab (docs/MATTERFS.md "/etc/fstab"), the real chain: util-linux's
# mount runs fuse3's mount.fuse3, which runs `matterfs VAULT MOUNTPOINT -o OPTIONS` through
# /bin/sh. mount(8) hands its helpers no PATH, so /bin/sh searches its default path; the
# test puts the built matterfs first there by binding a directory over /usr/local/sbin in
# a private mount namespace (nothing changes outside it). Checked:
#   mount -t fuse.matterfs VAULT MNT -o passphrase_file=F   mounts; files read and write
#   an fstab line with key_file=, noauto, nofail, _netdev, x-systemd.*, comment=
#                                                           mounts by `mount --fstab F MNT`
#   a wrong passphrase                                      fails, one line, nothing mounted
#   umount MNT                                              unmounts; the daemon exits
#
# Usage: mount8_test.sh MATTERFS MATTERCTL   (as root, with /dev/fuse; label `mount`)
set -euo pipefail
if [[ -z ${MATTERFS_MOUNT8_NAMESPACE:-} ]]; then
  exec env MATTERFS_MOUNT8_NAMESPACE=1 unshare --mount --propagation private bash "$0" "$@"
fi
matterfs=$(realpath "$1")
matterctl=$(realpath "$2")
work=$(mktemp -d "${TMPDIR:-/tmp}/mount8-test.XXXXXX")
mount -t tmpfs -o mode=0700 tmpfs "$work"
mkdir "$work/sbin" "$work/mnt"
ln -s "$matterfs" "$work/sbin/matterfs"
mkdir -p /usr/local/sbin
mount --bind "$work/sbin" /usr/local/sbin
vault=$work/vault
mnt=$work/mnt
failures=0
fail() { echo "FAIL: $*" >&2; failures=$((failures + 1)); }
mounted() { grep -q " $mnt fuse.matterfs " /proc/self/mounts; }
daemon_gone() {
  for _ in $(seq 200); do pgrep -f -- "matterfs $vault " >/dev/null || return 0; sleep 0.05; done
  return 1
}
finish() {
  mounted && { fusermount3 -u -z "$mnt" || true; }
  pkill -9 -f -- "matterfs $vault " || true
  umount -l /usr/local/sbin "$work" 2>/dev/null || true
  rmdir "$work" 2>/dev/null || true
}
trap finish EXIT

printf '%s\n' 'a test passphrase for mount8' >"$work/pass"
"$matterctl" init "$vault" --passphrase-file "$work/pass" --kdf-memory 8 --kdf-ops 1 >/dev/null
"$matterctl" matter create "$vault" alpha --passphrase-file "$work/pass" >/dev/null
"$matterctl" genkey "$work/server.key" >/dev/null
"$matterctl" keyslot add "$vault" --passphrase-file "$work/pass" --new-key-file "$work/server.key" >/dev/null

# serves: the matter is listed, a file written through the mount reads back
serves() {
  local what=$1
  [[ $(ls "$mnt") == alpha ]] || fail "$what: the mount lists '$(ls "$mnt")', not alpha"
  echo "written through $what" >"$mnt/alpha/note.txt"
  [[ $(cat "$mnt/alpha/note.txt") == "written through $what" ]] || fail "$what: read back"
}
umount_and_wait() {
  local what=$1
  umount "$mnt" || fail "$what: umount failed"
  ! mounted || fail "$what: still mounted after umount"
  daemon_gone || fail "$what: the daemon did not exit after umount"
}

echo "== mount -t fuse.matterfs VAULT MNT -o passphrase_file=F,noatime"
if mount -t fuse.matterfs "$vault" "$mnt" -o "passphrase_file=$work/pass,noatime"; then
  mounted || fail "mount -t: exit 0 but nothing mounted"
  serves "mount -t"
  umount_and_wait "mount -t"
else
  fail "mount -t fuse.matterfs failed (exit $?)"
fi

echo "== an fstab line: key_file=, noauto, nofail, _netdev, x-systemd.*, comment="
cat >"$work/fstab" <<FSTAB
# vault  mount point  type  options  dump pass
$vault $mnt fuse.matterfs key_file=$work/server.key,noauto,nofail,_netdev,x-systemd.automount,x-systemd.idle-timeout=600,comment=test 0 0
FSTAB
if mount --fstab "$work/fstab" "$mnt"; then
  mounted || fail "fstab: exit 0 but nothing mounted"
  serves "fstab"
  umount_and_wait "fstab"
else
  fail "mount --fstab failed (exit $?)"
fi

echo "== a wrong passphrase"
printf '%s\n' 'not the passphrase' >"$work/wrong"
rc=0
err=$(mount -t fuse.matterfs "$vault" "$mnt" -o "passphrase_file=$work/wrong" 2>&1) || rc=$?
[[ $rc -ne 0 ]] || fail "a wrong passphrase mounted"
[[ $err == *"wrong passphrase"* ]] || fail "the error does not say 'wrong passphrase': $err"
[[ $(printf '%s\n' "$err" | wc -l) -eq 1 ]] || fail "more than one line: $err"
! mounted || fail "a wrong passphrase left a mount"

# What was written through mount(8) is in the vault.
[[ $("$matterctl" cat "$vault" alpha/note.txt --key-file "$work/server.key") == "written through fstab" ]] ||
  fail "matterctl cat does not read what the fstab mount wrote"

if [[ $failures -ne 0 ]]; then
  echo "mount8_test: $failures failure(s)" >&2
  exit 1
fi
echo "mount8_test: passed"
