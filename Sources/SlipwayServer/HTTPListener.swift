import Hummingbird
import HummingbirdCore
import Logging
import NIOCore
import NIOHTTP1
import NIOPosix
import ServiceLifecycle
import Synchronization

/// The HTTP server: Hummingbird's HTTP/1.1 channels (`GuardedHTTP1Channel`) on a socket
/// slipwayd binds (`server.listen`) or one the service manager passed (socket activation,
/// `ServiceManager.passedSocket`), which Hummingbird's `Application` cannot serve. A passed
/// socket belongs to the service manager: while slipwayd restarts, connections wait in its
/// backlog instead of being refused.
///
/// What `Application.run` does for each request is done the same way (`responder`).
/// Graceful shutdown differs. Hummingbird closes the listening socket and, with it, the
/// stream of accepted connections; a connection accepted in that moment, its channel
/// already set up, is dropped unserved, and NIO stops the process for it ("Deinited
/// NIOAsyncWriter without calling finish()": seen under a steady stream of deliveries).
/// Here a connection's channel is set up only once the server has taken it, every accepted
/// connection is recorded until then, and those the closing stream did not hand over are
/// served all the same. So a graceful shutdown answers every connection it accepted; what
/// was not accepted stays in the socket's backlog, refused when slipwayd owns the socket
/// and kept for the next slipwayd when the service manager does.
struct HTTPListener<ChildChannel: ServerChildChannel>: Service {
    enum Address: Sendable {
        case passed(descriptor: CInt)
        case tcp(host: String, port: Int)
        case unix(path: String)
    }

    let address: Address
    let childChannel: ChildChannel
    let logger: Logger
    let onRunning: @Sendable (any Channel) async -> Void

    func run() async throws {
        let group = MultiThreadedEventLoopGroup.singleton
        let pending = AcceptedConnections()
        let bootstrap = ServerBootstrap(group: group)
            .serverChannelOption(.backlog, value: 256)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .serverChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(AcceptRecorder(pending: pending))
                }
            }
            .childChannelOption(.allowRemoteHalfClosure, value: true)
            // Nothing is read before the server has set the channel up (`serve`).
            .childChannelOption(.autoRead, value: false)
        let asIs: @Sendable (any Channel) -> EventLoopFuture<any Channel> = { $0.eventLoop.makeSucceededFuture($0) }
        let server: NIOAsyncChannel<any Channel, Never> =
            switch address {
            case .passed(let descriptor): try await bootstrap.bind(descriptor, childChannelInitializer: asIs)
            case .tcp(let host, let port): try await bootstrap.bind(host: host, port: port, childChannelInitializer: asIs)
            case .unix(let path):
                try await bootstrap.bind(unixDomainSocketPath: path, cleanupExistingSocketFile: true, childChannelInitializer: asIs)
            }
        await withGracefulShutdownHandler {
            await onRunning(server.channel)
            await withDiscardingTaskGroup { connections in
                do {
                    try await server.executeThenClose { inbound in
                        for try await connection in inbound {
                            pending.taken(connection)
                            connections.addTask { await serve(connection, pending: pending) }
                        }
                    }
                } catch {
                    logger.error("the listening socket stopped accepting", metadata: ["error": "\(error)"])
                }
                for connection in pending.takeAll() {
                    connections.addTask { await serve(connection, pending: pending) }
                }
            }
        } onGracefulShutdown: {
            // Not NIO's ServerQuiescingHelper: it tells every accepted channel, and one not set
            // up yet passes the event to NIO's pipeline tail, which closes it unanswered.
            Task {
                await Self.stopAccepting(server.channel, pending: pending)
                for connection in pending.beginShutdown() { Self.quiesce(connection) }
            }
        }
    }

    /// Sets the connection's channel up (on its event loop) and serves it. Set up after the
    /// shutdown began, it has missed the quiesce event: it is told now, and closes after
    /// the request on its way (`RequestPhaseHandler`).
    private func serve(_ connection: any Channel, pending: AcceptedConnections) async {
        let (childChannel, logger) = (self.childChannel, self.logger)
        let value: ChildChannel.Value
        do {
            value = try await connection.eventLoop.flatSubmit {
                childChannel.setup(channel: connection, logger: logger).flatMap { value in
                    connection.setOption(.autoRead, value: true).map { value }
                }
            }.get()
        } catch {
            logger.debug("a connection could not be set up", metadata: ["error": "\(error)"])
            connection.close(promise: nil)
            return
        }
        if pending.serving(connection) { Self.quiesce(connection) }
        await childChannel.handle(value: value, logger: logger)
        pending.served(connection)
    }

    /// Stops accepting, then closes the listening socket once every accepted connection
    /// has been taken by the server: a connection still in the stream of accepted ones when
    /// the socket closes is closed by NIO unanswered. The check and the close are one step
    /// on the socket's event loop, where accepts happen (at most 5 s of waiting).
    static func stopAccepting(_ channel: any Channel, pending: AcceptedConnections) async {
        try? await channel.setOption(.autoRead, value: false)
        let deadline = ContinuousClock.now + .seconds(5)
        while true {
            let last = ContinuousClock.now >= deadline
            let closed = try? await channel.eventLoop.submit {
                guard pending.noneWaiting || last else { return false }
                channel.close(promise: nil)
                return true
            }.get()
            if closed != false { return }
            try? await Task.sleep(for: .milliseconds(2))
        }
    }

    /// Close once the request on its way (if any) is answered (Hummingbird's state handler,
    /// `WebhookFastPath`, `RequestPhaseHandler`).
    static func quiesce(_ connection: any Channel) {
        connection.eventLoop.execute { connection.pipeline.fireUserInboundEventTriggered(ChannelShouldQuiesceEvent()) }
    }

    /// The responder `Application` would make of `router`'s responder.
    static func responder(
        _ responder: some HTTPResponder<BasicRequestContext>, serverName: String, logger: Logger
    ) -> HTTPChannelHandler.Responder {
        { request, writer, channel in
            var logger = logger
            logger[metadataKey: "hb.request.id"] = .stringConvertible(RequestID())
            let context = BasicRequestContext(source: .init(channel: channel, logger: logger))
            var response: Response
            do {
                response = try await responder.respond(to: request, context: context)
            } catch let error as HTTPParserError {
                throw error
            } catch {
                logger.debug("unrecognised error", metadata: ["error.type": "\(error)"])
                response = Response(status: .internalServerError)
            }
            response.headers[.date] = HTTPDate.now()
            response.headers[.server] = serverName
            do {
                try await writer.write(response: response.head, body: response.body)
            } catch is HTTPParserError {
                // Not the parser error itself: that would make the channel write a second response.
                throw ResponseNotWritten()
            }
        }
    }

    struct ResponseNotWritten: Error {}
}

/// The connections accepted on the listening socket: those the server has not taken yet,
/// and those set up and being served.
final class AcceptedConnections: Sendable {
    private let state = Mutex(
        (waiting: [ObjectIdentifier: any Channel](), serving: [ObjectIdentifier: any Channel](), shuttingDown: false))

    func accepted(_ connection: any Channel) { state.withLock { $0.waiting[ObjectIdentifier(connection)] = connection } }
    func taken(_ connection: any Channel) { _ = state.withLock { $0.waiting.removeValue(forKey: ObjectIdentifier(connection)) } }
    var noneWaiting: Bool { state.withLock { $0.waiting.isEmpty } }
    func takeAll() -> [any Channel] {
        state.withLock { state in
            defer { state.waiting.removeAll() }
            return Array(state.waiting.values)
        }
    }
    /// Records a set-up connection; true when the shutdown has already begun (it missed the quiesce).
    func serving(_ connection: any Channel) -> Bool {
        state.withLock { state in
            state.serving[ObjectIdentifier(connection)] = connection
            return state.shuttingDown
        }
    }
    func served(_ connection: any Channel) { _ = state.withLock { $0.serving.removeValue(forKey: ObjectIdentifier(connection)) } }
    /// The connections being served, to be told of the shutdown.
    func beginShutdown() -> [any Channel] {
        state.withLock { state in
            state.shuttingDown = true
            return Array(state.serving.values)
        }
    }
}

/// Records each connection the listening socket accepts (the server channel reads one
/// child channel per connection).
final class AcceptRecorder: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = any Channel
    let pending: AcceptedConnections
    init(pending: AcceptedConnections) { self.pending = pending }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        pending.accepted(unwrapInboundIn(data))
        context.fireChannelRead(data)
    }
}
