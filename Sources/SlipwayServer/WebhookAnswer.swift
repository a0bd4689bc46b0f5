import HTTPTypes
import Hummingbird
import NIOCore
import SlipwayCore
import SlipwayStore

/// A reply of the webhook route, as bytes: written as a `Response` by the router, or as
/// HTTP parts by `WebhookFastPath`. `result` labels `slipway_deliveries_total`.
struct WebhookAnswer: Sendable {
    var status: HTTPResponse.Status
    var headers: HTTPFields = [:]
    var body: ByteBuffer
    var result: DeliveryResult

    /// Whether the connection is closed once this is written (a body left unread).
    var closesConnection: Bool { headers[.connection] == "close" }

    static func error(
        _ status: HTTPResponse.Status, _ message: String, _ result: DeliveryResult, closing: Bool = false, headers: HTTPFields = [:]
    ) -> WebhookAnswer {
        var fields = headers
        if closing { fields[.connection] = "close" }
        return WebhookAnswer(status: status, headers: fields, body: JSONReply.encoded(["error": message]), result: result)
    }

    static func json(_ status: HTTPResponse.Status, _ text: String, _ result: DeliveryResult) -> WebhookAnswer {
        WebhookAnswer(status: status, body: ByteBuffer(string: text), result: result)
    }

    /// Its head as the fast door writes it: the route's headers, the content type and
    /// length (Hummingbird adds the length to `response` itself).
    var head: HTTPResponse {
        var fields = typedHeaders
        fields[.contentLength] = String(body.readableBytes)
        return HTTPResponse(status: status, headerFields: fields)
    }

    var response: Response { Response(status: status, headers: typedHeaders, body: .init(byteBuffer: body)) }

    private var typedHeaders: HTTPFields {
        var fields = headers
        fields[.contentType] = "application/json"
        return fields
    }
}

/// After the head: an answer at once, or the body to read.
enum WebhookBegin {
    case answer(WebhookAnswer)
    case readBody(WebhookReading)
}

/// What reading and judging a delivery's body needs from its head.
struct WebhookReading {
    let snapshot: ResolvedConfig
    let headers: DeliveryHeaders
    let logger: DeliveryLogger
    let signature: WebhookSignature
    let isForm: Bool
    let limit: Int
    let declaredLength: Int?
}

/// After the body: an answer, or a delivery to store.
enum WebhookJudgement {
    case answer(WebhookAnswer)
    case store(WebhookDelivery)
}

/// A signed, readable delivery, to be stored before it is answered.
struct WebhookDelivery: Sendable {
    let record: DeliveryRecord
    let build: BuildRequest?
    let decision: DeliveryDecision
    let logger: DeliveryLogger
}
