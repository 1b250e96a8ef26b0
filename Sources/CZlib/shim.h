#ifndef FOLIOTRACE_CZLIB_SHIM_H
#define FOLIOTRACE_CZLIB_SHIM_H
#include <zlib.h>
#endif
