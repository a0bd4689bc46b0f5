import Foundation
import SlipwayPipeline
import SlipwayStore

/// Reads a build's log as it grows: what is written from `offset` on, then each new part
/// when `LogFollowers` says the log grew (woken by the writer, never polling the disk),
/// until the build ends. Shared by the API's `?follow=true` and the pages' live log.
struct LogTail: Sendable {
    let store: any BuildStore
    let followers: LogFollowers

    /// Calls `emit` with each new part and the offset just past it.
    func follow(_ id: Int64, path: String, from offset: UInt64, _ emit: (Data, UInt64) async throws -> Void) async throws {
        let events = followers.follow(id)   // before reading, so no write is missed
        var offset = offset
        offset = try await drain(path, from: offset, emit)
        guard try await store.build(id: id)?.state.isTerminal != true else { return }
        for await event in events {
            offset = try await drain(path, from: offset, emit)
            if case .ended = event, try await store.build(id: id)?.state.isTerminal == true { break }
        }
        _ = try await drain(path, from: offset, emit)
    }

    private func drain(_ path: String, from start: UInt64, _ emit: (Data, UInt64) async throws -> Void) async throws -> UInt64 {
        guard let handle = FileHandle(forReadingAtPath: path) else { return start }
        defer { try? handle.close() }
        var offset = start
        try handle.seek(toOffset: offset)
        while let data = try handle.read(upToCount: 64 * 1024), !data.isEmpty {
            offset += UInt64(data.count)
            try await emit(data, offset)
        }
        return offset
    }
}
