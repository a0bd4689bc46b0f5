import Foundation

/// Checks an image's attestations: one envelope must be signed by the given key, carry
/// an in-toto statement with SLSA provenance, and name the image's digest as its subject.
/// Used by `slipway verify` and by the deploy gate (`deploy.require_provenance`).
public enum AttestationCheck {
    public enum Problem: Error, Equatable, CustomStringConvertible {
        case noAttestation(image: String)
        case badSignature(String)
        case notProvenance(String)
        case subjectMismatch(image: String, subjects: [String])

        public var description: String {
            switch self {
            case .noAttestation(let image): "no attestation: the registry has no \(image) attestation tag for this digest"
            case .badSignature(let why): "bad signature: \(why)"
            case .notProvenance(let why): "not a SLSA provenance statement: \(why)"
            case .subjectMismatch(let image, let subjects):
                "subject mismatch: the statement is about \(subjects.isEmpty ? "nothing" : subjects.joined(separator: ", ")), not \(image)"
            }
        }
    }

    /// What a verified statement says, for printing.
    public struct Verified: Sendable, Equatable {
        public let statement: ProvenanceStatement
        public let keyIDs: [String]

        public var builder: String { statement.predicate.runDetails.builder.id }
        public var invocation: String { statement.predicate.runDetails.metadata.invocationId }
        public func dependency(_ name: String) -> ProvenanceStatement.ResourceDescriptor? {
            statement.predicate.buildDefinition.resolvedDependencies.first { $0.name == name }
        }
    }

    /// The first of `envelopes` (JSON) that holds for `key` and `digest` (`sha256:<hex>`);
    /// else the problem of the last one tried (no envelope at all: `noAttestation`).
    public static func verify(_ envelopes: [Data], key: ProvenanceVerificationKey, image: String, digest: String) throws(Problem)
        -> Verified
    {
        var last = Problem.noAttestation(image: image)
        for data in envelopes {
            do {
                return try verifyOne(data, key: key, image: image, digest: digest)
            } catch {
                last = error
            }
        }
        throw last
    }

    static func verifyOne(_ data: Data, key: ProvenanceVerificationKey, image: String, digest: String) throws(Problem) -> Verified {
        let envelope: DSSEEnvelope
        do {
            envelope = try JSONDecoder().decode(DSSEEnvelope.self, from: data)
        } catch {
            throw .badSignature("the attestation is not a DSSE envelope")
        }
        guard envelope.payloadType == DSSEEnvelope.inTotoPayloadType else {
            throw .notProvenance("payload type \(envelope.payloadType), not \(DSSEEnvelope.inTotoPayloadType)")
        }
        let payload: [UInt8]
        do {
            payload = try envelope.verifiedPayload(with: key)
        } catch {
            throw .badSignature(error.description)
        }
        let statement: ProvenanceStatement
        do {
            statement = try JSONDecoder().decode(ProvenanceStatement.self, from: Data(payload))
        } catch {
            throw .notProvenance("the signed payload is not an in-toto statement with SLSA provenance v1")
        }
        guard statement.type == ProvenanceStatement.statementType, statement.predicateType == ProvenanceStatement.predicateType else {
            throw .notProvenance("\(statement.type) with predicate \(statement.predicateType)")
        }
        let wanted = ProvenanceStatement.digestMap(digest)
        guard statement.subject.contains(where: { subject in wanted.allSatisfy { subject.digest[$0.key] == $0.value } }) else {
            throw .subjectMismatch(
                image: "\(image)@\(digest)",
                subjects: statement.subject.map {
                    "\($0.name ?? "?")@" + $0.digest.map { "\($0.key):\($0.value)" }.sorted().joined(separator: ",")
                })
        }
        return Verified(statement: statement, keyIDs: envelope.signatures.map(\.keyid))
    }
}
