import Foundation
import SlipwayCore

/// Reads where a remote ref (or the default branch) points with `git ls-remote`, using the
/// repository's clone credentials.
public enum GitRemote {
    /// `ref` nil: the default branch (HEAD's symref).
    public static func head(url: String, ref: String?, auth: CloneAuth?, config: ResolvedConfig) async throws -> (
        ref: String, sha: CommitID
    )? {
        let scratch = config.config.stateDirectory + "/tmp"
        try FileManager.default.createDirectory(atPath: scratch, withIntermediateDirectories: true)
        let credentials = try GitCredentials(auth: auth, config: config, scratchDirectory: scratch)
        defer { credentials.remove() }
        var environment = ToolEnvironment.fromProcess().merging(credentials.environment) { $1 }
        environment["PATH"] = "/usr/local/bin:/usr/bin:/bin"
        let output = CapturedOutput(forwardingTo: nil)
        let arguments = ref.map { ["git", "ls-remote", "--", url, $0] } ?? ["git", "ls-remote", "--symref", "--", url, "HEAD"]
        let result = try await ProcessRunner().run(
            arguments, workingDirectory: scratch, environment: environment,
            timeout: .seconds(60), log: output)
        guard result.succeeded else { return nil }
        return parse(output.text, ref: ref)
    }

    /// `ref: refs/heads/main\tHEAD` + `<sha>\tHEAD` (default branch), or `<sha>\t<ref>`.
    static func parse(_ text: String, ref: String?) -> (ref: String, sha: CommitID)? {
        var symref: String?
        var sha: CommitID?
        for line in text.split(separator: "\n") {
            let fields = line.split(separator: "\t")
            guard fields.count == 2 else { continue }
            if let ref {
                if fields[1] == ref, let id = CommitID(fields[0]) { return (ref, id) }
                continue
            }
            guard fields[1] == "HEAD" else { continue }
            if fields[0].hasPrefix("ref: ") { symref = String(fields[0].dropFirst(5)) } else if let id = CommitID(fields[0]) { sha = id }
        }
        guard ref == nil, let symref, let sha else { return nil }
        return (symref, sha)
    }
}
