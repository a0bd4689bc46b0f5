import Foundation
import PostgresNIO
import SlipwayCore
import SlipwayStore

/// Builds read from rows of `SELECT \(columns) FROM build`, by position. A value no
/// version writes (an unknown state or trigger, a malformed commit id, a NULL where one
/// cannot be) is a `StoredValueError` naming the row, never read as something else.
enum PostgresBuildRow {
    static let columns = """
        id, repository, ref, sha, clone_url, trigger, delivery_id, state, reason, created_at, started_at, finished_at, attempts, \
        image_name, image_tags, image_digest, model_source, model_version, model_sha256, fence
        """

    static func builds(_ rows: PostgresRowSequence) async throws -> [Build] {
        var builds: [Build] = []
        for try await row in rows { builds.append(try build(row.makeRandomAccess())) }
        return builds
    }

    static func build(_ row: PostgresRandomAccessRow) throws -> Build {
        let id = try row[0].decode(Int64.self)
        func text(_ index: Int) throws -> String? { try row[index].decode(String?.self) }
        func real(_ index: Int) throws -> Double? { try row[index].decode(Double?.self) }
        func bad(_ column: String, _ index: Int) -> StoredValueError {
            StoredValueError(table: "build", row: "\(id)", column: column, value: try? text(index))
        }
        guard let repository = try text(1) else { throw bad("repository", 1) }
        guard let ref = try text(2) else { throw bad("ref", 2) }
        guard let sha = try text(3).flatMap(CommitID.init) else { throw bad("sha", 3) }
        guard let trigger = try text(5).flatMap(BuildTrigger.init(rawValue:)) else { throw bad("trigger", 5) }
        guard let state = try text(7).flatMap(BuildState.init(rawValue:)) else { throw bad("state", 7) }
        guard let createdAt = try real(9) else { throw bad("created_at", 9) }
        let attempts = try row[12].decode(Int.self)
        var build = Build(
            id: id, repository: repository, ref: ref, sha: sha, cloneURL: try text(4), trigger: trigger, deliveryID: try text(6),
            state: state, reason: try text(8), createdAt: createdAt, startedAt: try real(10), finishedAt: try real(11),
            attempts: attempts)
        if let name = try text(13) {
            var tags: [String] = []
            if let encoded = try text(14) {
                guard let decoded = try? JSONDecoder().decode([String].self, from: Data(encoded.utf8)) else { throw bad("image_tags", 14) }
                tags = decoded
            }
            build.image = ImageProvenance(name: name, tags: tags, digest: try text(15))
        }
        if let source = try text(16), let sha256 = try text(18) {
            build.model = ModelProvenance(source: source, version: try text(17), sha256: sha256)
        }
        build.fence = try row[19].decode(Int64.self)
        return build
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
