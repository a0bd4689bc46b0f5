import NIOCore
import NIOHTTP1

/// What HTTP/1.1 asks of a server before a request reaches the routes, checked where the
/// protocol version is still known (before the conversion to HTTP types):
/// - a 1.1 request must carry exactly one `Host` (RFC 9112 §3.2): else 400 and close;
/// - `Expect: 100-continue` is answered `100 Continue` at once, so a client (curl, for
///   bodies over 1 MB) does not wait a second before sending the body; not when the
///   declared body is over `maxBodyBytes` (the route refuses it, 413, unread); any other
///   expectation gets 417.
final class HTTP1RequestChecks: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias InboundOut = HTTPServerRequestPart
    typealias OutboundIn = HTTPServerResponsePart
    typealias OutboundOut = HTTPServerResponsePart

    let maxBodyBytes: Int
    private var refusing = false

    init(maxBodyBytes: Int) { self.maxBodyBytes = maxBodyBytes }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let part = unwrapInboundIn(data)
        guard case .head(let head) = part else {
            if !refusing { context.fireChannelRead(data) }
            return
        }
        // One pass over the fields, no allocation: this runs for every request.
        var hosts = 0, expectations = 0, continues = 0
        var declared: Int?
        for (name, value) in head.headers {
            switch name.utf8.count {
            case 4 where name.lowercased() == "host": hosts += 1
            case 6 where name.lowercased() == "expect":
                expectations += 1
                if value.lowercased() == "100-continue" { continues += 1 }
            case 14 where name.lowercased() == "content-length": declared = Int(value)
            default: continue
            }
        }
        if head.version.major == 1, head.version.minor >= 1, hosts != 1 {
            return refuse(context, head, .badRequest, "an HTTP/1.1 request needs exactly one Host header\n")
        }
        if expectations > 0 {
            guard expectations == 1, continues == 1 else {
                return refuse(context, head, .expectationFailed, "only Expect: 100-continue is supported\n")
            }
            if declared.map({ $0 <= maxBodyBytes }) ?? true {
                context.writeAndFlush(wrapOutboundOut(.head(HTTPResponseHead(version: head.version, status: .continue))), promise: nil)
            }
        }
        refusing = false
        context.fireChannelRead(data)
    }

    private func refuse(_ context: ChannelHandlerContext, _ request: HTTPRequestHead, _ status: HTTPResponseStatus, _ message: String) {
        refusing = true   // the rest of this request is dropped, never routed
        var headers = HTTPHeaders([("Content-Type", "text/plain; charset=utf-8"), ("Connection", "close")])
        headers.add(name: "Content-Length", value: String(message.utf8.count))
        context.write(wrapOutboundOut(.head(HTTPResponseHead(version: request.version, status: status, headers: headers))), promise: nil)
        context.write(wrapOutboundOut(.body(.byteBuffer(context.channel.allocator.buffer(string: message)))), promise: nil)
        context.writeAndFlush(wrapOutboundOut(.end(nil))).whenComplete { _ in context.close(promise: nil) }
    }
}
