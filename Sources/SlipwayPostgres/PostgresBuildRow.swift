import Foundation
import PostgresNIO
import SlipwayCore
import SlipwayStore

/// Builds read from rows of `SELECT \(columns) FROM build` (`StoredBuild`).
enum PostgresBuildRow {
    static var columns: String { StoredBuild.columns }

    static func builds(_ rows: PostgresRowSequence) async throws -> [Build] {
        var builds: [Build] = []
        for try await row in rows { builds.append(try StoredBuild.build(from: Columns(row: row.makeRandomAccess()))) }
        return builds
    }

    /// A row's columns by position, as `StoredBuild` reads them.
    struct Columns: StoredColumns {
        let row: PostgresRandomAccessRow

        func text(_ index: Int) throws -> String? { try row[index].decode(String?.self) }
        func real(_ index: Int) throws -> Double? { try row[index].decode(Double?.self) }
        func integer(_ index: Int) throws -> Int64? { try row[index].decode(Int64?.self) }
    }
}

/// What went wrong with the database, in words for a log line or a reply: never the
/// query's values, never the password.
enum PostgresProblem: Error, CustomStringConvertible {
    case noRowReturned(String)

    var description: String {
        switch self {
        case .noRowReturned(let table): "the insert into \(table) returned no row"
        }
    }

    /// `error` in words for the operator, naming the server: PostgreSQL's own message and
    /// SQLSTATE when it answered (they name the user or database, never a password),
    /// else why it could not be reached. postgres-nio's own description says only that
    /// it hides the details.
    static func explain(_ error: any Error, at location: PostgresLocation) -> String {
        let server = "PostgreSQL at \(location.host):\(location.port)"
        guard let error = error as? PSQLError else { return "\(server): \(error)" }
        if let message = error.serverInfo?[.message] {
            let state = error.serverInfo?[.sqlState].map { " (SQLSTATE \($0))" } ?? ""
            return "\(server) refused: \(message)\(state)"
        }
        switch error.code {
        case .connectionError:
            return "cannot connect to \(server)" + (error.underlying.map { ": \($0)" } ?? "")
        case .sslUnsupported:
            return "\(server) does not offer TLS, which sslmode asks for"
        default:
            return "\(server): \(error.code)" + (error.underlying.map { ": \($0)" } ?? "")
        }
    }

    /// Why the database could not be reached, when `error` says it could not; nil for an
    /// error of the statement itself (a constraint, a serialization failure).
    static func unreachable(_ error: any Error) -> String? {
        if let expired = error as? ConnectionWaitExpired { return expired.description }
        guard let error = error as? PSQLError else { return nil }
        switch error.code {
        case .connectionError, .serverClosedConnection, .clientClosedConnection, .uncleanShutdown, .poolClosed:
            return "the database cannot be reached (\(error.code))"
        case .server:
            // Class 08 (connection exceptions) and 57P (the server shutting down or crashed).
            guard let state = error.serverInfo?[.sqlState], state.hasPrefix("08") || state.hasPrefix("57P") else { return nil }
            return "the database is not available (SQLSTATE \(state))"
        default:
            return nil
        }
    }
}

extension PostgresTransactionError {
    /// What made the transaction fail, not postgres-nio's wrapper of it.
    var cause: any Error { closureError ?? beginError ?? commitError ?? self }
}
