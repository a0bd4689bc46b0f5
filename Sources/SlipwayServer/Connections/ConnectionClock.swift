import NIOCore
import NIOHTTPTypes

/// Where one connection is in its request cycle, and since when: written by its two
/// handlers, read by the sweeper, all on the connection's event loop.
final class ConnectionClock: @unchecked Sendable {   // touched only on its connection's event loop
    enum Phase: String { case fresh, idle, head, body, responding }

    var phase: Phase = .fresh
    var since = NIODeadline.now()
    var unwritableSince: NIODeadline?
    /// Over the cap: answered 503 and closed as soon as it is set up.
    let admitted: Bool

    init(admitted: Bool) { self.admitted = admitted }

    func enter(_ phase: Phase) {
        self.phase = phase
        since = .now()
    }

    /// The phase that has outlived its limit at `now`, if any.
    func expired(at now: NIODeadline, _ limits: ConnectionLimits) -> Phase? {
        switch phase {
        case .fresh, .head: now - since > limits.headerTimeout ? phase : nil
        case .body: now - since > limits.bodyTimeout ? phase : nil
        case .idle: now - since > limits.idleTimeout ? phase : nil
        case .responding: unwritableSince.map { now - $0 > limits.idleTimeout } == true ? phase : nil
        }
    }
}

/// First in the pipeline, on raw bytes: the first byte of a request starts its head's
/// deadline; it also writes the few responses that are sent before or instead of HTTP
/// handling (503 over the cap, 408 on a deadline) and closes.
final class RawBytesHandler: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = ByteBuffer
    typealias OutboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    let clock: ConnectionClock
    let limits: ConnectionLimits
    private var context: ChannelHandlerContext?

    init(clock: ConnectionClock, limits: ConnectionLimits) {
        self.clock = clock
        self.limits = limits
    }

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
        guard clock.admitted else {
            respondAndClose(status: "503 Service Unavailable", message: "too many connections; try again\n", retryAfter: true)
            return
        }
        DeadlineSweeper.on(context.eventLoop, limits: limits).add(self)
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        if clock.admitted { DeadlineSweeper.on(context.eventLoop, limits: limits).remove(self) }
        self.context = nil
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard clock.admitted else { return }   // a refused connection's request is not read
        if clock.phase == .fresh || clock.phase == .idle { clock.enter(.head) }
        context.fireChannelRead(data)
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        clock.unwritableSince = context.channel.isWritable ? nil : .now()
        context.fireChannelWritabilityChanged()
    }

    /// Called by the sweeper when a deadline has passed.
    func expire(_ phase: ConnectionClock.Phase) {
        ConnectionMetrics.timedOut(phase).increment()
        switch phase {
        case .fresh, .head, .body:
            respondAndClose(status: "408 Request Timeout", message: "request not received in time\n", retryAfter: false)
        case .idle, .responding:
            context?.close(promise: nil)
        }
    }

    private func respondAndClose(status: String, message: String, retryAfter: Bool) {
        guard let context else { return }
        var response =
            "HTTP/1.1 \(status)\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: \(message.utf8.count)\r\nConnection: close\r\n"
        if retryAfter { response += "Retry-After: 1\r\n" }
        response += "\r\n" + message
        context.writeAndFlush(wrapOutboundOut(context.channel.allocator.buffer(string: response))).whenComplete { _ in
            context.close(promise: nil)
        }
    }
}

/// After HTTP decoding: a request's head ends its head deadline and starts its body's;
/// its end starts the response; the response's end starts the keep-alive idle time.
final class RequestPhaseHandler: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPRequestPart
    typealias InboundOut = HTTPRequestPart
    typealias OutboundIn = HTTPResponsePart
    typealias OutboundOut = HTTPResponsePart

    let clock: ConnectionClock
    /// A graceful shutdown began before this connection's first request arrived.
    private var quiesceDeferred = false

    init(clock: ConnectionClock) { self.clock = clock }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let part = unwrapInboundIn(data)
        switch part {
        case .head: clock.enter(.body)
        case .body: break
        case .end: clock.enter(.responding)
        }
        context.fireChannelRead(data)
        if case .head = part, quiesceDeferred {
            // Now the handlers after this one know of the request: they answer it, then close.
            quiesceDeferred = false
            context.fireUserInboundEventTriggered(ChannelShouldQuiesceEvent())
        }
    }

    /// On graceful shutdown Hummingbird closes every connection with no request in
    /// progress. A connection accepted but whose request has not arrived (or not whole)
    /// has one on its way, though: closing it would lose a delivery that waited in the
    /// listening socket's backlog across a restart. Its shutdown waits for that request's
    /// head (or the header deadline, which closes it anyway); idle keep-alive connections
    /// close at once as before.
    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if event is ChannelShouldQuiesceEvent, clock.phase == .fresh || clock.phase == .head {
            quiesceDeferred = true
            return
        }
        context.fireUserInboundEventTriggered(event)
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        guard case .end = unwrapOutboundIn(data) else { return context.write(data, promise: promise) }
        switch clock.phase {
        case .responding:
            clock.enter(.idle)
            context.write(data, promise: promise)
        case .body:
            // Answered before the body was read (401 unsigned, 413): the rest of it is not
            // read (a client could trickle it for as long as the body deadline allows);
            // the connection closes once the answer is out.
            let written = promise ?? context.eventLoop.makePromise()
            context.write(data, promise: written)
            written.futureResult.whenComplete { _ in context.close(promise: nil) }
        default:
            context.write(data, promise: promise)
        }
    }
}
