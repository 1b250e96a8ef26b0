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

/// The trace a command reads, made readable more than once: the readers map the file and
/// open it again by path (to tell perf.data from trace.dat, for a second pass), which a
/// pipe cannot give.
///
/// - A regular file (also `-` when standard input is one: `< trace.dat`) is read in place.
/// - `-`, a FIFO, a pipe or socket (`cat x.dat | foliotrace events -`, `<(zstdcat x.dat.zst)`,
///   `mkfifo f`) is read once, to its end, into an unlinked temporary file in `$TMPDIR` (or
///   /tmp), at most 95% of the space free there; the readers then read that copy. For `-`,
///   `/dev/stdin` and `/dev/fd/N` the copy takes the same descriptor, so the path (and what
///   reports print as the file) stays the one given: `/dev/stdin` for `-`.
/// - A terminal, another device or a directory is refused with one line.
struct InputTrace {
    /// The path as given (what errors name; `-` is "standard input").
    let given: String
    /// The path the readers open.
    let path: String

    var displayName: String { given == "-" ? "standard input" : given }

    init(_ given: String) throws(ExitCode) {
        self.given = given
        let fd: Int32
        if given == "-" {
            fd = 0
        } else {
            // Blocks, as cat does, until a FIFO has a writer.
            fd = open(given, O_RDONLY | O_CLOEXEC)
            guard fd >= 0 else {
                // The reader says why (No such file, Permission denied) as it always has.
                path = given
                return
            }
        }
        var info = stat()
        guard fstat(fd, &info) == 0 else {
            Streams.error(path: given == "-" ? "standard input" : given, "cannot open: \(Self.lastError())")
            throw ExitCode(2)
        }
        let kind = info.st_mode & S_IFMT
        if kind == S_IFREG {
            if fd != 0 { close(fd) }
            path = given == "-" ? "/dev/stdin" : given
            return
        }
        let name = given == "-" ? "standard input" : given
        guard kind == S_IFIFO || kind == S_IFSOCK else {
            let what =
                isatty(fd) == 1
                ? "is a terminal: pipe a trace into it or give a file"
                : kind == S_IFDIR
                    ? "is a directory, not a trace file"
                    : kind == S_IFCHR
                        ? "is a character device, not a trace file"
                        : kind == S_IFBLK ? "is a block device, not a trace file" : "is not a regular file"
            Streams.error(path: name, what)
            throw ExitCode(2)
        }
        let copy = try Self.copy(fd, name: name)
        // The copy takes the descriptor the given path names, so that path reads the copy.
        if let reused = Self.descriptorNamed(by: given) {
            if fd != reused { close(fd) }
            dup2(copy, reused)
            close(copy)
            path = given == "-" ? "/dev/stdin" : given
        } else {
            close(fd)
            path = "/proc/self/fd/\(copy)"
        }
    }

    /// The descriptor a path such as `-`, /dev/stdin, /dev/fd/N or /proc/self/fd/N names.
    static func descriptorNamed(by path: String) -> Int32? {
        if path == "-" || path == "/dev/stdin" { return 0 }
        for prefix in ["/dev/fd/", "/proc/self/fd/"] where path.hasPrefix(prefix) {
            return Int32(path.dropFirst(prefix.count))
        }
        return nil
    }

    /// Reads `fd` to its end into an unlinked temporary file; returns that file's descriptor.
    private static func copy(_ fd: Int32, name: String) throws(ExitCode) -> Int32 {
        let dir = ProcessInfo.processInfo.environment["TMPDIR"].flatMap { $0.isEmpty ? nil : $0 } ?? "/tmp"
        var template = Array("\(dir)/foliotrace-input-XXXXXX".utf8CString)
        let out = template.withUnsafeMutableBufferPointer { mkstemp($0.baseAddress!) }
        guard out >= 0 else {
            Streams.error(path: name, "cannot make a temporary copy in \(dir): \(lastError())")
            throw ExitCode(2)
        }
        template.withUnsafeBufferPointer { _ = unlink($0.baseAddress!) }
        _ = fcntl(out, F_SETFD, FD_CLOEXEC)
        var space = statvfs()
        let free = fstatvfs(out, &space) == 0 ? UInt64(space.f_bavail) * UInt64(space.f_frsize) : 0
        let limit = free - free / 20
        var total: UInt64 = 0
        let size = 1 << 20
        let buffer = UnsafeMutableRawPointer.allocate(byteCount: size, alignment: 16)
        defer { buffer.deallocate() }
        while true {
            let n = read(fd, buffer, size)
            if n < 0, errno == EINTR { continue }
            guard n >= 0 else {
                close(out)
                Streams.error(path: name, "cannot read: \(lastError())")
                throw ExitCode(2)
            }
            if n == 0 { break }
            total += UInt64(n)
            guard total <= limit else {
                close(out)
                Streams.error(
                    path: name,
                    "more than the \(limit / 1_048_576) MiB free for a copy in \(dir) (set TMPDIR, or save the trace to a file and give its path)"
                )
                throw ExitCode(2)
            }
            var done = 0
            while done < n {
                let w = write(out, buffer + done, n - done)
                if w < 0, errno == EINTR { continue }
                guard w > 0 else {
                    close(out)
                    Streams.error(path: name, "cannot copy it to \(dir): \(lastError())")
                    throw ExitCode(2)
                }
                done += w
            }
        }
        return out
    }

    /// Runs `body` on the readable path; a trace error names the path as given.
    func reading<T>(_ body: (String) throws -> T) throws -> T {
        do {
            return try reportingErrors {
                do {
                    return try body(path)
                } catch var error as TraceFileError where path != given && error.path == path {
                    error.path = displayName
                    throw error
                }
            }
        }
    }

    private static func lastError() -> String { String(cString: strerror(errno)) }
}
