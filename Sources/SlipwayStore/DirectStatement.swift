import GRDB
import GRDBSQLite

/// Runs one of GRDB's cached statements through SQLite's C API, for the few writes made
/// for every delivery. GRDB still prepares, caches and finalizes the statement; what is
/// skipped is its per-execution bookkeeping and the boxing of each argument, which the
/// profile showed as half of the writer's time per delivery. Only for plain INSERT and
/// UPDATE statements inside a transaction GRDB manages.
enum DirectStatement {
    enum Value {
        case text(String?)
        case integer(Int64?)
        case real(Double?)
    }

    static func run(_ db: Database, sql: String, _ values: [Value]) throws {
        let statement = try db.cachedStatement(sql: sql)
        let handle = statement.sqliteStatement
        defer {
            sqlite3_reset(handle)
            sqlite3_clear_bindings(handle)
        }
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
            guard code == SQLITE_OK else { throw error(db, code, sql) }
        }
        let code = sqlite3_step(handle)
        guard code == SQLITE_DONE else { throw error(db, code, sql) }
    }

    private static func error(_ db: Database, _ code: Int32, _ sql: String) -> DatabaseError {
        DatabaseError(resultCode: ResultCode(rawValue: code), message: String(cString: sqlite3_errmsg(db.sqliteConnection)), sql: sql)
    }

    /// SQLITE_TRANSIENT: SQLite copies the text before the call returns.
    private static let transientDestructor = unsafeBitCast(-1, to: sqlite3_destructor_type.self)
}
