import Foundation
import PostgresNIO
import SlipwayStore

/// A build's log in the database, so that any replica can show or follow it and it
/// survives the host of the replica that ran the build. Each chunk is kept at its byte
/// offset in the build's whole log (its attempts one after the other), and only while
/// `fence` is still the build's (the claim it was written under), checked in the
/// statement that writes it, so a replica that lost the build (paused past its lease,
/// cut off) writes nothing more to its log.
extension PostgresBuildStore: BuildLogArchive {
    public struct LogChunk: Sendable, Equatable {
        public let attempt: Int
        public let sequence: Int64
        public let bytes: [UInt8]
    }

    /// Appends `bytes` to the log of the build's current attempt; false, writing nothing,
    /// when the build has been claimed again since `fence` (its last lines, written after
    /// its end by the attempt that ran it, are kept). The build's row is locked for the
    /// statement (`FOR SHARE`), so a claim cannot slip between the check and the write.
    public func appendLog(buildID: Int64, fence: Int64, _ bytes: [UInt8]) async throws -> Bool {
        guard !bytes.isEmpty else { return true }
        let now = Date().timeIntervalSince1970
        let chunk = ByteBuffer(bytes: bytes)
        return try await transaction { [logger] connection in
            var current = false
            for try await _ in try await connection.query(
                "SELECT 1 FROM build WHERE id = \(buildID) AND fence = \(fence) FOR SHARE", logger: logger
            ) {
                current = true
            }
            guard current else { return false }
            _ = try await connection.query(
                """
                INSERT INTO build_log (build_id, attempt, seq, chunk, written_at, byte_offset)
                SELECT b.id, b.attempts,
                    COALESCE((SELECT max(l.seq) + 1 FROM build_log l WHERE l.build_id = b.id AND l.attempt = b.attempts), 0),
                    \(chunk), \(now),
                    COALESCE((SELECT max(l.byte_offset + length(l.chunk)) FROM build_log l WHERE l.build_id = b.id), 0)
                FROM build b WHERE b.id = \(buildID)
                """, logger: logger)
            return true
        }
    }

    /// The log's chunks after `after` (attempt, sequence), oldest first, at most `limit`.
    public func logChunks(buildID: Int64, after: (attempt: Int, sequence: Int64)? = nil, limit: Int = 1000) async throws -> [LogChunk] {
        let attempt = after?.attempt ?? -1
        let sequence = after?.sequence ?? -1
        return try await database.client.withConnection { [logger] connection in
            let rows = try await connection.query(
                """
                SELECT attempt, seq, chunk FROM build_log WHERE build_id = \(buildID) AND (attempt, seq) > (\(attempt), \(sequence))
                ORDER BY attempt, seq LIMIT \(limit)
                """, logger: logger)
            var chunks: [LogChunk] = []
            for try await (attempt, sequence, buffer) in rows.decode((Int, Int64, ByteBuffer).self) {
                chunks.append(LogChunk(attempt: attempt, sequence: sequence, bytes: Array(buffer: buffer)))
            }
            return chunks
        }
    }

    /// Up to about `limit` bytes of the log from byte `offset` on; empty when nothing is
    /// stored there (yet).
    public func readLog(buildID: Int64, from offset: UInt64, limit: Int) async throws -> [UInt8] {
        let start = Int64(clamping: offset)
        return try await database.client.withConnection { [logger] connection in
            let rows = try await connection.query(
                """
                SELECT byte_offset, chunk FROM build_log
                WHERE build_id = \(buildID) AND byte_offset + length(chunk) > \(start)
                ORDER BY byte_offset LIMIT 64
                """, logger: logger)
            var bytes: [UInt8] = []
            for try await (chunkOffset, buffer) in rows.decode((Int64, ByteBuffer).self) {
                guard chunkOffset == start + Int64(bytes.count) || (bytes.isEmpty && chunkOffset <= start) else { break }
                let chunk = Array(buffer: buffer)
                bytes += bytes.isEmpty ? chunk.dropFirst(Int(start - chunkOffset)) : chunk[...]
                if bytes.count >= limit { break }
            }
            return bytes
        }
    }

    public func logSize(buildID: Int64) async throws -> UInt64 {
        try await database.client.withConnection { [logger] connection in
            var size: Int64 = 0
            for try await value in try await connection.query(
                "SELECT COALESCE(max(byte_offset + length(chunk)), 0)::BIGINT FROM build_log WHERE build_id = \(buildID)", logger: logger
            ).decode(Int64.self) {
                size = value
            }
            return UInt64(max(size, 0))
        }
    }

    /// The fence of the build's current claim (0 when never claimed).
    public func fence(of buildID: Int64) async throws -> Int64? {
        try await database.client.withConnection { [logger] connection in
            var fence: Int64?
            for try await value in try await connection.query("SELECT fence FROM build WHERE id = \(buildID)", logger: logger).decode(
                Int64.self)
            {
                fence = value
            }
            return fence
        }
    }
}
