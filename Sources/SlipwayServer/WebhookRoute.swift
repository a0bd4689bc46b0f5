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
///
/// Two doors share these steps: the usual delivery (its length declared, up to
/// `WebhookBodyReader.wholeLimit`) is taken by `WebhookFastPath` on the connection itself;
/// the rest (a chunked or a large body, other methods) comes through the router here.
struct WebhookRoute: Sendable {
    let health: any StoreHealth
    let intake: BuildIntake
    let config: LiveConfig

    static let path: RouterPath = "/webhooks/github"

    func register(on router: Router<BasicRequestContext>) {
        router.post(Self.path) { request, context in
            let answer = await handle(request, logger: context.logger)
            answer.result.counter.increment()
            return answer.response
        }
        for method in [HTTPRequest.Method.get, .put, .patch, .delete, .head] {
            router.on(Self.path, method: method) { _, _ in
                DeliveryResult.methodNotAllowed.counter.increment()
                return JSONReply.error(.methodNotAllowed, "use POST", headers: [.allow: "POST"])
            }
        }
    }

    /// Through the router: the body is read here, streamed past `wholeLimit`.
    func handle(_ request: Request, logger: Logger) async -> WebhookAnswer {
        let reading: WebhookReading
        switch begin(request.headers, logger: logger) {
        case .answer(let answer): return answer
        case .readBody(let begun): reading = begun
        }
        // 4. The body, streamed (`WebhookBodyReader`): before the signature is checked it
        //    costs at most a small fixed amount of memory, however large it is.
        let received: WebhookBodyReader.Body
        do {
            if let declared = reading.declaredLength, declared <= WebhookBodyReader.wholeLimit {
                // The usual delivery: small, its length declared; collected in one buffer.
                received = .whole(Array(buffer: try await request.body.collect(upTo: declared)))
            } else {
                var reader = WebhookBodyReader(
                    signature: reading.signature, everySecret: reading.snapshot.webhookSecrets(forRepository: nil),
                    isForm: reading.isForm, limit: reading.limit, declaredLength: reading.declaredLength)
                for try await chunk in request.body {
                    try chunk.withUnsafeReadableBytes { bytes throws(WebhookBodyReader.TooLarge) in try reader.consume(bytes) }
                }
                received = reader.finish()
            }
        } catch is WebhookBodyReader.TooLarge {
            reading.logger.log(.info, "delivery refused: body too large")
            return .error(.contentTooLarge, "body larger than \(reading.limit) bytes", .tooLarge, closing: true)
        } catch {
            // The client's doing (it went away, or missed the body deadline), not the daemon's.
            reading.logger.log(.info, "delivery abandoned: body not received in full", ["error": "\(error)"])
            return .error(.badRequest, "body not received in full", .badRequest, closing: true)
        }
        switch judge(reading, received) {
        case .answer(let answer): return answer
        case .store(let delivery): return await store(delivery)
        }
    }

    /// Steps 1 to 3, on the request's head alone: an answer, or what reading its body needs.
    func begin(_ fields: HTTPFields, logger baseLogger: Logger) -> WebhookBegin {
        let snapshot = config.snapshot
        let headers = DeliveryHeaders(fields)
        let logger = DeliveryLogger(base: baseLogger, delivery: headers.delivery)

        // 1. Content type: JSON, or a form with a `payload` field.
        let mediaType = headers.contentType.map(Self.mediaType)
        guard let mediaType, mediaType == "application/json" || mediaType == "application/x-www-form-urlencoded" else {
            logger.log(.info, "delivery refused: unsupported content type")
            return .answer(
                .error(
                    .unsupportedMediaType, "content type must be application/json or application/x-www-form-urlencoded",
                    .unsupportedMediaType))
        }

        // 2. Size: refuse on the declared length before reading; otherwise stop reading
        //    at the limit (chunked bodies), never buffering more than the limit.
        let limit = snapshot.config.server.maxBodyBytes
        let declared = headers.contentLength.flatMap(Int.init)
        if let declared, declared > limit {
            logger.log(.info, "delivery refused: body too large", ["bytes": "\(declared)"])
            return .answer(.error(.contentTooLarge, "body larger than \(limit) bytes", .tooLarge, closing: true))
        }
        // 3. Signature header, before any byte of the body is read: an unsigned body is
        //    refused unread (by the fast door, a body of at most `wholeLimit` is let go
        //    as it comes, and refused after it).
        let signature: WebhookSignature
        do {
            signature = try WebhookSignature.parse(sha256Header: headers.signature256, sha1Header: headers.signature1)
        } catch {
            logger.log(.notice, "delivery refused", ["reason": "\(error)"])
            return .answer(.error(.unauthorized, error.description, .unauthorized, closing: true))
        }
        return .readBody(
            WebhookReading(
                snapshot: snapshot, headers: headers, logger: logger, signature: signature,
                isForm: mediaType == "application/x-www-form-urlencoded", limit: limit, declaredLength: declared))
    }

    /// Steps 5 to 7, on the whole body, with no I/O: an answer, or a delivery to store.
    func judge(_ reading: WebhookReading, _ received: WebhookBodyReader.Body) -> WebhookJudgement {
        var logger = reading.logger
        let snapshot = reading.snapshot
        // 5. Signature over the exact raw bytes, before any payload field is acted upon.
        //    The payload is only peeked at for its repository, to pick the secrets.
        let payload: [UInt8]?
        let isSigned: ([[UInt8]]) -> Bool
        var payloadProblem: String?
        switch received {
        case .whole(let body):
            payload = reading.isForm ? Self.formPayload(body) : body
            isSigned = { reading.signature.isValid(body: body, secrets: $0) }
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
        let event = reading.headers.event
        let named = payload.flatMap(PayloadRepository.fullName(in:))
        guard isSigned(snapshot.webhookSecrets(forRepository: named)) else {
            logger.log(.notice, "delivery refused", ["reason": "\(WebhookSignature.Problem.mismatch)"])
            return .answer(Self.signatureMismatch)
        }
        // No repository name holds a control character (GitHub allows letters, digits,
        // '.', '-' and '_'): one that does is refused here, named, rather than stored
        // (PostgreSQL cannot keep a NUL in text) or shown (a terminal would obey it).
        if let named, named.unicodeScalars.contains(where: { $0.value < 0x20 || $0.value == 0x7F }) {
            logger.log(.notice, "delivery refused: control character in repository.full_name")
            return .answer(.error(.badRequest, "the payload's repository.full_name holds a control character", .badRequest))
        }
        logger.repository = named

        // 6. Headers GitHub always sends.
        guard let deliveryID = reading.headers.delivery, Self.isValidDeliveryID(deliveryID) else {
            return .answer(.error(.badRequest, "X-GitHub-Delivery header missing or malformed", .badRequest))
        }
        guard let event, !event.isEmpty else {
            return .answer(.error(.badRequest, "X-GitHub-Event header missing", .badRequest))
        }
        guard let payload else {
            return .answer(.error(.badRequest, "form body has no 'payload' field", .badRequest))
        }
        if let payloadProblem {
            logger.log(.notice, "delivery refused: unreadable payload", ["reason": "\(payloadProblem)"])
            return .answer(.error(.badRequest, payloadProblem, .badRequest))
        }

        // 7. Event and filters (pure).
        let decision: DeliveryDecision
        do {
            decision = try DeliveryClassifier.classify(event: event, deliveryID: deliveryID, payload: payload, config: snapshot.config)
        } catch {
            logger.log(.notice, "delivery refused: unreadable payload", ["reason": "\(error.message)"])
            return .answer(.error(.badRequest, error.message, .badRequest))
        }
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
        case .skip(let reason, let head):
            record = DeliveryRecord(
                id: deliveryID, event: event, repository: named, receivedAt: now, result: .ignored(reason: reason), skippedHead: head)
            buildRequest = nil
        case .build(let build):
            record = DeliveryRecord(id: deliveryID, event: event, repository: build.repository, receivedAt: now, result: .queued)
            buildRequest = build
        }
        return .store(WebhookDelivery(record: record, build: buildRequest, decision: decision, logger: logger))
    }

    /// Steps 8 and 9: de-duplication and durable enqueue, in one transaction, before
    /// replying; superseding and waking the workers are the intake's.
    func store(_ delivery: WebhookDelivery) async -> WebhookAnswer {
        if let refused = refusalBeforeStoring(delivery) { return refused }
        do {
            return reply(to: delivery, .success(try await intake.accept(delivery.record, build: delivery.build)))
        } catch {
            return reply(to: delivery, .failure(error))
        }
    }

    /// While the store cannot keep a delivery (full disk, database file replaced), 503:
    /// GitHub shows the failure and the delivery can be redelivered; never a 202 for nothing.
    private func refusalBeforeStoring(_ delivery: WebhookDelivery) -> WebhookAnswer? {
        guard let problem = health.writeProblem else { return nil }
        delivery.logger.log(.error, "delivery refused: cannot store it", ["reason": "\(problem)"])
        return Self.unavailable
    }

    /// `store(_:)` for a caller outside Swift concurrency (`WebhookFastPath`): `answer` is
    /// called once, on any thread.
    func store(_ delivery: WebhookDelivery, then answer: @escaping @Sendable (WebhookAnswer) -> Void) {
        if let refused = refusalBeforeStoring(delivery) { return answer(refused) }
        intake.accept(delivery.record, build: delivery.build) { [self] outcome in answer(reply(to: delivery, outcome)) }
    }

    /// 9. The reply to a delivery the store has taken.
    func reply(to delivery: WebhookDelivery, _ stored: Result<DeliveryOutcome, any Error>) -> WebhookAnswer {
        let logger = delivery.logger
        let outcome: DeliveryOutcome
        switch stored {
        case .success(let value): outcome = value
        case .failure(let error):
            logger.log(.error, "delivery refused: storing it failed", ["error": "\(error)"])
            return Self.unavailable
        }
        switch (outcome, delivery.decision) {
        case (.duplicate(let buildID), _):
            logger.log(.info, "duplicate delivery", ["build": "\(buildID.map(String.init) ?? "none")"])
            return .json(.ok, WebhookReply.duplicate(build: buildID), .duplicate)
        case (.builtByReconcile(let buildID), _):
            let reason = DeliveryOutcome.builtByReconcileReason(buildID)
            logger.log(.info, "delivery ignored", ["event": "\(delivery.record.event)", "reason": "\(reason)"])
            return WebhookAnswer(status: .accepted, body: JSONReply.encoded(["ignored": reason]), result: .ignored)
        case (.stored, .pong):
            logger.log(.info, "ping answered")
            return .json(.ok, #"{"pong":true}"#, .pong)
        case (.stored, .ignore(let reason)), (.stored, .skip(let reason, _)):
            logger.log(.info, "delivery ignored", ["event": "\(delivery.record.event)", "reason": "\(reason)"])
            return WebhookAnswer(status: .accepted, body: JSONReply.encoded(["ignored": reason]), result: .ignored)
        case (.stored(let build?, let superseded), .build):
            logger.log(
                .info, "build queued",
                [
                    "build": "\(build.id)", "sha": "\(build.sha)", "ref": "\(build.ref)",
                    "superseded": "\(superseded)",
                ])
            return .json(.accepted, WebhookReply.queued(build: build.id, state: build.state), .queued)
        case (.stored(nil, _), .build):
            logger.log(.error, "delivery stored without its build")
            return .error(.internalServerError, "build was not stored", .unavailable)
        }
    }

    /// Made once: the reply to a wrong signature, the one a flood of forged deliveries gets.
    static let signatureMismatch = WebhookAnswer.error(.unauthorized, WebhookSignature.Problem.mismatch.description, .unauthorized)

    static let unavailable = WebhookAnswer.error(
        .serviceUnavailable, "the delivery could not be stored; nothing was queued (redeliver it later)", .unavailable,
        headers: [.retryAfter: "30"])

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
