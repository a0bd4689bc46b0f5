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
        guard !buildIDs.isEmpty, let entries = try? FileManager.default.contentsOfDirectory(atPath: "/proc") else { return 0 }
        let wanted = Set(buildIDs.map { "SLIPWAY_BUILD_ID=\($0)" })
        let instanceEntry = "SLIPWAY_INSTANCE=\(instance)"
        var killed = 0
        for entry in entries {
            guard let pid = pid_t(entry), pid != getpid(),
                  let environ = FileManager.default.contents(atPath: "/proc/\(pid)/environ") else { continue }
            let variables = environ.split(separator: 0).map { String(decoding: $0, as: UTF8.self) }
            guard variables.contains(instanceEntry), variables.contains(where: wanted.contains) else { continue }
            if Glibc.kill(pid, SIGKILL) == 0 { killed += 1 }
        }
        return killed
    }
}
