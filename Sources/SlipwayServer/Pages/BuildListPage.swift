import SlipwayCore
import SlipwayStore

/// `/`: recent builds, newest first: repository, branch, short sha, state in colour,
/// duration, model version; filters by repository and state; paged by `before`.
struct BuildListPage {
    let builds: [Build]
    let repositories: [String]
    let filter: BuildFilter
    let nextBefore: Int64?

    func render(viewer: PageViewer) -> String {
        var rows = ""
        for build in builds {
            rows += """
                <tr>
                <td><a href="/builds/\(build.id)">#\(build.id)</a></td>
                <td>\(HTML.escape(build.repository))</td>
                <td>\(HTML.escape(BuildText.branch(build.ref)))</td>
                <td class="mono" title="\(HTML.escape(build.sha.hex))">\(build.sha.short)</td>
                <td>\(HTML.state(build.state.rawValue))</td>
                <td>\(HTML.escape(build.trigger.rawValue))</td>
                <td>\(HTML.escape(BuildText.time(build.createdAt)))</td>
                <td>\(HTML.escape(BuildText.duration(from: build.startedAt, to: build.finishedAt)))</td>
                <td class="mono">\(HTML.escape(build.model?.version ?? "-"))</td>
                </tr>

                """
        }
        if builds.isEmpty { rows = "<tr><td colspan=\"9\" class=\"note\">No builds yet.</td></tr>" }
        var more = ""
        if let nextBefore {
            var query = "before=\(nextBefore)"
            if let repository = filter.repository { query += "&repository=\(HTML.query(repository))" }
            if let state = filter.state { query += "&state=\(state.rawValue)" }
            more = "<p><a href=\"/?\(HTML.escape(query))\">Older builds</a></p>"
        }
        let body = """
            <h1>Builds</h1>
            \(filters)
            <table id="builds">
            <thead><tr><th>Build</th><th>Repository</th><th>Branch</th><th>Commit</th><th>State</th><th>Trigger</th><th>Created</th><th>Duration</th><th>Model</th></tr></thead>
            <tbody>
            \(rows)
            </tbody>
            </table>
            \(more)
            """
        return HTML.page(title: "Builds", viewer: viewer, body: body)
    }

    private var filters: String {
        let repositoryOptions = ([""] + repositories).map { name in
            "<option value=\"\(HTML.escape(name))\"\(filter.repository == name ? " selected" : "")>\(name.isEmpty ? "all repositories" : HTML.escape(name))</option>"
        }.joined()
        let stateOptions = ([nil] + BuildState.allCases.map(Optional.some)).map { state in
            "<option value=\"\(state?.rawValue ?? "")\"\(filter.state == state ? " selected" : "")>\(state?.rawValue ?? "all states")</option>"
        }.joined()
        return """
            <form class="filters" method="get" action="/">
            <select name="repository">\(repositoryOptions)</select>
            <select name="state">\(stateOptions)</select>
            <button type="submit">Filter</button>
            </form>
            """
    }
}
