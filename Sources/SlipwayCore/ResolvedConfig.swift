/// A validated config together with the values of every secret it references.
///
/// Resolving happens once per load (start-up and SIGHUP), so a missing variable or an
/// unreadable file is reported then, with the key path that references it, and never in
/// the middle of a delivery.
public struct ResolvedConfig: Sendable {
    public let config: Config
    private let values: [SecretReference: String]
    /// For each repository (by lower-cased name): its webhook secrets then the org-level
    /// ones, as bytes; made once per load, not at each delivery.
    private let webhookSecretsByRepository: [String: [[UInt8]]]
    private let orgWebhookSecrets: [[UInt8]]
    private let everyWebhookSecret: [[UInt8]]
    /// `provenance.signing_key`, read (nil without `provenance`).
    public let provenanceSigningKey: ProvenanceSigningKey?
    /// Each repository's `deploy.require_provenance.key`, read, by lower-cased name.
    private let provenanceGateKeys: [String: ProvenanceVerificationKey]

    /// The key a repository's images must be attested by before they are deployed.
    public func provenanceGateKey(forRepository name: String) -> ProvenanceVerificationKey? { provenanceGateKeys[name.lowercased()] }

    public init(config: Config, source: some SecretSource, origin: String = "config") throws(ConfigError) {
        var values: [SecretReference: String] = [:]
        var problems: [ConfigProblem] = []
        for (path, reference) in config.secretReferences() {
            switch source.value(of: reference) {
            case .success(let value):
                if value.isEmpty {
                    problems.append(ConfigProblem(path: path, message: "\(reference) is empty"))
                } else {
                    values[reference] = value
                }
            case .failure(let error):
                problems.append(ConfigProblem(path: path, message: error.description))
            }
        }
        // The provenance keys are read now, so a wrong key is named at start-up and by
        // --check-config, not at the first build or deployment.
        var signingKey: ProvenanceSigningKey?
        if let provenance = config.provenance, let pem = values[provenance.signingKey] {
            do {
                signingKey = try ProvenanceSigningKey(privateKeyPEM: pem)
            } catch {
                problems.append(ConfigProblem(path: "provenance.signing_key", message: "\(provenance.signingKey): \(error)"))
            }
        }
        var gateKeys: [String: ProvenanceVerificationKey] = [:]
        for (index, repository) in config.repositories.enumerated() {
            guard let reference = repository.deploy?.requireProvenance, let pem = values[reference] else { continue }
            do {
                gateKeys[repository.name.lowercased()] = try ProvenanceVerificationKey(publicKeyPEM: pem)
            } catch {
                problems.append(
                    ConfigProblem(path: "repositories[\(index)].deploy.require_provenance.key", message: "\(reference): \(error)"))
            }
        }
        guard problems.isEmpty else { throw ConfigError(source: origin, problems: problems) }
        self.config = config
        self.provenanceSigningKey = signingKey
        self.provenanceGateKeys = gateKeys
        self.values = values
        func bytes(_ references: [SecretReference]) -> [[UInt8]] { references.compactMap { values[$0].map { Array($0.utf8) } } }
        var byRepository: [String: [[UInt8]]] = [:]
        for repository in config.repositories where byRepository[repository.name.lowercased()] == nil {
            byRepository[repository.name.lowercased()] = bytes(repository.webhookSecrets + config.webhookSecrets)
        }
        webhookSecretsByRepository = byRepository
        orgWebhookSecrets = bytes(config.webhookSecrets)
        everyWebhookSecret = bytes(config.webhookSecrets + config.repositories.flatMap(\.webhookSecrets))
    }

    public func secret(_ reference: SecretReference) -> String? { values[reference] }

    /// The secrets a delivery's signature is checked against: the named repository's plus
    /// the org-level ones; every configured secret when the body names no repository
    /// (so a signed but unparseable body can still be told apart from an unsigned one).
    public func webhookSecrets(forRepository name: String?) -> [[UInt8]] {
        guard let name else { return everyWebhookSecret }
        return webhookSecretsByRepository[name.lowercased()] ?? orgWebhookSecrets
    }

    /// Every secret value and the forms it can appear in (see `SecretVariants`), longest
    /// first, for masking build logs.
    public var secretValues: [String] {
        Array(Set(values.values.flatMap(SecretVariants.of))).sorted { $0.count > $1.count }
    }

    /// The name of the API token that matches `presented`, compared in constant time
    /// against every configured token.
    public func apiTokenName(matching presented: String) -> String? {
        let presentedBytes = Array(presented.utf8)
        var match: String?
        for token in config.api.tokens {
            guard let value = values[token.token] else { continue }
            if Crypto.constantTimeEquals(Crypto.sha256(Array(value.utf8)), Crypto.sha256(presentedBytes)) {
                match = token.name
            }
        }
        return match
    }

    /// The configured value of the API token called `name` (for page sessions).
    public func apiTokenValue(named name: String) -> String? {
        config.api.tokens.first { $0.name == name }.flatMap { values[$0.token] }
    }
}

extension Config {
    /// Every secret reference with the key path it is written at.
    public func secretReferences() -> [(path: String, reference: SecretReference)] {
        var found: [(String, SecretReference)] = []
        // Looked up for PostgreSQL only: a SPEC-shaped config names it beside `sqlite`.
        if case .postgres = database, let databasePassword { found.append(("database_password", databasePassword)) }
        for (index, token) in api.tokens.enumerated() { found.append(("api.tokens[\(index)].token", token.token)) }
        if let github {
            switch github.auth {
            case .token(let reference): found.append(("github.token", reference))
            case .app(_, _, let key): found.append(("github.app.private_key", key))
            }
        }
        for (index, reference) in webhookSecrets.enumerated() { found.append(("webhook_secrets[\(index)]", reference)) }
        if let provenance { found.append(("provenance.signing_key", provenance.signingKey)) }
        for (r, repository) in repositories.enumerated() {
            let base = "repositories[\(r)]"
            for (index, reference) in repository.webhookSecrets.enumerated() {
                found.append(("\(base).webhook_secrets[\(index)]", reference))
            }
            if let model = repository.model {
                let optional: [(String, SecretReference?)] = [
                    ("model.s3.access_key_id", model.s3?.accessKeyID),
                    ("model.s3.secret_access_key", model.s3?.secretAccessKey),
                    ("model.s3.session_token", model.s3?.sessionToken),
                    ("model.azure.account_key", model.azure?.accountKey),
                    ("model.azure.sas_token", model.azure?.sasToken),
                    ("model.bearer_token", model.bearerToken),
                ]
                for case (let path, let reference?) in optional { found.append(("\(base).\(path)", reference)) }
            }
            switch repository.cloneAuth {
            case .token(let reference, _): found.append(("\(base).clone_auth.token", reference))
            case .sshKey(let reference): found.append(("\(base).clone_auth.ssh_key", reference))
            case nil: break
            }
            if let auth = repository.image?.registryAuth { found.append(("\(base).image.registry_auth", auth)) }
            if let kubeconfig = repository.deploy?.kubeconfig { found.append(("\(base).deploy.kubeconfig", kubeconfig)) }
            if let key = repository.deploy?.requireProvenance { found.append(("\(base).deploy.require_provenance.key", key)) }
        }
        return found
    }
}

/// Printing a resolved config (a log line, `dump`, a debugger) never shows a secret value.
extension ResolvedConfig: CustomStringConvertible, CustomReflectable {
    public var description: String { "ResolvedConfig(\(config.repositories.count) repositories, \(values.count) secrets: ***)" }
    public var customMirror: Mirror { Mirror(self, children: ["config": config]) }
}
