import SlipwayCore
import Testing

@Suite struct LaneSettlingTests {
    let lane = "acme/app refs/heads/main"

    @Test func aLanePushedToWithoutAStoppedBuildIsNeverHeld() {
        var settling = LaneSettling()
        settling.pushed(lane: lane, at: 1)
        #expect(settling.held(at: 1).isEmpty)
        #expect(settling.nextRelease == nil)
    }

    @Test func aStopHoldsTheLaneUntilItsPushesPause() {
        var settling = LaneSettling()
        settling.runningBuildStopped(lane: lane, at: 10)
        #expect(settling.held(at: 10.2) == [lane])
        settling.pushed(lane: lane, at: 10.3)   // the storm goes on
        #expect(settling.nextRelease == 10.8)
        #expect(settling.held(at: 10.7) == [lane])
        #expect(settling.held(at: 10.8).isEmpty)   // paused for `quiet`: let go
        #expect(settling.isEmpty)
        settling.pushed(lane: lane, at: 11)   // a later lone push: not held
        #expect(settling.held(at: 11).isEmpty)
    }

    @Test func aStormThatNeverPausesIsHeldAtMostTheLongestWait() {
        var settling = LaneSettling()
        settling.runningBuildStopped(lane: lane, at: 100)
        var time = 100.0
        while time < 100 + LaneSettling.longest - 0.1 {
            time += 0.1
            settling.pushed(lane: lane, at: time)
            #expect(settling.held(at: time) == [lane], "\(time)")
        }
        #expect(settling.held(at: 100 + LaneSettling.longest).isEmpty)
    }

    @Test func lanesSettleIndependently() {
        var settling = LaneSettling()
        settling.runningBuildStopped(lane: "a", at: 0)
        settling.runningBuildStopped(lane: "b", at: 0.4)
        settling.pushed(lane: "a", at: 0.6)
        #expect(settling.held(at: 0.85) == ["a", "b"])
        #expect(settling.held(at: 0.95) == ["a"])
        #expect(settling.nextRelease == 1.1)
        #expect(settling.held(at: 1.1).isEmpty)
    }
}
