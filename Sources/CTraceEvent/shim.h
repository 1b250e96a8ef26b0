#ifndef FOLIOTRACE_CTRACEEVENT_SHIM_H
#define FOLIOTRACE_CTRACEEVENT_SHIM_H
/* Never define DEBUG_RECORD: it changes struct tep_record's layout. */
#include <event-parse.h>
#include <kbuffer.h>
#include <trace-seq.h>
#endif
