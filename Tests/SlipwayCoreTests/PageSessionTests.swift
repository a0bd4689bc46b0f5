import SlipwayCore
import Testing

@Suite struct PageSessionTests {
    let tokens = ["ops": "token-one", "team.alice": "token-two"]

    @Test func aSessionVerifiesUntilItExpiresAndNamesItsToken() {
        let cookie = PageSession.make(tokenName: "ops", tokenValue: "token-one", expires: 1000)
        #expect(PageSession.verify(cookie, now: 999) { tokens[$0] } == "ops")
        #expect(PageSession.verify(cookie, now: 1000) { tokens[$0] } == nil, "expired")
        #expect(!cookie.contains("token-one"))
    }

    @Test func dottedTokenNamesWork() {
        let cookie = PageSession.make(tokenName: "team.alice", tokenValue: "token-two", expires: 1000)
        #expect(PageSession.verify(cookie, now: 1) { tokens[$0] } == "team.alice")
    }

    @Test func forgedChangedOrRotatedSessionsAreRefused() {
        let cookie = PageSession.make(tokenName: "ops", tokenValue: "token-one", expires: 1000)
        let parts = cookie.split(separator: ".")
        #expect(PageSession.verify("ops.2000.\(parts[2])", now: 1) { tokens[$0] } == nil, "a later expiry")
        #expect(PageSession.verify("team.alice.1000.\(parts[2])", now: 1) { tokens[$0] } == nil, "another name")
        #expect(PageSession.verify(cookie, now: 1) { _ in "rotated" } == nil, "the token changed")
        #expect(PageSession.verify(cookie, now: 1) { _ in nil } == nil, "the token was removed")
        for bad in ["", "ops", "ops.1000", "ops.x.00", "ops.1000.zz", "ops.1000." + String(repeating: "0", count: 64)] {
            #expect(PageSession.verify(bad, now: 1) { tokens[$0] } == nil, "\(bad)")
        }
    }
}
