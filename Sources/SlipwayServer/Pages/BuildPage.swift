import SlipwayCore
import SlipwayStore

/// `/builds/{id}`: the build's state, its steps with timings and exit codes, where its
/// code, model and image came from, and its log — live through server-sent events while
/// it runs (the one part that needs JavaScript; without it the page shows the log so far).
struct BuildPage {
    /// The log as rendered into the page: its end, when it is long, and the file offset
    /// the live stream continues from.
    struct LogExcerpt {
        let text: String
        let offset: UInt64
        let omittedBytes: UInt64
    }

    let build: Build
    let steps: [StepRecord]
    let log: LogExcerpt
    /// The build has a signed attestation (`/builds/{id}/provenance.json`).
    var attested = false

    func render(viewer: PageViewer) -> String {
        let live = !build.state.isTerminal
        let omitted =
            log.omittedBytes > 0
            ? "<p class=\"note\">The first \(log.omittedBytes) bytes are not shown: <a href=\"/builds/\(build.id)/log.txt\">whole log</a>.</p>"
            : ""
        let body = """
            <h1>Build #\(build.id) \(HTML.state(build.state.rawValue, id: "state"))</h1>
            \(summary)
            <h2>Steps</h2>
            \(stepsTable)
            <h2>Provenance</h2>
            \(provenance)
            <h2>Log <a class="note" href="/builds/\(build.id)/log.txt">raw</a></h2>
            \(omitted)<pre id="log" data-live="\(live)" data-events="/builds/\(build.id)/events?offset=\(log.offset)">\(HTML.escape(log.text))</pre>
            """
        return HTML.page(title: "Build #\(build.id) \(build.repository)", viewer: viewer, body: body)
    }

    private var summary: String {
        var fields: [(String, String)] = [
            ("Repository", HTML.escape(build.repository)),
            ("Branch", HTML.escape(BuildText.branch(build.ref))),
            (
                "Trigger",
                HTML.escape(build.trigger.rawValue)
                    + (build.deliveryID.map { " · delivery <span class=\"mono\">\(HTML.escape($0))</span>" } ?? "")
            ),
            ("Created", HTML.escape(BuildText.time(build.createdAt))),
            ("Duration", HTML.escape(BuildText.duration(from: build.startedAt, to: build.finishedAt))),
            ("Attempts", String(build.attempts)),
        ]
        if let reason = build.reason { fields.insert(("Reason", HTML.escape(reason)), at: 0) }
        return "<dl id=\"summary\">" + fields.map { "<dt>\($0.0)</dt><dd>\($0.1)</dd>" }.joined() + "</dl>"
    }

    private var stepsTable: String {
        var rows = steps.map { step in
            """
            <tr><td>\(HTML.escape(step.name))</td><td>\(step.attempt)</td><td>\(HTML.state(step.state.rawValue))</td>\
            <td class="mono">\(step.exitCode.map(String.init) ?? "-")</td>\
            <td>\(HTML.escape(BuildText.time(step.startedAt)))</td>\
            <td>\(HTML.escape(BuildText.duration(from: step.startedAt, to: step.finishedAt)))</td>\
            <td>\(HTML.escape(step.detail ?? ""))</td></tr>
            """
        }.joined(separator: "\n")
        if steps.isEmpty { rows = "<tr><td colspan=\"7\" class=\"note\">No step has started.</td></tr>" }
        return """
            <table id="steps">
            <thead><tr><th>Step</th><th>Attempt</th><th>State</th><th>Exit</th><th>Started</th><th>Duration</th><th>Detail</th></tr></thead>
            <tbody>
            \(rows)
            </tbody>
            </table>
            """
    }

    private var provenance: String {
        var fields: [(String, String)] = [
            ("Code", "\(HTML.escape(build.repository)) \(HTML.escape(build.ref)) at <span class=\"mono\">\(build.sha.hex)</span>")
        ]
        if let model = build.model {
            fields.append(
                ("Model", "\(HTML.escape(model.source)) version <span class=\"mono\">\(HTML.escape(model.version ?? "-"))</span>"))
            fields.append(("Model sha256", "<span class=\"mono\">\(HTML.escape(model.sha256))</span>"))
        } else {
            fields.append(("Model", "<span class=\"note\">none pulled</span>"))
        }
        if let image = build.image {
            fields.append(("Image", "<span class=\"mono\">\(HTML.escape(image.name))</span>"))
            fields.append(("Tags", "<span class=\"mono\">\(HTML.escape(image.tags.joined(separator: ", ")))</span>"))
            fields.append(("Digest", "<span class=\"mono\">\(HTML.escape(image.digest ?? "not pushed"))</span>"))
            if let uploaded = image.uploadedBytes { fields.append(("Uploaded", HTML.escape(ByteSizeText.format(uploaded)))) }
            if attested {
                fields.append(
                    ("Attestation", "<a href=\"/builds/\(build.id)/provenance.json\">signed SLSA provenance (DSSE envelope)</a>"))
            }
        } else {
            fields.append(("Image", "<span class=\"note\">none built</span>"))
        }
        return "<dl id=\"provenance\">" + fields.map { "<dt>\($0.0)</dt><dd>\($0.1)</dd>" }.joined() + "</dl>"
    }
}
