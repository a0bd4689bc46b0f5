import Foundation

/// An in-toto Statement v1 whose predicate is SLSA Provenance v1: the pushed image (the
/// subject, by digest) was built by this Slipway daemon (`builder.id`, its public URL) from
/// this commit and this model (resolved dependencies, each by digest), in this build
/// (`invocationId`). The model is a first-class input, with its source, version and the
/// result of comparing its digest with the store's own checksum.
public struct ProvenanceStatement: Codable, Sendable, Equatable {
    public static let statementType = "https://in-toto.io/Statement/v1"
    public static let predicateType = "https://slsa.dev/provenance/v1"
    /// What a Slipway image build is (docs/provenance.md describes the parameters).
    public static let buildType = "https://slipway.invalid/provenance/image-build/v1"

    public struct ResourceDescriptor: Codable, Sendable, Equatable {
        public var uri: String?
        public var name: String?
        public var digest: [String: String]
        public var annotations: [String: String]?

        public init(uri: String?, name: String?, digest: [String: String], annotations: [String: String]? = nil) {
            self.uri = uri
            self.name = name
            self.digest = digest
            self.annotations = annotations
        }
    }

    public struct Predicate: Codable, Sendable, Equatable {
        public struct BuildDefinition: Codable, Sendable, Equatable {
            public var buildType: String
            public var externalParameters: [String: String]
            public var internalParameters: [String: String]?
            public var resolvedDependencies: [ResourceDescriptor]
        }
        public struct RunDetails: Codable, Sendable, Equatable {
            public struct Builder: Codable, Sendable, Equatable { public var id: String }
            public struct Metadata: Codable, Sendable, Equatable {
                public var invocationId: String
                public var startedOn: String?
                public var finishedOn: String?
            }
            public var builder: Builder
            public var metadata: Metadata
        }
        public var buildDefinition: BuildDefinition
        public var runDetails: RunDetails
    }

    public var type: String
    public var subject: [ResourceDescriptor]
    public var predicateType: String
    public var predicate: Predicate

    enum CodingKeys: String, CodingKey {
        case type = "_type"
        case subject, predicateType, predicate
    }

    /// What a statement is made from: one build's record.
    public struct Input: Sendable {
        public var image: String
        /// `sha256:<hex>`, as the registry reported the push.
        public var imageDigest: String
        public var repository: String
        public var ref: String
        public var trigger: BuildTrigger
        public var cloneURL: String?
        public var commit: CommitID
        public var model: ModelProvenance?
        /// Whether the model's sha256 matched the store's own checksum (`matched`,
        /// `not offered`, ...); nil without a model.
        public var modelStoreCheck: String?
        /// Base images by digest (`name`, `sha256:<hex>`), where the builder reported them.
        public var baseImages: [(name: String, digest: String)]
        public var builderID: String
        public var buildID: Int64
        public var startedAt: Double?
        public var finishedAt: Double?

        public init(
            image: String, imageDigest: String, repository: String, ref: String, trigger: BuildTrigger, cloneURL: String?,
            commit: CommitID, model: ModelProvenance?, modelStoreCheck: String?, baseImages: [(name: String, digest: String)],
            builderID: String, buildID: Int64, startedAt: Double?, finishedAt: Double?
        ) {
            self.image = image
            self.imageDigest = imageDigest
            self.repository = repository
            self.ref = ref
            self.trigger = trigger
            self.cloneURL = cloneURL
            self.commit = commit
            self.model = model
            self.modelStoreCheck = modelStoreCheck
            self.baseImages = baseImages
            self.builderID = builderID
            self.buildID = buildID
            self.startedAt = startedAt
            self.finishedAt = finishedAt
        }
    }

    public init(_ input: Input) {
        type = Self.statementType
        predicateType = Self.predicateType
        subject = [ResourceDescriptor(uri: nil, name: input.image, digest: Self.digestMap(input.imageDigest))]
        var dependencies = [
            ResourceDescriptor(
                uri: input.cloneURL.map { "git+\($0)@\(input.ref)" } ?? "git+https://github.com/\(input.repository)@\(input.ref)",
                name: "source", digest: ["gitCommit": input.commit.hex])
        ]
        if let model = input.model {
            var annotations: [String: String] = [:]
            if let version = model.version { annotations["version"] = version }
            if let check = input.modelStoreCheck { annotations["storeChecksum"] = check }
            dependencies.append(
                ResourceDescriptor(uri: model.source, name: "model", digest: ["sha256": model.sha256], annotations: annotations))
        }
        for base in input.baseImages {
            dependencies.append(ResourceDescriptor(uri: base.name, name: "base-image", digest: Self.digestMap(base.digest)))
        }
        predicate = Predicate(
            buildDefinition: .init(
                buildType: Self.buildType,
                externalParameters: ["repository": input.repository, "ref": input.ref, "trigger": input.trigger.rawValue],
                internalParameters: nil, resolvedDependencies: dependencies),
            runDetails: .init(
                builder: .init(id: input.builderID),
                metadata: .init(
                    invocationId: "\(input.builderID)/builds/\(input.buildID)", startedOn: input.startedAt.map(Self.time),
                    finishedOn: input.finishedAt.map(Self.time))))
    }

    /// The statement as the DSSE payload: JSON with sorted keys.
    public func encoded() -> [UInt8] {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return (try? Array(encoder.encode(self))) ?? []
    }

    /// The base image an image's annotations name (`org.opencontainers.image.base.name`
    /// and `.digest`, as buildah writes them in `ImageAnnotations` of `buildah inspect`),
    /// when both are there and the digest is one.
    public static func baseImage(inInspection json: String) -> (name: String, digest: String)? {
        guard let inspection = try? JSONSerialization.jsonObject(with: Data(json.utf8)) as? [String: Any],
            let object = inspection["ImageAnnotations"] as? [String: Any],
            let name = object["org.opencontainers.image.base.name"] as? String,
            let digest = object["org.opencontainers.image.base.digest"] as? String,
            digest.hasPrefix("sha256:"), digest.count == 71, !name.isEmpty
        else { return nil }
        return (name, digest)
    }

    static func digestMap(_ digest: String) -> [String: String] {
        let parts = digest.split(separator: ":", maxSplits: 1)
        return parts.count == 2 ? [String(parts[0]): String(parts[1])] : ["sha256": digest]
    }

    static func time(_ seconds: Double) -> String {
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime]
        return formatter.string(from: Date(timeIntervalSince1970: seconds))
    }
}
