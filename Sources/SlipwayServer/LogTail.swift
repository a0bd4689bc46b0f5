import Foundation
import SlipwayPipeline
import SlipwayStore

/// Reads a build's log as it grows: what is written from `offset` on, then each new part
/// when `LogFollowers` says the log grew (woken by the writer, never polling the disk),
/// until the build is final. Shared by the API's `?follow=true` and the pages' live log.
/// A build running on another replica (PostgreSQL) writes no event here: its new lines
/// are read at each `checkState` tick.
///
/// A build can become final without its log writer (canceled or superseded while
/// queued, finished by another process): the followers' periodic `checkState` event
/// makes the tail look at the build's state even then. It also ends when the daemon
/// shuts down (`LogFollowers.close`), so no open stream holds shutdown up.
struct LogTail: Sendable {
    let store: any BuildQueryStore
    let followers: LogFollowers
    let logs: BuildLogSource

    /// Calls `emit` with each new part and the offset just past it.
    func follow(_ id: Int64, from offset: UInt64, _ emit: (Data, UInt64) async throws -> Void) async throws {
        let events = followers.follow(id)   // before reading, so no write is missed
        var offset = try await drain(id, from: offset, emit)
        guard try await !isFinal(id) else { return }
        for await event in events {
            offset = try await drain(id, from: offset, emit)
            if event != .grew, try await isFinal(id) { break }
        }
        _ = try await drain(id, from: offset, emit)
    }

    private func isFinal(_ id: Int64) async throws -> Bool {
        try await store.build(id: id)?.state.isTerminal ?? true
    }

    private func drain(_ id: Int64, from start: UInt64, _ emit: (Data, UInt64) async throws -> Void) async throws -> UInt64 {
        var offset = start
        while true {
            let data = try await logs.read(id, from: offset)
            if data.isEmpty { return offset }
            offset += UInt64(data.count)
            try await emit(Data(data), offset)
        }
    }
}

/// A byte offset into a log, as a client sends it (`?offset=`, `Last-Event-ID`).
enum LogOffset {
    /// `FileHandle.seek` traps above `off_t`'s range; no log comes near 2^62 bytes.
    static let maximum: UInt64 = 1 << 62

    /// The offset in `text`, or nil when it is not a decimal number from 0 to `maximum`.
    static func parse(_ text: some StringProtocol) -> UInt64? {
        guard !text.isEmpty, text.utf8.count <= 19, text.utf8.allSatisfy({ (UInt8(ascii: "0")...UInt8(ascii: "9")).contains($0) }),
            let value = UInt64(text), value <= maximum
        else { return nil }
        return value
    }
}
