import Foundation
import HTTPTypes
import Logging
import NIOCore
import NIOEmbedded
import NIOHTTPTypes
import SlipwayCore
import SlipwayPipeline
import SlipwayTesting
import Testing

@testable import SlipwayServer
@testable import SlipwayStore

/// The webhook's door on the connection (`WebhookFastPath`), on a test channel in front
/// of a stand-in for the router, with the real route and store behind it and the store's
/// log sync held at a gate: what is answered when, in which order, and what reaches the
/// router.
@Suite struct WebhookFastPathTests {
    @Test func aDeliveryIsAnsweredOnceDurableAndWhatCameAfterItWaitsForIt() async throws {
        try await withDoor { door in
            door.gate.hold()
            try await door.send(door.delivery("d-1"))
            try await door.waitForSyncs(blocked: 1)
            // Nothing held yet: the socket is still read (a client waiting for its answer
            // never turns reading off and on).
            let reads = door.reads.count
            try await door.askToRead()
            #expect(door.reads.count == reads + 1)

            try await door.send(door.get("/healthz"))
            #expect(try await door.channel.readOutbound(as: HTTPResponsePart.self) == nil, "answered before durable")
            #expect(door.router.heads.isEmpty, "the request behind it reached the router first")
            try await door.askToRead()
            #expect(door.reads.count == reads + 1, "read on while a request is held")

            door.gate.release()
            let answer = try await door.answer()
            #expect(answer.status == .accepted)
            #expect(answer.body.hasPrefix(#"{"build":"#), "\(answer.body)")
            #expect(answer.fields[.date] != nil && answer.fields[.server] == "slipway")
            try await door.waitUntil { door.router.heads == ["/healthz"] }
            #expect(door.reads.count == reads + 2, "reading resumed once nothing was held")
        }
    }

    /// Pipelined behind a delivery being stored: a router request, then another delivery.
    /// The router gets its request alone, and the second delivery waits for its answer.
    @Test func pipelinedRequestsAroundADeliveryKeepTheirOrderAndTheirParts() async throws {
        try await withDoor { door in
            door.gate.hold()
            try await door.send(door.delivery("d-1") + door.get("/healthz") + door.delivery("d-2"))
            try await door.waitForSyncs(blocked: 1)
            door.gate.release()
            #expect(try await door.answer().status == .accepted)
            try await door.waitUntil { door.router.parts == ["head /healthz", "end"] }
            try await door.router.answer(door.channel, .ok)
            #expect(try await door.answer().status == .ok)
            #expect(try await door.answer().status == .accepted)
            #expect(door.router.parts == ["head /healthz", "end"], "a delivery's parts reached the router")
        }
    }

    @Test func aDeliveryBehindARouterRequestWaitsForThatAnswer() async throws {
        try await withDoor { door in
            try await door.send(door.get("/healthz") + door.delivery("d-1"))
            #expect(door.router.heads == ["/healthz"])
            #expect(try await door.channel.readOutbound(as: HTTPResponsePart.self) == nil, "answered out of order")
            #expect(door.gate.calls == 0, "the delivery was stored before the router answered")

            try await door.router.answer(door.channel, .ok)
            #expect(try await door.answer().status == .ok)
            #expect(try await door.answer().status == .accepted)
        }
    }

    @Test func aQuiesceWhileADeliveryIsStoredAnswersItAndThenCloses() async throws {
        try await withDoor { door in
            door.gate.hold()
            try await door.send(door.delivery("d-1"))
            try await door.waitForSyncs(blocked: 1)
            door.channel.pipeline.fireUserInboundEventTriggered(ChannelShouldQuiesceEvent())
            try await door.run()
            #expect(door.router.quiesced == 0, "Hummingbird would close the connection before the answer")
            #expect(door.channel.isActive)

            door.gate.release()
            #expect(try await door.answer().status == .accepted)
            try await door.waitUntil { !door.channel.isActive }
        }
    }

    @Test func connectionCloseIsHonouredAndRefusalsWaitForTheirBody() async throws {
        try await withDoor { door in
            // Unsigned: refused from its head, answered after its (small) body; the
            // connection closes, as every refusal of an unsigned body does.
            try await door.send(door.delivery("d-1", signed: false))
            let refused = try await door.answer()
            #expect(refused.status == .unauthorized && refused.fields[.connection] == "close")
            try await door.waitUntil { !door.channel.isActive }
        }
        try await withDoor { door in
            try await door.send(door.delivery("d-2", extra: [.connection: "keep-alive, close"]))
            #expect(try await door.answer().status == .accepted)
            try await door.waitUntil { !door.channel.isActive }
        }
        try await withDoor { door in
            // A wrong content type is refused from the head too; the connection stays.
            try await door.send(door.delivery("d-3", extra: [.contentType: "text/plain"]) + door.delivery("d-4"))
            #expect(try await door.answer().status == .unsupportedMediaType)
            #expect(try await door.answer().status == .accepted)
            #expect(door.channel.isActive)
        }
    }

    @Test func whatTheDoorDoesNotTakeGoesToTheRouter() async throws {
        try await withDoor { door in
            var chunked = door.delivery("d-1")
            chunked[0] = .head(Self.head(.post, "/webhooks/github", [.transferEncoding: "chunked"]))
            var large = door.delivery("d-2")
            large[0] = .head(Self.head(.post, "/webhooks/github", [.contentLength: "\(WebhookBodyReader.wholeLimit + 1)"]))
            var other = door.delivery("d-3")
            other[0] = .head(Self.head(.post, "/webhooks/githubx", [.contentLength: "2"]))
            for request in [chunked, large, other, door.get("/webhooks/github")] {
                try await door.send(request)
                try await door.router.answer(door.channel, .ok)
                #expect(try await door.answer().status == .ok)
            }
            #expect(door.router.heads == ["/webhooks/github", "/webhooks/github", "/webhooks/githubx", "/webhooks/github"])
            #expect(door.gate.calls == 0)
        }
    }

    @Test func aRepositoryNameWithAControlCharacterIsRefusedNotStored() async throws {
        try await withDoor { door in
            let text = String(decoding: door.push, as: UTF8.self)
            for name in [#"Codertocat/Hello\u0000World"#, #"Codertocat/Hello\u001b[2JWorld"#] {
                let body = Array(
                    text.replacingOccurrences(of: #""full_name": "Codertocat/Hello-World""#, with: #""full_name": "\#(name)""#).utf8)
                #expect(body != door.push)
                // Not a push (a push's name is checked as it is decoded): an event that is
                // only recorded, with the repository it names.
                try await door.send(door.delivery("d-\(name.count)", extra: [HTTPField.Name("X-GitHub-Event")!: "issues"], body: body))
                let answer = try await door.answer()
                #expect(answer.status == .badRequest && answer.body.contains("repository.full_name"), "\(answer.status) \(answer.body)")
            }
            #expect(door.gate.calls == 0, "something was stored")
        }
    }

    // MARK: - The door on a test channel

    static func head(_ method: HTTPRequest.Method, _ path: String, _ fields: HTTPFields) -> HTTPRequest {
        HTTPRequest(method: method, scheme: nil, authority: "test", path: path, headerFields: fields)
    }

    final class Door: Sendable {
        let channel: NIOAsyncTestingChannel
        let gate: SyncGate
        let router: RouterStandIn
        let reads: ReadCounter
        let push: [UInt8]

        init(channel: NIOAsyncTestingChannel, gate: SyncGate, router: RouterStandIn, reads: ReadCounter, push: [UInt8]) {
            self.channel = channel
            self.gate = gate
            self.router = router
            self.reads = reads
            self.push = push
        }

        /// What the router does when it wants more: a read, down the pipeline.
        func askToRead() async throws {
            try await channel.testingEventLoop.executeInContext { self.router.read() }
        }

        func delivery(_ id: String, signed: Bool = true, extra: HTTPFields = [:], body: [UInt8]? = nil) -> [HTTPRequestPart] {
            let push = body ?? self.push
            var fields: HTTPFields = [
                .contentType: "application/json", .contentLength: "\(push.count)", HTTPField.Name("X-GitHub-Event")!: "push",
                HTTPField.Name("X-GitHub-Delivery")!: id,
            ]
            if signed {
                fields[HTTPField.Name("X-Hub-Signature-256")!] = WebhookSignature.sha256Header(body: push, secret: Array("s3cret".utf8))
            }
            for field in extra { fields[field.name] = field.value }
            return [.head(WebhookFastPathTests.head(.post, "/webhooks/github", fields)), .body(ByteBuffer(bytes: push)), .end(nil)]
        }

        func get(_ path: String) -> [HTTPRequestPart] { [.head(WebhookFastPathTests.head(.get, path, [:])), .end(nil)] }

        func send(_ parts: [HTTPRequestPart]) async throws {
            for part in parts { try await channel.writeInbound(part) }
            try await run()
        }

        /// Runs what the loop has queued (a deferred flush, a store's answer).
        func run() async throws {
            await channel.testingEventLoop.run()
        }

        /// The next whole answer written, waiting for it.
        func answer() async throws -> (status: HTTPResponse.Status, fields: HTTPFields, body: String) {
            guard case .head(let head) = try await next() else { throw HarnessError("no answer head") }
            var body = ""
            while true {
                switch try await next() {
                case .body(let buffer): body += String(buffer: buffer)
                case .end: return (head.status, head.headerFields, body)
                case .head: throw HarnessError("a head inside an answer")
                }
            }
        }

        private func next() async throws -> HTTPResponsePart {
            let deadline = ContinuousClock.now + .seconds(20)
            while ContinuousClock.now < deadline {
                try await run()
                if let part = try await channel.readOutbound(as: HTTPResponsePart.self) { return part }
                try await Task.sleep(for: .milliseconds(5))
            }
            throw HarnessError("no answer written in 20 s")
        }

        func waitForSyncs(blocked: Int) async throws {
            try await waitUntil { self.gate.blocked >= blocked }
        }

        func waitUntil(_ condition: @Sendable () -> Bool) async throws {
            let deadline = ContinuousClock.now + .seconds(20)
            while !condition() {
                guard ContinuousClock.now < deadline else { throw HarnessError("condition not met in 20 s") }
                try await run()
                try await Task.sleep(for: .milliseconds(5))
            }
        }
    }

    /// Counts the reads that reach the socket.
    final class ReadCounter: ChannelOutboundHandler, @unchecked Sendable {   // counted on the channel's loop
        typealias OutboundIn = Any
        private let lock = NSLock()
        private var reads = 0
        var count: Int { lock.withLock { reads } }

        func read(context: ChannelHandlerContext) {
            lock.withLock { reads += 1 }
            context.read()
        }
    }

    /// Stands in for Hummingbird: records the heads and quiesce events it is given and
    /// answers when told.
    final class RouterStandIn: ChannelDuplexHandler, @unchecked Sendable {   // used on the channel's loop
        typealias InboundIn = HTTPRequestPart
        typealias OutboundIn = HTTPResponsePart
        typealias OutboundOut = HTTPResponsePart

        private let lock = NSLock()
        private var seen: [String] = []
        private var given: [String] = []
        private var quiesces = 0
        private var context: ChannelHandlerContext?

        var heads: [String] { lock.withLock { seen } }
        /// Every part it was given: "head /path", "body", "end".
        var parts: [String] { lock.withLock { given } }
        var quiesced: Int { lock.withLock { quiesces } }

        func handlerAdded(context: ChannelHandlerContext) { self.context = context }

        func read() { context?.read() }

        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            let part = unwrapInboundIn(data)
            lock.withLock {
                switch part {
                case .head(let head):
                    seen.append(head.path ?? "")
                    given.append("head \(head.path ?? "")")
                case .body: given.append("body")
                case .end: given.append("end")
                }
            }
        }

        func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
            if event is ChannelShouldQuiesceEvent { lock.withLock { quiesces += 1 } }
        }

        func answer(_ channel: NIOAsyncTestingChannel, _ status: HTTPResponse.Status) async throws {
            try await channel.testingEventLoop.executeInContext {
                guard let context = self.context else { return }
                context.write(self.wrapOutboundOut(.head(HTTPResponse(status: status))), promise: nil)
                context.writeAndFlush(self.wrapOutboundOut(.end(nil)), promise: nil)
            }
        }
    }

    /// The route on a real store in a temporary directory, its log sync at a gate.
    func withDoor(_ body: (Door) async throws -> Void) async throws {
        let directory = try TestPaths.temporaryDirectory("fast-path")
        defer { TestPaths.removeTemporaryDirectory(directory) }
        let yaml = """
            state_dir: \(directory.path)
            webhook_secrets: [env:HOOK]        # an organization's: deliveries of other repositories verify too
            repositories:
              - name: Codertocat/Hello-World
                webhook_secrets: [env:HOOK]
            """
        let config = LiveConfig(
            try ResolvedConfig(config: ConfigParser.parse(yaml: yaml), source: DictionarySecretSource(values: ["env:HOOK": "s3cret"])))
        let gate = SyncGate()
        let store = SQLiteBuildStore(database: try SQLiteDatabase(path: directory.path + "/slipway.sqlite", sync: gate.sync))
        var logger = Logger(label: "test")
        logger.logLevel = .warning
        let runner = BuildRunner(store: store, config: config, toolEnvironment: [:], logger: logger, planSteps: { _, _ in [] })
        let queue = BuildQueue(store: store, config: config, runner: runner, logger: logger)
        let route = WebhookRoute(health: store, intake: BuildIntake(store: store, config: config, queue: queue), config: config)
        let router = RouterStandIn()
        let reads = ReadCounter()
        let doorLogger = logger
        let channel = try await NIOAsyncTestingChannel { channel in
            // The door is made on the channel's loop, where it lives (it is not Sendable).
            try channel.pipeline.syncOperations.addHandlers([reads, WebhookFastPath(route: route, logger: doorLogger), router])
        }
        try await channel.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 8080))
        let door = Door(
            channel: channel, gate: gate, router: router, reads: reads,
            push: try TestPaths.fixture("github-webhooks/push/with-new-branch.payload.json"))
        defer { gate.release() }
        try await body(door)
        _ = try? await channel.finish()
    }
}

@Suite struct HTTPDateTests {
    @Test func theDateHeaderIsRFC9110sFormat() {
        #expect(HTTPDate.format(0) == "Thu, 01 Jan 1970 00:00:00 GMT")
        #expect(HTTPDate.format(1_796_184_306) == "Wed, 02 Dec 2026 04:05:06 GMT")
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.timeZone = TimeZone(identifier: "GMT")
        formatter.dateFormat = "EEE, dd MMM yyyy HH:mm:ss 'GMT'"
        for _ in 0..<200 {
            let second = Int.random(in: 0..<4_102_444_800)
            #expect(HTTPDate.format(second) == formatter.string(from: Date(timeIntervalSince1970: TimeInterval(second))))
        }
    }
}
