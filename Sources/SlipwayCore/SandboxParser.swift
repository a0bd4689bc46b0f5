/// Reads the sandbox keys: `sandbox`, `sandbox_network` and `limits`, at the top level
/// (the daemon's defaults) and in a repository (its overrides).
enum SandboxParser {
    static func readDefaults(_ fields: YAMLFields) -> SandboxConfig {
        SandboxParser.readOverride(fields).applied(to: SandboxConfig())
    }

    static func readOverride(_ fields: YAMLFields) -> SandboxOverride {
        var result = SandboxOverride()
        if let text = fields.string("sandbox") {
            if let kind = SandboxKind(rawValue: text) {
                result.kind = kind
            } else {
                fields.report("sandbox", "must be bubblewrap or none (none runs build code unconfined: trusted code only), got '\(text)'")
            }
        }
        result.network = fields.bool("sandbox_network")
        if let limits = fields.child("limits") {
            result.memoryBytes = limits.byteSize("memory", range: StepLimits.memoryRange)
            result.pids = limits.int("pids", range: StepLimits.pidsRange)
            result.openFiles = limits.int("open_files", range: StepLimits.openFilesRange)
            limits.finish()
        }
        return result
    }
}

extension YAMLFields {
    /// A size in bytes: a whole number, or a number with a unit (`4GiB`, `512M`, `100MB`).
    func byteSize(_ key: String, range: ClosedRange<Int>) -> Int? {
        guard let node = node(key) else { return nil }
        guard let text = node.scalar?.string, node.scalar?.style == .plain, let bytes = ByteSizeText.parse(text) else {
            report(key, "must be a size like 4GiB, 512MiB or a number of bytes, got '\(node.scalar?.string ?? "a \(node.kindName)")'")
            return nil
        }
        guard range.contains(bytes) else {
            report(key, "must be between \(range.lowerBound) and \(range.upperBound) bytes, got \(bytes)")
            return nil
        }
        return bytes
    }
}
