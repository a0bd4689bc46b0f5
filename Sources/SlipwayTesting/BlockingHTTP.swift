import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// One HTTP exchange on a blocking socket: connect, send, read until the server closes.
public enum BlockingHTTP {
    public struct ConnectRefused: Error {}
    public struct ResetBeforeAnswer: Error {}

    public static func exchange(port: Int, request: [UInt8], timeout: Duration) throws -> String {
        let descriptor = socket(AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard descriptor >= 0 else { throw HarnessError("socket: errno \(errno)") }
        defer { close(descriptor) }
        var limit = timeval(tv_sec: Int(timeout.components.seconds), tv_usec: 0)
        setsockopt(descriptor, SOL_SOCKET, SO_RCVTIMEO, &limit, socklen_t(MemoryLayout<timeval>.size))
        setsockopt(descriptor, SOL_SOCKET, SO_SNDTIMEO, &limit, socklen_t(MemoryLayout<timeval>.size))
        let connected = connectToLoopback(descriptor, port: port)
        guard connected == 0 else {
            if errno == ECONNREFUSED { throw ConnectRefused() }
            throw HarnessError("connect: errno \(errno)")
        }
        var offset = 0
        while offset < request.count {
            let sent = request[offset...].withUnsafeBytes { send(descriptor, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            guard sent > 0 else { throw HarnessError("send: errno \(errno)") }
            offset += sent
        }
        var received: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 16 * 1024)
        while true {
            let count = recv(descriptor, &buffer, buffer.count, 0)
            if count == 0 { break }
            guard count > 0 else {
                if errno == ECONNRESET, received.isEmpty { throw ResetBeforeAnswer() }
                throw HarnessError("recv: errno \(errno) after \(received.count) bytes")
            }
            received += buffer[0..<count]
        }
        return String(decoding: received, as: UTF8.self)
    }
}
