#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// A file a command writes (a report, an SQLite export): checked before the work starts,
/// written to a temporary file beside it and renamed into place only once complete.
///
/// What it guarantees:
/// - never an input: a target that is the same file as an input (same device and inode:
///   the same path, a hard link, a symlink to it) is refused;
/// - never a device, directory or FIFO: a target that exists and is not a regular file is
///   refused (it is never unlinked or written);
/// - never half a file: the bytes go to `.NAME.foliotrace-XXXXXX` in the target's directory,
///   are flushed with fsync, and are renamed over the target only on success, so a failure or
///   a full disk leaves what was there untouched; a symlink target is followed and the file
///   it names is replaced (the link stays);
/// - never silently lost to a concurrent run: the check and the rename happen under an
///   exclusive `flock` of the directory, and a run whose target changed since it started
///   (another run wrote it in the meantime) refuses to replace it and says so, rather than
///   making one of two runs' results disappear without a word.
///
/// The temporary file is created when the `OutputFile` is, so a target that cannot be
/// written is known before a long analysis, and removed if it is never committed.
public final class OutputFile {
    /// The path as the user gave it (what messages name).
    public let path: String
    /// Where the file is renamed to: `path`, or the file a symlink at `path` names.
    let target: String
    /// The temporary file, in the target's directory.
    public let temporaryPath: String
    private let directory: String
    /// The target as one canonical path (its directory resolved), to tell two targets apart.
    private let canonical: String
    private var fd: Int32
    private let before: Identity?
    private let inputs: [Identity]
    private var committed = false

    /// A file's identity: the device and inode say which file; size and times say whether
    /// it was written since.
    struct Identity: Equatable {
        var device: UInt64
        var inode: UInt64
        var size: Int64
        var modified: timespec
        var mode: mode_t

        init(_ s: stat) {
            device = UInt64(s.st_dev)
            inode = UInt64(s.st_ino)
            size = Int64(s.st_size)
            modified = s.st_mtim
            mode = s.st_mode
        }

        func sameFile(_ other: Identity) -> Bool { device == other.device && inode == other.inode }

        static func == (a: Identity, b: Identity) -> Bool {
            a.sameFile(b) && a.size == b.size && a.modified.tv_sec == b.modified.tv_sec
                && a.modified.tv_nsec == b.modified.tv_nsec
        }

        static func of(_ path: String) -> Identity? {
            var s = stat()
            return stat(path, &s) == 0 ? Identity(s) : nil
        }
    }

    /// Checks `path` and creates the temporary file beside it.
    /// - Parameters:
    ///   - path: the file to write.
    ///   - inputs: the files the command reads; the output may be none of them.
    /// - Throws: `FileError` when the target is an input, exists and is not a regular file,
    ///   is a dangling symlink, or its directory cannot take a new file.
    public init(path: String, inputs: [String] = []) throws(FileError) {
        self.path = path
        self.inputs = inputs.compactMap(Identity.of)
        var link = stat()
        var resolved = path
        if lstat(path, &link) == 0, link.st_mode & S_IFMT == S_IFLNK {
            guard let real = realpath(path, nil) else {
                throw FileError(path: path, problem: "a symlink to nothing (\(lastError())): not written")
            }
            resolved = String(cString: real)
            free(real)
        }
        target = resolved
        before = Identity.of(resolved)
        if let before { try Self.check(before, path: path, inputs: self.inputs) }
        let slash = resolved.lastIndex(of: "/")
        directory = slash.map { $0 == resolved.startIndex ? "/" : String(resolved[..<$0]) } ?? "."
        let name = slash.map { String(resolved[resolved.index(after: $0)...]) } ?? resolved
        canonical =
            (realpath(directory, nil).map { p in
                defer { free(p) }
                return String(cString: p)
            } ?? directory) + "/" + name
        // NAME_MAX is 255: a long name's temporary file keeps only the name's start.
        var template = Array(
            (directory + "/." + String(decoding: name.utf8.prefix(200), as: UTF8.self) + ".foliotrace-XXXXXX")
                .utf8CString
        )
        fd = template.withUnsafeMutableBufferPointer { mkstemp($0.baseAddress!) }
        guard fd >= 0 else {
            throw FileError(path: path, problem: "cannot create a file in \(directory): \(lastError())")
        }
        _ = fcntl(fd, F_SETFD, FD_CLOEXEC)
        temporaryPath = template.withUnsafeBufferPointer { String(cString: $0.baseAddress!) }
    }

    deinit {
        if fd >= 0 { close(fd) }
        if !committed { unlink(temporaryPath) }
    }

    /// Whether `other` would write the same file (the same path, or links to one file).
    public func isSameTarget(as other: OutputFile) -> Bool {
        if canonical == other.canonical { return true }
        guard let a = Identity.of(target), let b = Identity.of(other.target) else { return false }
        return a.sameFile(b)
    }

    /// Refuses a target that is an input or not a regular file.
    private static func check(_ existing: Identity, path: String, inputs: [Identity]) throws(FileError) {
        if inputs.contains(where: { $0.sameFile(existing) }) {
            throw FileError(
                path: path,
                problem: "is an input of this command: not overwritten (choose another output)"
            )
        }
        let kind = existing.mode & S_IFMT
        guard kind == S_IFREG else {
            throw FileError(
                path: path,
                problem: "exists and is \(Self.describe(kind)), not a regular file: left as it is, nothing written"
            )
        }
    }

    static func describe(_ kind: mode_t) -> String {
        switch kind {
        case S_IFCHR: return "a character device"
        case S_IFBLK: return "a block device"
        case S_IFDIR: return "a directory"
        case S_IFIFO: return "a FIFO"
        case S_IFSOCK: return "a socket"
        default: return "a special file"
        }
    }

    /// Writes `text` to the temporary file and renames it into place.
    /// - Throws: `FileError` with the system's reason; the target is then left as it was.
    public func write(_ text: String) throws(FileError) {
        var text = text
        let result: Result<Void, FileError> = text.withUTF8 { bytes in
            var done = 0
            while done < bytes.count {
                let n = writeSome(fd, bytes.baseAddress! + done, bytes.count - done)
                if n < 0, errno == EINTR { continue }
                guard n > 0 else { return .failure(FileError(path: path, problem: "cannot write: \(lastError())")) }
                done += n
            }
            return .success(())
        }
        try result.get()
        try commit()
    }

    /// Renames the temporary file, which something else (SQLite) has written, into place:
    /// fsync, then, under the directory's lock, the checks again and the rename.
    /// - Throws: `FileError` when the data cannot be flushed, the target has become an input
    ///   or a special file, or another process wrote it since this one started.
    public func commit() throws(FileError) {
        let closed = close(fd)
        fd = -1
        guard closed == 0 else { throw FileError(path: path, problem: "cannot write: \(lastError())") }
        // Opened again by name: a writer may have replaced the file (Foundation's atomic writes).
        let written = open(temporaryPath, O_RDONLY | O_CLOEXEC)
        guard written >= 0, fsync(written) == 0 else {
            let reason = lastError()
            if written >= 0 { close(written) }
            throw FileError(path: path, problem: "cannot write: \(reason)")
        }
        fchmod(written, before.map { $0.mode & 0o777 } ?? 0o666 & ~Self.umaskValue)
        close(written)
        let dir = open(directory, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard dir >= 0 else { throw FileError(path: path, problem: "cannot open \(directory): \(lastError())") }
        defer { close(dir) }
        // Other foliotrace runs wait here; the check and the rename are one step for them.
        while flock(dir, LOCK_EX) != 0, errno == EINTR {}
        defer { flock(dir, LOCK_UN) }
        let now = Identity.of(target)
        if let now { try Self.check(now, path: path, inputs: inputs) }
        if now != before {
            throw FileError(
                path: path,
                problem: before == nil
                    ? "was created by another process while this run wrote its output: left as it is, this run's output not written"
                    : "was replaced or written by another process while this run wrote its output: left as it is, this run's output not written"
            )
        }
        guard rename(temporaryPath, target) == 0 else {
            throw FileError(path: path, problem: "cannot replace it: \(lastError())")
        }
        committed = true
        fsync(dir)
    }

    private static let umaskValue: mode_t = {
        let m = umask(0o022)
        umask(m)
        return m
    }()
}

/// A file foliotrace cannot use, besides the trace itself (`TraceFileError`): a report or
/// database it cannot write, a baseline it cannot read. One line naming the file.
public struct FileError: Error, CustomStringConvertible, Sendable {
    public var path: String
    public var problem: String
    public var description: String { "\(path): \(problem)" }

    public init(path: String, problem: String) {
        self.path = path
        self.problem = problem
    }
}

private func lastError() -> String { String(cString: strerror(errno)) }

/// write(2), under a name the class's own `write` does not hide.
private func writeSome(_ fd: Int32, _ bytes: UnsafeRawPointer, _ count: Int) -> Int { write(fd, bytes, count) }
