import Hummingbird
import HummingbirdCore
import Logging
import NIOCore
import NIOHTTPTypes
import NIOHTTPTypesHTTP1

/// Hummingbird's HTTP/1.1 child channel with the limits a server facing the internet
/// needs (`ConnectionLimits`): a cap on open connections, the excess answered 503 and
/// closed at once; a deadline for each phase of a request (head, body, keep-alive idle,
/// a response the client stops reading), enforced by `DeadlineSweeper`.
struct GuardedHTTP1Channel: ServerChildChannel {
    typealias Value = HTTP1Channel.Value

    let responder: HTTPChannelHandler.Responder
    let limits: ConnectionLimits
    let connections: ConnectionCount
    /// The webhook's door on the connection (`WebhookFastPath`).
    let webhooks: WebhookRoute

    func setup(channel: any Channel, logger: Logger) -> EventLoopFuture<Value> {
        let admitted = connections.open()
        let clock = ConnectionClock(admitted: admitted)
        let http = HTTP1Channel(
            responder: responder,
            configuration: .init(additionalChannelHandlers: [
                RequestPhaseHandler(clock: clock), WebhookFastPath(route: webhooks, logger: logger),
            ]))
        return http.setup(channel: channel, logger: logger).flatMapThrowing { value in
            try channel.pipeline.syncOperations.addHandler(RawBytesHandler(clock: clock, limits: limits), position: .first)
            let codec = try channel.pipeline.syncOperations.handler(type: HTTP1ToHTTPServerCodec.self)
            try channel.pipeline.syncOperations.addHandler(HTTP1RequestChecks(maxBodyBytes: limits.maxBodyBytes), position: .before(codec))
            if admitted {
                channel.closeFuture.whenComplete { _ in connections.close() }
            } else {
                ConnectionMetrics.refused.increment()
            }
            return value
        }
    }

    func handle(value: Value, logger: Logger) async {
        await HTTP1Channel(responder: responder).handle(value: value, logger: logger)
    }
}

/// The limits, as configured (`server:`), with the cap lowered when the process may not
/// open that many files.
struct ConnectionLimits: Sendable {
    var maxConnections: Int
    var headerTimeout: TimeAmount
    var bodyTimeout: TimeAmount
    var idleTimeout: TimeAmount
    var maxBodyBytes: Int
}
