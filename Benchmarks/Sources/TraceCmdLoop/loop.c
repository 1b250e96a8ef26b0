#include "TraceCmdLoop.h"

#include <malloc.h>
#include <sys/resource.h>
#include <time.h>

#include <event-parse.h>
#include <trace-cmd.h>

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

struct loop_state {
	struct tep_handle *tep;
	long long records;
	unsigned long long checksum;
};

static int count_record(struct tracecmd_input *handle, struct tep_record *record, int cpu, void *data)
{
	struct loop_state *s = data;

	(void)handle;
	s->records++;
	s->checksum += record->ts + (unsigned long long)tep_data_type(s->tep, record) + (unsigned long long)cpu;
	return 0;
}

long long tracecmd_loop(const char *path, int instance, unsigned long long *checksum,
			double *open_seconds, double *iterate_seconds)
{
	double t0 = now();
	struct tracecmd_input *input = tracecmd_open(path, 0);
	struct tracecmd_input *handle = input;
	struct loop_state s = { 0 };
	double t1;

	if (!input)
		return -1;
	if (instance) {
		handle = tracecmd_buffer_instance_handle(input, 0);
		if (!handle) {
			tracecmd_close(input);
			return -1;
		}
	}
	s.tep = tracecmd_get_tep(handle);
	t1 = now();
	tracecmd_iterate_events(handle, NULL, 0, count_record, &s);
	*iterate_seconds = now() - t1;
	*open_seconds = t1 - t0;
	if (handle != input)
		tracecmd_close(handle);
	tracecmd_close(input);
	*checksum = s.checksum;
	return s.records;
}

unsigned long long bench_heap_bytes(void)
{
	struct mallinfo2 m = mallinfo2();

	return m.uordblks + m.hblkhd;
}

long bench_max_rss_kib(void)
{
	struct rusage usage;

	getrusage(RUSAGE_SELF, &usage);
	return usage.ru_maxrss;
}
