import SlipwayCore

/// `/repositories`: what runs where. Per repository the newest build of each branch and,
/// with `deploy:`, the live image, the build and model it came from, Slipway's last
/// deployment, and drift (the live image changed outside Slipway) with both digests.
struct RepositoriesPage {
    let repositories: [RepositoryStatus]

    func render(viewer: PageViewer) -> String {
        let sections = repositories.map(section).joined(separator: "\n")
        return HTML.page(
            title: "Repositories", viewer: viewer,
            body: "<h1>What runs where</h1>\n<p><a href=\"/\">All builds</a></p>\n" + sections)
    }

    private func section(_ status: RepositoryStatus) -> String {
        var rows = status.branches.map { branch in
            let build = branch.build
            return """
                <tr><td>\(HTML.escape(branch.branch))</td><td><a href="/builds/\(build.id)">#\(build.id)</a></td>
                <td>\(HTML.state(build.state))</td><td class="mono" title="\(HTML.escape(build.sha))">\(HTML.escape(BuildText.short(build.sha)))</td>
                <td>\(HTML.escape(build.trigger))</td><td>\(HTML.escape(BuildText.time(build.createdAt)))</td>
                <td class="mono">\(HTML.escape(build.model?.version ?? "-"))</td></tr>
                """
        }.joined(separator: "\n")
        if status.branches.isEmpty { rows = "<tr><td colspan=\"7\" class=\"note\">No builds yet.</td></tr>" }
        return """
            <section class="repository" id="\(HTML.escape(status.repository))">
            <h2>\(HTML.escape(status.repository))</h2>
            <table>
            <thead><tr><th>Branch</th><th>Newest build</th><th>State</th><th>Commit</th><th>Trigger</th><th>Created</th><th>Model</th></tr></thead>
            <tbody>
            \(rows)
            </tbody>
            </table>
            \(status.deploy.map(release) ?? "<p class=\"note\">No deploy step configured.</p>")
            </section>
            """
    }

    private func release(_ deploy: DeployStatus) -> String {
        let target = "\(deploy.namespace)/deployment/\(deploy.deployment), container \(deploy.container)"
        var lines = ["<h3>Live in \(HTML.escape(target))</h3>"]
        if let image = deploy.liveImage {
            lines.append("<p>Image <span class=\"mono\">\(HTML.escape(image))</span></p>")
        } else {
            lines.append("<p class=\"error\">\(HTML.escape(deploy.liveError ?? "not read"))</p>")
        }
        if let build = deploy.liveBuild {
            let model =
                build.model.map {
                    "model \(HTML.escape($0.source)) version \(HTML.escape($0.version ?? "-")), sha256 \(HTML.escape($0.sha256))"
                } ?? "no model"
            lines.append(
                "<p>Built by <a href=\"/builds/\(build.id)\">#\(build.id)</a> from \(HTML.escape(BuildText.branch(build.ref))) at <span class=\"mono\">\(HTML.escape(build.sha))</span>; \(model)</p>"
            )
        } else if deploy.liveImage != nil {
            lines.append("<p class=\"note\">No Slipway build pushed this image.</p>")
        }
        if let last = deploy.lastDeployment {
            lines.append(
                "<p>Last deployed by Slipway: deployment #\(last.id) of build #\(last.build), \(HTML.escape(BuildText.time(last.finishedAt))), by \(HTML.escape(last.requestedBy))</p>"
            )
        } else {
            lines.append("<p class=\"note\">Slipway has not deployed this repository yet.</p>")
        }
        if let drift = deploy.drift {
            lines.append(
                "<p class=\"error drift\">Drift: \(HTML.escape(drift.description)). Live <span class=\"mono\">\(HTML.escape(drift.liveDigest ?? drift.liveImage))</span>, deployed <span class=\"mono\">\(HTML.escape(drift.deployedDigest ?? drift.deployedImage))</span></p>"
            )
        }
        return lines.joined(separator: "\n")
    }
}
