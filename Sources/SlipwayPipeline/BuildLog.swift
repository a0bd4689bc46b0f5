import Foundation
import SlipwayCore
import Synchronization

/// One build's log file, written as the build runs. Every line passes through the
/// `SecretMasker` before it reaches the disk; output is masked a complete line at a time,
/// so a secret split across two reads of a pipe is still caught.
public final class BuildLog: Sendable {
    public let path: String
    private let masker: SecretMasker
    private let state: Mutex<State>
    /// Called after each write and once when the log is closed.
    private let onChange: @Sendable (LogFollowers.Event) -> Void
    /// Where each write is copied for other replicas (PostgreSQL), or nil.
    private let archive: LogArchiveWriter?

    private struct State {
        var handle: FileHandle?
        var pending: [UInt8] = []
    }

    /// Longest partial line held back waiting for its newline.
    static let maxPendingBytes = 64 * 1024

    public init(
        path: String, masker: SecretMasker, archive: LogArchiveWriter? = nil,
        onChange: @escaping @Sendable (LogFollowers.Event) -> Void = { _ in }
    ) throws {
        self.path = path
        self.masker = masker
        self.archive = archive
        self.onChange = onChange
        let url = URL(fileURLWithPath: path)
        try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
        if !FileManager.default.fileExists(atPath: path) {
            _ = FileManager.default.createFile(atPath: path, contents: nil, attributes: [.posixPermissions: 0o640])
        }
        let handle = try FileHandle(forWritingTo: url)
        try handle.seekToEnd()
        state = Mutex(State(handle: handle))
    }

    /// A header line such as `==> 2026-11-25T10:00:00Z test: python3 -m pytest -q`.
    public func header(_ text: String) {
        line("==> \(Self.timestamp()) \(text)")
    }

    /// A whole line from Slipway itself.
    public func line(_ text: String) {
        flushPending()
        write(masker.mask(text) + "\n")
    }

    /// Raw output from a child process; may end mid-line.
    public func output(_ bytes: some Sequence<UInt8>) {
        let complete: String? = state.withLock { state in
            state.pending.append(contentsOf: bytes)
            guard let lastNewline = state.pending.lastIndex(of: UInt8(ascii: "\n")) else {
                if state.pending.count > Self.maxPendingBytes {
                    defer { state.pending.removeAll(keepingCapacity: true) }
                    return String(decoding: state.pending, as: UTF8.self) + "\n"
                }
                return nil
            }
            let text = String(decoding: state.pending[...lastNewline], as: UTF8.self)
            state.pending.removeSubrange(...lastNewline)
            return text
        }
        if let complete { write(maskLines(complete)) }
    }

    /// Writes a partial line left over from process output.
    public func flushPending() {
        let rest: String? = state.withLock { state in
            guard !state.pending.isEmpty else { return nil }
            defer { state.pending.removeAll() }
            return String(decoding: state.pending, as: UTF8.self) + "\n"
        }
        if let rest { write(maskLines(rest)) }
    }

    public func close() {
        flushPending()
        state.withLock { state in
            try? state.handle?.synchronize()
            try? state.handle?.close()
            state.handle = nil
        }
        onChange(.ended)
    }

    private func maskLines(_ text: String) -> String {
        text.split(separator: "\n", omittingEmptySubsequences: false).map { masker.mask(String($0)) }.joined(separator: "\n")
    }

    private func write(_ text: String) {
        state.withLock { state in
            try? state.handle?.write(contentsOf: Data(text.utf8))
            archive?.write(text.utf8)   // under the lock: copies keep the file's order
        }
        onChange(.grew)
    }

    /// Writes any partial line, and waits (briefly) until the copy for other replicas has
    /// everything: before the build's end is recorded, so a follower elsewhere that sees
    /// the end has seen every line.
    public func settle() async {
        flushPending()
        await archive?.finish()
    }

    static func timestamp() -> String {
        Date().formatted(.iso8601)
    }
}

extension BuildLog: OutputSink {}
