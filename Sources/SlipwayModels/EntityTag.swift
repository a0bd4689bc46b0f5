/// A store's ETag as Slipway records it (the model's version in the API, the build record
/// and the image's `ai.slipway.model.version` label): without the quotes HTTP puts around
/// it, `c62f…`, not `"c62f…"`; a weak tag keeps its `W/`. Quoted again for `If-None-Match`
/// and `If-Match`.
enum EntityTag {
    static func version(fromHeader text: String) -> String {
        let weak = text.hasPrefix("W/")
        let tag = weak ? text.dropFirst(2) : Substring(text)
        guard tag.count >= 2, tag.first == "\"", tag.last == "\"" else { return text }
        return (weak ? "W/" : "") + tag.dropFirst().dropLast()
    }

    static func header(forVersion version: String) -> String {
        if version.hasPrefix("\"") || version.hasPrefix("W/\"") { return version }   // recorded before quotes were taken off
        return version.hasPrefix("W/") ? "W/\"\(version.dropFirst(2))\"" : "\"\(version)\""
    }
}
