import Foundation
import SlipwayTesting
import Testing

@testable import SlipwayCore

/// PushEvent.decode reads only the fields it needs with JSONFieldReader; Foundation's
/// JSONDecoder is the reference it is checked against.
@Suite struct PushEventDecodingTests {
    struct Reference: Decodable {
        struct Repository: Decodable {
            let full_name: String; let clone_url: String?; let default_branch: String?; let master_branch: String?
        }
        struct Commit: Decodable { let message: String? }
        struct Pusher: Decodable { let name: String? }
        let ref: String, before: String?, after: String, deleted: Bool?, repository: Repository, head_commit: Commit?, pusher: Pusher?
    }

    @Test func everyFixtureDecodesAsJSONDecoderReadsIt() throws {
        let root = TestPaths.fixtures.appendingPathComponent("github-webhooks")
        let files = FileManager.default.enumerator(atPath: root.path)!.compactMap { $0 as? String }.filter { $0.hasSuffix(".json") }
        #expect(files.count > 20)
        var pushes = 0
        for file in files {
            let bytes = try TestPaths.fixture("github-webhooks/" + file)
            #expect(
                PayloadRepository.fullName(in: bytes)
                    == (try? JSONSerialization.jsonObject(with: Data(bytes)) as? [String: Any])
                    .flatMap { ($0["repository"] as? [String: Any])?["full_name"] as? String }, "\(file)")
            guard let reference = try? JSONDecoder().decode(Reference.self, from: Data(bytes)) else { continue }
            pushes += 1
            let push = try PushEvent.decode(bytes)
            #expect(push.ref == reference.ref && push.after.hex == reference.after && push.before == (reference.before ?? ""), "\(file)")
            #expect(push.repositoryFullName == reference.repository.full_name && push.cloneURL == reference.repository.clone_url, "\(file)")
            #expect(push.defaultBranch == (reference.repository.default_branch ?? reference.repository.master_branch), "\(file)")
            #expect(push.headCommitMessage == reference.head_commit?.message && push.pusher == reference.pusher?.name, "\(file)")
            #expect(push.deleted == (reference.deleted ?? reference.after.allSatisfy { $0 == "0" }), "\(file)")
        }
        #expect(pushes >= 6)
    }

    @Test func escapesAreDecoded() throws {
        let sha = String(repeating: "a", count: 40)
        let json =
            #"{"ref":"refs/heads/main","after":"\#(sha)","repository":{"full_name":"a\/b"},"head_commit":{"message":"line\none \"q\" caf\u00e9 \ud83d\ude80 \\ tab\t"}}"#
        let push = try PushEvent.decode(Array(json.utf8))
        #expect(push.repositoryFullName == "a/b")
        #expect(push.headCommitMessage == "line\none \"q\" café 🚀 \\ tab\t")
    }

    /// JSONDecoder keeps the first of two values, JSONSerialization the last: a field
    /// given twice is refused, named, rather than read one way or the other.
    @Test func aFieldGivenTwiceIsRefusedAndNamed() {
        let sha = String(repeating: "a", count: 40)
        let cases = [
            (#"{"ref":"refs/heads/a","after":"\#(sha)","ref":"refs/heads/b","repository":{"full_name":"a/b"}}"#, "'ref'"),
            (#"{"ref":"refs/heads/r","after":"\#(sha)","repository":{"full_name":"x/y","full_name":"a/b"}}"#, "'repository.full_name'"),
            (
                #"{"ref":"refs/heads/r","after":"\#(sha)","repository":{"full_name":"a/b"},"pusher":{"name":"a","name":"b"}}"#,
                "'pusher.name'"
            ),
        ]
        for (json, field) in cases {
            #expect(throws: PayloadError("push payload field \(field) is given more than once")) { try PushEvent.decode(Array(json.utf8)) }
        }
        // Choosing the secrets reads no further than the first full_name; the payload is
        // still refused, by the decode that follows a valid signature (above).
        #expect(PayloadRepository.fullName(in: Array(cases[1].0.utf8)) == "x/y")
        // Keys that are not read may repeat, as in any JSON.
        let unread = #"{"ref":"refs/heads/r","after":"\#(sha)","x":1,"x":2,"repository":{"full_name":"a/b","id":1,"id":2}}"#
        #expect((try? PushEvent.decode(Array(unread.utf8)))?.repositoryFullName == "a/b")
    }

    @Test func malformedJSONIsRefusedNotCrashedOn() {
        let sha = String(repeating: "a", count: 40)
        let valid = #"{"ref":"refs/heads/r","after":"\#(sha)","repository":{"full_name":"a/b"}}"#
        #expect((try? PushEvent.decode(Array(valid.utf8))) != nil)
        let bad = [
            "", "{", "[]", valid + "x", valid + "}", #"{"ref":"refs/heads/r",}"#, #"{"ref":"unterminated}"#, "{\"ref\":\"a\u{01}b\"}",
            #"{"ref":"\q"}"#, #"{"ref":"\u12"}"#, #"{"x":01}"#, #"{"x":1.}"#, #"{"x":-}"#, #"{"x":tru}"#, #"{"x":[1,]}"#,
            #"{"x":[1 2]}"#, #"{"x" 1}"#, #"{x:1}"#, String(repeating: "[", count: 100_000),
            "{\"x\":" + String(repeating: "[", count: 100_000) + String(repeating: "]", count: 100_000) + "}",
        ]
        for text in bad {
            #expect(throws: PayloadError("payload is not valid JSON"), "\(text.prefix(40))") { try PushEvent.decode(Array(text.utf8)) }
        }
    }

    @Test func missingNullAndWrongTypesAreNamed() {
        let sha = String(repeating: "a", count: 40)
        let cases: [(String, String)] = [
            (#"{"after":"\#(sha)","repository":{"full_name":"a/b"}}"#, "push payload is missing 'ref'"),
            (#"{"ref":null,"after":"\#(sha)","repository":{"full_name":"a/b"}}"#, "push payload field 'ref' is null"),
            (#"{"ref":1,"after":"\#(sha)","repository":{"full_name":"a/b"}}"#, "push payload field 'ref' has the wrong type"),
            (#"{"ref":"refs/heads/r","after":"\#(sha)","repository":{}}"#, "push payload is missing 'repository.full_name'"),
            (#"{"ref":"refs/heads/r","after":"\#(sha)","repository":[]}"#, "push payload field 'repository' has the wrong type"),
            (
                #"{"ref":"refs/heads/r","after":"\#(sha)","repository":{"full_name":"a/b"},"deleted":"yes"}"#,
                "push payload field 'deleted' has the wrong type"
            ),
            (#"{"ref":"refs/heads/r","after":"nope","repository":{"full_name":"a/b"}}"#, "push payload field 'after' is not a commit sha"),
        ]
        for (json, message) in cases {
            #expect(throws: PayloadError(message), "\(json)") { try PushEvent.decode(Array(json.utf8)) }
        }
    }
}
