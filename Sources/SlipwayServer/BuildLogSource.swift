import Foundation
import SlipwayCore
import SlipwayPipeline
import SlipwayStore

/// Where the server reads build logs: the files this daemon writes (SQLite: one daemon
/// runs every build), or the database every replica copies its logs into (PostgreSQL: a
/// build may run on another replica). Offsets are bytes into the whole log.
struct BuildLogSource: Sendable {
    let config: LiveConfig
    let archive: (any BuildLogArchive)?

    /// Up to about `limit` bytes from `offset`; empty when nothing is there yet.
    func read(_ id: Int64, from offset: UInt64, limit: Int = 64 * 1024) async throws -> [UInt8] {
        if let archive { return try await archive.readLog(buildID: id, from: offset, limit: limit) }
        guard let handle = FileHandle(forReadingAtPath: path(id)) else { return [] }
        defer { try? handle.close() }
        // Past the end (a client's offset), nothing is read until the log reaches it;
        // `seek` is never asked to go beyond the end (it traps or throws out there).
        guard let size = try? handle.seekToEnd(), offset < size else { return [] }
        try handle.seek(toOffset: offset)
        return Array(try handle.read(upToCount: limit) ?? Data())
    }

    func size(_ id: Int64) async throws -> UInt64 {
        if let archive { return try await archive.logSize(buildID: id) }
        let attributes = try? FileManager.default.attributesOfItem(atPath: path(id))
        return (attributes?[.size] as? NSNumber)?.uint64Value ?? 0
    }

    /// The log from `start`, read in pieces until at least `count` bytes (nil: to its end)
    /// or nothing more is there.
    func bytes(_ id: Int64, from start: UInt64, count: Int? = nil) async throws -> [UInt8] {
        var bytes: [UInt8] = []
        while count.map({ bytes.count < $0 }) ?? true {
            let more = try await read(id, from: start + UInt64(bytes.count), limit: count.map { $0 - bytes.count } ?? 1 << 20)
            if more.isEmpty { break }
            bytes += more
        }
        return bytes
    }

    /// The whole log as text.
    func whole(_ id: Int64) async throws -> String {
        String(decoding: try await bytes(id, from: 0), as: UTF8.self)
    }

    private func path(_ id: Int64) -> String {
        BuildRunner.logPath(stateDirectory: config.snapshot.config.stateDirectory, buildID: id)
    }
}
