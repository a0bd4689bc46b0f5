import SlipwayCore
import Testing

@Suite struct GlobTests {
    @Test(arguments: [
        ("main", "main", true), ("main", "mainline", false),
        ("release/*", "release/1.0", true), ("release/*", "release/1.0/hotfix", false),
        ("release/**", "release/1.0/hotfix", true), ("**", "feature/a/b", true),
        ("*", "feature/x", false), ("feat?re", "feature", true), ("feat?re", "feat/re", false),
        ("v[0-9].*", "v1.2", true), ("v[0-9].*", "vx.2", false), ("[!d]ev", "rev", true), ("[!d]ev", "dev", false),
        ("$(touch /tmp/pwned)", "$(touch /tmp/pwned)", true),
    ])
    func patternsMatchAsInGitHubActions(pattern: String, text: String, expected: Bool) {
        #expect(Glob.matches(pattern, text) == expected)
    }

    @Test func unclosedClassIsInvalid() {
        #expect(!Glob.isValid("release/[a"))
        #expect(!Glob.isValid(""))
        #expect(Glob.isValid("release/[ab]*"))
    }
}
