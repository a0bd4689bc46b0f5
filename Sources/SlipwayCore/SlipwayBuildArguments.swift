import Foundation

/// Build arguments Slipway gives a Dockerfile that declares them (`ARG NAME`), and only
/// then: a builder warns about an argument no instruction consumes. Pure.
///
/// `SLIPWAY_MODEL_SHA256`, the sha256 of the model the model step fetched and checked,
/// lets a Dockerfile key its model layer by the model's digest instead of by its content:
///
///     ARG SLIPWAY_MODEL_SHA256
///     RUN --mount=type=bind,source=model,target=/mnt/model \
///         echo "$SLIPWAY_MODEL_SHA256  /mnt/model/model.npz" | sha256sum -c - && cp ...
///
/// A layer cache checks a `RUN` by its command line and arguments, so an unchanged model
/// is a cache hit without reading it. A `COPY model/` is checked by hashing every byte of
/// the model first, on every build (3.3 s for 500 MB here).
public enum SlipwayBuildArguments {
    public static let modelSHA256 = "SLIPWAY_MODEL_SHA256"

    /// The arguments `dockerfile` declares that Slipway has a value for.
    public static func values(for dockerfile: String, model: ModelProvenance?) -> [String: String] {
        var offered: [String: String] = [:]
        if let model { offered[modelSHA256] = model.sha256 }
        let declared = declaredArguments(in: dockerfile)
        return offered.filter { declared.contains($0.key) }
    }

    /// The names of every `ARG` instruction, in any stage (`ARG A B=1` declares both).
    static func declaredArguments(in dockerfile: String) -> Set<String> {
        var names: Set<String> = []
        for instruction in instructions(of: dockerfile) {
            let words = instruction.split(whereSeparator: { $0 == " " || $0 == "\t" })
            guard let keyword = words.first, keyword.uppercased() == "ARG" else { continue }
            for word in words.dropFirst() {
                let name = word.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)[0]
                if !name.isEmpty { names.insert(String(name)) }
            }
        }
        return names
    }

    /// The Dockerfile's instructions, continuation lines joined, comments and blank lines
    /// dropped.
    static func instructions(of dockerfile: String) -> [String] {
        let escape = DockerfileLabels.escapeCharacter(of: dockerfile)
        var result: [String] = []
        var current = ""
        for line in dockerfile.split(omittingEmptySubsequences: false, whereSeparator: \.isNewline) {
            let text = line.trimmingCharacters(in: .whitespaces)
            if text.hasPrefix("#") || (text.isEmpty && !current.isEmpty) { continue }
            if text.last == escape {
                current += text.dropLast().trimmingCharacters(in: .whitespaces) + " "
                continue
            }
            current += text
            if !current.trimmingCharacters(in: .whitespaces).isEmpty { result.append(current) }
            current = ""
        }
        if !current.isEmpty { result.append(current) }
        return result
    }
}
