#ifndef FOLIOTRACE_CZSTD_SHIM_H
#define FOLIOTRACE_CZSTD_SHIM_H
#include <zstd.h>
#endif
