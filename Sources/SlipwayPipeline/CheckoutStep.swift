import Foundation
import SlipwayCore
import SlipwayStore

/// checkout: exactly the pushed commit into `workspace/src`, through a bare mirror per
/// repository under `state_dir/mirrors`, so a repository's second build fetches only
/// what is new. Shallow (`--depth=1`) by commit id; when a server refuses to hand out a
/// commit by id, the pushed ref is fetched instead and must contain the commit.
///
/// Credentials never reach a URL, an argv, `.git/config` or the log: a token travels as an
/// `http.extraHeader` given through git's environment (`GIT_CONFIG_*`), an SSH key as a
/// 0600 file in the build's scratch directory, removed when the step ends.
public struct CheckoutStep: BuildStep {
    public let name = "checkout"
    let mirrors: GitMirrors

    public init(mirrors: GitMirrors) { self.mirrors = mirrors }

    public func run(_ context: StepContext) async throws -> StepOutcome {
        guard let url = context.repository.cloneURL ?? context.build.cloneURL else {
            return .error(detail: "checkout: no clone URL (set clone_url for \(context.repository.name))")
        }
        let sha = context.build.sha.hex
        // A repository's object format shows in its commit ids (SHA-1: 40 digits,
        // SHA-256: 64); the mirror and the checkout are made in the same format.
        let objectFormat = sha.count == 64 ? ["--object-format=sha256"] : []
        let credentials = try GitCredentials(context: context)
        defer { credentials.remove() }
        let git = GitCommand(context: context, credentials: credentials)
        let mirror = mirrors.path(for: context.repository.name, stateDirectory: context.stateDirectory)

        let fetched: StepOutcome = try await mirrors.exclusively(mirror) {
            if !FileManager.default.fileExists(atPath: mirror + "/HEAD") {
                context.log.line("creating the mirror \(mirror)")
                // Made beside its place and renamed into it once complete: a build stopped
                // during `git init` (a newer push, a shutdown) must not leave a half-made
                // mirror that every later build of the repository would reuse and fail on.
                // Work on a mirror is serialized, so what is there now is a leftover.
                let partial = mirror + ".partial"
                try? FileManager.default.removeItem(atPath: partial)
                try? FileManager.default.removeItem(atPath: mirror)
                try FileManager.default.createDirectory(atPath: partial, withIntermediateDirectories: true)
                guard try await git.run(["init", "--quiet", "--bare"] + objectFormat + [partial]).succeeded else {
                    return .error(detail: "checkout: cannot create the mirror \(mirror)")
                }
                try FileManager.default.moveItem(atPath: partial, toPath: mirror)
            } else {
                context.log.line("reusing the mirror \(mirror)")
            }
            if try await git.run(["-C", mirror, "cat-file", "-e", "\(sha)^{commit}"], quiet: true).succeeded {
                context.log.line("commit \(sha) is already in the mirror")
                return .success
            }
            let byID = try await git.run([
                "-C", mirror, "fetch", "--quiet", "--no-tags", "--depth=1", "--", url,
                "+\(sha):refs/slipway/commits/\(sha)",
            ])
            if byID.succeeded { return .success }
            try Task.checkCancellation()
            if byID.timedOut { return .error(detail: "checkout timed out: \(context.timeoutDescription)") }
            guard context.build.ref.hasPrefix("refs/") else {
                return .error(detail: "checkout: cannot fetch \(sha) from \(Redact.url(url))")
            }
            context.log.line("fetching \(sha) by id failed; fetching \(context.build.ref) instead")
            let byRef = try await git.run([
                "-C", mirror, "fetch", "--quiet", "--no-tags", "--", url,
                "+\(context.build.ref):refs/slipway/fetched",
            ])
            let present = try await git.run(["-C", mirror, "cat-file", "-e", "\(sha)^{commit}"], quiet: true).succeeded
            if byRef.succeeded, present {
                _ = try await git.run(["-C", mirror, "update-ref", "refs/slipway/commits/\(sha)", sha], quiet: true)
                return .success
            }
            return .error(
                detail: byRef.succeeded
                    ? "checkout: \(context.build.ref) of \(Redact.url(url)) does not contain \(sha)"
                    : "checkout: cannot fetch from \(Redact.url(url)) (exit \(byRef.exitCode ?? -1))")
        }
        guard case .success = fetched else { return fetched }

        let checkout = context.checkoutDirectory
        try? FileManager.default.removeItem(atPath: checkout)
        let steps: [[String]] = [
            ["init", "--quiet"] + objectFormat + [checkout],
            ["-C", checkout, "fetch", "--quiet", "--no-tags", "--depth=1", "--", mirror, sha],
            ["-C", checkout, "-c", "advice.detachedHead=false", "checkout", "--quiet", "--detach", "FETCH_HEAD"],
        ]
        for argv in steps {
            let result = try await git.run(argv, localOnly: true)
            if result.timedOut { return .error(detail: "checkout timed out: \(context.timeoutDescription)") }
            if !result.succeeded { return .error(detail: "checkout: git \(argv.dropFirst(2).first ?? argv[0]) failed in the workspace") }
        }
        context.log.line("checked out \(sha) in \(checkout)")
        return .success
    }
}

/// Serializes work on one mirror (two builds of a repository fetching at once) and names
/// the mirror of a repository.
public actor GitMirrors {
    private var busy: Set<String> = []
    private var waiters: [String: [CheckedContinuation<Void, Never>]] = [:]

    public init() {}

    public nonisolated func path(for repository: String, stateDirectory: String) -> String {
        let safe = repository.lowercased().map { $0.isLetter || $0.isNumber || "-_.".contains($0) ? $0 : "_" }
        return "\(stateDirectory)/mirrors/\(String(safe)).git"
    }

    func exclusively<T: Sendable>(_ key: String, _ work: @Sendable () async throws -> T) async throws -> T {
        await acquire(key)
        do {
            let result = try await work()
            release(key)
            return result
        } catch {
            release(key)
            throw error
        }
    }

    private func acquire(_ key: String) async {
        if !busy.contains(key) {
            busy.insert(key)
            return
        }
        await withCheckedContinuation { waiters[key, default: []].append($0) }
    }

    private func release(_ key: String) {
        if var queue = waiters[key], !queue.isEmpty {
            let next = queue.removeFirst()
            waiters[key] = queue
            next.resume()
        } else {
            busy.remove(key)
        }
    }
}

/// How git authenticates for one checkout, as environment variables only.
public struct GitCredentials: Sendable {
    public let environment: [String: String]
    private let keyFile: String?

    init(context: StepContext) throws {
        try self.init(auth: context.repository.cloneAuth, config: context.config, scratchDirectory: context.scratchDirectory)
    }

    /// `scratchDirectory` receives an SSH key file for the duration of the call.
    public init(auth: CloneAuth?, config: ResolvedConfig, scratchDirectory: String) throws {
        var env = [
            "GIT_TERMINAL_PROMPT": "0",
            "GIT_ASKPASS": "/bin/false",
            "SSH_ASKPASS": "/bin/false",
            "GIT_CONFIG_NOSYSTEM": "1",
        ]
        var keyFile: String?
        switch auth {
        case .token(let reference, let username):
            guard let token = config.secret(reference) else { throw SecretLookupError(reference: reference, reason: "not resolved") }
            let basic = Data("\(username):\(token)".utf8).base64EncodedString()
            env["GIT_CONFIG_COUNT"] = "1"
            env["GIT_CONFIG_KEY_0"] = "http.extraHeader"
            env["GIT_CONFIG_VALUE_0"] = "Authorization: Basic \(basic)"
        case .sshKey(let reference):
            guard let key = config.secret(reference) else { throw SecretLookupError(reference: reference, reason: "not resolved") }
            try FileManager.default.createDirectory(
                atPath: scratchDirectory, withIntermediateDirectories: true,
                attributes: [.posixPermissions: 0o700])
            let path = scratchDirectory + "/deploy-key-\(UUID().uuidString)"
            guard
                FileManager.default.createFile(
                    atPath: path, contents: Data((key.hasSuffix("\n") ? key : key + "\n").utf8),
                    attributes: [.posixPermissions: 0o600])
            else {
                throw CocoaError(.fileWriteUnknown, userInfo: [NSFilePathErrorKey: path])
            }
            keyFile = path
            let knownHosts = config.config.stateDirectory + "/known_hosts"
            env["GIT_SSH_COMMAND"] =
                "ssh -i '\(path)' -o IdentitiesOnly=yes -o BatchMode=yes -o StrictHostKeyChecking=accept-new -o UserKnownHostsFile='\(knownHosts)'"
        case nil:
            break
        }
        self.environment = env
        self.keyFile = keyFile
    }

    public func remove() {
        if let keyFile { try? FileManager.default.removeItem(atPath: keyFile) }
    }
}

/// git with the build's credentials (remote operations) or none (local ones).
struct GitCommand {
    let context: StepContext
    let credentials: GitCredentials

    func run(_ arguments: [String], quiet: Bool = false, localOnly: Bool = false) async throws -> ProcessRunner.Result {
        let env = localOnly ? ["GIT_TERMINAL_PROMPT": "0", "GIT_CONFIG_NOSYSTEM": "1"] : credentials.environment
        if quiet { return try await context.runToolQuietly(["git"] + arguments, timeout: context.remaining, extraEnvironment: env) }
        return try await context.runTool(["git"] + arguments, extraEnvironment: env)
    }
}

/// URLs as they may appear in a log line or a build's reason: without user info.
enum Redact {
    static func url(_ url: String) -> String {
        guard let scheme = url.range(of: "://"), let at = url[scheme.upperBound...].firstIndex(of: "@") else { return url }
        let slash = url[scheme.upperBound...].firstIndex(of: "/") ?? url.endIndex
        guard at < slash else { return url }
        return String(url[..<scheme.upperBound]) + "***@" + url[url.index(after: at)...]
    }
}
