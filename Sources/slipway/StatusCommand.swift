import ArgumentParser
import Foundation
import SlipwayCore

/// `slipway status [REPO]`: what runs where. The newest build of each branch and, for a
/// repository with a release step, the live image, the build and model it came from,
/// Slipway's last deployment, and drift. Exits 6 when an image has drifted.
struct StatusCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "status",
        abstract:
            "What runs where: the newest build of each branch and the image live in the cluster, its build, commit and model; exits 6 on drift."
    )

    @OptionGroup var server: ServerOptions
    @OptionGroup var output: OutputOptions
    @Argument(help: "Only this repository (owner/name).") var repository: String?

    func run() async throws {
        try await reportingFailures {
            let client = try server.client()
            let path =
                repository.map {
                    "/api/v1/repositories/"
                        + $0.split(separator: "/", maxSplits: 1).map { BuildsCommand.encode(String($0)) }.joined(separator: "/")
                }
                ?? "/api/v1/repositories"
            let data = try await client.send(.GET, path)
            let statuses =
                repository == nil
                ? try client.decode(RepositoryStatusList.self, from: data, "GET \(path)").repositories
                : [try client.decode(RepositoryStatus.self, from: data, "GET \(path)")]
            if output.json {
                print(data.prettyJSON, terminator: "")
            } else {
                print(Self.render(statuses), terminator: "")
            }
            let drifted = statuses.filter { $0.deploy?.drift != nil }.map(\.repository)
            if !drifted.isEmpty {
                throw CLIFailure(.drift, "the live image changed outside Slipway: \(drifted.map(shown).joined(separator: ", "))")
            }
        }
    }

    static func render(_ statuses: [RepositoryStatus]) -> String {
        var table = TextTable(header: ["REPOSITORY", "BRANCH", "BUILD", "STATE", "COMMIT", "TRIGGER", "CREATED", "MODEL"])
        for status in statuses {
            if status.branches.isEmpty { table.rows.append([shown(status.repository), "-", "-", "-", "-", "-", "-", "-"]) }
            for branch in status.branches {
                let build = branch.build
                table.rows.append([
                    shown(status.repository), shown(branch.branch), "#\(build.id)", Style.state(shown(build.state)),
                    BuildText.short(build.sha), shown(build.trigger), BuildText.time(build.createdAt), shown(build.model?.version ?? "-"),
                ])
            }
        }
        var text = table.render()
        for status in statuses {
            guard let deploy = status.deploy else { continue }
            text += "\n" + release(of: status.repository, deploy)
        }
        return text
    }

    static func release(of repository: String, _ deploy: DeployStatus) -> String {
        var lines = [
            "\(shown(repository)) live in \(shown(deploy.namespace))/deployment/\(shown(deploy.deployment)) (container \(shown(deploy.container))):"
        ]
        if let image = deploy.liveImage {
            lines.append("  image     \(shown(image))")
        } else {
            lines.append("  image     unknown: \(shown(deploy.liveError ?? "not read"))")
        }
        if let build = deploy.liveBuild {
            lines.append("  build     #\(build.id) of \(shown(BuildText.branch(build.ref))) at \(shown(build.sha))")
            if let model = build.model {
                lines.append("  model     \(shown(model.source)) version \(shown(model.version ?? "-")) sha256 \(shown(model.sha256))")
            }
        } else if deploy.liveImage != nil {
            lines.append("  build     none of Slipway's builds pushed this image")
        }
        if let last = deploy.lastDeployment {
            lines.append(
                "  deployed  deployment #\(last.id) of build #\(last.build), \(BuildText.time(last.finishedAt)), by \(shown(last.requestedBy))"
            )
        } else {
            lines.append("  deployed  not by Slipway yet")
        }
        if let drift = deploy.drift {
            lines.append("  DRIFT     \(shown(drift.description))")
            lines.append("            live     \(shown(drift.liveDigest ?? drift.liveImage))")
            lines.append("            deployed \(shown(drift.deployedDigest ?? drift.deployedImage))")
        }
        return lines.joined(separator: "\n") + "\n"
    }
}
