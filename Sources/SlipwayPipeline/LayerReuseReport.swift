import Foundation
import Synchronization

/// Which steps of an image build buildah (or podman) took from its layer cache, read from
/// the build's output: `STEP 2/3: COPY model/ /app/model/` then `--> Using cache <id>`.
/// Steps that make no layer (`FROM`, `CMD`, `LABEL`, …) are not counted.
public struct LayerReuseReport: Sendable, Equatable {
    public var reused: [String] = []
    public var built: [String] = []

    public init(reused: [String] = [], built: [String] = []) {
        self.reused = reused
        self.built = built
    }

    /// The instructions that make a file-system layer; the others (FROM, CMD, LABEL, and
    /// the labels Slipway adds, which buildah turns into steps) only change the config.
    static let layerInstructions: Set<String> = ["RUN", "COPY", "ADD"]
    static let stepPrefix = "STEP "
    static let cacheMarker = "--> Using cache "

    /// Whether a line of output is one `parse` needs.
    static func isRelevant(_ line: Substring) -> Bool {
        line.hasPrefix(stepPrefix) || line.hasPrefix(cacheMarker)
    }

    public static func parse(_ lines: [Substring]) -> LayerReuseReport {
        var report = LayerReuseReport()
        var current: String?
        func close(reused: Bool) {
            guard let step = current else { return }
            if reused { report.reused.append(step) } else { report.built.append(step) }
            current = nil
        }
        for line in lines {
            if line.hasPrefix(stepPrefix), let colon = line.firstIndex(of: ":") {
                close(reused: false)
                // A multi-line instruction is printed on one line, its indentation kept: one space each.
                let instruction = line[line.index(after: colon)...].split(whereSeparator: \.isWhitespace).joined(separator: " ")
                let keyword = instruction.prefix { !$0.isWhitespace }.uppercased()
                current = layerInstructions.contains(keyword) ? instruction : nil
            } else if line.hasPrefix(cacheMarker) {
                close(reused: true)
            }
        }
        close(reused: false)
        return report
    }

    /// "layers: 1 of 2 reused from earlier builds (COPY model/ /app/model/); built anew: COPY app/ /app/"
    public var summary: String {
        let total = reused.count + built.count
        guard total > 0 else { return "layers: the Dockerfile makes none" }
        func list(_ steps: [String]) -> String { steps.map { $0.count > 80 ? $0.prefix(79) + "…" : $0 }.joined(separator: "; ") }
        var text = "layers: \(reused.count) of \(total) reused from earlier builds"
        if !reused.isEmpty { text += " (\(list(reused)))" }
        if !built.isEmpty { text += "; built anew: \(list(built))" }
        return text
    }
}

/// Passes a tool's output on and keeps the lines `keep` wants, whole, however the output
/// was split into reads.
public final class LineCollector: OutputSink {
    private let forward: (any OutputSink)?
    private let keep: @Sendable (Substring) -> Bool
    private let state = Mutex<(partial: [UInt8], kept: [Substring])>(([], []))

    public init(forwardingTo forward: (any OutputSink)?, keep: @escaping @Sendable (Substring) -> Bool) {
        self.forward = forward
        self.keep = keep
    }

    public func output(_ bytes: some Sequence<UInt8>) {
        let bytes = Array(bytes)
        state.withLock { state in
            state.partial.append(contentsOf: bytes)
            guard let last = state.partial.lastIndex(of: UInt8(ascii: "\n")) else {
                if state.partial.count > 64 * 1024 { state.partial.removeAll() }   // no line is that long
                return
            }
            let text = String(decoding: state.partial[...last], as: UTF8.self)
            state.partial.removeSubrange(...last)
            state.kept += text.split(separator: "\n").filter(keep)
        }
        forward?.output(bytes)
    }

    public func flushPending() {
        state.withLock { state in
            let text = String(decoding: state.partial, as: UTF8.self)
            state.partial.removeAll()
            if !text.isEmpty, keep(Substring(text)) { state.kept.append(Substring(text)) }
        }
        forward?.flushPending()
    }

    public var lines: [Substring] { state.withLock { $0.kept } }
}
