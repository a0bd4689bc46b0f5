import ArgumentParser
import AsyncHTTPClient
import Foundation
import SlipwayCore

/// `slipway builds`: recent builds, newest first.
struct BuildsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "builds", abstract: "List builds, newest first.")

    @OptionGroup var server: ServerOptions
    @OptionGroup var output: OutputOptions
    @Option(help: "Only this repository (owner/name).") var repository: String?
    @Option(help: "Only builds in this state (queued, running, success, failure, error, canceled, superseded).") var state: String?
    @Option(help: "How many (1 to 200).") var limit = 20
    @Option(help: "Only builds older than this id (the next page).") var before: Int64?

    func run() async throws {
        try await reportingFailures {
            var query = ["limit=\(limit)"]
            if let repository { query.append("repository=\(Self.encode(repository))") }
            if let state { query.append("state=\(Self.encode(state))") }
            if let before { query.append("before=\(before)") }
            let client = try server.client()
            let data = try await client.send(.GET, "/api/v1/builds?" + query.joined(separator: "&"))
            if output.json { return print(data.prettyJSON, terminator: "") }
            let list = try client.decode(BuildList.self, from: data, "GET /api/v1/builds")
            var table = TextTable(header: ["ID", "REPOSITORY", "BRANCH", "SHA", "STATE", "TRIGGER", "CREATED", "DURATION", "MODEL"])
            for build in list.builds {
                table.rows.append([
                    String(build.id), shown(build.repository), shown(BuildText.branch(build.ref)), shown(BuildText.short(build.sha)),
                    Style.state(shown(build.state)), shown(build.trigger), BuildText.time(build.createdAt),
                    BuildText.duration(from: build.startedAt, to: build.finishedAt), shown(build.model?.version ?? "-"),
                ])
            }
            print(table.render(), terminator: "")
            if let next = list.nextBefore { print("more: slipway builds --before \(next)") }
        }
    }

    static func encode(_ value: String) -> String {
        value.addingPercentEncoding(withAllowedCharacters: .alphanumerics.union(.init(charactersIn: "-._~/"))) ?? value
    }
}

/// `slipway show ID`: one build with its steps and provenance.
struct ShowCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "show", abstract: "Show a build: steps, timings, code/model/image provenance.")

    @OptionGroup var server: ServerOptions
    @OptionGroup var output: OutputOptions
    @Argument(help: "Build id.") var id: Int64

    func run() async throws {
        try await reportingFailures {
            let client = try server.client()
            let data = try await client.send(.GET, "/api/v1/builds/\(id)")
            if output.json { return print(data.prettyJSON, terminator: "") }
            let build = try client.decode(BuildJSON.self, from: data, "GET /api/v1/builds/\(id)")
            print(Self.describe(build), terminator: "")
        }
    }

    static func describe(_ build: BuildJSON) -> String {
        var fields: [(String, String)] = [
            ("build", "#\(build.id) \(Style.state(shown(build.state)))\(build.reason.map { ": \(shown($0))" } ?? "")"),
            ("repository", shown(build.repository)),
            ("ref", shown(build.ref)),
            ("commit", shown(build.sha)),
            ("trigger", shown(build.trigger + (build.deliveryID.map { " (delivery \($0))" } ?? ""))),
            ("created", BuildText.time(build.createdAt)),
            ("started", BuildText.time(build.startedAt)),
            ("finished", BuildText.time(build.finishedAt)),
            ("duration", BuildText.duration(from: build.startedAt, to: build.finishedAt)),
            ("attempts", String(build.attempts)),
        ]
        if let model = build.model {
            fields.append(("model", shown("\(model.source) version \(model.version ?? "-")")))
            fields.append(("model sha256", shown(model.sha256)))
        }
        if let image = build.image {
            fields.append(("image", shown(image.name)))
            fields.append(("tags", shown(image.tags.joined(separator: ", "))))
            fields.append(("digest", shown(image.digest ?? "-")))
        }
        let width = fields.map(\.0.count).max() ?? 0
        var text = fields.map { $0.0.padding(toLength: width, withPad: " ", startingAt: 0) + "  " + $0.1 }.joined(separator: "\n") + "\n"
        if let steps = build.steps, !steps.isEmpty {
            var table = TextTable(header: ["STEP", "ATTEMPT", "STATE", "EXIT", "DURATION", "DETAIL"])
            for step in steps {
                table.rows.append([
                    shown(step.name), String(step.attempt), Style.state(shown(step.state)), step.exitCode.map(String.init) ?? "-",
                    BuildText.duration(from: step.startedAt, to: step.finishedAt), shown(step.detail ?? ""),
                ])
            }
            text += "\n" + table.render()
        }
        return text
    }
}

/// `slipway logs ID [-f]`: the build log; with -f, followed until the build ends.
struct LogsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "logs", abstract: "Print a build's log; -f follows it until the build ends (exit 5 if it did not succeed).")

    @OptionGroup var server: ServerOptions
    @Argument(help: "Build id.") var id: Int64
    @Flag(name: [.short, .customLong("follow")], help: "Stream the log as it is written, until the build ends.") var follow = false
    @Option(help: "Only the last N lines.") var tail: Int?
    @Flag(help: "The log's bytes unchanged (by default, terminal control sequences other than colours are shown escaped).") var raw = false

    func run() async throws {
        try await reportingFailures {
            let client = try server.client()
            if follow {
                try await Self.follow(id, client: client, raw: raw)
            } else {
                let query = tail.map { "?tail=\($0)" } ?? ""
                writeLog(try await client.send(.GET, "/api/v1/builds/\(id)/log\(query)"), raw: raw)
            }
        }
    }

    /// Streams the log to stdout as it arrives, then checks how the build ended.
    static func follow(_ id: Int64, client: APIClient, raw: Bool = false) async throws {
        let response = try await client.open(client.request(.GET, "/api/v1/builds/\(id)/log?follow=true"), timeout: .hours(24 * 7))
        var filter = TerminalLogFilter()
        do {
            for try await chunk in response.body { writeOut(raw ? Array(chunk.readableBytesView) : filter.filter(chunk.readableBytesView)) }
            writeOut(filter.finish())
        } catch {
            throw CLIFailure(.unavailable, "log stream of build \(id) broke off: \(error)")
        }
        let build = try await client.decode(BuildJSON.self, .GET, "/api/v1/builds/\(id)")
        guard ["queued", "running"].contains(build.state) == false else {
            throw CLIFailure(
                .unavailable, "log stream of build \(id) ended while the build is \(build.state) (the daemon stopped?); follow it again")
        }
        guard build.state == "success" else {
            throw CLIFailure(.buildDidNotSucceed, "build \(id) ended \(build.state)\(build.reason.map { ": \($0)" } ?? "")")
        }
    }
}

/// `slipway rebuild REPO [--ref REF | --sha SHA]` or `slipway rebuild --build ID`.
struct RebuildCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "rebuild", abstract: "Queue a build: of a repository's ref head or commit, or again of an existing build.")

    @OptionGroup var server: ServerOptions
    @OptionGroup var output: OutputOptions
    @Argument(help: "Repository (owner/name), as configured.") var repository: String?
    @Option(help: "Branch or ref (default: the remote's HEAD); its head is resolved with git ls-remote.") var ref: String?
    @Option(help: "Commit to build (40 or 64 hex digits).") var sha: String?
    @Option(help: "Rebuild the commit of this build.") var build: Int64?
    @Flag(name: [.short, .customLong("follow")], help: "Then follow the new build's log.") var follow = false

    func validate() throws {
        switch (repository, build) {
        case (nil, nil): throw ValidationError("give a repository (owner/name) or --build ID")
        case (.some, .some): throw ValidationError("give either a repository or --build, not both")
        case (nil, .some) where ref != nil || sha != nil: throw ValidationError("--ref and --sha go with a repository, not with --build")
        default: break
        }
    }

    func run() async throws {
        try await reportingFailures {
            let client = try server.client()
            let data: Data
            if let build {
                data = try await client.send(.POST, "/api/v1/builds/\(build)/rebuild")
            } else {
                var body: [String: Any] = ["repository": repository ?? ""]
                if let ref { body["ref"] = ref }
                if let sha { body["sha"] = sha }
                data = try await client.send(.POST, "/api/v1/builds", json: body)
            }
            let queued = try client.decode(BuildJSON.self, from: data, "rebuild")
            if output.json {
                print(data.prettyJSON, terminator: "")
            } else {
                print("build #\(queued.id) \(queued.state): \(queued.repository) \(queued.ref) at \(BuildText.short(queued.sha))")
            }
            if follow { try await LogsCommand.follow(queued.id, client: client) }
        }
    }
}

/// `slipway cancel ID`.
struct CancelCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "cancel", abstract: "Cancel a queued or running build.")

    @OptionGroup var server: ServerOptions
    @Argument(help: "Build id.") var id: Int64

    func run() async throws {
        try await reportingFailures {
            _ = try await server.client().send(.POST, "/api/v1/builds/\(id)/cancel")
            print("cancel of build #\(id) requested")
        }
    }
}
