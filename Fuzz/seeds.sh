#!/usr/bin/env bash
# Builds the seed corpora of the fuzz targets from the fixtures, small copies first:
#   Fuzz/seeds.sh DIR  ->  DIR/tracedat/, DIR/perfdata/
# A whole fixture is 0.05-4 MB and a run over it takes up to a second under ASan, so the seeds
# are cut: each trace.dat's first 3000 events (`trace-cmd split`, which keeps the version and
# compression; kallsyms and formats stay whole), one fixture rewritten as version 6 without
# compression (`trace-cmd convert`; Debian's trace-cmd has no zlib), and each perf.data's first 64
# and 256 KiB of records (shrink-perf.py, which keeps the attributes and feature sections).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
fixtures="$here/../fixtures"
final=${1:?usage: seeds.sh DIR}
# Built aside and moved into place at the end, so that DIR/TARGET exists only when it is whole.
mkdir -p "$final"
out=$(mktemp -d "$final/.building.XXXXXX")
mkdir -p "$out/tracedat" "$out/perfdata"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp" "$out"' EXIT

for f in "$fixtures"/linux-*/*.dat; do
	name=$(basename "$(dirname "$f")")-$(basename "$f" .dat)
	if trace-cmd split -i "$f" -o "$tmp/$name" -e 3000 >/dev/null 2>&1 && [ -s "$tmp/$name.1" ]; then
		mv "$tmp/$name.1" "$out/tracedat/$name-3000.dat"
	fi
done
small="$out/tracedat/linux-6.18-memcg-reclaim-foreign-3000.dat"
if [ -f "$small" ]; then
	trace-cmd convert --file-version 6 --compression none -i "$small" -o "$out/tracedat/v6-plain.dat" \
		>/dev/null 2>&1 || true
fi
cp "$fixtures/linux-6.18/lost-events.dat" "$out/tracedat/linux-6.18-lost-events.dat"

for f in "$fixtures"/linux-*/perf/*.perf.data; do
	name=$(basename "$(dirname "$(dirname "$f")")")-$(basename "$f" .perf.data)
	for kib in 64 256; do
		python3 "$here/shrink-perf.py" "$f" "$out/perfdata/$name-${kib}k.perf.data" $((kib * 1024))
	done
done
# Identical cuts (a file shorter than the cut) once only.
for d in "$out/tracedat" "$out/perfdata"; do
	sha1sum "$d"/* | sort | awk 'seen[$1]++ { print $2 }' | xargs -r rm -f
done
rm -rf "$final/tracedat" "$final/perfdata"
mv "$out/tracedat" "$out/perfdata" "$final/"
