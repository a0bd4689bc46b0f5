/// Where build logs are kept so that every replica can read them (PostgreSQL); with
/// SQLite, one daemon reads the log files it writes, and there is none.
public protocol BuildLogArchive: Sendable {
    /// Appends `bytes` to the log of the attempt claimed under `fence`; false, writing
    /// nothing, once the build has been claimed again since.
    func appendLog(buildID: Int64, fence: Int64, _ bytes: [UInt8]) async throws -> Bool
    /// Up to about `limit` bytes of the log from byte `offset` on (the attempts one after
    /// the other); empty when nothing is stored there yet.
    func readLog(buildID: Int64, from offset: UInt64, limit: Int) async throws -> [UInt8]
    /// How many bytes of the log are stored.
    func logSize(buildID: Int64) async throws -> UInt64
}
