import Foundation
import HTTPTypes
import Logging
import NIOCore
import NIOHTTPTypes
import SlipwayCore

/// The usual delivery, taken on the connection itself: `POST /webhooks/github` with its
/// length declared and at most `WebhookBodyReader.wholeLimit` bytes (a push is ~8 KB).
/// Its body is gathered here and judged at once (`WebhookRoute.begin`, `.judge`, the same
/// steps the router's door runs); only storing it waits, and its answer is written from
/// the store's completion. A delivery thus costs no request task, no body stream and no
/// router pass: measured, those were a third of a stored delivery's CPU. Every other
/// request (another path or method, a chunked or larger body) goes on to the router.
///
/// Answers go out in the order requests came (HTTP/1.1 pipelining): a delivery that
/// arrives while the router still answers an earlier request waits for that answer, and
/// whatever arrives while a delivery is being answered waits for it. Waiting, it is held
/// here and the socket is not read further (what one read brought at most), so a client
/// cannot pile up requests.
///
/// On a graceful shutdown (quiesce), a delivery being answered is answered first, then the
/// connection closes (the router's own requests are seen to by Hummingbird).
final class WebhookFastPath: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPRequestPart
    typealias InboundOut = HTTPRequestPart
    typealias OutboundIn = HTTPResponsePart
    typealias OutboundOut = HTTPResponsePart

    private enum State {
        /// Requests go on to the router.
        case passing
        /// A delivery's body being gathered.
        case reading(WebhookReading, closeAfter: Bool, body: ByteBuffer?)
        /// Answered from its head alone: the body (at most `wholeLimit` bytes) is dropped as
        /// it comes, and the answer is sent after it, so the connection can be used again.
        case refusing(WebhookAnswer, closeAfter: Bool)
        /// A delivery being stored; what arrives meanwhile is held.
        case storing
    }

    private let route: WebhookRoute
    private let logger: Logger
    private var state = State.passing
    /// Requests passed to the router whose answer has not been written yet.
    private var routerAnswersDue = 0
    /// Parts that arrived while an earlier answer was due, in order.
    private var held = CircularBuffer<HTTPRequestPart>()
    private var holding = false
    private var readWanted = false
    private var closeAfterAnswer = false
    private var isActive = true
    /// In `channelRead`: an answer written now is flushed once the loop has read every
    /// connection that was ready (`send`).
    private var inRead = false

    init(route: WebhookRoute, logger: Logger) {
        self.route = route
        self.logger = logger
    }

    /// What this door takes: a POST to the route, its body's length declared and small.
    static func takes(_ head: HTTPRequest) -> Bool {
        guard head.method == .post, let path = head.path, path.utf8.starts(with: "/webhooks/github".utf8) else { return false }
        let rest = path.utf8.dropFirst(16)
        guard rest.isEmpty || rest.first == UInt8(ascii: "?") else { return false }
        guard head.headerFields[.transferEncoding] == nil, let length = head.headerFields[.contentLength].flatMap(Int.init) else {
            return false
        }
        return length >= 0 && length <= WebhookBodyReader.wholeLimit
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        inRead = true
        defer { inRead = false }
        let part = unwrapInboundIn(data)
        if holding {
            held.append(part)
        } else {
            take(part, context: context)
        }
    }

    private func take(_ part: HTTPRequestPart, context: ChannelHandlerContext) {
        switch (state, part) {
        case (.passing, .head(let head)) where Self.takes(head):
            guard routerAnswersDue == 0 else {
                // The router's answer to an earlier request goes first.
                hold(part)
                return
            }
            begin(head, context: context)
        case (.passing, .head):
            routerAnswersDue += 1
            context.fireChannelRead(wrapInboundOut(part))
        case (.passing, _):
            context.fireChannelRead(wrapInboundOut(part))
        case (.refusing(let answer, let closeAfter), .end):
            state = .passing
            send(answer, closeAfter: closeAfter, context: context)
        case (.refusing, _):
            break
        case (.reading(let reading, let closeAfter, var body), .body(var chunk)):
            state = .storing   // drops the buffer's other reference, so it grows in place
            if body == nil { body = chunk } else { body!.writeBuffer(&chunk) }
            state = .reading(reading, closeAfter: closeAfter, body: body)
        case (.reading(let reading, let closeAfter, let body), .end):
            judge(reading, body, closeAfter: closeAfter, context: context)
        case (.reading, .head), (.storing, _):
            hold(part)   // cannot happen: the decoder ends a request before the next head; held is safe
        }
    }

    private func begin(_ head: HTTPRequest, context: ChannelHandlerContext) {
        let closeAfter = head.headerFields[values: .connection].contains { value in
            value.split(separator: ",").contains { $0.trimmingCharacters(in: .whitespaces).lowercased() == "close" }
        }
        switch route.begin(head.headerFields, logger: logger) {
        case .answer(let answer):
            state = .refusing(answer, closeAfter: closeAfter)
        case .readBody(let reading):
            state = .reading(reading, closeAfter: closeAfter, body: nil)
        }
    }

    private func judge(_ reading: WebhookReading, _ body: ByteBuffer?, closeAfter: Bool, context: ChannelHandlerContext) {
        let bytes = body.map { Array(buffer: $0) } ?? []
        switch route.judge(reading, .whole(bytes)) {
        case .answer(let answer):
            state = .passing
            send(answer, closeAfter: closeAfter, context: context)
        case .store(let delivery):
            state = .storing
            holding = true
            let loop = context.eventLoop
            let bound = NIOLoopBound((self, context), eventLoop: loop)
            route.store(delivery) { answer in
                loop.execute {
                    let (handler, context) = bound.value
                    handler.stored(answer, closeAfter: closeAfter, context: context)
                }
            }
        }
    }

    private func stored(_ answer: WebhookAnswer, closeAfter: Bool, context: ChannelHandlerContext) {
        state = .passing
        send(answer, closeAfter: closeAfter, context: context)
        if !closeAfterAnswer { release(context: context) }
    }

    private func send(_ answer: WebhookAnswer, closeAfter: Bool, context: ChannelHandlerContext) {
        answer.result.counter.increment()
        guard isActive else { return }   // the client went away; a stored delivery stays stored
        var head = answer.head
        head.headerFields[.date] = HTTPDate.now()
        head.headerFields[.server] = "slipway"
        context.write(wrapOutboundOut(.head(head)), promise: nil)
        context.write(wrapOutboundOut(.body(answer.body)), promise: nil)
        if closeAfter || closeAfterAnswer || answer.closesConnection {
            let written = context.eventLoop.makePromise(of: Void.self)
            context.writeAndFlush(wrapOutboundOut(.end(nil)), promise: written)
            let channel = context.channel
            written.futureResult.whenComplete { _ in channel.close(promise: nil) }
        } else if inRead {
            // Answers to the requests of one round of reads go out together: the client
            // side then finds several answers at each wake-up, not one (measured: a
            // rejection cost the sender 19 us instead of 15 when each was flushed alone).
            context.write(wrapOutboundOut(.end(nil)), promise: nil)
            let bound = NIOLoopBound(context, eventLoop: context.eventLoop)
            context.eventLoop.execute { bound.value.flush() }
        } else {
            context.writeAndFlush(wrapOutboundOut(.end(nil)), promise: nil)
        }
    }

    /// `part` must wait: it goes first among the held parts. Either nothing is held (a
    /// part just read), or it is the one `release` has just taken from the front, and the
    /// rest of its request is still behind it.
    private func hold(_ part: HTTPRequestPart) {
        holding = true
        held.prepend(part)
    }

    /// An answer is out: the parts held behind it are taken, in order, until one must
    /// wait again; reading resumes once none is held.
    private func release(context: ChannelHandlerContext) {
        holding = false
        while !holding, let part = held.popFirst() {
            take(part, context: context)
        }
        if held.isEmpty, readWanted {
            readWanted = false
            context.read()
        }
    }

    /// Reading stops only once something is held: a client that waits for its answer
    /// (nearly all) never makes the socket's read interest go off and on again.
    func read(context: ChannelHandlerContext) {
        if held.isEmpty {
            context.read()
        } else {
            readWanted = true
        }
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        context.write(data, promise: promise)
        guard case .end = unwrapOutboundIn(data) else { return }
        routerAnswersDue = max(0, routerAnswersDue - 1)   // a parse error's 400 answers no request
        if routerAnswersDue == 0, holding, case .passing = state { release(context: context) }
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        guard event is ChannelShouldQuiesceEvent else { return context.fireUserInboundEventTriggered(event) }
        switch state {
        case .reading, .storing, .refusing:
            // Hummingbird knows nothing of this request: it would close the connection now.
            closeAfterAnswer = true
        case .passing:
            context.fireUserInboundEventTriggered(event)
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        isActive = false
        held.removeAll()
        context.fireChannelInactive()
    }
}
