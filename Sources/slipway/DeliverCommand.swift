import ArgumentParser
import AsyncHTTPClient
import Foundation
import NIOCore
import SlipwayCore
import SlipwaySecrets

/// `slipway deliver`: sign a push payload (a sample, or a file such as a fixture) with a
/// webhook secret and send it to the daemon's webhook endpoint as GitHub would, to
/// check a set-up end to end. Prints the daemon's answer; exit 0 on 2xx.
struct DeliverCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "deliver", abstract: "Sign and send a sample (or given) push payload to the webhook endpoint.")

    @Option(help: ArgumentHelp("Daemon address (default: $SLIPWAY_URL, else http://127.0.0.1:8080).", valueName: "url"))
    var url: String?
    @Option(help: "Webhook secret as env:NAME or file:PATH (default: env:SLIPWAY_WEBHOOK_SECRET). Never given as a literal.")
    var secret = "env:SLIPWAY_WEBHOOK_SECRET"
    @Option(help: "Send this file's bytes as the payload instead of a sample push.") var payload: String?
    @Option(help: "X-GitHub-Event header.") var event = "push"
    @Option(help: "Sample payload: repository (owner/name).") var repository: String?
    @Option(help: "Sample payload: ref or branch.") var ref = "refs/heads/main"
    @Option(help: "Sample payload: commit id (40 or 64 hex digits).") var sha: String?
    @Option(help: "Sample payload: clone URL (default https://github.com/OWNER/NAME.git).") var cloneURL: String?
    @Option(help: "X-GitHub-Delivery header (default: a new UUID).") var delivery: String?

    func validate() throws {
        if payload == nil {
            guard repository != nil else { throw ValidationError("give --repository (and --sha) for a sample push, or --payload FILE") }
            guard let sha, CommitID(sha) != nil else {
                throw ValidationError("--sha must be the commit to build, \(CommitID.expected) (git rev-parse HEAD)")
            }
        }
    }

    func run() async throws {
        try await reportingFailures {
            guard let reference = SecretReference(secret) else {
                throw ValidationError("--secret must be env:NAME or file:PATH, not the secret itself")
            }
            let key = try Self.read(reference)
            let body: [UInt8]
            if let payload {
                guard let data = FileManager.default.contents(atPath: payload) else { throw CLIFailure(.refused, "cannot read \(payload)") }
                body = Array(data)
            } else {
                body = SamplePushPayload.make(repository: repository ?? "", ref: ref, sha: sha ?? "", cloneURL: cloneURL)
            }
            let deliveryID = delivery ?? UUID().uuidString.lowercased()
            let client = try APIClient(
                base: url ?? ProcessInfo.processInfo.environment["SLIPWAY_URL"] ?? "http://127.0.0.1:8080", token: nil)
            var request = client.request(.POST, "/webhooks/github")
            request.headers.add(name: "Content-Type", value: "application/json")
            request.headers.add(name: "X-GitHub-Event", value: event)
            request.headers.add(name: "X-GitHub-Delivery", value: deliveryID)
            request.headers.add(name: "X-Hub-Signature-256", value: WebhookSignature.sha256Header(body: body, secret: Array(key.utf8)))
            request.body = .bytes(ByteBuffer(bytes: body))
            let response = try await client.open(request, timeout: .seconds(30))
            let reply = String(buffer: try await response.body.collect(upTo: 1 << 20))
            print("delivery \(deliveryID) (\(event), \(body.count) bytes): HTTP \(response.status.code) \(reply)")
        }
    }

    /// The secret as the daemon would read it; an empty value is refused too.
    static func read(_ reference: SecretReference) throws -> String {
        switch ProcessSecretSource().value(of: reference) {
        case .success(let value) where !value.isEmpty: return value
        case .success: throw CLIFailure(.refused, "webhook secret: \(reference) is empty")
        case .failure(let error): throw CLIFailure(.refused, "webhook secret: \(error)")
        }
    }
}
