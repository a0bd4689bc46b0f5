import Foundation
import HTTPTypes
import Hummingbird
import Logging
import Metrics
import NIOCore
import SlipwayCore
import SlipwayPipeline
import SlipwayStore

/// POST /webhooks/github, read top to bottom as the SPEC's table:
/// method → content type → size limit → signature header → body (streamed) → signature →
/// headers → event and filters → de-duplication and durable enqueue → reply.
///
/// The reply never waits for build work (GitHub gives up after 10 s): the build is only
/// stored (`BuildIntake`); the queue picks it up.
struct WebhookRoute: Sendable {
    let health: any StoreHealth
    let intake: BuildIntake
    let config: LiveConfig

    static let path: RouterPath = "/webhooks/github"

    func register(on router: Router<BasicRequestContext>) {
        router.post(Self.path) { request, context in
            let (response, result) = try await handle(request, logger: context.logger)
            result.counter.increment()
            return response
        }
        for method in [HTTPRequest.Method.get, .put, .patch, .delete, .head] {
            router.on(Self.path, method: method) { _, _ in
                DeliveryResult.methodNotAllowed.counter.increment()
                return JSONReply.error(.methodNotAllowed, "use POST", headers: [.allow: "POST"])
            }
        }
    }

    func handle(_ request: Request, logger baseLogger: Logger) async throws -> (Response, DeliveryResult) {
        let snapshot = config.snapshot
        let headers = DeliveryHeaders(request.headers)
        let deliveryID = headers.delivery
        var logger = DeliveryLogger(base: baseLogger, delivery: deliveryID)

        // 1. Content type: JSON, or a form with a `payload` field.
        let mediaType = headers.contentType.map(Self.mediaType)
        guard let mediaType, mediaType == "application/json" || mediaType == "application/x-www-form-urlencoded" else {
            logger.log(.info, "delivery refused: unsupported content type")
            return (
                JSONReply.error(.unsupportedMediaType, "content type must be application/json or application/x-www-form-urlencoded"),
                .unsupportedMediaType
            )
        }

        // 2. Size: refuse on the declared length before reading; otherwise stop reading
        //    at the limit (chunked bodies), never buffering more than the limit.
        let limit = snapshot.config.server.maxBodyBytes
        if let declared = headers.contentLength.flatMap(Int.init), declared > limit {
            logger.log(.info, "delivery refused: body too large", ["bytes": "\(declared)"])
            return (JSONReply.error(.contentTooLarge, "body larger than \(limit) bytes", headers: [.connection: "close"]), .tooLarge)
        }
        // 3. Signature header, before any byte of the body is read: an unsigned body is
        //    refused unread.
        let signature: WebhookSignature
        do {
            signature = try WebhookSignature.parse(sha256Header: headers.signature256, sha1Header: headers.signature1)
        } catch {
            logger.log(.notice, "delivery refused", ["reason": "\(error)"])
            return (JSONReply.error(.unauthorized, error.description, headers: [.connection: "close"]), .unauthorized)
        }

        // 4. The body, streamed (`WebhookBodyReader`): before the signature is checked it
        //    costs at most a small fixed amount of memory, however large it is.
        let isForm = mediaType == "application/x-www-form-urlencoded"
        let declared = headers.contentLength.flatMap(Int.init)
        let received: WebhookBodyReader.Body
        do {
            if let declared, declared <= WebhookBodyReader.wholeLimit {
                // The usual delivery: small, its length declared; collected in one buffer.
                received = .whole(Array(buffer: try await request.body.collect(upTo: declared)))
            } else {
                var reader = WebhookBodyReader(
                    signature: signature, everySecret: snapshot.webhookSecrets(forRepository: nil), isForm: isForm,
                    limit: limit, declaredLength: declared)
                for try await chunk in request.body {
                    try chunk.withUnsafeReadableBytes { bytes throws(WebhookBodyReader.TooLarge) in try reader.consume(bytes) }
                }
                received = reader.finish()
            }
        } catch is WebhookBodyReader.TooLarge {
            logger.log(.info, "delivery refused: body too large")
            return (JSONReply.error(.contentTooLarge, "body larger than \(limit) bytes", headers: [.connection: "close"]), .tooLarge)
        } catch {
            // The client's doing (it went away, or missed the body deadline), not the daemon's.
            logger.log(.info, "delivery abandoned: body not received in full", ["error": "\(error)"])
            return (JSONReply.error(.badRequest, "body not received in full", headers: [.connection: "close"]), .badRequest)
        }

        // 5. Signature over the exact raw bytes, before any payload field is acted upon.
        //    The payload is only peeked at for its repository, to pick the secrets.
        let payload: [UInt8]?
        let isSigned: ([[UInt8]]) -> Bool
        var payloadProblem: String?
        switch received {
        case .whole(let body):
            payload = isForm ? Self.formPayload(body) : body
            isSigned = { signature.isValid(body: body, secrets: $0) }
        case .streamed(let check, let reduced):
            switch reduced {
            case nil: payload = nil
            case .success(let fields)?: payload = fields
            case .failure(let problem)?:
                payload = []   // read as not valid JSON
                if problem == .tooLarge { payloadProblem = "the payload's fields are too large to read (over 1 MiB)" }
            }
            isSigned = { check.isValid(secrets: $0) }
        }
        let event = headers.event
        let named = payload.flatMap(PayloadRepository.fullName(in:))
        guard isSigned(snapshot.webhookSecrets(forRepository: named)) else {
            logger.log(.notice, "delivery refused", ["reason": "\(WebhookSignature.Problem.mismatch)"])
            return (Self.signatureMismatch, .unauthorized)
        }
        logger.repository = named

        // 6. Headers GitHub always sends.
        guard let deliveryID, Self.isValidDeliveryID(deliveryID) else {
            return (JSONReply.error(.badRequest, "X-GitHub-Delivery header missing or malformed"), .badRequest)
        }
        guard let event, !event.isEmpty else {
            return (JSONReply.error(.badRequest, "X-GitHub-Event header missing"), .badRequest)
        }
        guard let payload else {
            return (JSONReply.error(.badRequest, "form body has no 'payload' field"), .badRequest)
        }
        if let payloadProblem {
            logger.log(.notice, "delivery refused: unreadable payload", ["reason": "\(payloadProblem)"])
            return (JSONReply.error(.badRequest, payloadProblem), .badRequest)
        }

        // 7. Event and filters (pure).
        let decision: DeliveryDecision
        do {
            decision = try DeliveryClassifier.classify(event: event, deliveryID: deliveryID, payload: payload, config: snapshot.config)
        } catch {
            logger.log(.notice, "delivery refused: unreadable payload", ["reason": "\(error.message)"])
            return (JSONReply.error(.badRequest, error.message), .badRequest)
        }

        // 8. De-duplication and durable enqueue, in one transaction, before replying;
        //    superseding and waking the workers are the intake's.
        let now = Date().timeIntervalSince1970
        let record: DeliveryRecord
        let buildRequest: BuildRequest?
        switch decision {
        case .pong:
            record = DeliveryRecord(id: deliveryID, event: event, repository: named, receivedAt: now, result: .pong)
            buildRequest = nil
        case .ignore(let reason):
            record = DeliveryRecord(id: deliveryID, event: event, repository: named, receivedAt: now, result: .ignored(reason: reason))
            buildRequest = nil
        case .build(let build):
            record = DeliveryRecord(id: deliveryID, event: event, repository: build.repository, receivedAt: now, result: .queued)
            buildRequest = build
        }
        //    While the store cannot keep it (full disk, database file replaced), 503: GitHub
        //    shows the failure and the delivery can be redelivered; never a 202 for nothing.
        if let problem = health.writeProblem {
            logger.log(.error, "delivery refused: cannot store it", ["reason": "\(problem)"])
            return (Self.unavailable, .unavailable)
        }
        let outcome: DeliveryOutcome
        do {
            outcome = try await intake.accept(record, build: buildRequest)
        } catch {
            logger.log(.error, "delivery refused: storing it failed", ["error": "\(error)"])
            return (Self.unavailable, .unavailable)
        }

        // 9. Reply.
        switch (outcome, decision) {
        case (.duplicate(let buildID), _):
            logger.log(.info, "duplicate delivery", ["build": "\(buildID.map(String.init) ?? "none")"])
            return (JSONReply.json(.ok, WebhookReply.duplicate(build: buildID)), .duplicate)
        case (.stored, .pong):
            logger.log(.info, "ping answered")
            return (JSONReply.make(.ok, ["pong": true]), .pong)
        case (.stored, .ignore(let reason)):
            logger.log(.info, "delivery ignored", ["event": "\(event)", "reason": "\(reason)"])
            return (JSONReply.make(.accepted, ["ignored": reason]), .ignored)
        case (.stored(let build?, let superseded), .build):
            logger.log(
                .info, "build queued",
                [
                    "build": "\(build.id)", "sha": "\(build.sha)", "ref": "\(build.ref)",
                    "superseded": "\(superseded)",
                ])
            return (JSONReply.json(.accepted, WebhookReply.queued(build: build.id, state: build.state)), .queued)
        case (.stored(nil, _), .build):
            throw HTTPError(.internalServerError, message: "build was not stored")
        }
    }

    /// Made once: the reply to a wrong signature, the one a flood of forged deliveries gets.
    static let signatureMismatch = JSONReply.error(.unauthorized, WebhookSignature.Problem.mismatch.description)

    static var unavailable: Response {
        JSONReply.error(
            .serviceUnavailable, "the delivery could not be stored; nothing was queued (redeliver it later)",
            headers: [.retryAfter: "30"])
    }

    /// `application/json` of `Application/JSON; charset=utf-8`.
    static func mediaType(_ header: String) -> String {
        let type = header.utf8.prefix { $0 != UInt8(ascii: ";") }
        let trimmed = type.drop { $0 == UInt8(ascii: " ") || $0 == UInt8(ascii: "\t") }
            .reversed().drop { $0 == UInt8(ascii: " ") || $0 == UInt8(ascii: "\t") }.reversed()
        return String(decoding: trimmed.map { (UInt8(ascii: "A")...UInt8(ascii: "Z")).contains($0) ? $0 + 32 : $0 }, as: UTF8.self)
    }

    /// The `payload` field of a form-encoded body, decoded; nil when absent.
    static func formPayload(_ body: [UInt8]) -> [UInt8]? {
        for pair in body.split(separator: UInt8(ascii: "&")) {
            guard pair.starts(with: Array("payload=".utf8)) else { continue }
            let encoded = String(decoding: pair.dropFirst(8), as: UTF8.self).replacingOccurrences(of: "+", with: " ")
            return encoded.removingPercentEncoding.map { Array($0.utf8) }
        }
        return nil
    }

    /// GitHub sends a GUID; accept any short token of printable characters.
    static func isValidDeliveryID(_ id: String) -> Bool {
        !id.isEmpty && id.utf8.count <= 128 && id.unicodeScalars.allSatisfy { $0.isASCII && $0.value > 32 && $0.value < 127 }
    }
}

/// The headers the route reads, found in one pass over the request's fields (a lookup
/// by name for each was a visible cost). A repeated field's values are joined with ", ",
/// as `HTTPFields`' subscript does.
struct DeliveryHeaders {
    var contentType: String?
    var contentLength: String?
    var delivery: String?
    var event: String?
    var signature256: String?
    var signature1: String?

    init(_ fields: HTTPFields) {
        func add(_ value: String, to slot: inout String?) { slot = slot.map { $0 + ", " + value } ?? value }
        for field in fields {
            switch field.name {
            case .contentType: add(field.value, to: &contentType)
            case .contentLength: add(field.value, to: &contentLength)
            case .githubDelivery: add(field.value, to: &delivery)
            case .githubEvent: add(field.value, to: &event)
            case .hubSignature256: add(field.value, to: &signature256)
            case .hubSignature: add(field.value, to: &signature1)
            default: continue
            }
        }
    }
}

/// The route's logger. The delivery id and the repository are attached to a line only
/// when the line is written: building that metadata for every delivery, logged or not,
/// was a measurable cost.
struct DeliveryLogger {
    let base: Logger
    let delivery: String?
    var repository: String?

    func log(_ level: Logger.Level, _ message: @autoclosure () -> Logger.Message, _ extra: @autoclosure () -> Logger.Metadata = [:]) {
        base.log(level: level, message(), metadata: metadata(extra()))
    }

    private func metadata(_ extra: Logger.Metadata) -> Logger.Metadata {
        var all = extra
        if let delivery { all["delivery"] = "\(delivery.prefix(128))" }
        if let repository { all["repo"] = "\(repository)" }
        return all
    }
}

extension HTTPField.Name {
    static let githubEvent = Self("X-GitHub-Event")!
    static let githubDelivery = Self("X-GitHub-Delivery")!
    static let hubSignature256 = Self("X-Hub-Signature-256")!
    static let hubSignature = Self("X-Hub-Signature")!
}

/// What became of a delivery: the `result` label of `slipway_deliveries_total`.
enum DeliveryResult: String, Sendable, CaseIterable {
    case queued, ignored, pong, duplicate
    case unauthorized, badRequest = "bad_request", tooLarge = "too_large"
    case unsupportedMediaType = "unsupported_media_type", methodNotAllowed = "method_not_allowed"
    case unavailable

    /// Made once (after the metrics system is bootstrapped: on first use), not per request.
    private static let counters = Dictionary(
        uniqueKeysWithValues: allCases.map {
            ($0, Counter(label: "slipway_deliveries_total", dimensions: [("result", $0.rawValue)]))
        })

    var counter: Counter { Self.counters[self]! }
}
