#!/usr/bin/env bash
# Checks what `make deb` built as a user of it would meet it (run by `make dist-check`):
# the archive's control fields and contents, lintian (no errors), the binary from the package
# analyzing a bundled trace with no Swift toolchain anywhere it could load from, the man page
# rendered without warnings and naming every subcommand and option of --help, the bash, zsh
# and fish completions loaded and completing, the package installed and removed by dpkg, and
# `make install` into a scratch prefix. Exits 1 at the end when any check failed.
set -uo pipefail
cd "$(dirname "$0")/.."
export LC_ALL=C.UTF-8
fixture=fixtures/linux-6.18/memcg-reclaim-foreign.dat
failures=0
pass() { echo "ok   $*"; }
fail() {
	echo "FAIL $*"
	failures=$((failures + 1))
}
check() { # check DESCRIPTION COMMAND...
	local what=$1
	shift
	if out=$("$@" 2>&1); then pass "$what"; else
		fail "$what"
		printf '%s\n' "$out" | head -20 | sed 's/^/     /'
	fi
}

debs=(dist/foliotrace_*.deb)
[ ${#debs[@]} = 1 ] && [ -f "${debs[0]}" ] || {
	echo "check-dist: expected one dist/foliotrace_*.deb (make deb)"
	exit 1
}
deb=${debs[0]}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# --- The archive: control fields and contents.
version=$(dpkg-deb -f "$deb" Version)
depends=$(dpkg-deb -f "$deb" Depends)
echo "$deb: version $version, $(stat -c %s "$deb") bytes"
echo "Depends: $depends"
check "Depends (dpkg-shlibdeps) has Debian's tracing libraries and libc" \
	sh -c "echo '$depends' | grep -q 'libtraceevent1' && echo '$depends' | grep -q 'libtracefs1' && echo '$depends' | grep -q 'libc6'"
check "Depends names no Swift package" sh -c "! echo '$depends' | grep -i swift"
dpkg-deb --contents "$deb" | awk '{print $6}' | sed 's|^\./|/|' >"$tmp/contents"
for f in /usr/bin/foliotrace /usr/share/man/man1/foliotrace.1.gz \
	/usr/share/bash-completion/completions/foliotrace /usr/share/zsh/vendor-completions/_foliotrace \
	/usr/share/fish/vendor_completions.d/foliotrace.fish /usr/share/doc/foliotrace/copyright \
	/usr/share/doc/foliotrace/changelog.gz /usr/share/doc/foliotrace/README.md \
	/usr/share/doc/foliotrace/install.md /usr/share/doc/foliotrace/report.schema.json; do
	check "the package holds $f" grep -qx -- "$f" "$tmp/contents"
done

# --- lintian: errors fail, warnings are shown.
lintian --tag-display-limit 0 "$deb" >"$tmp/lintian" 2>&1
sed 's/^/     lintian: /' "$tmp/lintian"
check "lintian reports no error" sh -c "! grep -q '^E:' '$tmp/lintian'"

# --- The binary from the package, with the toolchain out of reach.
dpkg-deb -x "$deb" "$tmp/root"
bin=$tmp/root/usr/bin/foliotrace
check "foliotrace --version names the package's version and commit" \
	sh -c "'$bin' --version | grep -F -- '$version' | grep -q commit"
check "ldd resolves every library, none from a Swift toolchain" \
	sh -c "ldd '$bin' >'$tmp/ldd' && ! grep -E 'not found|swift|Foundation|/opt/' '$tmp/ldd'"
check "analyze runs with an empty environment" \
	sh -c "env -i '$bin' analyze --format json '$fixture' | grep -q '\"schema_version\"'"
# A mount namespace with an empty tmpfs over the toolchain: nothing of it can be loaded.
toolchain=$(dirname "$(dirname "$(readlink -f "$(command -v swift)")")")
if unshare --mount true 2>/dev/null; then
	check "analyze runs with the toolchain ($toolchain) hidden" \
		unshare --mount sh -c "mount -t tmpfs none '$toolchain' && [ -z \"\$(ls '$toolchain')\" ] &&
			env -i '$bin' analyze '$fixture' >'$tmp/report' && grep -q '^$fixture: kernel 6.18' '$tmp/report'"
else
	echo "skip analyze with the toolchain hidden: unshare --mount is not allowed here"
fi

# --- The man page: renders without warnings and names every subcommand and option.
man_gz=$tmp/root/usr/share/man/man1/foliotrace.1.gz
check "man -l renders the page without warnings" \
	sh -c "MANWIDTH=200 man --warnings -l '$man_gz' 2>'$tmp/man.err' >'$tmp/man.txt' && [ ! -s '$tmp/man.err' ] && [ -s '$tmp/man.txt' ]"
MANWIDTH=400 man --no-hyphenation --no-justification -l "$man_gz" 2>/dev/null >"$tmp/man.txt"
# Subcommands are the SUBCOMMANDS section's lines indented by two spaces (the others continue
# a description); the page lists each as a tag that starts a line.
subcommands=$("$bin" --help | sed -n '/^SUBCOMMANDS:/,/^$/p' | grep -E '^  [a-z][a-z-]* ' | awk '{print $1}')
[ -n "$subcommands" ] || fail "no subcommands found in foliotrace --help"
missing=
for sub in "" $subcommands; do
	[ -z "$sub" ] || grep -qE "^ +$sub( |\$)" "$tmp/man.txt" || missing="$missing $sub"
	# Options are the help's lines that start (after indentation) with -x or --name; each
	# must stand in the page as a whole word (-f is not found inside --format).
	for opt in $("$bin" $sub --help | grep -E '^ +-' | grep -oE '(^|[ ,])--?[a-zA-Z][a-zA-Z0-9-]*' | tr -d ' ,' | sort -u); do
		grep -qE -- "(^|[ ,\[])$opt([] ,=<]|\$)" "$tmp/man.txt" || missing="$missing ${sub:-foliotrace}:$opt"
	done
done
check "the man page names every subcommand and option of --help" sh -c "[ -z '$missing' ] || { echo 'missing:$missing'; false; }"

# --- Completions: each shell loads its script and completes subcommands and option values.
comp=$tmp/root/usr/share
check "bash completes 'foliotrace an' to analyze" bash -c "
	source /usr/share/bash-completion/bash_completion
	source '$comp/bash-completion/completions/foliotrace'
	COMP_WORDS=(foliotrace an); COMP_CWORD=1; COMP_LINE='foliotrace an'; COMP_POINT=\${#COMP_LINE}
	_foliotrace foliotrace an foliotrace
	printf '%s\n' \"\${COMPREPLY[@]}\" | grep -qx analyze"
check "bash completes 'foliotrace analyze --format ' to the formats" bash -c "
	source /usr/share/bash-completion/bash_completion
	source '$comp/bash-completion/completions/foliotrace'
	COMP_WORDS=(foliotrace analyze --format ''); COMP_CWORD=3; COMP_LINE='foliotrace analyze --format '
	COMP_POINT=\${#COMP_LINE}
	_foliotrace foliotrace '' --format
	printf '%s\n' \"\${COMPREPLY[@]}\" | grep -qx junit"
check "zsh parses the script and compinit binds it to foliotrace" zsh -f -c "
	zsh -n '$comp/zsh/vendor-completions/_foliotrace' || exit 1
	fpath=('$comp/zsh/vendor-completions' \$fpath)
	autoload -Uz compinit && compinit -u -d '$tmp/zcompdump' || exit 1
	[[ \${_comps[foliotrace]} == _foliotrace ]]"
check "fish completes 'foliotrace an' to analyze" fish --no-config -c "
	source '$comp/fish/vendor_completions.d/foliotrace.fish'
	complete -C 'foliotrace an' | string match -q -r '^analyze\t'"
check "fish completes 'foliotrace analyze --format ' to the formats" fish --no-config -c "
	source '$comp/fish/vendor_completions.d/foliotrace.fish'
	complete -C 'foliotrace analyze --format ' | string match -q -r '^junit'"

# --- dpkg installs it (the Depends resolve here), man finds it, dpkg removes it.
if dpkg-query -W -f='${Status}' foliotrace 2>/dev/null | grep -q 'install ok installed'; then
	echo "skip dpkg -i: a foliotrace package is already installed"
else
	check "apt accepts the package's Depends" apt-get install -s -q "./$deb"
	if check "dpkg -i installs the package" dpkg -i "$deb"; then
		check "the installed foliotrace analyzes the fixture" \
			sh -c "env -i /usr/bin/foliotrace analyze '$fixture' | grep -q '^$fixture: kernel 6.18'"
		check "man foliotrace finds the installed page" sh -c "man -w foliotrace | grep -q /usr/share/man/man1/foliotrace.1.gz"
		check "dpkg -r removes it" dpkg -r foliotrace
		check "nothing of it is left" sh -c "[ ! -e /usr/bin/foliotrace ] && [ ! -e /usr/share/man/man1/foliotrace.1.gz ]"
	fi
fi

# --- A clean Debian: a minimal bookworm (debootstrap, kept in /var/cache/foliotrace-dist),
# copied afresh, where apt installs the package and its Depends from Debian's mirror and the
# installed foliotrace analyzes a bundled trace. DIST_CHECK_CHROOT=0 skips it.
if [ "${DIST_CHECK_CHROOT:-1}" = 1 ]; then
	cache=/var/cache/foliotrace-dist/bookworm
	mirror=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
	if [ ! -x "$cache/usr/bin/apt-get" ]; then
		rm -rf "$cache.new" && mkdir -p "$(dirname "$cache")" &&
			debootstrap --variant=minbase bookworm "$cache.new" "$mirror" >"$tmp/debootstrap.log" 2>&1 &&
			mv "$cache.new" "$cache" || { tail -5 "$tmp/debootstrap.log"; fail "debootstrap a bookworm chroot"; }
	fi
	if [ -x "$cache/usr/bin/apt-get" ]; then
		croot=$tmp/chroot
		cp -a "$cache" "$croot"
		cp /etc/resolv.conf "$croot/etc/resolv.conf"
		cp "$deb" "$fixture" "$croot/tmp/"
		# With its own /proc, as on any machine: without one the Swift runtime finds no
		# arguments (it reads /proc/self/cmdline) and every command prints the root help.
		in_chroot() {
			unshare --mount --pid --fork --mount-proc="$croot/proc" chroot "$croot" \
				/usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin DEBIAN_FRONTEND=noninteractive "$@"
		}
		check "the chroot has no Swift toolchain" sh -c "[ ! -e '$croot/opt/swift' ] && ! ls '$croot'/usr/lib/*/libswiftCore.so 2>/dev/null"
		check "apt installs the package and its Depends in a clean bookworm chroot" \
			in_chroot sh -c "apt-get update -q && apt-get install -y -q --no-install-recommends /tmp/$(basename "$deb")"
		check "foliotrace --version runs there" in_chroot sh -c "foliotrace --version | grep -qF -- '$version'"
		check "foliotrace analyze runs there on a bundled trace" \
			in_chroot sh -c "foliotrace analyze /tmp/$(basename "$fixture") | grep -q '^/tmp/.*: kernel 6.18'"
		check "foliotrace events --format json runs there" \
			in_chroot sh -c "foliotrace events --format json /tmp/$(basename "$fixture") | grep -q '\"total\"'"
	fi
fi

# --- make install for those who build from source.
check "make install PREFIX=... installs the binary, man page and completions" \
	sh -c "make --no-print-directory install PREFIX='$tmp/prefix' >'$tmp/install.log' 2>&1 &&
		'$tmp/prefix/bin/foliotrace' --version && [ -f '$tmp/prefix/share/man/man1/foliotrace.1' ] &&
		[ -f '$tmp/prefix/share/zsh/site-functions/_foliotrace' ] &&
		make --no-print-directory uninstall PREFIX='$tmp/prefix' >/dev/null &&
		[ ! -e '$tmp/prefix/bin/foliotrace' ]"

echo "$failures failed"
[ "$failures" = 0 ]
