#!/bin/bash
# Live benchmark (issue 15): the same page-cache storm three times, once around each of
# `foliotrace record`, `foliotrace tail` and `trace-cmd record`, each with the same events (those
# `--preset all` enables here) at the kernel's default buffer size; then, side by side, the
# events each read, the events per second of storm it sustained, and the events the kernel lost
# (each CPU's overrun + dropped events, as the kernel counted them when tracing stopped: the
# files' cpustat options, read by `trace-cmd report --stat`, and tail's final summary). Events
# in the files are counted by libtracecmd (Benchmarks' tracecmd-count, or `trace-cmd report`
# without it). Needs root and tracefs; skips otherwise.
#
# The storm is scale-bench.sh's: MiB written with fsync, caches dropped, read back a page at a
# time with readahead off (POSIX_FADV_RANDOM), deleted, caches dropped. Read back with cat, the
# kernel made large folios when memory was free, and a 1 GiB storm gave anywhere from 0.13 to
# 1.56 million events from one run to the next, so the tools' losses could not be compared;
# without readahead each page is an order-0 folio and a 512 MiB storm makes about 1.8 million
# events whatever the free memory. "read + lost" is what the kernel wrote: it differs between
# the tools' rows only by the machine's other activity (the load is printed with each row).
#
# Function tracing is locked on these machines (docs: ENVIRONMENT.md): `trace-cmd record`
# aborts on ftrace_enabled and set_ftrace_filter (EPERM) and, with -d, dies reading
# set_ftrace_pid. It runs here in a private mount namespace where empty files stand in for
# those function-tracing files, in an instance of its own (-B), so the top-level buffer, which
# other captures on this machine use, is never touched; its event recording is trace-cmd's own.
#
#   sudo bash Benchmarks/live-storm.sh [MiB]      (default 512)
#   TAIL_ARGS="--spool-kb 16384" sudo -E bash Benchmarks/live-storm.sh      (more options for tail)
set -euo pipefail
MIB=${1:-512}
BIN=${FOLIOTRACE:-.build/release/foliotrace}
COUNT=${TRACECMD_COUNT:-Benchmarks/.build/release/tracecmd-count}
T=/sys/kernel/tracing
if [ "$(id -u)" != 0 ] || [ ! -d $T/instances ]; then
	echo "live-storm: skipped (needs root and tracefs at $T)"
	exit 0
fi
WORK=$(mktemp -d -p /var/tmp foliotrace-storm.XXXXXX)
FILE=$WORK/storm
TCI=tcbench-$$
PID=
cleanup() {
	# The tool being measured, if the script ends early (its output has nowhere to go).
	if [ -n "$PID" ] && kill -0 "$PID" 2>/dev/null; then
		kill -INT "$PID"
		wait "$PID" 2>/dev/null || true
	fi
	rm -rf "$WORK"
	if [ -d $T/instances/$TCI ]; then
		echo 0 >$T/instances/$TCI/tracing_on
		rmdir $T/instances/$TCI 2>/dev/null || true
	fi
}
trap cleanup EXIT

# Waits until instance $1 has its events on and tracing on (a new instance starts with
# tracing_on 1 before its events are set); keeps its set_event in $WORK/events.
ready() {
	for _ in $(seq 600); do
		# (tracefs files have a size of 0: read them)
		if [ -n "$(head -c1 $T/instances/$1/set_event 2>/dev/null)" ] &&
			[ "$(cat $T/instances/$1/tracing_on 2>/dev/null)" = 1 ]; then
			cp $T/instances/$1/set_event "$WORK/events.$1"
			BUFFER_KB=$(cat $T/instances/$1/buffer_size_kb)
			return 0
		fi
		sleep 0.05
	done
	echo "live-storm: instance $1 never turned tracing on" >&2
	return 1
}

# The storm (Benchmarks/storm.sh, as scale-bench.sh's); sets STORM_S to its length in seconds
# and LOAD to the load average when it ended.
# shellcheck source=storm.sh
. "$(dirname "$0")/storm.sh"
storm() {
	rm -f "$FILE"
	sync
	local start end
	start=$(date +%s.%N)
	page_cache_storm
	end=$(date +%s.%N)
	STORM_S=$(echo "$end - $start" | bc)
	LOAD=$(cut -d" " -f1-3 /proc/loadavg)
}

# Events in a trace.dat (libtracecmd, which says "unknown option N" of foliotrace's own
# options on stderr), and the kernel's losses from its cpustat options.
file_events() {
	if [ -x "$COUNT" ]; then
		"$COUNT" "$1" ${2:+instance} 2>/dev/null | cut -d" " -f1
	else
		trace-cmd report "$1" 2>/dev/null | grep -c '\[[0-9]*\]'
	fi
}
file_lost() {
	trace-cmd report --stat "$1" 2>/dev/null |
		awk '/^overrun:|^dropped events:/ { n += $NF } END { print n + 0 }'
}

declare -A EVENTS LOST BUF SECONDS_ LOADS
row() { # tool events lost seconds
	EVENTS[$1]=$2
	LOST[$1]=$3
	SECONDS_[$1]=$4
	BUF[$1]=$BUFFER_KB
	LOADS[$1]=$LOAD
}

# Whatever the page cache held before (builds, the fixtures decode-bench just read) is dropped
# now, not by the first tool's storm: the first storm of a `make bench` recorded twice the
# events of the other two (3.43 M against 1.68 and 1.69 M), the deletes of that cache.
sync
echo 3 >/proc/sys/vm/drop_caches

# 1. foliotrace record
"$BIN" record -o "$WORK/record.dat" --preset all --probes none --duration 3600 2>"$WORK/record.err" &
PID=$!
ready foliotrace-$PID
EVENT_LIST="$WORK/events.foliotrace-$PID"
storm
kill -INT $PID
wait $PID
PID=
row "foliotrace record" "$(file_events "$WORK/record.dat")" "$(file_lost "$WORK/record.dat")" "$STORM_S"

# 2. foliotrace tail (its final summary: events analyzed + read but not analyzed, losses)
"$BIN" tail --preset all --format json --interval 1 ${TAIL_ARGS:-} >"$WORK/tail.jsonl" 2>"$WORK/tail.err" &
PID=$!
ready foliotrace-$PID
storm
kill -INT $PID
wait $PID || true
PID=
read -r TAIL_EVENTS TAIL_LOST TAIL_SPILLED TAIL_UNANALYZED < <(python3 - "$WORK/tail.jsonl" <<'PY'
import json, sys
final = [j for j in map(json.loads, open(sys.argv[1])) if j.get("type") == "summary"][-1]
print(final["events"] + final.get("unanalyzed_events", 0), final["lost_events"],
      final.get("spilled_pages", 0), final.get("unanalyzed_events", 0))
PY
)
row "foliotrace tail" "$TAIL_EVENTS" "$TAIL_LOST" "$STORM_S"

# 3. trace-cmd record, the same events, its own instance
if command -v trace-cmd >/dev/null; then
	mkdir $T/instances/$TCI
	args=()
	while read -r e; do args+=(-e "$e"); done <"$EVENT_LIST"
	unshare -m bash -c '
		set -e
		mount --make-rprivate /
		empty=$(mktemp)
		for f in set_ftrace_pid set_ftrace_filter set_ftrace_notrace set_ftrace_notrace_pid \
			set_graph_function set_graph_notrace; do
			for d in '$T' '$T/instances/$TCI'; do
				[ -e $d/$f ] && mount --bind "$empty" $d/$f
			done
		done
		exec trace-cmd record -q -d -B '$TCI' -o "$0" "$@"' "$WORK/trace-cmd.dat" "${args[@]}" \
		>"$WORK/trace-cmd.out" 2>&1 &
	PID=$!
	ready $TCI
	storm
	kill -INT $PID
	wait $PID || true
	PID=
	if [ -s "$WORK/trace-cmd.dat" ]; then
		row "trace-cmd record" "$(file_events "$WORK/trace-cmd.dat" instance)" "$(file_lost "$WORK/trace-cmd.dat")" "$STORM_S"
	else
		echo "live-storm: trace-cmd record wrote no file: $(tail -3 "$WORK/trace-cmd.out")" >&2
	fi
fi

echo "live-storm: a storm of $MIB MiB (written with fsync, caches dropped, read back a page at a" \
	"time without readahead) around each tool; $(wc -l <"$EVENT_LIST") events enabled (foliotrace's" \
	"--preset all); $(nproc) CPUs"
printf '%-18s %9s %8s %12s %10s %11s %8s %12s  %s\n' tool "buffer" "storm s" "events read" "M ev/s" \
	"events lost" "lost %" "read + lost" "load (1, 5, 15 min)"
for tool in "foliotrace record" "foliotrace tail" "trace-cmd record"; do
	[ -n "${EVENTS[$tool]:-}" ] || continue
	e=${EVENTS[$tool]} l=${LOST[$tool]} s=${SECONDS_[$tool]}
	printf '%-18s %5s KiB %8.1f %12d %10.2f %11d %7.2f%% %12d  %s\n' "$tool" "${BUF[$tool]}" "$s" "$e" \
		"$(echo "$e / $s / 1000000" | bc -l)" "$l" "$(echo "100 * $l / ($e + $l + (($e + $l) == 0))" | bc -l)" \
		"$((e + l))" "${LOADS[$tool]}"
done
echo "tail: $TAIL_SPILLED pages went through its spools' files; $TAIL_UNANALYZED events read were never analyzed"
