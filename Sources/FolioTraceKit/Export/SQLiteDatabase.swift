import CSQLite
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

/// The little of SQLite's C API the export needs: open, execute, prepared inserts.
final class SQLiteDatabase {
    private var handle: OpaquePointer?
    let path: String

    /// Opens the empty file at `file` (an `OutputFile`'s temporary file) as a new database;
    /// messages name `path`, the file the user asked for.
    init(creating file: String, path: String) throws(ReportInputError) {
        self.path = path
        let flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE
        guard sqlite3_open_v2(file, &handle, flags, nil) == SQLITE_OK else {
            let message = handle.map { String(cString: sqlite3_errmsg($0)) } ?? "out of memory"
            sqlite3_close(handle)
            handle = nil
            throw ReportInputError(path: path, problem: "cannot create the database: \(message)")
        }
    }

    /// Closes the database, saying when SQLite could not (statements still open).
    func close() throws(ReportInputError) {
        guard sqlite3_close(handle) == SQLITE_OK else {
            throw ReportInputError(path: path, problem: "cannot close the database: \(lastError(errno))")
        }
        handle = nil
    }

    deinit { sqlite3_close(handle) }

    func execute(_ sql: String) throws(ReportInputError) {
        var error: UnsafeMutablePointer<CChar>?
        guard sqlite3_exec(handle, sql, nil, nil, &error) == SQLITE_OK else {
            let reason = systemError(errno)
            let message = (error.map { String(cString: $0) } ?? "unknown error") + reason
            sqlite3_free(error)
            throw ReportInputError(path: path, problem: "SQL failed: \(message)")
        }
    }

    func prepare(_ sql: String) throws(ReportInputError) -> Statement {
        var statement: OpaquePointer?
        guard sqlite3_prepare_v2(handle, sql, -1, &statement, nil) == SQLITE_OK, let statement else {
            throw ReportInputError(path: path, problem: "SQL failed: \(lastError(errno))")
        }
        return Statement(statement, database: self)
    }

    /// SQLite's message for the last error, with `systemError(errno)` (read by the caller
    /// right after the failing call, before anything else can change errno).
    fileprivate func lastError(_ errnoAfterCall: Int32 = 0) -> String {
        String(cString: sqlite3_errmsg(handle)) + systemError(errnoAfterCall)
    }

    /// The system's reason behind an I/O error, which "disk I/O error" alone does not say
    /// ("File too large", "No space left on device"), or nothing for other errors.
    /// sqlite3_system_errno is often 0 by then (a rollback ran since), so the errno read
    /// right after the failing call is used when it has none.
    private func systemError(_ errnoAfterCall: Int32) -> String {
        let primary = sqlite3_extended_errcode(handle) & 0xff
        guard primary == SQLITE_IOERR || primary == SQLITE_FULL else { return "" }
        let recorded = sqlite3_system_errno(handle)
        let code = recorded != 0 ? recorded : errnoAfterCall
        return code == 0 ? "" : " (\(String(cString: strerror(code))))"
    }

    /// One prepared INSERT, run once per row with `insert(_:)`.
    final class Statement {
        private let statement: OpaquePointer
        private let database: SQLiteDatabase

        fileprivate init(_ statement: OpaquePointer, database: SQLiteDatabase) {
            self.statement = statement
            self.database = database
        }

        deinit { sqlite3_finalize(statement) }

        /// A column value: integers (SQLite's are signed 64-bit), text, or NULL.
        enum Value {
            case int(Int64)
            case text(String)
            case null

            static func of(_ v: UInt64?) -> Value { v.map { .int(Int64(bitPattern: $0)) } ?? .null }
            static func of(_ v: Int?) -> Value { v.map { .int(Int64($0)) } ?? .null }
            static func of(_ v: String?) -> Value { v.map(Value.text) ?? .null }
            static func of(_ v: Bool) -> Value { .int(v ? 1 : 0) }
        }

        func insert(_ values: [Value]) throws(ReportInputError) {
            for (i, v) in values.enumerated() {
                let column = Int32(i + 1)
                switch v {
                case .int(let n): sqlite3_bind_int64(statement, column, n)
                case .null: sqlite3_bind_null(statement, column)
                case .text(let s):
                    // SQLITE_TRANSIENT: SQLite copies the bytes before the Swift string goes away.
                    sqlite3_bind_text(statement, column, s, -1, unsafeBitCast(-1, to: sqlite3_destructor_type.self))
                }
            }
            defer { sqlite3_reset(statement) }
            guard sqlite3_step(statement) == SQLITE_DONE else {
                let errnoAfterCall = errno
                throw ReportInputError(
                    path: database.path,
                    problem: "insert failed: \(database.lastError(errnoAfterCall))"
                )
            }
        }
    }
}
