#include <event-parse.h>
#include <trace-cmd.h>
