#!/usr/bin/env bash
# Builds dist/foliotrace_VERSION_ARCH.deb from what `make dist` left in dist/, with Debian's
# own tools: dpkg-shlibdeps computes Depends from the binary, dpkg-deb builds the archive.
# Usage: packaging/build-deb.sh VERSION MAINTAINER COMMIT (run by `make deb`).
set -euo pipefail
cd "$(dirname "$0")/.."
version=$1 maintainer=$2 commit=$3
arch=$(dpkg --print-architecture)
dist=dist
root=.build-dist/deb/foliotrace
rm -rf .build-dist/deb
mkdir -p "$root/DEBIAN"

install -D -m 755 "$dist/foliotrace" "$root/usr/bin/foliotrace"
install -D -m 644 "$dist/foliotrace.1" "$root/usr/share/man/man1/foliotrace.1"
gzip -9n "$root/usr/share/man/man1/foliotrace.1"
install -D -m 644 "$dist/completions/foliotrace.bash" "$root/usr/share/bash-completion/completions/foliotrace"
install -D -m 644 "$dist/completions/_foliotrace" "$root/usr/share/zsh/vendor-completions/_foliotrace"
install -D -m 644 "$dist/completions/foliotrace.fish" "$root/usr/share/fish/vendor_completions.d/foliotrace.fish"

doc=$root/usr/share/doc/foliotrace
install -D -m 644 packaging/copyright "$doc/copyright"
install -m 644 README.md docs/*.md docs/report.schema.json docs/export-schema.sql "$doc/"
date=$(date -u -R ${SOURCE_DATE_EPOCH:+-d "@$SOURCE_DATE_EPOCH"})
printf 'foliotrace (%s) unstable; urgency=medium\n\n  * Built from git commit %s.\n\n -- %s  %s\n' \
	"$version" "$commit" "$maintainer" "$date" >"$doc/changelog"
gzip -9n "$doc/changelog"

# dpkg-shlibdeps wants a source package's debian/control; a minimal one in a scratch folder.
work=.build-dist/deb/shlibdeps
mkdir -p "$work/debian"
printf 'Source: foliotrace\n\nPackage: foliotrace\nArchitecture: any\n' >"$work/debian/control"
depends=$(cd "$work" && dpkg-shlibdeps -O "$OLDPWD/$root/usr/bin/foliotrace" | sed -n 's/^shlibs:Depends=//p')
[ -n "$depends" ] || { echo "build-deb: dpkg-shlibdeps found no dependencies" >&2; exit 1; }

size_kb=$(du -k -s --exclude=DEBIAN "$root" | cut -f1)
cat >"$root/DEBIAN/control" <<CONTROL
Package: foliotrace
Version: $version
Architecture: $arch
Maintainer: $maintainer
Installed-Size: $size_kb
Depends: $depends
Recommends: trace-cmd
Section: devel
Priority: optional
Description: folio lifecycles and linux-mm patterns from real kernel traces
 foliotrace reads trace-cmd trace.dat and perf.data files and rebuilds what
 happened to memory folios: allocation, page cache, LRU, activation, mapping,
 migration, reclaim and free, with the memcg that owned them. It runs
 detectors for known linux-mm patterns and writes reports for people and CI
 (text, JSON, Markdown, HTML, JUnit, SQLite).
 .
 foliotrace record and foliotrace tail capture live on the traced machine
 through their own tracefs instance. The binary links the Swift runtime
 statically: no Swift toolchain is needed.
CONTROL
(cd "$root" && find usr -type f -print0 | sort -z | xargs -0 md5sum) >"$root/DEBIAN/md5sums"
chmod 644 "$root/DEBIAN/control" "$root/DEBIAN/md5sums"

deb=$dist/foliotrace_${version}_${arch}.deb
rm -f "$dist"/foliotrace_*.deb
dpkg-deb --root-owner-group -Zxz --build "$root" "$deb" >/dev/null
echo "$deb: $(stat -c %s "$deb") bytes; Depends: $depends"
