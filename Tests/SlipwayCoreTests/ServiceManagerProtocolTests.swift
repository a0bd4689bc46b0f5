import SlipwayCore
import Testing

@Suite struct ServiceManagerProtocolTests {
    @Test func aSocketIsTakenOnlyWhenPassedToThisProcess() {
        #expect(ServiceManager.passedSocket(environment: [:], pid: 42) == .none)
        #expect(ServiceManager.passedSocket(environment: ["LISTEN_FDS": "1", "LISTEN_PID": "42"], pid: 42) == .descriptor(3))
        // Inherited from an activated parent: meant for that parent.
        #expect(ServiceManager.passedSocket(environment: ["LISTEN_FDS": "1", "LISTEN_PID": "41"], pid: 42) == .none)
        #expect(ServiceManager.passedSocket(environment: ["LISTEN_FDS": "1"], pid: 42) == .none)
        #expect(ServiceManager.passedSocket(environment: ["LISTEN_FDS": "0", "LISTEN_PID": "42"], pid: 42) == .none)
        guard case .unusable(let many) = ServiceManager.passedSocket(environment: ["LISTEN_FDS": "2", "LISTEN_PID": "42"], pid: 42) else {
            Issue.record("two sockets must be refused")
            return
        }
        #expect(many.contains("passed 2 sockets") && many.contains("ListenStream="))
        guard case .unusable(let junk) = ServiceManager.passedSocket(environment: ["LISTEN_FDS": "x1", "LISTEN_PID": "42"], pid: 42) else {
            Issue.record("a bad count must be refused")
            return
        }
        #expect(junk.contains("LISTEN_FDS=x1"))
    }

    @Test func theWatchdogIsFedAtHalfItsTimeoutAndOnlyForThisProcess() {
        #expect(ServiceManager.watchdogInterval(environment: ["WATCHDOG_USEC": "30000000"], pid: 7) == .seconds(15))
        #expect(ServiceManager.watchdogInterval(environment: ["WATCHDOG_USEC": "2000000", "WATCHDOG_PID": "7"], pid: 7) == .seconds(1))
        #expect(ServiceManager.watchdogInterval(environment: ["WATCHDOG_USEC": "2000000", "WATCHDOG_PID": "8"], pid: 7) == nil)
        #expect(ServiceManager.watchdogInterval(environment: ["WATCHDOG_USEC": "0"], pid: 7) == nil)
        #expect(ServiceManager.watchdogInterval(environment: ["WATCHDOG_USEC": "-5"], pid: 7) == nil)
        #expect(ServiceManager.watchdogInterval(environment: [:], pid: 7) == nil)
    }

    @Test func noticesAreTheDocumentedAssignmentsOnOneLineEach() {
        #expect(ServiceManager.Notice.watchdog.datagram == "WATCHDOG=1")
        #expect(ServiceManager.Notice.ready(status: "serving\nSTOPPING=1").datagram == "READY=1\nSTATUS=serving STOPPING=1")
        #expect(ServiceManager.Notice.reloading(monotonicMicroseconds: 123).datagram.hasPrefix("RELOADING=1\nMONOTONIC_USEC=123\n"))
        #expect(ServiceManager.Notice.stopping.datagram.hasPrefix("STOPPING=1\n"))
    }
}
