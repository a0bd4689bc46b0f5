/// What one push sent to the registry: the blobs of the pushed image (its layers and its
/// config) that the registry did not have before, and those it already had (layers of
/// earlier builds: the registry is asked first and the tool skips them).
public struct PushAccounting: Sendable, Equatable {
    public struct Blob: Sendable, Equatable, Hashable {
        public var digest: String
        public var size: Int64
        public init(digest: String, size: Int64) {
            self.digest = digest
            self.size = size
        }
    }

    public var uploaded: [Blob]
    public var reused: [Blob]

    /// `blobs`: the pushed manifest's config and layers; `present`: the digests the
    /// registry held before the push.
    public init(blobs: [Blob], present: Set<String>) {
        uploaded = blobs.filter { !present.contains($0.digest) }
        reused = blobs.filter { present.contains($0.digest) }
    }

    public var uploadedBytes: Int64 { uploaded.reduce(0) { $0 + $1.size } }
    public var reusedBytes: Int64 { reused.reduce(0) { $0 + $1.size } }

    /// "push: uploaded 2 of 4 blobs, 1.2 kB; 3 already in the registry, 500.1 MB"
    public var summary: String {
        let total = uploaded.count + reused.count
        return "push: uploaded \(uploaded.count) of \(total) blobs, \(ByteSizeText.format(uploadedBytes)); "
            + "\(reused.count) already in the registry, \(ByteSizeText.format(reusedBytes))"
    }
}
