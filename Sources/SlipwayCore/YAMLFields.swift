import Yams

/// Reads typed values out of a YAML mapping while recording problems with their key
/// paths. Every key that is read is marked; `finish()` reports the ones never read,
/// so unknown keys are errors instead of being silently ignored.
final class YAMLFields {
    let path: String
    private var entries: [(key: String, value: Node)] = []
    private var used: Set<String> = []
    let problems: ProblemList

    init(_ node: Node?, path: String, problems: ProblemList) {
        self.path = path
        self.problems = problems
        guard let node else { return }
        guard let mapping = node.mapping else {
            problems.add(path, "must be a mapping of keys to values")
            return
        }
        for (key, value) in mapping {
            guard let name = key.scalar?.string else {
                problems.add(path, "keys must be plain strings")
                continue
            }
            if entries.contains(where: { $0.key == name }) {
                problems.add(Self.join(path, name), "is given twice")
                continue
            }
            entries.append((name, value))
        }
    }

    static func join(_ path: String, _ key: String) -> String { path.isEmpty ? key : "\(path).\(key)" }

    func childPath(_ key: String) -> String { Self.join(path, key) }

    /// The node at `key` (nil when absent or written as YAML null).
    func node(_ key: String) -> Node? {
        used.insert(key)
        guard let value = entries.first(where: { $0.key == key })?.value else { return nil }
        if value.null != nil, value.scalar != nil { return nil }
        return value
    }

    func has(_ key: String) -> Bool { node(key) != nil }

    /// True when `key` is present and written as YAML null (`key: null`, `key: ~`).
    func isExplicitlyNull(_ key: String) -> Bool {
        used.insert(key)
        guard let value = entries.first(where: { $0.key == key })?.value else { return false }
        return value.null != nil && value.scalar != nil
    }

    func string(_ key: String, required: Bool = false) -> String? {
        guard let node = node(key) else {
            if required { problems.add(childPath(key), "is required") }
            return nil
        }
        guard let scalar = node.scalar else {
            problems.add(childPath(key), "must be a string")
            return nil
        }
        if scalar.string.isEmpty {
            problems.add(childPath(key), "must not be empty")
            return nil
        }
        return scalar.string
    }

    func int(_ key: String, range: ClosedRange<Int>) -> Int? {
        guard let node = node(key) else { return nil }
        guard let value = node.int, node.scalar?.style == .plain else {
            problems.add(childPath(key), "must be a whole number, got '\(node.scalar?.string ?? "a \(node.kindName)")'")
            return nil
        }
        guard range.contains(value) else {
            problems.add(childPath(key), "must be between \(range.lowerBound) and \(range.upperBound), got \(value)")
            return nil
        }
        return value
    }

    func bool(_ key: String) -> Bool? {
        guard let node = node(key) else { return nil }
        guard let value = node.scalar.flatMap(Self.bool) else {
            problems.add(childPath(key), "must be true or false, got '\(node.scalar?.string ?? "a \(node.kindName)")'")
            return nil
        }
        return value
    }

    /// YAML 1.1's booleans, in plain style only (a quoted "true" is a string).
    private static func bool(_ scalar: Node.Scalar) -> Bool? {
        guard scalar.style == .plain else { return nil }
        switch scalar.string.lowercased() {
        case "true", "yes", "on": return true
        case "false", "no", "off": return false
        default: return nil
        }
    }

    func duration(_ key: String) -> Duration? {
        guard let text = string(key) else { return nil }
        guard let duration = DurationText.parse(text), duration > .zero else {
            problems.add(childPath(key), "must be a duration like 90s, 30m or 2h, got '\(text)'")
            return nil
        }
        return duration
    }

    func secret(_ key: String, required: Bool = false) -> SecretReference? {
        guard let text = string(key, required: required) else { return nil }
        return Self.secret(text, path: childPath(key), problems: problems)
    }

    static func secret(_ text: String, path: String, problems: ProblemList) -> SecretReference? {
        guard let reference = SecretReference(text) else {
            // Never echo the value: it may be a secret pasted in by mistake.
            problems.add(path, "must be a secret reference, env:NAME or file:PATH (secrets are never written in the file itself)")
            return nil
        }
        return reference
    }

    func secretList(_ key: String) -> [SecretReference]? {
        guard let items = sequence(key) else { return nil }
        return items.enumerated().compactMap { index, item in
            let itemPath = "\(childPath(key))[\(index)]"
            guard let text = item.scalar?.string, !text.isEmpty else {
                problems.add(itemPath, "must be a secret reference, env:NAME or file:PATH")
                return nil
            }
            return Self.secret(text, path: itemPath, problems: problems)
        }
    }

    func sequence(_ key: String) -> [Node]? {
        guard let node = node(key) else { return nil }
        guard let sequence = node.sequence else {
            problems.add(childPath(key), "must be a list")
            return nil
        }
        return Array(sequence)
    }

    func stringList(_ key: String, allowEmpty: Bool = false) -> [String]? {
        guard let items = sequence(key) else { return nil }
        if items.isEmpty && !allowEmpty {
            problems.add(childPath(key), "must not be an empty list")
            return nil
        }
        var strings: [String] = []
        for (index, item) in items.enumerated() {
            guard let text = item.scalar?.string, item.null == nil || item.scalar?.style != .plain else {
                problems.add("\(childPath(key))[\(index)]", "must be a string")
                continue
            }
            strings.append(text)
        }
        return strings.count == items.count ? strings : nil
    }

    func child(_ key: String) -> YAMLFields? {
        guard let node = node(key) else { return nil }
        return YAMLFields(node, path: childPath(key), problems: problems)
    }

    /// Reports every key present but never read.
    func finish() {
        for entry in entries where !used.contains(entry.key) {
            problems.add(childPath(entry.key), "unknown key")
        }
    }
}

/// Collects problems while a config is read; reference type so nested readers share it.
final class ProblemList {
    private(set) var all: [ConfigProblem] = []
    func add(_ path: String, _ message: String) { all.append(ConfigProblem(path: path, message: message)) }
}

extension Node {
    var kindName: String {
        switch self {
        case .scalar: "scalar"
        case .mapping: "mapping"
        case .sequence: "list"
        case .alias: "alias"
        }
    }
}
