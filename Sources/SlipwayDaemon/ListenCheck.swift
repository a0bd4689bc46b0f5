import Foundation
import SlipwayCore

/// Before anything starts: is `server.listen` free? The server binds only once the
/// services run, after builds left by a crash were recovered; a daemon that cannot
/// listen must say so, naming the address, before it has done anything. A unix socket
/// in use is one another process still accepts on (a stale file is replaced as before).
enum ListenCheck {
    static func problem(_ listen: ListenAddress) -> String? {
        switch listen {
        case .tcp(let host, let port): tcpProblem(host: host, port: port)
        case .unix(let path): unixProblem(path: path)
        }
    }

    /// A socket passed by the service manager must be a stream socket that listens
    /// (`ListenStream=` in slipwayd.socket); nil when it is. It is then closed on exec, so
    /// no build's process holds it.
    static func passedSocketProblem(_ descriptor: CInt) -> String? {
        var type: Int32 = 0
        var listening: Int32 = 0
        var length = socklen_t(MemoryLayout<Int32>.size)
        guard getsockopt(descriptor, SOL_SOCKET, SO_TYPE, &type, &length) == 0 else {
            return "the socket passed by the service manager (fd \(descriptor)) is not a socket: \(String(cString: strerror(errno)))"
        }
        length = socklen_t(MemoryLayout<Int32>.size)
        guard type == Int32(SOCK_STREAM.rawValue), getsockopt(descriptor, SOL_SOCKET, SO_ACCEPTCONN, &listening, &length) == 0,
            listening != 0
        else {
            return
                "the socket passed by the service manager (fd \(descriptor)) is not a listening stream socket: use ListenStream= in slipwayd.socket"
        }
        _ = fcntl(descriptor, F_SETFD, fcntl(descriptor, F_GETFD) | FD_CLOEXEC)
        return nil
    }

    private static func tcpProblem(host: String, port: Int) -> String? {
        var hints = addrinfo()
        hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        var found: UnsafeMutablePointer<addrinfo>?
        guard getaddrinfo(host, String(port), &hints, &found) == 0, let first = found else {
            return "cannot listen on \(host):\(port): the host does not resolve"
        }
        defer { freeaddrinfo(found) }
        let descriptor = socket(first.pointee.ai_family, first.pointee.ai_socktype, first.pointee.ai_protocol)
        guard descriptor >= 0 else { return nil }
        defer { close(descriptor) }
        var on: Int32 = 1
        _ = setsockopt(descriptor, SOL_SOCKET, SO_REUSEADDR, &on, socklen_t(MemoryLayout<Int32>.size))
        guard bind(descriptor, first.pointee.ai_addr, first.pointee.ai_addrlen) != 0 else { return nil }
        return "cannot listen on \(host):\(port): \(String(cString: strerror(errno)))"
            + (errno == EADDRINUSE ? " (another process, perhaps another slipwayd, listens there)" : "")
    }

    private static func unixProblem(path: String) -> String? {
        guard FileManager.default.fileExists(atPath: path) else { return nil }
        let descriptor = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
        guard descriptor >= 0 else { return nil }
        defer { close(descriptor) }
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        let bytes = Array(path.utf8)
        guard bytes.count < MemoryLayout.size(ofValue: address.sun_path) else {
            return "cannot listen on unix:\(path): the path is too long"
        }
        withUnsafeMutableBytes(of: &address.sun_path) { buffer in
            for (index, byte) in bytes.enumerated() { buffer[index] = byte }
        }
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(descriptor, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        return connected == 0 ? "cannot listen on unix:\(path): another process accepts connections on it" : nil
    }
}
