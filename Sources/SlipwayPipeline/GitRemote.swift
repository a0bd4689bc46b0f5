import Foundation
import SlipwayCore

/// Reads where a remote ref (or the default branch) points with `git ls-remote`, using the
/// repository's clone credentials.
public enum GitRemote {
    /// `ref` nil: the default branch (HEAD's symref).
    public static func head(url: String, ref: String?, auth: CloneAuth?, config: ResolvedConfig) async throws -> (
        ref: String, sha: CommitID
    )? {
        let arguments = ref.map { ["--", url, $0] } ?? ["--symref", "--", url, "HEAD"]
        guard case .listed(let text) = try await listRefs(arguments, auth: auth, config: config) else { return nil }
        return parse(text, ref: ref)
    }

    /// What `git ls-remote` answered: its output, or why it failed.
    public enum Listing: Sendable {
        case listed(String)
        case failed(String)
    }

    /// The default branch and every branch head (`BranchListing.parse`), for `reconcile`.
    public static func branchHeads(url: String, auth: CloneAuth?, config: ResolvedConfig) async throws -> Listing {
        try await listRefs(["--symref", "--", url, "HEAD", "refs/heads/*"], auth: auth, config: config)
    }

    /// `git ls-remote ARGUMENTS` with the clone credentials, its output kept whole up to
    /// 4 MiB (a listing of `BranchListing.maxHeads` branches fits), within 60 s.
    private static func listRefs(_ arguments: [String], auth: CloneAuth?, config: ResolvedConfig) async throws -> Listing {
        let scratch = config.config.stateDirectory + "/tmp"
        try FileManager.default.createDirectory(atPath: scratch, withIntermediateDirectories: true)
        let credentials = try GitCredentials(auth: auth, config: config, scratchDirectory: scratch)
        defer { credentials.remove() }
        var environment = ToolEnvironment.fromProcess().merging(credentials.environment) { $1 }
        environment["PATH"] = "/usr/local/bin:/usr/bin:/bin"
        let output = CapturedOutput(forwardingTo: nil, limit: 4 << 20)
        let result = try await ProcessRunner().run(
            ["git", "ls-remote"] + arguments, workingDirectory: scratch, environment: environment, timeout: .seconds(60), log: output)
        guard result.succeeded else {
            let said = output.text.split(whereSeparator: \.isNewline).suffix(3).joined(separator: " / ")
            return .failed("git ls-remote \(result.summary)\(said.isEmpty ? "" : ": " + TerminalText.escaped(String(said.prefix(500))))")
        }
        return .listed(output.text)
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
