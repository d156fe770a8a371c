#!/usr/bin/env bash
# README.md's "Quick start", run as written: every fenced command block of that section,
# in order, verbatim, as root from the repository, each under `bash -e -o pipefail` (a
# failing command fails the test). The machine is left as it was: the blocks run in a
# private mount namespace where /etc is an overlay (the accounts `scripts/demo-users add`
# makes, /etc/matterfs), and /srv, /root and /usr/local are empty tmpfs (the vault, the
# passphrase and key files, what `cmake --install` installs). Everything disappears with
# the namespace; a daemon still running at the end is a failure (and is killed).
#
# Usage: readme_quickstart_test.sh REPO     (as root, with /dev/fuse; label `mount`)
set -euo pipefail
repo=$(cd "$1" && pwd)
[[ $(id -u) -eq 0 ]] || { echo "readme_quickstart_test: needs root" >&2; exit 1; }
if [[ -z ${MATTERFS_README_NAMESPACE:-} ]]; then
  exec env MATTERFS_README_NAMESPACE=1 unshare --mount --propagation private bash "$0" "$@"
fi

work=$(mktemp -d "${TMPDIR:-/tmp}/readme-quickstart.XXXXXX")
mount -t tmpfs -o size=512m,mode=0755 tmpfs "$work"
mkdir "$work/upper" "$work/overlay-work"
mount -t overlay overlay -o "lowerdir=/etc,upperdir=$work/upper,workdir=$work/overlay-work" /etc
for d in /srv /root /usr/local; do mount -t tmpfs -o mode=0755 tmpfs "$d"; done
chmod 0700 /root

leftover_daemons() { pgrep -f -- 'matterfs /srv/vault' || true; }
finish() {
  local status=$?
  for m in /srv/cases; do
    if grep -q " $m fuse.matterfs" /proc/self/mounts; then
      echo "readme_quickstart_test: $m is still mounted at the end" >&2
      fusermount3 -u -z "$m" || true
      status=1
    fi
  done
  for _ in $(seq 100); do [[ -z $(leftover_daemons) ]] && break; sleep 0.1; done
  if [[ -n $(leftover_daemons) ]]; then
    echo "readme_quickstart_test: a matterfs daemon is still running" >&2
    pkill -9 -f -- 'matterfs /srv/vault' || true
    status=1
  fi
  for d in /etc /srv /root /usr/local "$work"; do umount -l "$d" 2>/dev/null || true; done
  rmdir "$work" 2>/dev/null || true
  exit "$status"
}
trap finish EXIT

# The fenced blocks between "## Quick start" and the next "## " heading, one file each.
mkdir "$work/blocks"
python3 - "$repo/README.md" "$work/blocks" <<'PY'
import sys
text = open(sys.argv[1], encoding="utf-8").read().split("\n")
start = text.index("## Quick start")
n, block, inside = 0, [], False
for line in text[start + 1:]:
    if line.startswith("## ") and not inside:
        break
    if line.startswith("```"):
        if inside:
            n += 1
            with open(f"{sys.argv[2]}/{n:02d}.sh", "w", encoding="utf-8") as f:
                f.write("\n".join(block) + "\n")
            block = []
        inside = not inside
        continue
    if inside:
        block.append(line)
PY
list=("$work"/blocks/*.sh)
[[ ${#list[@]} -ge 4 ]] || { echo "found only ${#list[@]} blocks in the quick start" >&2; exit 1; }

cd "$repo"
n=0
for block in "${list[@]}"; do
  n=$((n + 1))
  echo "==== quick start block $n ===="
  sed 's/^/  $ /' "$block"
  echo "---- output ----"
  if ! bash -e -o pipefail "$block" 2>&1; then
    echo "readme_quickstart_test: block $n failed" >&2
    exit 1
  fi
done
# What the blocks did is what the README says they do.
test -x /usr/local/bin/matterfs && test -x /usr/local/bin/matterctl
if grep -rqa "Settlement offer" /srv/vault; then
  echo "readme_quickstart_test: plaintext in the vault" >&2
  exit 1
fi
echo "readme_quickstart_test: all $n blocks ran"
