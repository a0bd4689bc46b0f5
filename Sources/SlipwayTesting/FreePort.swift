import Foundation
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// A TCP port on 127.0.0.1 that is free now and that no other caller in this process has
/// been given. Chosen below the kernel's ephemeral range (32768 and up by default), where
/// outgoing connections take their local ports: a port the kernel handed out by bind(0)
/// could be taken by any connection before its server binds it, and on a loaded machine
/// running the whole suite that happened (address already in use). Here only servers the
/// tests start themselves bind ports, and each gets a different one.
public func freeLoopbackPort() -> Int {
    for _ in 0..<1000 {
        let port = Int.random(in: LoopbackPorts.range)
        guard LoopbackPorts.claim(port), canBind(port) else { continue }
        return port
    }
    preconditionFailure("no free loopback port in \(LoopbackPorts.range)")
}

enum LoopbackPorts {
    static let range = 20_000...32_000
    private static let given = Mutex<Set<Int>>([])

    /// True the first time `port` is asked for in this process.
    static func claim(_ port: Int) -> Bool { given.withLock { $0.insert(port).inserted } }
}

/// Whether a listening socket could bind 127.0.0.1:`port` now.
private func canBind(_ port: Int) -> Bool {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    guard fd >= 0 else { return false }
    defer { close(fd) }
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_addr.s_addr = inet_addr("127.0.0.1")
    address.sin_port = in_port_t(UInt16(port).bigEndian)
    return withUnsafePointer(to: &address) { pointer in
        pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) == 0 }
    }
}
