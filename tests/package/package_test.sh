#!/usr/bin/env bash
# package_test.sh BUILD_DIR OUT_DIR EXPECTED_FILES VERSION: builds the deb from BUILD_DIR's
# binaries (cpack -G DEB; the package's prefix is /usr whatever BUILD_DIR was configured
# with) into OUT_DIR, and checks it: its file list (mode, owner, path) is EXPECTED_FILES
# exactly, its control fields (Depends by dpkg-shlibdeps, Section, Maintainer), its
# conffiles, and that the installed units run /usr/bin's binaries.
# After a deliberate change of the package's contents, update the list with:
#   dpkg-deb -c OUT_DIR/matterfs_VERSION_ARCH.deb | awk '{print $1, $2, $6}' > EXPECTED_FILES
set -uo pipefail
build=$1 out=$2 expected=$3 version=$4

rm -rf "$out" && mkdir -p "$out"
if ! (cd "$build" && cpack -G DEB -B "$out" >"$out/cpack.log" 2>&1); then
  echo "FAIL: cpack -G DEB"
  cat "$out/cpack.log"
  exit 1
fi
arch=$(dpkg --print-architecture)
deb=$out/matterfs_${version}_${arch}.deb
[[ -f $deb ]] || { echo "FAIL: no $deb"; ls -l "$out"; exit 1; }
echo "built $deb ($(stat -c %s "$deb") bytes)"

failed=0
fail() { echo "FAIL: $*"; failed=1; }

if ! diff -u "$expected" <(dpkg-deb -c "$deb" | awk '{print $1, $2, $6}'); then
  fail "the file list differs from $expected (- expected, + in the deb)"
fi

field() { dpkg-deb -f "$deb" "$1"; }
depends=$(field Depends)
echo "Depends: $depends"
for pkg in libfuse3-3 libsodium23 libinih1 libc6 libstdc++6 fuse3; do
  [[ ", $depends," == *", $pkg "* || ", $depends," == *", $pkg,"* ]] || fail "Depends lacks $pkg"
done
[[ $(field Package) == matterfs ]] || fail "Package is '$(field Package)'"
[[ $(field Version) == "$version" ]] || fail "Version is '$(field Version)'"
[[ $(field Architecture) == "$arch" ]] || fail "Architecture is '$(field Architecture)'"
[[ $(field Section) == admin ]] || fail "Section is '$(field Section)', not admin"
[[ $(field Maintainer) == *"<"*@*">" ]] || fail "Maintainer '$(field Maintainer)' has no address"
[[ -n $(field Description) ]] || fail "no Description"

conffiles=$(dpkg-deb -I "$deb" conffiles)
want=$'/etc/matterfs/firm.ini.example\n/etc/matterfs/instance.conf.example'
[[ $conffiles == "$want" ]] || fail "conffiles are '$conffiles', not '$want'"

unit=$(dpkg-deb --fsys-tarfile "$deb" | tar -xO ./lib/systemd/system/matterfs@.service)
grep -q '^ExecStart=/usr/bin/matterfs ' <<<"$unit" || fail "matterfs@.service: ExecStart is not /usr/bin/matterfs"
grep -q '^Documentation=man:matterfs(8) file:///usr/share/doc/matterfs/docs/MATTERFS.md$' <<<"$unit" ||
  fail "matterfs@.service: Documentation= does not name the installed page and file"
grep -q '@[A-Z_]*@' <<<"$unit" && fail "matterfs@.service: an unsubstituted @VARIABLE@"
rotate=$(dpkg-deb --fsys-tarfile "$deb" | tar -xO ./lib/systemd/system/matterfs-rotate@.service)
grep -q '^ExecStart=/usr/bin/matterctl rotate ' <<<"$rotate" || fail "matterfs-rotate@.service: ExecStart"

if [[ $failed -eq 0 ]]; then echo "ok: $deb"; fi
exit $failed
