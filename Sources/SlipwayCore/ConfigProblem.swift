/// One thing wrong with a config file: where (a key path like
/// `repositories[0].image.tags[1]`) and what, in words a user can act on.
public struct ConfigProblem: Sendable, Equatable, CustomStringConvertible {
    public let path: String
    public let message: String

    public init(path: String, message: String) {
        self.path = path
        self.message = message
    }

    public var description: String { path.isEmpty ? message : "\(path): \(message)" }
}

/// A config that cannot be used, with every problem found (not only the first).
public struct ConfigError: Error, Sendable, CustomStringConvertible {
    public let source: String
    public let problems: [ConfigProblem]

    public init(source: String, problems: [ConfigProblem]) {
        self.source = source
        self.problems = problems
    }

    public var description: String {
        "\(source): \(problems.count) problem\(problems.count == 1 ? "" : "s")\n"
            + problems.map { "  - \($0)" }.joined(separator: "\n")
    }
}
