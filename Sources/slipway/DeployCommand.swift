import ArgumentParser
import Foundation
import SlipwayCore

/// `slipway deploy REPO [--build ID] [--wait]`: deploy a build's image (default: the
/// newest successful build of the repository) with the repository's release step.
struct DeployCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "deploy",
        abstract:
            "Deploy the newest successful build of a repository (or --build ID) to Kubernetes; --wait prints its log and exits 5 unless it succeeded."
    )

    @OptionGroup var server: ServerOptions
    @OptionGroup var output: OutputOptions
    @Argument(help: "Repository (owner/name), as configured.") var repository: String
    @Option(help: "Deploy this build's image instead of the newest successful one.") var build: Int64?
    @Flag(help: "Wait for the deployment to end, then print its log.") var wait = false

    func run() async throws {
        try await reportingFailures {
            let client = try server.client()
            var body: [String: Any] = ["repository": repository]
            if let build { body["build"] = build }
            let data = try await client.send(.POST, "/api/v1/deployments", json: body)
            var deployment = try client.decode(DeploymentJSON.self, from: data, "POST /api/v1/deployments")
            if output.json, !wait { return print(data.prettyJSON, terminator: "") }
            if !output.json { print(Self.line(deployment)) }
            guard wait else { return }
            while !(DeploymentState(rawValue: deployment.state)?.isTerminal ?? true) {
                try await Task.sleep(for: .milliseconds(500))
                deployment = try await client.decode(DeploymentJSON.self, .GET, "/api/v1/deployments/\(deployment.id)")
            }
            if output.json {
                print(try JSONEncoder().encode(deployment).prettyJSON, terminator: "")
            } else {
                writeLog(try await client.send(.GET, "/api/v1/deployments/\(deployment.id)/log"), raw: false)
                print(Self.line(deployment))
            }
            guard deployment.state == "success" || deployment.state == "skipped" else {
                throw CLIFailure(
                    .buildDidNotSucceed,
                    "deployment #\(deployment.id) ended \(deployment.state)\(deployment.reason.map { ": \($0)" } ?? "")")
            }
        }
    }

    static func line(_ deployment: DeploymentJSON) -> String {
        "deployment #\(deployment.id) \(Style.state(shown(deployment.state))): \(shown(deployment.repository)) build #\(deployment.build) \(shown(deployment.image))"
            + (deployment.reason.map { " (\(shown($0)))" } ?? "")
    }
}

/// `slipway deployments [--repository R]`: recent deployments, newest first.
struct DeploymentsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "deployments", abstract: "List deployments, newest first.")

    @OptionGroup var server: ServerOptions
    @OptionGroup var output: OutputOptions
    @Option(help: "Only this repository (owner/name).") var repository: String?
    @Option(help: "How many (1 to 200).") var limit = 20

    func run() async throws {
        try await reportingFailures {
            let query = "?limit=\(limit)" + (repository.map { "&repository=\(BuildsCommand.encode($0))" } ?? "")
            let client = try server.client()
            let data = try await client.send(.GET, "/api/v1/deployments\(query)")
            if output.json { return print(data.prettyJSON, terminator: "") }
            let list = try client.decode(DeploymentList.self, from: data, "GET /api/v1/deployments")
            var table = TextTable(header: ["ID", "REPOSITORY", "BUILD", "STATE", "TRIGGER", "BY", "CREATED", "DURATION", "IMAGE"])
            for deployment in list.deployments {
                table.rows.append([
                    String(deployment.id), shown(deployment.repository), "#\(deployment.build)", Style.state(shown(deployment.state)),
                    shown(deployment.trigger), shown(deployment.requestedBy), BuildText.time(deployment.createdAt),
                    BuildText.duration(from: deployment.startedAt, to: deployment.finishedAt), shown(deployment.image),
                ])
            }
            print(table.render(), terminator: "")
        }
    }
}
