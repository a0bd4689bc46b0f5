import Foundation
import SlipwayCore
import SlipwayTesting
import Testing

/// Signed provenance against independent references (issue 21): keys made by the openssl
/// CLI; envelopes checked by securesystemslib's DSSE verification and the statement parsed
/// strictly by in-toto-attestation's Statement v1 and SLSA Provenance v1 bindings
/// (Tests/Fakes/dsse_reference.py, PyPI packages in the test venv).
@Suite struct ProvenanceReferenceTests {
    /// A PEM key pair made by `openssl genpkey` (`algorithm`: its arguments).
    static func keyPair(_ algorithm: [String], in directory: URL, name: String) throws -> (privatePEM: String, publicPath: String) {
        let privatePath = directory.appendingPathComponent("\(name).key").path
        let publicPath = directory.appendingPathComponent("\(name).pub").path
        let made = try runProgram("/usr/bin/openssl", ["genpkey"] + algorithm + ["-out", privatePath], in: directory)
        guard made.status == 0 else { throw HarnessError("openssl genpkey: \(made.output)") }
        let exported = try runProgram("/usr/bin/openssl", ["pkey", "-in", privatePath, "-pubout", "-out", publicPath], in: directory)
        guard exported.status == 0 else { throw HarnessError("openssl pkey: \(exported.output)") }
        return (try String(contentsOfFile: privatePath, encoding: .utf8), publicPath)
    }

    static let p256 = ["-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256"]
    static let ed25519 = ["-algorithm", "ED25519"]

    static func input(digest: String = "sha256:" + String(repeating: "ab", count: 32)) -> ProvenanceStatement.Input {
        ProvenanceStatement.Input(
            image: "registry.local/acme/app", imageDigest: digest, repository: "acme/app", ref: "refs/heads/main", trigger: .push,
            cloneURL: "https://github.com/acme/app.git", commit: CommitID(String(repeating: "c", count: 40))!,
            model: ModelProvenance(source: "s3://models/app.onnx", version: "\"etag-1\"", sha256: String(repeating: "d", count: 64)),
            modelStoreCheck: "matched x-amz-checksum-sha256",
            baseImages: [(name: "localhost/base/python", digest: "sha256:" + String(repeating: "e", count: 64))],
            builderID: "https://ci.example.com", buildID: 42, startedAt: 1_796_244_933, finishedAt: 1_796_245_000)
    }

    /// What the reference said of an envelope.
    static func reference(_ envelope: DSSEEnvelope, publicKey: String, keyID: String, in directory: URL) throws -> [String: Any] {
        try parsed(try referenceAnswer(envelope, publicKey: publicKey, keyID: keyID, in: directory))
    }

    static func parsed(_ answer: String) throws -> [String: Any] {
        guard let object = try JSONSerialization.jsonObject(with: Data(answer.utf8)) as? [String: Any] else {
            throw HarnessError("dsse_reference.py: \(answer)")
        }
        return object
    }

    /// The reference's answer, as printed (JSON).
    static func referenceAnswer(_ envelope: DSSEEnvelope, publicKey: String, keyID: String, in directory: URL) throws -> String {
        let path = directory.appendingPathComponent("envelope-\(UUID().uuidString).json")
        try JSONEncoder().encode(envelope).write(to: path)
        let checked = try runProgram(
            try PythonTools.python(), [TestPaths.fake("dsse_reference.py").path, path.path, publicKey, keyID], in: directory,
            stdoutOnly: true)
        guard checked.status == 0 else { throw HarnessError("dsse_reference.py: \(checked.output)") }
        return checked.output
    }

    @Test(arguments: ["p256", "ed25519"])
    func anEnvelopeSlipwaySignsVerifiesWithSecuresystemslibAndParsesAsSLSAProvenance(_ algorithm: String) async throws {
        let directory = try TestPaths.temporaryDirectory("provenance-\(algorithm)")
        defer { TestPaths.removeTemporaryDirectory(directory) }
        try await blocking {
            let (privatePEM, publicPath) = try Self.keyPair(algorithm == "p256" ? Self.p256 : Self.ed25519, in: directory, name: "signing")
            let key = try ProvenanceSigningKey(privateKeyPEM: privatePEM)
            #expect(key.algorithm == (algorithm == "p256" ? .ecdsaP256 : .ed25519))
            let statement = ProvenanceStatement(Self.input())
            let envelope = try DSSEEnvelope.signing(
                statement.encoded(), payloadType: DSSEEnvelope.inTotoPayloadType, key: key, keyID: "slipway")

            let answer = try Self.reference(envelope, publicKey: publicPath, keyID: "slipway", in: directory)
            #expect(answer["verified"] as? Bool == true, "\(answer)")
            #expect(answer["scheme"] as? String == (algorithm == "p256" ? "ecdsa-sha2-nistp256" : "ed25519"))
            #expect(answer["statement_type"] as? String == "https://in-toto.io/Statement/v1")
            #expect(answer["predicate_type"] as? String == "https://slsa.dev/provenance/v1")
            let subject = try #require((answer["subject"] as? [[String: Any]])?.first)
            #expect(subject["name"] as? String == "registry.local/acme/app")
            #expect((subject["digest"] as? [String: String])?["sha256"] == String(repeating: "ab", count: 32))
            #expect(answer["builder"] as? String == "https://ci.example.com")
            #expect(answer["invocation"] as? String == "https://ci.example.com/builds/42")
            #expect(answer["started"] as? String == "2026-12-02T20:55:33Z")
            let dependencies = try #require(answer["dependencies"] as? [[String: Any]])
            #expect(dependencies.map { $0["name"] as? String } == ["source", "model", "base-image"])
            #expect((dependencies[0]["digest"] as? [String: String])?["gitCommit"] == String(repeating: "c", count: 40))
            #expect(dependencies[1]["uri"] as? String == "s3://models/app.onnx")
            #expect((dependencies[1]["digest"] as? [String: String])?["sha256"] == String(repeating: "d", count: 64))
            #expect((answer["external"] as? [String: String]) == ["repository": "acme/app", "ref": "refs/heads/main", "trigger": "push"])

            // Our own check agrees; a changed payload byte, or another key, fails both.
            let verifier = try ProvenanceVerificationKey(publicKeyPEM: try String(contentsOfFile: publicPath, encoding: .utf8))
            #expect(try envelope.verifiedPayload(with: verifier) == statement.encoded())
            var tampered = envelope
            var bytes = Array(Data(base64Encoded: envelope.payload)!)
            bytes[bytes.count / 2] ^= 0x01
            tampered.payload = Data(bytes).base64EncodedString()
            #expect(throws: DSSEEnvelope.Problem.noValidSignature(keyIDs: ["slipway"])) { try tampered.verifiedPayload(with: verifier) }
            #expect(try Self.reference(tampered, publicKey: publicPath, keyID: "slipway", in: directory)["verified"] as? Bool == false)
            let (_, otherPublic) = try Self.keyPair(algorithm == "p256" ? Self.p256 : Self.ed25519, in: directory, name: "other")
            let other = try ProvenanceVerificationKey(publicKeyPEM: try String(contentsOfFile: otherPublic, encoding: .utf8))
            #expect(throws: DSSEEnvelope.Problem.self) { try envelope.verifiedPayload(with: other) }
            #expect(try Self.reference(envelope, publicKey: otherPublic, keyID: "slipway", in: directory)["verified"] as? Bool == false)
        }
    }

    @Test func thePAEIsTheDSSESpecificationsExample() {
        // github.com/secure-systems-lab/dsse, protocol.md: "Test case".
        let pae = DSSEEnvelope.pae(payloadType: "http://example.com/HelloWorld", payload: Array("hello world".utf8))
        #expect(String(decoding: pae, as: UTF8.self) == "DSSEv1 29 http://example.com/HelloWorld 11 hello world")
    }

    @Test func otherKeysAreRefusedByName() async throws {
        let directory = try TestPaths.temporaryDirectory("provenance-keys")
        defer { TestPaths.removeTemporaryDirectory(directory) }
        try await blocking {
            let (rsa, rsaPublic) = try Self.keyPair(["-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048"], in: directory, name: "rsa")
            #expect(throws: ProvenanceKeyError("neither an ECDSA P-256 nor an Ed25519 key (an RSA key, or another type)")) {
                try ProvenanceSigningKey(privateKeyPEM: rsa)
            }
            #expect(throws: ProvenanceKeyError.self) {
                try ProvenanceVerificationKey(publicKeyPEM: try String(contentsOfFile: rsaPublic, encoding: .utf8))
            }
            let (p384, _) = try Self.keyPair(["-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-384"], in: directory, name: "p384")
            #expect(throws: ProvenanceKeyError("an EC key on curve secp384r1, not P-256 (prime256v1)")) {
                try ProvenanceSigningKey(privateKeyPEM: p384)
            }
            #expect(throws: ProvenanceKeyError("not a PEM private key")) { try ProvenanceSigningKey(privateKeyPEM: "hello") }
        }
    }
}
