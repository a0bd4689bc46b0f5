import Foundation
import SlipwayCore

/// A stored row's columns, read by position: both stores read builds this way, which
/// spares a search of the column names for every field.
package protocol StoredColumns {
    func text(_ index: Int) throws -> String?
    func real(_ index: Int) throws -> Double?
    func integer(_ index: Int) throws -> Int64?
}

/// The `build` table as both stores read it.
package enum StoredBuild {
    /// The columns `build(from:)` reads, in its order.
    package static let columns = """
        id, repository, ref, sha, clone_url, trigger, delivery_id, state, reason, created_at, started_at, finished_at, attempts,
        image_name, image_tags, image_digest, model_source, model_version, model_sha256, fence,
        image_uploaded_bytes
        """

    /// A build from a row of `SELECT \(columns)`. A value no version writes (an unknown
    /// state or trigger, a malformed commit id, a NULL in a NOT NULL column) is a
    /// `StoredValueError` naming the row, never read as something else.
    package static func build(from row: some StoredColumns) throws -> Build {
        let id = try row.integer(0)
        func bad(_ column: String, _ index: Int) -> StoredValueError {
            StoredValueError(table: "build", row: id.map(String.init) ?? "?", column: column, value: try? row.text(index))
        }
        guard let id else { throw bad("id", 0) }
        guard let repository = try row.text(1) else { throw bad("repository", 1) }
        guard let ref = try row.text(2) else { throw bad("ref", 2) }
        guard let sha = try row.text(3).flatMap(CommitID.init) else { throw bad("sha", 3) }
        guard let trigger = try row.text(5).flatMap(BuildTrigger.init(rawValue:)) else { throw bad("trigger", 5) }
        guard let state = try row.text(7).flatMap(BuildState.init(rawValue:)) else { throw bad("state", 7) }
        guard let createdAt = try row.real(9) else { throw bad("created_at", 9) }
        guard let attempts = try row.integer(12) else { throw bad("attempts", 12) }
        var build = Build(
            id: id, repository: repository, ref: ref, sha: sha, cloneURL: try row.text(4), trigger: trigger,
            deliveryID: try row.text(6), state: state, reason: try row.text(8), createdAt: createdAt, startedAt: try row.real(10),
            finishedAt: try row.real(11), attempts: Int(attempts))
        if let name = try row.text(13) {
            var tags: [String] = []
            if let text = try row.text(14) {
                guard let decoded = try? JSONDecoder().decode([String].self, from: Data(text.utf8)) else { throw bad("image_tags", 14) }
                tags = decoded
            }
            build.image = ImageProvenance(name: name, tags: tags, digest: try row.text(15), uploadedBytes: try row.integer(20))
        }
        if let source = try row.text(16), let sha256 = try row.text(18) {
            build.model = ModelProvenance(source: source, version: try row.text(17), sha256: sha256)
        }
        guard let fence = try row.integer(19) else { throw bad("fence", 19) }
        build.fence = fence
        return build
    }
}
