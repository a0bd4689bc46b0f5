import Foundation

/// A DSSE envelope (Dead Simple Signing Envelope, v1): a payload, its type, and
/// signatures over the payload's pre-authentication encoding (`pae`), never over the
/// JSON around it. The form in-toto attestations travel in, and cosign's `.att` layer.
public struct DSSEEnvelope: Codable, Sendable, Equatable {
    public struct Signature: Codable, Sendable, Equatable {
        public var keyid: String
        /// Standard base64 of the signature bytes.
        public var sig: String

        public init(keyid: String, sig: String) {
            self.keyid = keyid
            self.sig = sig
        }
    }

    /// Standard base64 of the payload bytes.
    public var payload: String
    public var payloadType: String
    public var signatures: [Signature]

    public init(payload: String, payloadType: String, signatures: [Signature]) {
        self.payload = payload
        self.payloadType = payloadType
        self.signatures = signatures
    }

    /// The media type of an envelope as a registry layer.
    public static let mediaType = "application/vnd.dsse.envelope.v1+json"
    /// The payload type of an in-toto statement.
    public static let inTotoPayloadType = "application/vnd.in-toto+json"

    /// `PAE(type, body) = "DSSEv1" SP LEN(type) SP type SP LEN(body) SP body`, lengths as
    /// ASCII decimal byte counts (the DSSE protocol).
    public static func pae(payloadType: String, payload: [UInt8]) -> [UInt8] {
        let type = Array(payloadType.utf8)
        return Array("DSSEv1 \(type.count) ".utf8) + type + Array(" \(payload.count) ".utf8) + payload
    }

    /// `payload` signed with `key` under `keyID`.
    public static func signing(_ payload: [UInt8], payloadType: String, key: ProvenanceSigningKey, keyID: String) throws(ProvenanceKeyError)
        -> DSSEEnvelope
    {
        let signature = try key.sign(pae(payloadType: payloadType, payload: payload))
        return DSSEEnvelope(
            payload: Data(payload).base64EncodedString(), payloadType: payloadType,
            signatures: [Signature(keyid: keyID, sig: Data(signature).base64EncodedString())])
    }

    /// Why an envelope does not hold for a key.
    public enum Problem: Error, Equatable, CustomStringConvertible {
        case malformed(String)
        case noValidSignature(keyIDs: [String])

        public var description: String {
            switch self {
            case .malformed(let what): "the envelope is malformed: \(what)"
            case .noValidSignature(let keyIDs):
                keyIDs.isEmpty
                    ? "the envelope carries no signature"
                    : "no signature verifies with the given key (signatures by key id \(keyIDs.map { "'\($0)'" }.joined(separator: ", "))): tampered with, or signed by another key"
            }
        }
    }

    /// The payload, once one signature verifies with `key` (the key id is a hint, not
    /// trusted: every signature is tried).
    public func verifiedPayload(with key: ProvenanceVerificationKey) throws(Problem) -> [UInt8] {
        guard let bytes = Data(base64Encoded: payload).map(Array.init) else { throw .malformed("the payload is not base64") }
        let message = Self.pae(payloadType: payloadType, payload: bytes)
        for signature in signatures {
            guard let sig = Data(base64Encoded: signature.sig).map(Array.init) else { continue }
            if key.isValid(signature: sig, of: message) { return bytes }
        }
        throw .noValidSignature(keyIDs: signatures.map(\.keyid))
    }
}
