import AsyncHTTPClient
import Foundation
import Logging
import Metrics
import NIOCore
import NIOHTTP1
import ServiceLifecycle
import SlipwayCore
import SlipwayStore

/// Posts the commit-status outbox to GitHub (`POST {api_url}/repos/{owner}/{repo}/statuses/{sha}`)
/// without ever blocking the build queue.
///
/// Order: statuses of one commit go out in the order they were written; a later entry of a
/// commit waits while an earlier one is being retried, and a `pending` that a newer status
/// of the same commit has overtaken is dropped rather than sent late. Failures: 5xx and
/// network errors are retried with exponential backoff (Retry-After honoured); 403/429
/// with `x-ratelimit-remaining: 0` or Retry-After pause all posting until GitHub's reset;
/// any other 4xx is given up with the reason logged.
///
/// Woken by the store when a status is written (`StatusOutboxStore.outboxWritten`), or
/// when the next retry or pause ends; never polling the outbox.
public final class CommitStatusPoster: Service, Sendable {
    let store: any StatusOutboxStore
    let config: LiveConfig
    let logger: Logger
    let tokens: GitHubTokens
    let client: HTTPClient

    public init(store: any StatusOutboxStore, config: LiveConfig, logger: Logger) {
        self.store = store
        self.config = config
        self.logger = logger
        var configuration = HTTPClient.Configuration()
        configuration.timeout = .init(connect: .seconds(5), read: .seconds(20))
        client = HTTPClient(eventLoopGroupProvider: .singleton, configuration: configuration)
        tokens = GitHubTokens(client: client)
    }

    /// How long the poster, once woken, waits for more statuses before it reads the outbox.
    static let gathering: Duration = .milliseconds(200)

    /// Delivered and closed statuses are kept this long (for looking into), then deleted,
    /// so the outbox does not grow with every build forever.
    static let keepDone: Double = 7 * 24 * 3600

    public func run() async throws {
        var pausedUntil = 0.0
        var pruneAt = 0.0
        while !Task.isCancelled {
            let pass = await postDue(pausedUntil: pausedUntil)
            pausedUntil = pass.pausedUntil
            let now = Date().timeIntervalSince1970
            if now >= pruneAt {
                pruneAt = now + 600
                do {
                    let removed = try await store.pruneStatuses(doneBefore: now - Self.keepDone)
                    if removed > 0 { logger.info("old commit statuses removed from the outbox", metadata: ["count": "\(removed)"]) }
                } catch {
                    logger.warning("cannot prune the status outbox", metadata: ["error": "\(error)"])
                }
            }
            let wakeAt = min(pass.lookAgainAt ?? pruneAt, pruneAt)
            let outbox = store.outboxWritten
            let gathering = Self.gathering
            _ = try? await cancelWhenGracefulShutdown {
                await outbox.wait(timeout: .seconds(max(0, wakeAt - Date().timeIntervalSince1970)))
                // Statuses written close together go out in one pass: a burst of builds
                // costs the database a read per window, not one per status.
                try await Task.sleep(for: gathering)
            }
            if Task.isShuttingDownGracefully || Task.isCancelled { break }
        }
        try? await client.shutdown()
    }

    /// `slipway_status_post_failures_total{kind}`.
    static func failureCounter(_ kind: String) -> Counter {
        Counter(label: "slipway_status_post_failures_total", dimensions: [("kind", kind)])
    }

    /// Declares every series of the poster's metrics at 0 (after the metrics bootstrap).
    public static func declareMetrics() {
        for kind in Result.failureKinds { failureCounter(kind).increment(by: 0) }
    }

    enum Result {
        case delivered
        case retry(after: Double, why: String)
        case rateLimited(until: Double, why: String)
        case giveUp(String)

        /// Every `kind` label of `slipway_status_post_failures_total`.
        static let failureKinds = ["retry", "rate_limited", "given_up"]

        /// The `kind` label of `slipway_status_post_failures_total`; nil when delivered.
        var failureKind: String? {
            switch self {
            case .delivered: nil
            case .retry: "retry"
            case .rateLimited: "rate_limited"
            case .giveUp: "given_up"
            }
        }
    }

    /// What a pass over the outbox leaves: until when posting is paused (rate limit), and
    /// when an entry it could not send yet is due (nil: none is waiting).
    struct Pass {
        var pausedUntil: Double
        var lookAgainAt: Double?
    }

    static let batch = 200

    /// One pass over the outbox.
    func postDue(pausedUntil: Double) async -> Pass {
        let snapshot = config.snapshot
        let entries: [StatusOutboxEntry]
        do {
            entries = try await store.openStatuses(limit: Self.batch)
        } catch {
            logger.error("cannot read the status outbox", metadata: ["error": "\(error)"])
            return Pass(pausedUntil: pausedUntil, lookAgainAt: Date().timeIntervalSince1970 + 5)
        }
        guard !entries.isEmpty else { return Pass(pausedUntil: pausedUntil) }
        guard let github = snapshot.config.github else {
            try? await store.closeStatuses(ids: entries.map(\.id), reason: "github is not configured")
            return Pass(pausedUntil: pausedUntil, lookAgainAt: entries.count == Self.batch ? 0 : nil)
        }
        var paused = pausedUntil
        // A full batch may have more behind it: look again at once.
        var lookAgainAt: Double? = entries.count == Self.batch ? 0 : nil
        func due(_ time: Double) { lookAgainAt = min(lookAgainAt ?? time, time) }
        var waiting = Set<String>()
        func key(_ entry: StatusOutboxEntry) -> String { entry.repository.lowercased() + "@" + entry.sha.hex }
        // A pending status that a newer status of its commit follows is dropped, never sent late.
        var lastOfCommit: [String: Int] = [:]
        for (index, entry) in entries.enumerated() { lastOfCommit[key(entry)] = index }
        let overtaken = Set(entries.enumerated().filter { $1.status.state == .pending && lastOfCommit[key($1)]! > $0 }.map(\.element.id))
        try? await store.closeStatuses(ids: Array(overtaken), reason: "overtaken by a newer status of the commit")
        for entry in entries where !overtaken.contains(entry.id) {
            let key = key(entry)
            guard !waiting.contains(key) else {
                due(max(entry.nextAttemptAt, paused))
                continue
            }
            var logger = self.logger
            logger[metadataKey: "build"] = "\(entry.buildID)"
            logger[metadataKey: "repo"] = "\(entry.repository)"
            logger[metadataKey: "sha"] = "\(entry.sha)"
            let now = Date().timeIntervalSince1970
            if entry.nextAttemptAt > now || paused > now {
                waiting.insert(key)
                due(max(entry.nextAttemptAt, paused))
                continue
            }
            let result = await post(entry, github: github, snapshot: snapshot, logger: logger)
            if let kind = result.failureKind {
                Self.failureCounter(kind).increment()
            }
            do {
                switch result {
                case .delivered:
                    try await store.closeStatus(id: entry.id, .delivered)
                    logger.info("commit status posted", metadata: ["state": "\(entry.status.state)"])
                case .retry(let after, let why):
                    waiting.insert(key)
                    due(after)
                    try await store.closeStatus(id: entry.id, .retry(at: after))
                    logger.warning("commit status will be retried", metadata: ["why": "\(why)", "in": "\(Int(after - now))s"])
                case .rateLimited(let until, let why):
                    waiting.insert(key)
                    due(until)
                    paused = until
                    try await store.closeStatus(id: entry.id, .retry(at: until))
                    logger.warning("GitHub rate limit: posting paused", metadata: ["why": "\(why)", "for": "\(Int(until - now))s"])
                case .giveUp(let reason):
                    try await store.closeStatus(id: entry.id, .closed(reason: reason))
                    logger.error("commit status given up", metadata: ["reason": "\(reason)"])
                }
            } catch {
                logger.error("cannot update the status outbox", metadata: ["error": "\(error)"])
            }
        }
        return Pass(pausedUntil: paused, lookAgainAt: lookAgainAt)
    }

    func post(_ entry: StatusOutboxEntry, github: GitHubConfig, snapshot: ResolvedConfig, logger: Logger) async -> Result {
        let now = Date().timeIntervalSince1970
        let backoff = min(300, pow(2, Double(entry.attempts)))
        let token: String
        do {
            token = try await tokens.token(for: github, secrets: snapshot, logger: logger)
        } catch let error as GitHubTokens.Failure {
            return error.permanent ? .giveUp(error.description) : .retry(after: now + backoff, why: error.description)
        } catch {
            return .retry(after: now + backoff, why: "\(error)")
        }
        let body: [String: String] = [
            "state": entry.status.state.rawValue,
            "target_url": "\(snapshot.config.server.publicURL)/builds/\(entry.buildID)",
            "description": entry.status.description,
            "context": github.statusContext,
        ]
        var request = HTTPClientRequest(url: "\(github.apiURL)/repos/\(entry.repository)/statuses/\(entry.sha.hex)")
        request.method = .POST
        GitHubAPI.addHeaders(&request.headers, token: token)
        request.headers.add(name: "Content-Type", value: "application/json")
        request.body = .bytes(ByteBuffer(bytes: (try? JSONSerialization.data(withJSONObject: body, options: [.sortedKeys])) ?? Data()))
        let response: HTTPClientResponse
        do {
            response = try await client.execute(request, timeout: .seconds(30))
        } catch {
            return .retry(after: now + backoff, why: "GitHub unreachable: \(error)")
        }
        let text = (try? await response.body.collect(upTo: 1 << 20)).map { String(buffer: $0) } ?? ""
        let code = Int(response.status.code)
        if (200..<300).contains(code) { return .delivered }
        let retryAfter = response.headers.first(name: "Retry-After").flatMap(Double.init)
        if code == 403 || code == 429 {
            let remaining = response.headers.first(name: "x-ratelimit-remaining")
            let reset = response.headers.first(name: "x-ratelimit-reset").flatMap(Double.init)
            if remaining == "0" || retryAfter != nil || code == 429 {
                let until = retryAfter.map { now + $0 } ?? reset ?? (now + 60)
                return .rateLimited(until: max(until, now + 1), why: "HTTP \(code)")
            }
        }
        if code == 401, case .app = github.auth { await tokens.forget() }
        if code >= 500 || code == 401 && entry.attempts == 0 {
            return .retry(after: now + max(backoff, retryAfter ?? 0), why: "HTTP \(code)")
        }
        return .giveUp("HTTP \(code): \(GitHubAPI.message(text))")
    }
}

enum GitHubAPI {
    static let userAgent = "slipway/0.1 (+https://github.com/slipway-ci)"

    static func addHeaders(_ headers: inout HTTPHeaders, token: String) {
        headers.add(name: "Accept", value: "application/vnd.github+json")
        headers.add(name: "X-GitHub-Api-Version", value: "2022-11-28")
        headers.add(name: "User-Agent", value: userAgent)
        headers.add(name: "Authorization", value: "Bearer \(token)")
    }

    /// GitHub's `message` field, short; never the request.
    static func message(_ body: String) -> String {
        guard let data = body.data(using: .utf8),
            let object = try? JSONSerialization.jsonObject(with: data) as? [String: Any],
            let message = object["message"] as? String
        else { return "no message" }
        return String(message.prefix(200))
    }
}

/// The token statuses are posted with: the configured token, or a GitHub App's
/// installation token (from a JWT signed with the App's key), reused until a minute
/// before it expires.
actor GitHubTokens {
    struct Failure: Error, CustomStringConvertible {
        let description: String
        let permanent: Bool
    }

    let client: HTTPClient
    private var cached: (token: String, validUntil: Double, app: Int)?

    init(client: HTTPClient) { self.client = client }

    func forget() { cached = nil }

    func token(for github: GitHubConfig, secrets: ResolvedConfig, logger: Logger) async throws -> String {
        switch github.auth {
        case .token(let reference):
            guard let token = secrets.secret(reference) else { throw Failure(description: "github.token is not resolved", permanent: true) }
            return token
        case .app(let id, let installation, let keyReference):
            let now = Date().timeIntervalSince1970
            if let cached, cached.app == id, cached.validUntil > now { return cached.token }
            guard let key = secrets.secret(keyReference) else {
                throw Failure(description: "github.app.private_key is not resolved", permanent: true)
            }
            let jwt: String
            do {
                jwt = try GitHubAppJWT.make(appID: id, privateKeyPEM: key, now: Date())
            } catch {
                throw Failure(description: "cannot sign the App JWT: \(error)", permanent: true)
            }
            var request = HTTPClientRequest(url: "\(github.apiURL)/app/installations/\(installation)/access_tokens")
            request.method = .POST
            GitHubAPI.addHeaders(&request.headers, token: jwt)
            let response: HTTPClientResponse
            do {
                response = try await client.execute(request, timeout: .seconds(30))
            } catch {
                throw Failure(description: "GitHub unreachable for the installation token: \(error)", permanent: false)
            }
            let text = (try? await response.body.collect(upTo: 1 << 20)).map { String(buffer: $0) } ?? ""
            guard response.status.code == 201 || response.status.code == 200,
                let object = try? JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any],
                let token = object["token"] as? String
            else {
                throw Failure(
                    description: "installation token refused: HTTP \(response.status.code): \(GitHubAPI.message(text))",
                    permanent: response.status.code < 500)
            }
            let expires =
                (object["expires_at"] as? String).flatMap { ISO8601DateFormatter().date(from: $0) }?.timeIntervalSince1970 ?? (now + 3600)
            cached = (token, expires - 60, id)
            logger.info("GitHub App installation token obtained", metadata: ["installation": "\(installation)"])
            return token
        }
    }
}
