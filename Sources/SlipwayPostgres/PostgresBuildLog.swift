import Foundation
import PostgresNIO

/// A build's log in the database, so that any replica can show or follow it and it
/// survives the host of the replica that ran the build. The first of the writes fenced by
/// attempt: a chunk is kept only while `fence` is still the build's (the claim it was
/// written under), checked in the statement that writes it, so a replica that lost the
/// build (paused past its lease, cut off) writes nothing more to its log.
extension PostgresBuildStore {
    public struct LogChunk: Sendable, Equatable {
        public let attempt: Int
        public let sequence: Int64
        public let bytes: [UInt8]
    }

    /// Appends `bytes` to the log of the build's current attempt; false, writing nothing,
    /// when the build has been claimed again since `fence` (its last lines, written after
    /// its end by the attempt that ran it, are kept).
    public func appendLog(buildID: Int64, fence: Int64, _ bytes: [UInt8]) async throws -> Bool {
        let now = Date().timeIntervalSince1970
        let chunk = ByteBuffer(bytes: bytes)
        return try await transaction { [logger] connection in
            let rows = try await connection.query(
                """
                INSERT INTO build_log (build_id, attempt, seq, chunk, written_at)
                SELECT b.id, b.attempts,
                    COALESCE((SELECT max(l.seq) + 1 FROM build_log l WHERE l.build_id = b.id AND l.attempt = b.attempts), 0),
                    \(chunk), \(now)
                FROM build b WHERE b.id = \(buildID) AND b.fence = \(fence)
                RETURNING seq
                """, logger: logger)
            return try await rows.collect().count == 1
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
