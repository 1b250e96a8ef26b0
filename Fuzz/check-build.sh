#!/usr/bin/env bash
# Checks a Fuzz/ build (make fuzz-build): Fuzz/check-build.sh TARGET...
#
# Each fuzz-TARGET must carry libFuzzer's coverage counters (the __sancov_cntrs section; without
# them libFuzzer searches blind, `cov: 0`), and the Swift code of FolioTraceKit and the harness
# must be compiled with both instrumentations: coverage (__sancov_cntrs in the objects) and
# AddressSanitizer (calls to __asan_report_*). swiftc passes only its last `-sanitize=` to the
# compiler, so a build given `-sanitize=fuzzer -sanitize=address` as two flags gets one of the
# two (docs/fuzzing.md); the Makefile's FUZZ_BUILD passes them as one. Exits 1 on a bad build.
# No pipefail: `readelf | grep -q` would fail when grep stops reading at the first match
# (readelf dies of SIGPIPE), and say that a good build lacks its counters.
set -u
release="$(cd "$(dirname "$0")" && pwd)/.build/release"
bad=0
for t in "$@"; do
	if ! readelf -S "$release/fuzz-$t" 2>/dev/null | grep -q __sancov_cntrs; then
		echo "fuzz-build: fuzz-$t has no coverage counters (__sancov_cntrs): libFuzzer would search blind"
		bad=1
	fi
done
for m in FolioTraceKit FuzzHarness; do
	cov=0 asan=0
	for o in "$release/$m.build"/*.o; do
		[ -f "$o" ] || continue
		readelf -S "$o" | grep -q __sancov_cntrs && cov=1
		nm -u "$o" | grep -q __asan_report && asan=1
		[ $cov = 1 ] && [ $asan = 1 ] && break
	done
	[ $cov = 1 ] || { echo "fuzz-build: $m was compiled without coverage (-sanitize=fuzzer did not reach the compiler)"; bad=1; }
	[ $asan = 1 ] || { echo "fuzz-build: $m was compiled without AddressSanitizer (-sanitize=address did not reach the compiler)"; bad=1; }
done
[ $bad = 0 ] && echo "fuzz-build: $* have coverage counters, and FolioTraceKit and the harness coverage and ASan"
exit $bad
