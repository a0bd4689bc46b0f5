import Foundation

/// The tags and OCI labels of a build's image (SPEC "Builds"). Pure.
public enum ImagePlan {
    /// The `{branch}` value: the branch or tag name of the ref; of another ref, its last component.
    public static func refName(_ ref: String) -> String {
        let short = GitRefName.shortName(ref)
        return short != ref ? short : ref.split(separator: "/").last.map(String.init) ?? ref
    }

    /// Every template rendered, duplicates dropped, in order. A template naming
    /// `{model_version}` is skipped when the build has no model version.
    public static func tags(templates: [String], build: Build, model: ModelProvenance?) -> (tags: [String], skipped: [String]) {
        var values = ["sha": build.sha.hex, "short_sha": build.sha.short, "branch": refName(build.ref)]
        if let version = model?.version { values["model_version"] = version.trimmingCharacters(in: CharacterSet(charactersIn: "\"")) }
        var tags: [String] = []
        var skipped: [String] = []
        for template in templates {
            if template.contains("{model_version}"), values["model_version"] == nil {
                skipped.append(template)
                continue
            }
            let tag = TagTemplate.render(template, values: values)
            if !tags.contains(tag) { tags.append(tag) }
        }
        return (tags, skipped)
    }

    /// The OCI labels every image carries. `source` is the repository's web address.
    public static func labels(build: Build, repositoryURL: String, created: Date, model: ModelProvenance?) -> [String: String] {
        var labels = [
            "org.opencontainers.image.source": repositoryURL,
            "org.opencontainers.image.revision": build.sha.hex,
            "org.opencontainers.image.created": ISO8601DateFormatter().string(from: created),
            "org.opencontainers.image.ref.name": refName(build.ref),
            "ai.slipway.build": String(build.id),
        ]
        if let model {
            labels["ai.slipway.model.source"] = model.source
            labels["ai.slipway.model.sha256"] = model.sha256
            labels["ai.slipway.model.version"] = model.version ?? ""
        }
        return labels
    }

    /// `https://github.com/acme/app` from a clone URL (https or scp-like), else the URL itself.
    public static func repositoryURL(cloneURL: String?, repository: String) -> String {
        guard let cloneURL else { return "https://github.com/\(repository)" }
        var url = cloneURL
        if url.hasSuffix(".git") { url.removeLast(4) }
        if !url.contains("://"), let at = url.firstIndex(of: "@"), let colon = url.firstIndex(of: ":"), at < colon {
            url = "https://" + url[url.index(after: at)..<colon] + "/" + url[url.index(after: colon)...]
        }
        if let scheme = url.range(of: "://"), let at = url[scheme.upperBound...].firstIndex(of: "@"),
            at < (url[scheme.upperBound...].firstIndex(of: "/") ?? url.endIndex)
        {
            url = String(url[..<scheme.upperBound]) + url[url.index(after: at)...]
        }
        return url
    }
}
