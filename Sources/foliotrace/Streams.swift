import ArgumentParser
import FolioTraceKit
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// Standard output and standard error as the commands use them: errors as one bounded,
/// escaped line; a failed write to standard output as exit status 2, not silence.
enum Streams {
    /// Makes the process safe to run with closed standard streams and a file size limit:
    /// a closed fd 0, 1 or 2 is taken by a read-only /dev/null, so no file the command opens
    /// (a report's temporary file) becomes "standard output", and writes to it fail
    /// (EBADF) where they can be seen; SIGXFSZ is ignored so a write past `ulimit -f` fails
    /// with EFBIG and is reported instead of killing the process mid-write.
    static func prepare() {
        signal(SIGXFSZ, SIG_IGN)
        for fd in Int32(0)...2 where fcntl(fd, F_GETFD) < 0 {
            let null = open("/dev/null", O_RDONLY)
            if null >= 0, null != fd {
                dup2(null, fd)
                close(null)
            }
        }
    }

    /// Flushes standard output; when it cannot be written (a full disk, /dev/full, a closed
    /// stream), says so and exits 2.
    static func finishStandardOutput() {
        let flushed = flushStandardOutput()
        let reason = flushed ? "a write failed" : String(cString: strerror(errno))
        if !flushed || standardOutputHasFailed() {
            error(path: "standard output", "cannot write: \(reason)")
            Glibc.exit(2)
        }
    }

    /// Whether standard output has failed (for commands that run until stopped).
    static var standardOutputFailed: Bool { standardOutputHasFailed() }

    /// Prints `foliotrace: PATH: REASON` on stderr as one line (see `ErrorLine`).
    static func error(path: String?, _ reason: String) {
        let line = ErrorLine.format(path: path, reason: reason) + "\n"
        writeStandardError(line)
    }

    /// Writes `text` to standard error as it is, in as many writes as it takes (a failure is
    /// ignored: there is nowhere left to report it).
    static func writeStandardError(_ text: String) {
        var bytes = Array(text.utf8)[...]
        while !bytes.isEmpty {
            let n = bytes.withUnsafeBytes { write(STDERR_FILENO, $0.baseAddress, $0.count) }
            if n < 0, errno == EINTR { continue }
            guard n > 0 else { return }
            bytes = bytes.dropFirst(n)
        }
    }

    /// Prints an error whose description already names its file (`TraceFileError`,
    /// `ReportInputError`, `OutputError`, a capture error) as one line.
    static func error(_ error: any Error) {
        switch error {
        case let e as TraceFileError: Self.error(path: e.path, e.problem.description)
        case let e as ReportInputError: Self.error(path: e.path, e.problem)
        case let e as OutputError: Self.error(path: e.path, e.problem)
        default: Self.error(path: nil, "\(error)")
        }
    }
}

/// Runs `body`, turning a trace, report input or output error into one line on stderr and
/// exit status 2.
func reportingErrors<T>(_ body: () throws -> T) throws -> T {
    do {
        return try body()
    } catch let error as TraceFileError {
        Streams.error(error)
        throw ExitCode(2)
    } catch let error as ReportInputError {
        Streams.error(error)
        throw ExitCode(2)
    } catch let error as OutputError {
        Streams.error(error)
        throw ExitCode(2)
    }
}
