// The whole-process reference of `make bench`: counts a trace.dat's records through
// libtracecmd's tracecmd_iterate_events (TraceCmdLoop), as a user's C tool would, from exec
// to exit. Usage: tracecmd-count TRACE.dat [instance]
#include <stdio.h>
#include <stdlib.h>

#include "TraceCmdLoop.h"

int main(int argc, char **argv)
{
	unsigned long long checksum = 0;
	double open_seconds = 0, iterate_seconds = 0;
	long long n;

	if (argc < 2) {
		fprintf(stderr, "usage: tracecmd-count TRACE.dat [instance]\n");
		return 2;
	}
	n = tracecmd_loop(argv[1], argc > 2, &checksum, &open_seconds, &iterate_seconds);
	if (n < 0)
		return 1;
	printf("%lld %llu\n", n, checksum);
	return 0;
}
