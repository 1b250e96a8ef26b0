#ifndef FOLIOTRACE_CTRACEFS_SHIM_H
#define FOLIOTRACE_CTRACEFS_SHIM_H
#include <tracefs.h>
#endif
