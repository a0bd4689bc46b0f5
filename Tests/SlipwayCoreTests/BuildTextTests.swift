import SlipwayCore
import Testing

/// How builds are shown to people: durations, branch names, short commit ids.
@Suite struct BuildTextTests {
    @Test func durationsBranchesAndShortIDs() {
        #expect(BuildText.duration(from: 100, to: 104.24) == "4.2s")
        #expect(BuildText.duration(from: 0, to: 185) == "3m05s")
        #expect(BuildText.duration(from: 0, to: 3720) == "1h02m")
        #expect(BuildText.duration(from: nil, to: 5) == "-")
        #expect(BuildText.branch("refs/heads/release/1.2") == "release/1.2")
        #expect(BuildText.branch("refs/tags/v1") == "v1")
        #expect(BuildText.short("0123456789abcdef") == "0123456")
    }
}
