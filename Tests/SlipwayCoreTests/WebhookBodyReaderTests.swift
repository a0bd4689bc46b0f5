import Foundation
import SlipwayCore
import SlipwayTesting
import Testing

/// A body over 64 KiB is not kept: only the MACs of the secrets and the fields a push is
/// read for. It must be judged exactly as the whole body would be.
@Suite struct WebhookBodyReaderTests {
    let secret = Array("repo-secret".utf8), other = Array("other-secret".utf8)

    /// A real push payload made large the way real ones are: many commits.
    func largePush() throws -> [UInt8] {
        let payload = try TestPaths.fixture("github-webhooks/push/with-new-branch.payload.json")
        var object = try #require(try JSONSerialization.jsonObject(with: Data(payload)) as? [String: Any])
        let commit: [String: Any] = [
            "id": String(repeating: "a", count: 40), "message": String(repeating: "a long message line\n", count: 50),
            "added": (0..<40).map { "src/file\($0).py" }, "modified": [], "removed": [],
        ]
        object["commits"] = Array(repeating: commit, count: 400)
        return Array(try JSONSerialization.data(withJSONObject: object))
    }

    func read(_ body: [UInt8], signedWith key: [UInt8], form: Bool = false, chunk: Int = 16 * 1024) throws -> WebhookBodyReader.Body {
        let signature = try WebhookSignature.parse(sha256Header: WebhookSignature.sha256Header(body: body, secret: key), sha1Header: nil)
        var reader = WebhookBodyReader(
            signature: signature, everySecret: [other, secret, secret], isForm: form, limit: 25 << 20, declaredLength: nil)
        var offset = 0
        while offset < body.count {
            let end = min(offset + chunk, body.count)
            try body[offset..<end].withUnsafeBytes { try reader.consume($0) }
            offset = end
        }
        return reader.finish()
    }

    @Test func aLargeBodyIsJudgedAsTheWholeOneWouldBe() throws {
        let body = try largePush()
        #expect(body.count > 512 * 1024)
        guard case .streamed(let check, let reduced?) = try read(body, signedWith: secret) else { Issue.record("not streamed"); return }
        let fields = try reduced.get()
        #expect(fields.count < 4096, "only the fields read are kept: \(fields.count) bytes")
        #expect(try PushEvent.decode(fields) == PushEvent.decode(body))
        #expect(check.isValid(secrets: [secret]))
        guard case .streamed(let wrongCheck, _) = try read(body, signedWith: Array("forged".utf8)) else { return }
        #expect(!wrongCheck.isValid(secrets: [secret, other]))
        guard case .streamed(let otherCheck, _) = try read(body, signedWith: other) else { return }
        #expect(!otherCheck.isValid(secrets: [secret]), "signed with a secret that does not apply to this repository")
    }

    @Test func chunkBoundariesDoNotMatter() throws {
        let body = try largePush()
        for chunk in [1 << 20, 65_537, 4093, 100] {
            guard case .streamed(let check, let reduced?) = try read(body, signedWith: secret, chunk: chunk) else {
                Issue.record("not streamed"); continue
            }
            #expect(try PushEvent.decode(try reduced.get()) == PushEvent.decode(body), "chunk \(chunk)")
            #expect(check.isValid(secrets: [secret]), "chunk \(chunk)")
        }
    }

    @Test func aLargeFormBodyIsReadThroughItsPayloadField() throws {
        let json = try largePush()
        let encoded = String(decoding: json, as: UTF8.self).addingPercentEncoding(withAllowedCharacters: .alphanumerics)!
        let body = Array("payload=\(encoded)".utf8)
        guard case .streamed(let check, let reduced?) = try read(body, signedWith: secret, form: true) else {
            Issue.record("not streamed"); return
        }
        #expect(try PushEvent.decode(try reduced.get()) == PushEvent.decode(json))
        #expect(check.isValid(secrets: [secret]))
        guard case .streamed(_, nil) = try read(Array("other=\(encoded)".utf8), signedWith: secret, form: true) else {
            Issue.record("a form without payload has no payload"); return
        }
    }

    @Test func smallBodiesAreKeptWholeAndLargeInvalidOnesAreInvalid() throws {
        guard case .whole(let body) = try read(Array(#"{"zen":"ok"}"#.utf8), signedWith: secret) else { Issue.record("kept whole"); return }
        #expect(body == Array(#"{"zen":"ok"}"#.utf8))
        var broken = try largePush()
        broken.removeLast()
        guard case .streamed(let check, let reduced?) = try read(broken, signedWith: secret) else { Issue.record("not streamed"); return }
        #expect(throws: (any Error).self) { try reduced.get() }
        #expect(check.isValid(secrets: [secret]), "signed but unparseable: 400, not 401")
    }

    @Test func theLimitStopsReading() throws {
        let signature = try WebhookSignature.parse(sha256Header: "sha256=" + String(repeating: "0", count: 64), sha1Header: nil)
        var reader = WebhookBodyReader(signature: signature, everySecret: [secret], isForm: false, limit: 100_000, declaredLength: nil)
        let chunk = [UInt8](repeating: 0x20, count: 60_000)
        try chunk.withUnsafeBytes { try reader.consume($0) }
        #expect(throws: WebhookBodyReader.TooLarge.self) { try chunk.withUnsafeBytes { try reader.consume($0) } }
    }

    @Test func streamedHMACsMatchOneShotOnes() {
        for key in [Array("k".utf8), [UInt8](repeating: 7, count: 64), [UInt8](repeating: 9, count: 200)] {
            let message = Array("The quick brown fox jumps over the lazy dog".utf8)
            let stream = HMACStream(.sha256, key: key)
            stream.update(Array(message[..<10]))
            stream.update(Array(message[10...]))
            #expect(stream.finish() == Crypto.hmacSHA256(key: key, message: message))
            let legacy = HMACStream(.sha1, key: key)
            legacy.update(message)
            #expect(legacy.finish() == Crypto.hmacSHA1(key: key, message: message))
        }
    }
}
