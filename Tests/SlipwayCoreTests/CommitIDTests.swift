import Foundation
import SlipwayCore
import Testing

@Suite struct CommitIDTests {
    @Test func sha1AndSHA256IdsAreAcceptedInLowerCase() {
        let sha1 = String(repeating: "aB", count: 20)
        let sha256 = String(repeating: "0f", count: 32)
        #expect(CommitID(sha1)?.hex == sha1.lowercased())
        #expect(CommitID(sha256)?.hex == sha256)
        #expect(CommitID(sha256)?.short == "0f0f0f0")
    }

    @Test func anythingElseIsRefused() {
        for text in [
            "", "abc", String(repeating: "a", count: 39), String(repeating: "a", count: 41), String(repeating: "a", count: 63),
            String(repeating: "a", count: 65), String(repeating: "g", count: 40), " " + String(repeating: "a", count: 39),
            String(repeating: "é", count: 20),
        ] {
            #expect(CommitID(text) == nil, "\(text)")
        }
    }

    @Test func decodingRefusesAMalformedId() throws {
        let good = try JSONDecoder().decode([CommitID].self, from: Data(#"["\#(String(repeating: "1", count: 40))"]"#.utf8))
        #expect(good.first?.hex == String(repeating: "1", count: 40))
        #expect(throws: DecodingError.self) { try JSONDecoder().decode([CommitID].self, from: Data(#"["main"]"#.utf8)) }
    }
}
