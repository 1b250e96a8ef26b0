#!/bin/bash
# Scale benchmark (issue 19, point 3): a real capture of at least MIN_EVENTS (20 million)
# events recorded here and now (`foliotrace record` around page-cache storms, as
# live-storm.sh makes them; the file is deleted at the end, never committed), then
#   - whole process, on all of it: the C counter over libtracecmd (tracecmd-count),
#     `foliotrace events` and `foliotrace analyze --format json`, RUNS rounds of the three,
#     with the ratios against the C counter (the median of the rounds' own) and their goals
#     (4x and 2x);
#   - `foliotrace analyze` on the first quarter, half and all of the capture's time span
#     (--until +T): events analyzed, live folios at the end, events/s and peak RSS of each, so
#     that time grows with the events and memory stays bounded by live folios (goal: peak RSS
#     from a quarter to all grows under 10%), best of RUNS each. Each storm ends with its file
#     deleted and the caches dropped, and a storm is small beside the whole (512 MiB, some 1.6
#     million events here), so that even the first quarter holds whole storms: the live folios
#     then peak alike in every part, and memory has no reason to grow but the trace's length.
# A missed goal is printed and makes the script exit 1. Needs root and tracefs; skips
# otherwise.
#
#   sudo bash Benchmarks/scale-bench.sh [MiB a storm]      (default 512)
set -euo pipefail
MIB=${1:-512}
MIN_EVENTS=${MIN_EVENTS:-20000000}
MAX_STORMS=${MAX_STORMS:-40}
RUNS=${RUNS:-5}
BIN=${FOLIOTRACE:-.build/release/foliotrace}
COUNT=${TRACECMD_COUNT:-Benchmarks/.build/release/tracecmd-count}
T=/sys/kernel/tracing
if [ "$(id -u)" != 0 ] || [ ! -d $T/instances ]; then
	echo "scale-bench: skipped (needs root and tracefs at $T)"
	exit 0
fi
if [ ! -x "$COUNT" ]; then
	echo "scale-bench: $COUNT is missing (swift build -c release --package-path Benchmarks)" >&2
	exit 1
fi
WORK=$(mktemp -d -p /var/tmp foliotrace-scale.XXXXXX)
FILE=$WORK/storm
TRACE=$WORK/scale.dat
PID=
cleanup() {
	if [ -n "$PID" ] && kill -0 "$PID" 2>/dev/null; then
		kill -INT "$PID"
		wait "$PID" 2>/dev/null || true
	fi
	rm -rf "$WORK"
}
trap cleanup EXIT

# One storm (Benchmarks/storm.sh: order-0 page-cache folios, about 1.8 M events for 512 MiB).
# shellcheck source=storm.sh
. "$(dirname "$0")/storm.sh"
storm() { page_cache_storm; }

# Storms until the ring buffers have seen MIN_EVENTS events (the instance's per-CPU
# `entries` + `overrun`, summed: what the kernel wrote, read or not) or MAX_STORMS ran.
"$BIN" record -o "$TRACE" --preset all --probes none --buffer-kb 16384 --duration 3600 2>"$WORK/record.err" &
PID=$!
INSTANCE=$T/instances/foliotrace-$PID
for _ in $(seq 600); do
	[ -n "$(head -c1 "$INSTANCE/set_event" 2>/dev/null)" ] &&
		[ "$(cat "$INSTANCE/tracing_on" 2>/dev/null)" = 1 ] && break
	sleep 0.05
done
written() {
	cat "$INSTANCE"/per_cpu/cpu*/stats 2>/dev/null |
		awk '/^entries:|^overrun:|^read events:/ { n += $NF } END { print n + 0 }'
}
storms=0
start=$(date +%s.%N)
while [ $storms -lt "$MAX_STORMS" ]; do
	storm
	storms=$((storms + 1))
	[ "$(written)" -ge "$MIN_EVENTS" ] && break
done
STORM_S=$(echo "$(date +%s.%N) - $start" | bc)
kill -INT $PID
wait $PID
PID=

# Each run starts with the capture read into the page cache: the storms drop it, and where
# DAMON runs a `pageout` scheme (these machines) it evicts the capture's cold pages between
# runs, so that otherwise whichever tool ran next read part of it from disk.
once() { # command...: prints "seconds peak-KiB" of one run
	cat "$TRACE" >/dev/null
	/usr/bin/time -f "%e %M" -o "$WORK/time" "$@" >/dev/null 2>"$WORK/err" || true
	tail -1 "$WORK/time"
}
best() { # command...: prints "seconds peak-KiB" of the fastest of RUNS runs (the parts below)
	local b= r= s m
	for _ in $(seq "$RUNS"); do
		read -r s m < <(once "$@")
		if [ -z "$b" ] || [ "$(echo "$s < $b" | bc)" = 1 ]; then b=$s r=$m; fi
	done
	echo "$b $r"
}
EVENTS=$("$COUNT" "$TRACE" 2>/dev/null | cut -d" " -f1)
SIZE=$(stat -c %s "$TRACE")
# Whole process on all of it, RUNS rounds of the three one after the other; a ratio is the
# median of the rounds' own, as decode-bench's: the machine's speed drifts within minutes,
# and each program's best of its own block of runs compared different minutes.
: >"$WORK/rounds"
for _ in $(seq "$RUNS"); do
	read -r c _ < <(once "$COUNT" "$TRACE")
	read -r e em < <(once "$BIN" events "$TRACE")
	read -r a am < <(once "$BIN" analyze --quiet --format json -o "$WORK/all.json" "$TRACE")
	echo "$c $e $a $em $am" >>"$WORK/rounds"
done
# Median seconds of each, the median ratios and their range over the rounds, peak RSS (max).
read -r C_S E_S A_S E_RATIO A_RATIO E_LO E_HI A_LO A_HI E_M A_M < <(python3 -c '
import statistics, sys
rows = [list(map(float, l.split())) for l in open(sys.argv[1])]
col = lambda i: [r[i] for r in rows]
e = [r[0] / r[1] for r in rows]
a = [r[0] / r[2] for r in rows]
m = statistics.median
print(m(col(0)), m(col(1)), m(col(2)), m(e), m(a), min(e), max(e), min(a), max(a), int(max(col(3))), int(max(col(4))))
' "$WORK/rounds")
echo "scale-bench: $storms storm(s) of $MIB MiB in $(printf %.0f "$STORM_S") s: $EVENTS events," \
	"$((SIZE / 1048576)) MiB ($WORK, deleted at exit); whole process, $RUNS rounds (rates at each program's median time; ratios the median of the rounds' own):"
rate() { echo "$1 / $2 / 1000000" | bc -l; }
printf '  %-30s %7.2f M/s  %6.2f s\n' "C counter over libtracecmd" "$(rate "$EVENTS" "$C_S")" "$C_S"
printf '  %-30s %7.2f M/s  %6.2f s  %5.2fx (goal >= 4x; rounds %.2f-%.2fx)  peak RSS %6.1f MiB\n' "foliotrace events" \
	"$(rate "$EVENTS" "$E_S")" "$E_S" "$E_RATIO" "$E_LO" "$E_HI" "$(echo "$E_M / 1024" | bc -l)"
printf '  %-30s %7.2f M/s  %6.2f s  %5.2fx (goal >= 2x; rounds %.2f-%.2fx)  peak RSS %6.1f MiB\n' "foliotrace analyze" \
	"$(rate "$EVENTS" "$A_S")" "$A_S" "$A_RATIO" "$A_LO" "$A_HI" "$(echo "$A_M / 1024" | bc -l)"
missed=()
[ "$(echo "$E_RATIO >= 4" | bc -l)" = 1 ] || missed+=("scale: events $(printf %.2f "$E_RATIO")x the C counter, goal 4x")
[ "$(echo "$A_RATIO >= 2" | bc -l)" = 1 ] || missed+=("scale: analyze $(printf %.2f "$A_RATIO")x the C counter, goal 2x")

# analyze on the first quarter, half and all of the time span.
SPAN=$("$BIN" events --format json "$TRACE" | python3 -c 'import json, sys; print(json.load(sys.stdin)["duration_ns"])')
echo "  analyze --until, by the capture's time span ($(echo "$SPAN / 1000000000" | bc -l | xargs printf %.1f) s):"
printf '    %-8s %12s %12s %9s %10s %14s\n' part events "live folios" seconds "M/s" "peak RSS MiB"
declare -A RSS
for part in 1/4 1/2 1/1; do
	until_ns=$(echo "$SPAN * $part" | bc)
	read -r s m < <(best "$BIN" analyze --quiet --format json -o "$WORK/part.json" --until "+${until_ns}ns" "$TRACE")
	read -r n live < <(python3 -c 'import json, sys; s = json.load(open(sys.argv[1]))["summary"]; print(s["events"], s["live_at_end"])' "$WORK/part.json")
	RSS[$part]=$m
	printf '    %-8s %12d %12d %9.2f %10.2f %14.1f\n' "$part" "$n" "$live" "$s" "$(rate "$n" "$s")" "$(echo "$m / 1024" | bc -l)"
done
growth=$(echo "100 * (${RSS[1/1]} - ${RSS[1/4]}) / ${RSS[1/4]}" | bc -l)
printf '  peak RSS from a quarter to all: %+.1f%% (goal < 10%%)\n' "$growth"
[ "$(echo "$growth < 10" | bc -l)" = 1 ] || missed+=("scale: peak RSS grew $(printf %.1f "$growth")% from a quarter to all, goal < 10%")
[ "$EVENTS" -ge "$MIN_EVENTS" ] || missed+=("scale: only $EVENTS events recorded in $storms storms, goal $MIN_EVENTS")
for m in "${missed[@]}"; do echo "goal missed: $m"; done
[ ${#missed[@]} -eq 0 ]
