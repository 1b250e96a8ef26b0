import CSQLite
import Foundation

/// The little of SQLite's C API the export needs: open, execute, prepared inserts.
final class SQLiteDatabase {
    private var handle: OpaquePointer?
    let path: String

    /// Creates (or replaces) the database file at `path`.
    init(creating path: String) throws(ReportInputError) {
        self.path = path
        unlink(path)
        let flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE
        guard sqlite3_open_v2(path, &handle, flags, nil) == SQLITE_OK else {
            let message = handle.map { String(cString: sqlite3_errmsg($0)) } ?? "out of memory"
            sqlite3_close(handle)
            handle = nil
            throw ReportInputError(path: path, problem: "cannot create the database: \(message)")
        }
    }

    deinit { sqlite3_close(handle) }

    func execute(_ sql: String) throws(ReportInputError) {
        var error: UnsafeMutablePointer<CChar>?
        guard sqlite3_exec(handle, sql, nil, nil, &error) == SQLITE_OK else {
            let message = error.map { String(cString: $0) } ?? "unknown error"
            sqlite3_free(error)
            throw ReportInputError(path: path, problem: "SQL failed: \(message)")
        }
    }

    func prepare(_ sql: String) throws(ReportInputError) -> Statement {
        var statement: OpaquePointer?
        guard sqlite3_prepare_v2(handle, sql, -1, &statement, nil) == SQLITE_OK, let statement else {
            throw ReportInputError(path: path, problem: "SQL failed: \(String(cString: sqlite3_errmsg(handle)))")
        }
        return Statement(statement, database: self)
    }

    fileprivate var lastError: String { String(cString: sqlite3_errmsg(handle)) }

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
                throw ReportInputError(path: database.path, problem: "insert failed: \(database.lastError)")
            }
        }
    }
}
