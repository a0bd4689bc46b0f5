import SlipwayCore
import Testing

@Suite struct WebhookSignatureTests {
    // GitHub's documented test vector (../shared/fixtures/README.md).
    let vectorSecret = Array("It's a Secret to Everybody".utf8)
    let vectorBody = Array("Hello, World!".utf8)
    let vectorHeader = "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17"

    @Test func githubDocumentedVectorIsProducedAndAccepted() throws {
        #expect(WebhookSignature.sha256Header(body: vectorBody, secret: vectorSecret) == vectorHeader)
        let signature = try WebhookSignature.parse(sha256Header: vectorHeader, sha1Header: nil)
        #expect(signature.isValid(body: vectorBody, secrets: [vectorSecret]))
    }

    @Test func upperCaseHexIsAccepted() throws {
        let signature = try WebhookSignature.parse(sha256Header: "sha256=" + vectorHeader.dropFirst(7).uppercased(), sha1Header: nil)
        #expect(signature.isValid(body: vectorBody, secrets: [vectorSecret]))
    }

    @Test func anyOfSeveralSecretsMayMatchForRotation() throws {
        let signature = try WebhookSignature.parse(sha256Header: vectorHeader, sha1Header: nil)
        #expect(signature.isValid(body: vectorBody, secrets: [Array("old".utf8), vectorSecret]))
        #expect(!signature.isValid(body: vectorBody, secrets: [Array("old".utf8), Array("older".utf8)]))
        #expect(!signature.isValid(body: vectorBody, secrets: []))
    }

    @Test func oneFlippedHexDigitIsAMismatch() throws {
        var header = Array(vectorHeader)
        header[20] = header[20] == "0" ? "1" : "0"
        let signature = try WebhookSignature.parse(sha256Header: String(header), sha1Header: nil)
        #expect(!signature.isValid(body: vectorBody, secrets: [vectorSecret]))
    }

    @Test func aChangedBodyIsAMismatch() throws {
        let signature = try WebhookSignature.parse(sha256Header: vectorHeader, sha1Header: nil)
        #expect(!signature.isValid(body: Array("Hello, World?".utf8), secrets: [vectorSecret]))
    }

    @Test(arguments: [
        "", "sha256=", "sha256", "sha1=757107ea0eb2509fc211221cce984b8a37570b6d",
        String("sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17".dropLast()),
        "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e1z",
        "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e1700",
        " sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17",
        "SHA256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17",
    ])
    func malformedSha256HeadersAreRefused(header: String) {
        #expect(throws: WebhookSignature.Problem.malformed) {
            try WebhookSignature.parse(sha256Header: header, sha1Header: nil)
        }
    }

    @Test func missingHeadersAreRefused() {
        #expect(throws: WebhookSignature.Problem.missing) {
            try WebhookSignature.parse(sha256Header: nil, sha1Header: nil)
        }
    }

    @Test func legacySha1IsUsedOnlyWhenSha256IsAbsent() throws {
        let sha1 = "sha1=" + Crypto.hmacSHA1(key: vectorSecret, message: vectorBody).hexString
        let legacy = try WebhookSignature.parse(sha256Header: nil, sha1Header: sha1)
        #expect(legacy.algorithm == .sha1)
        #expect(legacy.isValid(body: vectorBody, secrets: [vectorSecret]))
        // A present but malformed sha256 header never falls back to a valid sha1 one.
        #expect(throws: WebhookSignature.Problem.malformed) {
            try WebhookSignature.parse(sha256Header: "sha256=zz", sha1Header: sha1)
        }
        let preferred = try WebhookSignature.parse(sha256Header: vectorHeader, sha1Header: "sha1=" + String(repeating: "0", count: 40))
        #expect(preferred.algorithm == .sha256)
    }

    @Test func sha256MatchesKnownDigest() {
        #expect(Crypto.sha256(Array("abc".utf8)).hexString == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
        #expect(Crypto.sha256([UInt8]()).hexString == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
    }

    @Test func constantTimeEqualsComparesWholeValues() {
        #expect(Crypto.constantTimeEquals([1, 2, 3], [1, 2, 3]))
        #expect(!Crypto.constantTimeEquals([1, 2, 3], [1, 2, 4]))
        #expect(!Crypto.constantTimeEquals([1, 2, 3], [1, 2]))
    }
}
