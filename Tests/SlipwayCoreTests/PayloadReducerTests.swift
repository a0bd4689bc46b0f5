import Foundation
import SlipwayTesting
import Testing

@testable import SlipwayCore

/// `PayloadReducer` keeps of a body only what the push parser reads: reading what it
/// keeps must give what reading the whole body gives, valid or not, in any chunking.
@Suite struct PayloadReducerTests {
    func reduced(_ body: [UInt8], chunk: Int) -> Result<[UInt8], PayloadReducer.Problem> {
        var reducer = PayloadReducer(want: PushEvent.fields)
        var offset = 0
        while offset < body.count {
            let end = min(offset + chunk, body.count)
            body[offset..<end].withUnsafeBytes { reducer.consume($0) }
            offset = end
        }
        return reducer.finish()
    }

    /// The push event read from `body`, or the reason it is refused.
    func decoded(_ body: [UInt8]) -> Result<PushEvent, PayloadError> { Result { () throws(PayloadError) in try PushEvent.decode(body) } }

    func decodedAfterReduction(_ body: [UInt8], chunk: Int) -> Result<PushEvent, PayloadError> {
        switch reduced(body, chunk: chunk) {
        case .success(let fields): decoded(fields)
        case .failure: .failure(PayloadError("payload is not valid JSON"))
        }
    }

    @Test func everyPushFixtureAndRandomDamageToItIsReadTheSame() throws {
        var generator = SystemRandomNumberGenerator()
        for name in ["payload.json", "with-new-branch.payload.json", "with-organization.payload.json", "with-installation.payload.json"] {
            let body = try TestPaths.fixture("github-webhooks/push/\(name)")
            for chunk in [1, 7, 4096, body.count] {
                #expect(decodedAfterReduction(body, chunk: chunk) == decoded(body), "\(name), chunk \(chunk)")
            }
            // Bytes replaced, removed or repeated at random: both readers must agree.
            for _ in 0..<500 {
                var damaged = body
                for _ in 0..<Int.random(in: 1...3, using: &generator) {
                    let at = Int.random(in: 0..<damaged.count, using: &generator)
                    switch Int.random(in: 0..<3, using: &generator) {
                    case 0: damaged[at] = Array("{}[]\",:\\0123456789aeflnrstu ".utf8).randomElement(using: &generator)!
                    case 1: damaged.remove(at: at)
                    default: damaged.insert(damaged[at], at: at)
                    }
                }
                let whole = decoded(damaged)
                let streamed = decodedAfterReduction(damaged, chunk: Int.random(in: 1...2048, using: &generator))
                #expect(streamed == whole, "\(name) damaged: \(String(decoding: damaged.prefix(200), as: UTF8.self))")
            }
        }
    }

    @Test func keysWrittenWithEscapesAndRepeatedKeysAreReadTheSame() {
        let sha = String(repeating: "b", count: 40)
        for text in [
            #"{"r\u0065f":"refs/heads/main","after":"\#(sha)","repository":{"full_n\u0061me":"a/b"}}"#,
            #"{"ref":"refs/heads/main","after":"\#(sha)","ref":"refs/heads/x","repository":{"full_name":"a/b"}}"#,
            #"{"ref":"refs/heads/main","after":"\#(sha)","repository":{"full_name":"a/b","full_name":"c/d"},"x":[[[{}]]]}"#,
            #"{"ref":"refs/heads/main","after":"\#(sha)","repository":{"full_name":"a/b"},"head_commit":{"message":"[skip ci] \u00e9\ud83d\ude80"}}"#,
        ] {
            #expect(decodedAfterReduction(Array(text.utf8), chunk: 3) == decoded(Array(text.utf8)), "\(text)")
        }
    }

    @Test func whatIsKeptIsBounded() {
        let message = String(repeating: "m", count: 2 << 20)
        let body = Array(#"{"ref":"refs/heads/main","head_commit":{"message":"\#(message)"}}"#.utf8)
        var reducer = PayloadReducer(want: PushEvent.fields, maxKeptBytes: 1 << 20)
        body.withUnsafeBytes { reducer.consume($0) }
        #expect(reducer.finish() == .failure(.tooLarge))
    }
}
