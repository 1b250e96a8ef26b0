// Only this file reads stdio's `stdout` (what print writes to): a C global that Swift 6
// accepts only from a module imported @preconcurrency, which Foundation's re-export is not.
@preconcurrency import Glibc

/// fflush(stdout): false (with errno set) when it could not write what was buffered.
func flushStandardOutput() -> Bool { fflush(stdout) == 0 }

/// ferror(stdout): whether any write to standard output has failed.
func standardOutputHasFailed() -> Bool { ferror(stdout) != 0 }
