import GRDB
import GRDBSQLite

/// Runs one of GRDB's cached statements through SQLite's C API, for the statements made
/// for every delivery. GRDB still prepares, caches and finalizes the statement; what is
/// skipped is its per-execution bookkeeping, the boxing of each argument and the generic
/// decoding of each column, which the profile showed as half of the writer's time per
/// delivery. Only for plain statements inside a transaction or read GRDB manages.
enum DirectStatement {
    enum Value {
        case text(String?)
        case integer(Int64?)
        case real(Double?)
    }

    /// Runs an INSERT or UPDATE.
    static func run(_ db: Database, sql: String, _ values: [Value]) throws {
        let handle = try prepared(db, sql: sql, values)
        defer { finish(handle) }
        let code = sqlite3_step(handle)
        guard code == SQLITE_DONE else { throw error(db, code, sql) }
    }

    /// Runs a SELECT and makes a value of each row.
    static func rows<T>(_ db: Database, sql: String, _ values: [Value], _ make: (Columns) throws -> T) throws -> [T] {
        let handle = try prepared(db, sql: sql, values)
        defer { finish(handle) }
        var rows: [T] = []
        while true {
            let code = sqlite3_step(handle)
            if code == SQLITE_DONE { return rows }
            guard code == SQLITE_ROW else { throw error(db, code, sql) }
            rows.append(try make(Columns(handle: handle)))
        }
    }

    /// The current row's columns, by position.
    struct Columns: StoredColumns {
        let handle: OpaquePointer

        func text(_ index: Int) -> String? { text(Int32(index)) }
        func integer(_ index: Int) -> Int64? { integer(Int32(index)) }
        func real(_ index: Int) -> Double? { real(Int32(index)) }

        func text(_ index: Int32) -> String? {
            guard sqlite3_column_type(handle, index) != SQLITE_NULL, let bytes = sqlite3_column_text(handle, index) else { return nil }
            // By its length in bytes, so a NUL inside the text is kept.
            return String(decoding: UnsafeBufferPointer(start: bytes, count: Int(sqlite3_column_bytes(handle, index))), as: UTF8.self)
        }

        func integer(_ index: Int32) -> Int64? {
            sqlite3_column_type(handle, index) == SQLITE_NULL ? nil : sqlite3_column_int64(handle, index)
        }

        func real(_ index: Int32) -> Double? {
            sqlite3_column_type(handle, index) == SQLITE_NULL ? nil : sqlite3_column_double(handle, index)
        }
    }

    private static func prepared(_ db: Database, sql: String, _ values: [Value]) throws -> OpaquePointer {
        let handle = try db.cachedStatement(sql: sql).sqliteStatement
        for (offset, value) in values.enumerated() {
            let index = Int32(offset + 1)
            let code: Int32
            switch value {
            case .text(let text?):
                // With its length in bytes: a NUL inside the text (a payload can carry one) is kept.
                code = text.withCString { sqlite3_bind_text(handle, index, $0, Int32(text.utf8.count), transientDestructor) }
            case .integer(let number?): code = sqlite3_bind_int64(handle, index, number)
            case .real(let number?): code = sqlite3_bind_double(handle, index, number)
            case .text(nil), .integer(nil), .real(nil): code = sqlite3_bind_null(handle, index)
            }
            guard code == SQLITE_OK else {
                finish(handle)
                throw error(db, code, sql)
            }
        }
        return handle
    }

    private static func finish(_ handle: OpaquePointer) {
        sqlite3_reset(handle)
        sqlite3_clear_bindings(handle)
    }

    private static func error(_ db: Database, _ code: Int32, _ sql: String) -> DatabaseError {
        DatabaseError(resultCode: ResultCode(rawValue: code), message: String(cString: sqlite3_errmsg(db.sqliteConnection)), sql: sql)
    }

    /// SQLITE_TRANSIENT: SQLite copies the text before the call returns.
    private static let transientDestructor = unsafeBitCast(-1, to: sqlite3_destructor_type.self)
}
