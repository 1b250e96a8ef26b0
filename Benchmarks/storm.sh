# The page-cache storm of `make bench` (sourced by scale-bench.sh and live-storm.sh, which set
# FILE and MIB): MIB MiB written to FILE with fsync, caches dropped, read back a page at a
# time with readahead off (POSIX_FADV_RANDOM), deleted, caches dropped. Read back with cat,
# the kernel fills the page cache with large folios when memory is free (6.18 on ext4: about
# 76 thousand events for 512 MiB on an idle machine, 40 storms gave 3 million): without
# readahead each page is its own order-0 folio, so a storm's events do not depend on how free
# memory is.
page_cache_storm() {
	dd if=/dev/zero of="$FILE" bs=1M count="$MIB" conv=fsync status=none
	echo 1 >/proc/sys/vm/drop_caches
	python3 -c 'import os, sys
fd = os.open(sys.argv[1], os.O_RDONLY)
os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_RANDOM)
while os.read(fd, 4096): pass' "$FILE"
	rm -f "$FILE"
	echo 1 >/proc/sys/vm/drop_caches
}
