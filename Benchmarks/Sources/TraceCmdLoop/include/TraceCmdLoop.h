#ifndef FOLIOTRACE_TRACECMD_LOOP_H
#define FOLIOTRACE_TRACECMD_LOOP_H

/// Reads every record of a trace.dat through libtracecmd's tracecmd_iterate_events, reading
/// each record's event type, as the reference C loop of `make bench`.
/// Returns the number of records, or -1 if the file cannot be opened; `checksum` receives a
/// sum over the records so the work cannot be optimised away; `open_seconds` the time
/// tracecmd_open took and `iterate_seconds` the time of the iteration.
long long tracecmd_loop(const char *path, int instance, unsigned long long *checksum,
			double *open_seconds, double *iterate_seconds);

/// Bytes of heap in use, small and mmapped blocks (glibc mallinfo2), for the memory benchmark.
unsigned long long bench_heap_bytes(void);

/// Peak resident set size of this process in KiB (getrusage ru_maxrss).
long bench_max_rss_kib(void);

#endif
