#!/bin/bash
# Live benchmark: `foliotrace tail` (release build) at the kernel's default buffer size while a
# page-cache storm of several GB runs, then the sustained events/s it handled and the events the
# ring buffer lost, from its final JSON summary. Needs root and tracefs; skips otherwise.
#
#   sudo bash Benchmarks/live-storm.sh [GiB]      (default 2: written once, read back twice)
set -euo pipefail
GIB=${1:-2}
BIN=${FOLIOTRACE:-.build/release/foliotrace}
if [ "$(id -u)" != 0 ] || [ ! -d /sys/kernel/tracing/instances ]; then
	echo "live-storm: skipped (needs root and tracefs at /sys/kernel/tracing)"
	exit 0
fi
FILE=$(mktemp -p /var/tmp foliotrace-storm.XXXXXX)
OUT=$(mktemp)
trap 'rm -f "$FILE" "$OUT"' EXIT
"$BIN" tail --preset all --format json --interval 1 > "$OUT" 2>/dev/null &
TAIL=$!
# Tracing is on once our instance says so.
for _ in $(seq 100); do
	[ "$(cat /sys/kernel/tracing/instances/foliotrace-$TAIL/tracing_on 2>/dev/null)" = 1 ] && break
	sleep 0.1
done
START=$(date +%s.%N)
dd if=/dev/zero of="$FILE" bs=1M count=$((GIB * 1024)) conv=fsync status=none
for _ in 1 2; do
	echo 1 > /proc/sys/vm/drop_caches
	cat "$FILE" > /dev/null
done
END=$(date +%s.%N)
kill -INT $TAIL
wait $TAIL || true
python3 - "$OUT" "$START" "$END" "$GIB" <<'PY'
import json, sys
lines = [json.loads(l) for l in open(sys.argv[1]) if l.startswith("{")]
final = [l for l in lines if l.get("type") == "summary"][-1]
storm = float(sys.argv[3]) - float(sys.argv[2])
events, lost, elapsed = final["events"], final["lost_events"], float(final["elapsed_s"])
print(f"live-storm: {sys.argv[4]} GiB written + read twice in {storm:.1f} s; tail handled {events} events "
      f"in {elapsed:.1f} s ({events / elapsed / 1e6:.2f} M events/s sustained), lost {lost} "
      f"({100.0 * lost / max(events + lost, 1):.2f}% of what the kernel produced)")
PY
