import ArgumentParser
import Foundation
import SlipwayCore

/// `slipway deploy REPO [--build ID]`: deploy a build's image (default: the newest
/// successful build of the repository) with the repository's release step.
struct DeployCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "deploy", abstract: "Deploy the newest successful build of a repository (or --build ID) to Kubernetes.")

    @OptionGroup var server: ServerOptions
    @OptionGroup var output: OutputOptions
    @Argument(help: "Repository (owner/name), as configured.") var repository: String
    @Option(help: "Deploy this build's image instead of the newest successful one.") var build: Int64?

    func run() async throws {
        try await reportingFailures {
            var body: [String: Any] = ["repository": repository]
            if let build { body["build"] = build }
            let data = try await server.client().send(.POST, "/api/v1/deployments", json: body)
            if output.json { return print(data.prettyJSON, terminator: "") }
            let fields = (try? JSONSerialization.jsonObject(with: data)) as? [String: Any] ?? [:]
            let id = fields["id"].map { "#\($0)" } ?? ""
            let state = (fields["state"] as? String).map(Style.state) ?? "requested"
            let of = fields["build"].map { " of build #\($0)" } ?? ""
            print("deployment \(id) \(state): \(repository)\(of)")
        }
    }
}
