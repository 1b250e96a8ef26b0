import Foundation
import Testing

/// A program the tests run: in its own process group, with its output going to files, and
/// with a deadline.
///
/// Files, not pipes, because a grandchild that outlives the program (Chromium's crash
/// handler, a workload's background job) keeps a pipe's write end open and a read to end of
/// file would wait for it forever; and reading one pipe to its end while the program fills the
/// other deadlocks. A deadline, because a hung program must fail its test, not the whole CI
/// run: past it, or once the program has exited, the whole group is killed.
struct Subprocess {
    let pid: pid_t
    private let out: URL
    private let err: URL
    private let started = ContinuousClock.now

    struct Result {
        /// The exit status, or 128 + the signal that ended the program.
        var status: Int32
        var stdout: String
        var stderr: String
        var timedOut: Bool
    }

    /// Starts `program`; `environment` replaces the test's own when given.
    init(_ program: String, _ arguments: [String], environment: [String: String]? = nil) throws {
        let dir = FileManager.default.temporaryDirectory
        let tag = UUID().uuidString
        out = dir.appendingPathComponent("foliotrace-test-\(tag).out")
        err = dir.appendingPathComponent("foliotrace-test-\(tag).err")

        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, out.path, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
        posix_spawn_file_actions_addopen(&actions, 2, err.path, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETPGROUP))
        posix_spawnattr_setpgroup(&attributes, 0)

        let env = (environment ?? ProcessInfo.processInfo.environment).map { "\($0.key)=\($0.value)" }
        let argv = ([program] + arguments).map { strdup($0) } + [nil]
        let envp = env.map { strdup($0) } + [nil]
        defer { for p in argv + envp { free(p) } }
        var pid: pid_t = 0
        let rc = posix_spawn(&pid, program, &actions, &attributes, argv, envp)
        guard rc == 0 else {
            throw POSIXError(POSIXErrorCode(rawValue: rc) ?? .EINVAL, userInfo: [NSFilePathErrorKey: program])
        }
        self.pid = pid
    }

    /// Runs `program` to its end, or kills it after `timeout` seconds and records an issue.
    static func run(
        _ program: String,
        _ arguments: [String],
        environment: [String: String]? = nil,
        timeout: Double = 300
    ) throws -> Result {
        let p = try Subprocess(program, arguments, environment: environment)
        let r = p.wait(timeout: timeout)
        if r.timedOut {
            Issue.record("\(program) \(arguments.joined(separator: " ")) ran past \(timeout) s and was killed")
        }
        return r
    }

    /// Waits for the program to end, `timeout` seconds after it started at most; then kills
    /// what is left of its process group and returns its output.
    func wait(timeout: Double) -> Result {
        let deadline = started + .milliseconds(Int(timeout * 1000))
        var status: Int32 = 0
        var timedOut = false
        while true {
            let reaped = waitpid(pid, &status, WNOHANG)
            if reaped == pid { break }
            if reaped < 0 && errno != EINTR {
                Issue.record("waitpid(\(pid)): \(String(cString: strerror(errno)))")
                status = 0x7f
                break
            }
            if ContinuousClock.now >= deadline {
                timedOut = true
                kill(-pid, SIGKILL)
                waitpid(pid, &status, 0)
                break
            }
            usleep(10_000)
        }
        kill(-pid, SIGKILL)
        let read = { (url: URL) -> String in
            defer { try? FileManager.default.removeItem(at: url) }
            return String(decoding: (try? Data(contentsOf: url)) ?? Data(), as: UTF8.self)
        }
        let signal = status & 0x7f
        return Result(
            status: signal == 0 ? (status >> 8) & 0xff : 128 + signal,
            stdout: read(out),
            stderr: read(err),
            timedOut: timedOut
        )
    }
}
