/// Keys of the SPEC's contract that belong to features this version does not run yet
/// (signed provenance). They are read and
/// type-checked like any key, so a SPEC-shaped config parses; `ConfigLoader` then
/// refuses the ones that would change what the daemon does, naming them, instead of
/// ignoring them.
public struct LaterSettings: Sendable, Equatable {
    /// `provenance`: present or not.
    public var provenance = false

    public init() {}

    static func read(_ fields: YAMLFields) -> LaterSettings {
        var settings = LaterSettings()
        if let provenance = fields.child("provenance") {
            _ = provenance.secret("signing_key", required: true)
            _ = provenance.string("key_id")
            provenance.finish()
            settings.provenance = true
        }
        return settings
    }

    /// `deploy.require_provenance: {key: file:PUBKEY.pem}` (or null).
    static func readRequireProvenance(_ deploy: YAMLFields) -> Bool {
        guard let gate = deploy.child("require_provenance") else { return false }
        _ = gate.secret("key", required: true)
        gate.finish()
        return true
    }
}
