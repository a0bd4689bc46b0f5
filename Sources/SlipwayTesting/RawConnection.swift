import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// A plain TCP connection to a test server, for what an HTTP client library will not do:
/// send part of a request, nothing at all, or hold the connection open; and see exactly
/// what the server writes and when it closes.
/// `connect(2)` of a TCP socket to 127.0.0.1:`port`; 0 or -1 with errno set.
public func connectToLoopback(_ descriptor: Int32, port: Int) -> Int32 {
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_addr.s_addr = inet_addr("127.0.0.1")
    address.sin_port = in_port_t(UInt16(port).bigEndian)
    return withUnsafePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(descriptor, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
    }
}

public final class RawConnection: @unchecked Sendable {
    private let descriptor: Int32

    public init(port: Int) throws {
        descriptor = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard descriptor >= 0 else { throw HarnessError("socket: errno \(errno)") }
        let connected = connectToLoopback(descriptor, port: port)
        guard connected == 0 else {
            let reason = errno
            close(descriptor)
            throw HarnessError("connect to 127.0.0.1:\(port): errno \(reason)")
        }
    }

    deinit { close(descriptor) }

    public func send(_ text: String) throws { try send(Array(text.utf8)) }

    public func send(_ bytes: [UInt8]) throws {
        var offset = 0
        while offset < bytes.count {
            let sent = bytes[offset...].withUnsafeBytes { Glibc.send(descriptor, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            guard sent > 0 else { throw HarnessError("send: errno \(errno)") }
            offset += sent
        }
    }

    /// What the server sends until it closes the connection or `timeout` passes, and
    /// whether it closed.
    public func readUntilClosed(timeout: Duration) async -> (bytes: [UInt8], closed: Bool) {
        await read(timeout: timeout, stopAtFirstBytes: false)
    }

    /// What the server has sent so far, waiting up to `timeout` for the first bytes.
    public func readAvailable(timeout: Duration) async -> [UInt8] {
        await read(timeout: timeout, stopAtFirstBytes: true).bytes
    }

    private func read(timeout: Duration, stopAtFirstBytes: Bool) async -> (bytes: [UInt8], closed: Bool) {
        var received: [UInt8] = []
        let deadline = ContinuousClock.now + timeout
        var buffer = [UInt8](repeating: 0, count: 64 * 1024)
        while ContinuousClock.now < deadline {
            var poller = pollfd(fd: descriptor, events: Int16(POLLIN), revents: 0)
            if poll(&poller, 1, 20) > 0 {
                let count = recv(descriptor, &buffer, buffer.count, 0)
                if count <= 0 { return (received, true) }
                received += buffer[0..<count]
                if stopAtFirstBytes { return (received, false) }
            } else {
                try? await Task.sleep(for: .milliseconds(20))
            }
        }
        return (received, false)
    }
}
