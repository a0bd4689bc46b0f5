import Foundation
import Logging
import SlipwayCore
import Synchronization

/// What the service manager passed in the environment, read once at start-up and then
/// removed from it, so that no child process (a build's above all) inherits the socket's
/// description or can notify the service manager in slipwayd's name.
struct ServiceManagerSettings {
    var passedSocket: ServiceManager.PassedSocket
    var notifySocket: String?
    var watchdogInterval: Duration?

    static func takeFromEnvironment() -> ServiceManagerSettings {
        let environment = ProcessInfo.processInfo.environment
        let pid = getpid()
        let settings = ServiceManagerSettings(
            passedSocket: ServiceManager.passedSocket(environment: environment, pid: pid),
            notifySocket: environment["NOTIFY_SOCKET"],
            watchdogInterval: ServiceManager.watchdogInterval(environment: environment, pid: pid))
        for name in ServiceManager.variablesToRemove { unsetenv(name) }
        return settings
    }
}

/// Sends sd_notify(3) datagrams to `NOTIFY_SOCKET` (a path, or `@name` in the abstract
/// namespace) directly: slipwayd does not link libsystemd. Without `NOTIFY_SOCKET` (not
/// run by systemd with `Type=notify`) there is no notifier.
final class ServiceManagerNotifier: Sendable {
    let socketPath: String
    let logger: Logger
    /// A failed send is logged once until a send works again (the watchdog sends often).
    private let failing = Mutex(false)

    init?(socketPath: String, logger: Logger) {
        guard socketPath.hasPrefix("/") || socketPath.hasPrefix("@") else { return nil }
        self.socketPath = socketPath
        self.logger = logger
    }

    func send(_ notice: ServiceManager.Notice) {
        let problem = Self.sendDatagram(notice.datagram, to: socketPath)
        let wasFailing = failing.withLock { failing in
            defer { failing = problem != nil }
            return failing
        }
        if let problem, !wasFailing {
            logger.warning(
                "cannot notify the service manager", metadata: ["notify_socket": "\(socketPath)", "error": "\(problem)"])
        }
    }

    /// nil when sent; else the error.
    static func sendDatagram(_ text: String, to path: String) -> String? {
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        var bytes = Array(path.utf8)
        if bytes.first == UInt8(ascii: "@") { bytes[0] = 0 }   // abstract namespace
        guard bytes.count < MemoryLayout.size(ofValue: address.sun_path) else { return "NOTIFY_SOCKET is too long" }
        withUnsafeMutableBytes(of: &address.sun_path) { buffer in
            for (index, byte) in bytes.enumerated() { buffer[index] = byte }
        }
        let length = socklen_t(MemoryLayout<sa_family_t>.size + bytes.count + (bytes.first == 0 ? 0 : 1))
        let descriptor = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard descriptor >= 0 else { return String(cString: strerror(errno)) }
        defer { close(descriptor) }
        let payload = Array(text.utf8)
        let sent = withUnsafePointer(to: &address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { address in
                payload.withUnsafeBytes { sendto(descriptor, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL), address, length) }
            }
        }
        return sent == payload.count ? nil : String(cString: strerror(errno))
    }

    /// CLOCK_MONOTONIC in microseconds, for RELOADING=1.
    static func monotonicMicroseconds() -> UInt64 {
        var now = timespec()
        clock_gettime(CLOCK_MONOTONIC, &now)
        return UInt64(now.tv_sec) * 1_000_000 + UInt64(now.tv_nsec) / 1_000
    }
}
