#!/usr/bin/env bash
# Runs one fuzz target for a while: Fuzz/run.sh TARGET SECONDS
#
# TARGET is tracedat or perfdata (Fuzz/.build/release/fuzz-TARGET, built by `make fuzz`). The
# corpus grows in Fuzz/corpus/TARGET/ from run to run, seeded from the fixtures (seeds.sh).
# libFuzzer runs in fork mode with one worker, so that it goes on after a crash, a leak of
# memory past the limit or a timeout and finds more than the first; each crasher is saved as
# Fuzz/crashers/TARGET-{crash,oom,timeout}-SHA1. The exit status is 1 when this run saved a
# crasher that was not there before, else libFuzzer's own (0 when the time ran out quietly).
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
target=${1:?usage: run.sh tracedat|perfdata SECONDS}
seconds=${2:-300}
binary="$here/.build/release/fuzz-$target"
[ -x "$binary" ] || { echo "$binary: not built (make fuzz builds it)" >&2; exit 2; }
corpus="$here/corpus/$target"
seeds="$here/corpus/seeds"
crashers="$here/crashers"
mkdir -p "$corpus" "$crashers"
# Two targets started at once build the seeds once: the second waits for the first (a lock), and
# seeds.sh moves its folders into place only when they are whole.
(flock 9 && { [ -d "$seeds/$target" ] || "$here/seeds.sh" "$seeds"; }) 9>"$here/corpus/.seeds.lock" || exit 2
# A Swift trap goes straight to libFuzzer's handler (stack and input saved): the Swift runtime's
# own backtracer reads memory in ways ASan reports instead of the trap.
export SWIFT_BACKTRACE=enable=no
# libtraceevent's own leaks on formats it rejects are not findings (lsan.supp).
export LSAN_OPTIONS="suppressions=$here/lsan.supp${LSAN_OPTIONS:+:$LSAN_OPTIONS}"
new() { ls "$crashers" | grep -E "^$target-(crash|oom|timeout|leak)-"; }
before=$(new | wc -l)

# -max_len: the seeds are at most 1.5 MB; longer inputs only slow the search. -timeout: one input
# may take this long (seconds); -rss_limit_mb bounds memory (a 2 MB input that needs more than
# this is a finding: memory must stay proportional to the file). Inputs are written to /dev/shm.
# The fuzzer runs in a session of its own: ASan starts llvm-symbolizer processes that can outlive
# it, and they are killed with its process group at the end. Its output goes to
# Fuzz/corpus/TARGET.log and, less the INFO lines, here.
log="$here/corpus/$target.log"
: >"$log"
setsid "$binary" "$corpus" "$seeds/$target" \
	-fork=1 -ignore_crashes=1 -ignore_ooms=1 -ignore_timeouts=1 \
	-max_total_time="$seconds" -max_len=2097152 -timeout=20 -rss_limit_mb=2560 \
	-artifact_prefix="$crashers/$target-" -print_final_stats=1 >"$log" 2>&1 </dev/null &
pid=$!
trap 'kill -- -$pid 2>/dev/null' EXIT INT TERM
tail -n +1 -f --pid="$pid" "$log" | grep --line-buffered -v -e '^INFO: ' -e 'Cannot export local symbol'
wait "$pid"
status=$?
# A worker that crashed, timed out or was killed mid-input left its input in /dev/shm (the
# harness unlinks it only after a clean return): remove those whose process is gone.
for f in /dev/shm/foliotrace-fuzz-* /tmp/foliotrace-fuzz-*; do
	[ -f "$f" ] && ! kill -0 "${f##*-}" 2>/dev/null && rm -f "$f"
done
after=$(new | wc -l)
if [ "$after" -gt "$before" ]; then
	echo "fuzz-$target: $((after - before)) new crasher(s) in $crashers:"
	ls -t "$crashers" | grep -E "^$target-(crash|oom|timeout|leak)-" | head -n $((after - before)) | sed 's/^/  /'
	exit 1
fi
# A build without coverage counters (no __sancov_cntrs) searches blind: libFuzzer reports
# `cov: 0` throughout. That is a broken setup, not bad luck: exit 3 so that CI fails on it.
if ! grep -Eq 'cov: [1-9]' "$log"; then
	echo "fuzz-$target: the search ran blind (no coverage above 0): $binary has no coverage counters (docs/fuzzing.md)"
	exit 3
fi
exit "$status"
