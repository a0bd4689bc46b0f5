import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// Kills processes that interrupted builds left behind.
///
/// Build steps run in their own sessions, so when the daemon itself is killed they keep
/// running. Before such a build is run again, its leftovers are found by the environment
/// every build process carries (`SLIPWAY_INSTANCE` + `SLIPWAY_BUILD_ID`, see
/// `StepContext.environment`) and killed, so one build never runs twice at once.
public enum OrphanReaper {
    /// Returns how many processes were killed.
    @discardableResult
    public static func kill(buildIDs: Set<Int64>, instance: String) -> Int {
        guard !buildIDs.isEmpty else { return 0 }
        let wanted = Set(buildIDs.map { "SLIPWAY_BUILD_ID=\($0)" })
        var killed = 0
        for pid in ProcFS.pids() where pid != getpid() {
            guard let environment = ProcFS.environment(of: pid), environment.contains("SLIPWAY_INSTANCE=\(instance)"),
                !environment.isDisjoint(with: wanted)
            else { continue }
            if Glibc.kill(pid, SIGKILL) == 0 { killed += 1 }
        }
        return killed
    }
}
