#ifndef FOLIOTRACE_CSQLITE_SHIM_H
#define FOLIOTRACE_CSQLITE_SHIM_H
#include <sqlite3.h>
#endif
