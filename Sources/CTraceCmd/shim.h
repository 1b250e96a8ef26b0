#ifndef FOLIOTRACE_CTRACECMD_SHIM_H
#define FOLIOTRACE_CTRACECMD_SHIM_H
#include <event-parse.h>
#include <trace-cmd.h>
#endif
