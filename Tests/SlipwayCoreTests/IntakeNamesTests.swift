import SlipwayCore
import Testing

/// Names from outside are refused at intake when they carry control characters or leave
/// their place (issue 15: terminal escapes in refs; config paths outside the checkout).
@Suite struct IntakeNamesTests {
    @Test(arguments: [
        ("acme/model-app", true), ("Codertocat/Hello-World", true), ("a/b", true), ("acme/app.v2", true), ("acme_corp/x_y", true),
        ("../..", false), ("./.", false), ("acme/.", false), ("acme/..", false), ("acme", false), ("acme/app/extra", false),
        ("/app", false), ("acme/", false), ("-acme/app", false), ("acme/app name", false), ("acme/\u{1B}]0;pwned\u{07}", false),
        ("acme/app\n", false), (String(repeating: "a", count: 40) + "/app", false), ("acme/" + String(repeating: "b", count: 101), false),
    ])
    func repositoryNamesFollowGitHubsRules(name: String, valid: Bool) {
        #expect(RepositoryName.isValid(name) == valid, "\(name.debugDescription)")
    }

    @Test(arguments: [
        ("refs/heads/main", true), ("refs/heads/release/1.0", true), ("refs/tags/v1.2.3", true), ("refs/heads/feature/ümlaut", true),
        ("refs/heads/\u{1B}[2J", false), ("refs/heads/a\nb", false), ("refs/heads/a\u{7F}", false), ("refs/heads/a b", false),
        ("refs/heads/a..b", false), ("refs/heads/a@{1}", false), ("refs/heads/.hidden", false), ("refs/heads/x.lock", false),
        ("refs/heads/", false), ("refs/heads//x", false), ("refs/heads/x.", false), ("refs/heads/a:b", false), ("main", false),
        ("refs/heads/a~1", false), ("refs/heads/a^", false), ("refs/heads/a?", false), ("refs/heads/a*", false), ("refs/heads/a\\b", false),
        ("refs/heads/x.lock/y", false), ("refs/heads/a.lockb", true), ("refs/heads/a@b", true), ("refs/heads/a{b", true),
        ("refs/heads/a.b", true), ("refs/heads/a[b", false), ("refs/heads/.", false), ("refs/", false), ("refs/heads/lock", true),
    ])
    func refsFollowGitCheckRefFormat(ref: String, valid: Bool) {
        #expect(GitRefName.isValid(ref) == valid, "\(ref.debugDescription)")
    }

    /// The byte-wise check against the rules written plainly with String operations (the
    /// first version), over random refs made of the characters the rules are about.
    @Test func refCheckAgreesWithThePlainRulesOnRandomRefs() {
        func plain(_ ref: String) -> Bool {
            guard ref.hasPrefix("refs/"), ref.utf8.count <= 1024, !ref.contains(".."), !ref.contains("@{"), !ref.hasSuffix(".") else {
                return false
            }
            guard ref.utf8.allSatisfy({ $0 >= 0x20 && $0 != 0x7F && !Array(" ~^:?*[\\".utf8).contains($0) }) else { return false }
            return ref.split(separator: "/", omittingEmptySubsequences: false).allSatisfy { component in
                !component.isEmpty && !component.hasPrefix(".") && !component.hasSuffix(".lock")
            }
        }
        let pieces = ["a", "b", ".", "/", "@", "{", "lock", ".lock", "..", " ", "~", "\u{7}", "é", "heads", "refs/"]
        var generator = SystemRandomNumberGenerator()
        for _ in 0..<20_000 {
            let ref =
                "refs/" + (0..<Int.random(in: 0...8, using: &generator)).map { _ in pieces.randomElement(using: &generator)! }.joined()
            #expect(GitRefName.isValid(ref) == plain(ref), "\(ref.debugDescription)")
        }
    }

    @Test func containedPathsStayBelowTheirStart() {
        #expect(ContainedPath.normalized(".") == [])
        #expect(ContainedPath.normalized("docker/Dockerfile") == ["docker", "Dockerfile"])
        #expect(ContainedPath.normalized("a/../b") == ["b"])
        #expect(ContainedPath.normalized("./a//b/") == ["a", "b"])
        for outside in ["../../..", "..", "a/../../b", "/etc/passwd", "", "a/\0b"] {
            #expect(ContainedPath.normalized(outside) == nil, "\(outside.debugDescription)")
        }
    }

    @Test func aPushWithControlCharactersInItsRefIsRefused() throws {
        let payload =
            #"{"ref":"refs/heads/\u001b]0;owned\u0007","after":"\#(String(repeating: "a", count: 40))","repository":{"full_name":"acme/app"}}"#
        #expect(throws: PayloadError("push payload field 'ref' is not a valid git ref name")) { try PushEvent.decode(Array(payload.utf8)) }
        let badName = #"{"ref":"refs/heads/main","after":"\#(String(repeating: "a", count: 40))","repository":{"full_name":"../.."}}"#
        #expect(throws: PayloadError("push payload field 'repository.full_name' is not an owner/name")) {
            try PushEvent.decode(Array(badName.utf8))
        }
    }
}

@Suite struct TerminalTextTests {
    @Test func controlCharactersAreShownNotObeyed() {
        #expect(TerminalText.escaped("refs/heads/\u{1B}]0;title\u{07}x") == "refs/heads/\\x1B]0;title\\x07x")
        #expect(TerminalText.escaped("a\nb\tc\r") == "a\\x0Ab\\x09c\\x0D")
        #expect(TerminalText.escaped("a\nb\tc", keepingLineBreaks: true) == "a\nb\tc")
        #expect(TerminalText.escaped("csi \u{9B}2J, rlo \u{202E}, ok ümlaut ✓") == "csi \\u{9B}2J, rlo \\u{202E}, ok ümlaut ✓")
        #expect(TerminalText.escaped("plain text") == "plain text")
    }

    @Test func logsKeepColourAndLinesButNothingElse() {
        var filter = TerminalLogFilter()
        let text = "\u{1B}[32mok\u{1B}[0m\n\u{1B}]0;pwned\u{07}\u{1B}[2Jx\rfake line\r\nend\u{9B}\n"
        let output = String(decoding: filter.filter(Array(text.utf8)) + filter.finish(), as: UTF8.self)
        #expect(
            output == "\u{1B}[32mok\u{1B}[0m\n\\x1B]0;pwned\\x07\\x1B[2Jx\nfake line\nend\\u{9B}\n",
            "a carriage return cannot overwrite a line; CRLF is a newline")
    }

    @Test func aSequenceSplitBetweenChunksIsJudgedWhole() {
        let text = Array("a\u{1B}[31mred\u{1B}[0m\u{1B}]2;t\u{07}\r\n".utf8)
        var whole = TerminalLogFilter()
        let expected = whole.filter(text) + whole.finish()
        for split in 0...text.count {
            var filter = TerminalLogFilter()
            let output = filter.filter(text[..<split]) + filter.filter(text[split...]) + filter.finish()
            #expect(output == expected, "split at \(split)")
        }
        var byteByByte = TerminalLogFilter()
        #expect(text.flatMap { byteByByte.filter([$0]) } + byteByByte.finish() == expected)
    }
}

@Suite struct ModelVersionSettlingTests {
    func builds(_ polls: [String]) -> [Int] {
        var settling = ModelVersionSettling()
        return polls.enumerated().compactMap { index, version in settling.observe(version) ? index : nil }
    }

    @Test func aModelSeenHalfWrittenByOnePollDoesNotBuild() {
        // v1 settles as the baseline; the upload is seen half-written once, then complete.
        #expect(builds(["v1", "v1", "v2-partial", "v2", "v2", "v2"]) == [4])
    }

    @Test func everySettledChangeBuildsOnceAndNoChangeNever() {
        #expect(builds(["v1", "v1", "v1", "v1"]) == [])
        #expect(builds(["v1", "v2", "v2", "v3", "v3", "v1", "v1"]) == [4, 6], "v2 is the baseline (v1 never settled)")
        #expect(builds(["v1", "v1", "v2", "v1", "v2", "v1"]) == [], "a version flapping between polls never settles")
        #expect(builds(["v1", "v1", "v2", "v2", "v2", "v1", "v1"]) == [3, 6])
    }
}
