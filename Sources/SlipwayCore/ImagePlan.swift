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

/// The image's labels as one `LABEL` instruction appended to a copy of the repository's
/// Dockerfile. buildah given `--label` flags with `--layers` adds one `LABEL` step per
/// label, and commits each as an image: on vfs storage a copy of the whole root file
/// system per label. One instruction is one step. It applies to the last stage, as
/// `--label` does.
public enum DockerfileLabels {
    /// `dockerfile` with the instruction appended on a line of its own.
    public static func appended(to dockerfile: String, labels: [String: String]) -> String {
        guard !labels.isEmpty else { return dockerfile }
        let escape = escapeCharacter(of: dockerfile)
        let pairs = labels.sorted { $0.key < $1.key }.map { "\(quoted($0.key, escape))=\(quoted($0.value, escape))" }
        let separator = dockerfile.isEmpty || dockerfile.hasSuffix("\n") ? "" : "\n"
        return dockerfile + separator + "LABEL " + pairs.joined(separator: " ") + "\n"
    }

    /// The parser directive `# escape=` (before any instruction) or the default backslash.
    static func escapeCharacter(of dockerfile: String) -> Character {
        for line in dockerfile.split(omittingEmptySubsequences: false, whereSeparator: \.isNewline) {
            let text = line.trimmingCharacters(in: .whitespaces)
            guard text.hasPrefix("#") else { break }   // directives come first
            let directive = text.dropFirst().replacingOccurrences(of: " ", with: "").lowercased()
            if directive.hasPrefix("escape="), let character = directive.dropFirst("escape=".count).first { return character }
        }
        return "\\"
    }

    /// In double quotes, with the escape character before `"`, `$` and itself; control
    /// characters (a line break would end the instruction) become spaces.
    static func quoted(_ text: String, _ escape: Character) -> String {
        var result = "\""
        for character in text {
            if character == "\"" || character == "$" || character == escape {
                result.append(escape)
                result.append(character)
            } else if character.unicodeScalars.allSatisfy({ $0.properties.generalCategory == .control }) {
                result.append(" ")
            } else {
                result.append(character)
            }
        }
        return result + "\""
    }
}
