import Foundation

/// A minimal `push` payload with the fields Slipway reads (ref, after, deleted,
/// head_commit, repository), for `slipway deliver` set-up checks and tests. Real
/// deliveries carry many more fields; these are the ones the classifier needs.
public enum SamplePushPayload {
    public static func make(
        repository: String, ref: String = "refs/heads/main", sha: String, message: String = "Slipway set-up check",
        cloneURL: String? = nil, defaultBranch: String = "main", deleted: Bool = false
    ) -> [UInt8] {
        let zeros = String(repeating: "0", count: 40)
        let object: [String: Any] = [
            "ref": GitRefName.qualified(ref),
            "before": zeros,
            "after": deleted ? zeros : sha,
            "created": false, "deleted": deleted, "forced": false,
            "head_commit": deleted ? NSNull() : ["id": sha, "message": message, "timestamp": "2026-11-25T10:00:00Z"] as [String: Any],
            "repository": [
                "full_name": repository, "name": repository.split(separator: "/").last.map(String.init) ?? repository,
                "default_branch": defaultBranch, "clone_url": cloneURL ?? "https://github.com/\(repository).git",
            ] as [String: Any],
            "pusher": ["name": "slipway", "email": "slipway@localhost"],
        ]
        return Array((try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])) ?? Data())
    }
}
