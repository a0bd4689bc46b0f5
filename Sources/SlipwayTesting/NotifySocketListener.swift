import Foundation
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// A service manager's notification socket (`NOTIFY_SOCKET`, sd_notify(3)) for a test:
/// a datagram socket bound at `path` whose messages are kept with the time each arrived.
public final class NotifySocketListener: Sendable {
    public struct Message: Sendable {
        public let at: ContinuousClock.Instant
        /// The datagram's `KEY=VALUE` lines.
        public let fields: [String: String]
        public let text: String
    }

    public let path: String
    private let descriptor: Int32
    private let received = Mutex<[Message]>([])
    private let stopped = Atomic<Bool>(false)
    /// Called on the listener's thread as each message arrives, before it is kept.
    private let onMessage: @Sendable (Message) -> Void

    public init(path: String, onMessage: @escaping @Sendable (Message) -> Void = { _ in }) throws {
        self.path = path
        self.onMessage = onMessage
        descriptor = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard descriptor >= 0 else { throw HarnessError("socket: \(String(cString: strerror(errno)))") }
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        let bytes = Array(path.utf8)
        guard bytes.count < MemoryLayout.size(ofValue: address.sun_path) else { throw HarnessError("\(path): too long for a socket") }
        withUnsafeMutableBytes(of: &address.sun_path) { buffer in
            for (index, byte) in bytes.enumerated() { buffer[index] = byte }
        }
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(descriptor, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        guard bound == 0 else {
            close(descriptor)
            throw HarnessError("bind \(path): \(String(cString: strerror(errno)))")
        }
        var timeout = timeval(tv_sec: 0, tv_usec: 100_000)
        setsockopt(descriptor, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        let thread = Thread { [self] in receive() }
        thread.start()
    }

    deinit {
        close(descriptor)
        unlink(path)
    }

    /// Stops receiving (the thread ends within 0.1 s).
    public func stop() { stopped.store(true, ordering: .relaxed) }

    public var messages: [Message] { received.withLock { $0 } }

    /// Messages with `key` set to `value` (`READY`, `1`).
    public func messages(_ key: String, _ value: String = "1") -> [Message] { messages.filter { $0.fields[key] == value } }

    private func receive() {
        var buffer = [UInt8](repeating: 0, count: 4096)
        while !stopped.load(ordering: .relaxed) {
            let count = recv(descriptor, &buffer, buffer.count, 0)
            guard count > 0 else { continue }
            let text = String(decoding: buffer[0..<count], as: UTF8.self)
            var fields: [String: String] = [:]
            for line in text.split(separator: "\n") {
                let pair = line.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
                if pair.count == 2 { fields[String(pair[0])] = String(pair[1]) }
            }
            let message = Message(at: .now, fields: fields, text: text)
            onMessage(message)
            received.withLock { $0.append(message) }
        }
    }
}
