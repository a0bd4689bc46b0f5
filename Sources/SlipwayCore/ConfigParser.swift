import Yams

/// Turns the YAML config text into a validated `Config`, or a `ConfigError` listing every
/// problem with its key path. Pure: reading the file and resolving secrets happen elsewhere.
public enum ConfigParser {
    public static func parse(yaml: String, source: String = "config") throws(ConfigError) -> Config {
        let root: Node?
        do {
            // The basic resolver tags every plain scalar as a string; `YAMLFields` reads
            // numbers and booleans itself. Yams' default resolver matches each scalar
            // against NSRegularExpressions, which loads ICU's regex engine and its data
            // (over a megabyte of the idle daemon's memory) for a config of a few keys.
            root = try Yams.compose(yaml: yaml, .basic)
        } catch {
            throw ConfigError(source: source, problems: [ConfigProblem(path: "", message: "not valid YAML: \(yamlErrorSummary(error))")])
        }
        let problems = ProblemList()
        guard let root else {
            throw ConfigError(source: source, problems: [ConfigProblem(path: "", message: "the file is empty")])
        }
        let fields = YAMLFields(root, path: "", problems: problems)
        let config = readConfig(fields, problems: problems)
        fields.finish()
        guard problems.all.isEmpty, let config else {
            throw ConfigError(source: source, problems: problems.all)
        }
        return config
    }

    private static func yamlErrorSummary(_ error: any Error) -> String {
        // Yams errors quote the offending line; keep only the first line of the message.
        String(describing: error).split(separator: "\n").first.map(String.init) ?? "parse error"
    }

    private static func readConfig(_ fields: YAMLFields, problems: ProblemList) -> Config? {
        let server = readServer(fields.child("server"), problems: problems)
        let stateDirectory = fields.string("state_dir") ?? "./.slipway"
        let database = readDatabase(fields)
        let queueFields = fields.child("queue")
        let queue = readQueue(queueFields)
        let provenance = readProvenance(fields.child("provenance"))
        let databasePassword = fields.secret("database_password")
        queueFields?.finish()
        let api = readAPI(fields.child("api"), problems: problems)
        let github = fields.child("github").flatMap { readGitHub($0, problems: problems) }
        let webhookSecrets = fields.secretList("webhook_secrets") ?? []
        let logLevel = readLogLevel(fields, problems: problems)
        let sandbox = SandboxParser.readDefaults(fields)
        let reconcile = readReconcile(fields)
        var repositories: [RepositoryConfig] = []
        if let items = fields.sequence("repositories") {
            for (index, item) in items.enumerated() {
                let repoFields = YAMLFields(item, path: "repositories[\(index)]", problems: problems)
                if let repository = RepositoryParser.read(repoFields, problems: problems) {
                    if repositories.contains(where: { $0.name.lowercased() == repository.name.lowercased() }) {
                        problems.add("repositories[\(index)].name", "'\(repository.name)' is configured twice")
                    }
                    repositories.append(repository)
                }
                repoFields.finish()
            }
        }
        if webhookSecrets.isEmpty {
            for (index, repository) in repositories.enumerated() where repository.webhookSecrets.isEmpty {
                problems.add(
                    "repositories[\(index)].webhook_secrets",
                    "is required when no top-level webhook_secrets are set (deliveries could never be verified)")
            }
        }
        if !problems.all.isEmpty { return nil }
        var config = Config(
            server: server, stateDirectory: stateDirectory, database: database, databasePassword: databasePassword, queue: queue, api: api,
            github: github, webhookSecrets: webhookSecrets, repositories: repositories, logLevel: logLevel, sandbox: sandbox,
            provenance: provenance)
        if let reconcile { config.reconcile = reconcile }
        return config
    }

    private static func readProvenance(_ fields: YAMLFields?) -> ProvenanceConfig? {
        guard let fields else { return nil }
        defer { fields.finish() }
        let key = fields.secret("signing_key", required: true)
        var config = key.map { ProvenanceConfig(signingKey: $0) }
        if let keyID = fields.string("key_id") {
            if keyID.isEmpty || keyID.utf8.count > 128 || keyID.unicodeScalars.contains(where: { $0.value < 0x21 || $0.value == 0x7F }) {
                fields.report("key_id", "must be 1 to 128 printable characters without spaces")
            } else {
                config?.keyID = keyID
            }
        }
        return config
    }

    /// `reconcile:` (top level or a repository's): nil when absent, `.some(nil)` when null
    /// (off), else the interval. A listing every second at most.
    static func readReconcile(_ fields: YAMLFields) -> Duration?? {
        if fields.isExplicitlyNull("reconcile") { return .some(nil) }
        guard let interval = fields.duration("reconcile") else { return nil }   // absent, or reported
        guard interval >= .seconds(1) else {
            fields.report("reconcile", "must be 1s or more (or null: off), got \(DurationText.format(interval))")
            return nil
        }
        return interval
    }

    private static func readServer(_ fields: YAMLFields?, problems: ProblemList) -> ServerConfig {
        var server = ServerConfig()
        guard let fields else { return server }
        defer { fields.finish() }
        if let listen = fields.string("listen") {
            if let address = parseListen(listen) {
                server.listen = address
                if case .tcp(let host, let port) = address, !fields.has("public_url") {
                    server.publicURL = "http://\(host.contains(":") ? "[\(host)]" : host):\(port)"
                }
            } else {
                problems.add(fields.childPath("listen"), "must be host:port (port 1-65535) or unix:/path/to.sock, got '\(listen)'")
            }
        }
        if let url = fields.string("public_url") {
            if isHTTPURL(url) {
                server.publicURL = url.hasSuffix("/") ? String(url.dropLast()) : url
            } else {
                problems.add(fields.childPath("public_url"), "must be an http:// or https:// URL, got '\(url)'")
            }
        }
        if let max = fields.int("max_body_bytes", range: 1024...(1 << 30)) { server.maxBodyBytes = max }
        if let pages = fields.bool("public_pages") { server.publicPages = pages }
        if let max = fields.int("max_connections", range: 16...1_000_000) { server.maxConnections = max }
        if let timeout = fields.duration("header_timeout") { server.headerTimeout = timeout }
        if let timeout = fields.duration("body_timeout") { server.bodyTimeout = timeout }
        if let timeout = fields.duration("idle_timeout") { server.idleTimeout = timeout }
        return server
    }

    static func parseListen(_ text: String) -> ListenAddress? {
        if text.hasPrefix("unix:") {
            let path = String(text.dropFirst(5))
            return path.hasPrefix("/") || path.hasPrefix(".") ? .unix(path: path) : nil
        }
        let host: Substring
        let portText: Substring
        if text.hasPrefix("[") {
            guard let close = text.firstIndex(of: "]"), text[text.index(after: close)...].hasPrefix(":") else { return nil }
            host = text[text.index(after: text.startIndex)..<close]
            portText = text[text.index(close, offsetBy: 2)...]
        } else {
            guard let colon = text.lastIndex(of: ":") else { return nil }
            host = text[..<colon]
            portText = text[text.index(after: colon)...]
        }
        guard !host.isEmpty, let port = Int(portText), (1...65535).contains(port) else { return nil }
        return .tcp(host: String(host), port: port)
    }

    static func isHTTPURL(_ text: String) -> Bool {
        (text.hasPrefix("http://") || text.hasPrefix("https://")) && text.split(separator: "/").count >= 2
            && !text.contains(" ")
    }

    private static func readDatabase(_ fields: YAMLFields) -> DatabaseLocation {
        guard let text = fields.string("database"), text != "sqlite" else { return .sqlite }
        do {
            return .postgres(try PostgresLocation.parse(text))
        } catch {
            fields.report("database", error.description)
            return .sqlite
        }
    }

    private static func readQueue(_ fields: YAMLFields?) -> QueueConfig {
        var queue = QueueConfig()
        guard let fields else { return queue }
        if let workers = fields.int("workers", range: 1...256) { queue.workers = workers }
        if let cancel = fields.bool("cancel_superseded") { queue.cancelSuperseded = cancel }
        if let grace = fields.duration("shutdown_grace") { queue.shutdownGrace = grace }
        if let keep = fields.int("keep_workspaces", range: 0...10_000) { queue.keepWorkspaces = keep }
        if let lease = fields.duration("lease") {
            if lease < .seconds(3) || lease > .seconds(3600) {
                fields.report("lease", "must be from 3s to 1h (renewed every third of it), got \(DurationText.format(lease))")
            } else {
                queue.lease = lease
            }
        }
        return queue
    }

    private static func readAPI(_ fields: YAMLFields?, problems: ProblemList) -> APIConfig {
        var api = APIConfig()
        guard let fields else { return api }
        defer { fields.finish() }
        for (index, item) in (fields.sequence("tokens") ?? []).enumerated() {
            let tokenFields = YAMLFields(item, path: "\(fields.childPath("tokens"))[\(index)]", problems: problems)
            let name = tokenFields.string("name", required: true)
            let token = tokenFields.secret("token", required: true)
            tokenFields.finish()
            if let name, api.tokens.contains(where: { $0.name == name }) {
                problems.add(tokenFields.childPath("name"), "'\(name)' is used by another token")
            }
            if let name, let token { api.tokens.append(APIToken(name: name, token: token)) }
        }
        return api
    }

    private static func readGitHub(_ fields: YAMLFields, problems: ProblemList) -> GitHubConfig? {
        defer { fields.finish() }
        var apiURL = "https://api.github.com"
        if let url = fields.string("api_url") {
            if isHTTPURL(url) {
                apiURL = url.hasSuffix("/") ? String(url.dropLast()) : url
            } else {
                problems.add(fields.childPath("api_url"), "must be an http:// or https:// URL, got '\(url)'")
            }
        }
        let context = fields.string("status_context") ?? "slipway/build"
        let token = fields.secret("token")
        var app: GitHubConfig.Auth?
        if let appFields = fields.child("app") {
            let id = appFields.int("id", range: 1...Int.max)
            let installation = appFields.int("installation_id", range: 1...Int.max)
            let key = appFields.secret("private_key", required: true)
            if !appFields.has("id") { problems.add(appFields.childPath("id"), "is required") }
            if !appFields.has("installation_id") { problems.add(appFields.childPath("installation_id"), "is required") }
            appFields.finish()
            if let id, let installation, let key { app = .app(id: id, installationID: installation, privateKey: key) }
        }
        switch (token, app) {
        case (let token?, nil): return GitHubConfig(apiURL: apiURL, auth: .token(token), statusContext: context)
        case (nil, let app?): return GitHubConfig(apiURL: apiURL, auth: app, statusContext: context)
        case (.some, .some):
            problems.add(fields.path, "give either token or app, not both")
        case (nil, nil):
            if !fields.has("app") { problems.add(fields.path, "needs token: env:NAME or app: {id, installation_id, private_key}") }
        }
        return nil
    }

    private static func readLogLevel(_ fields: YAMLFields, problems: ProblemList) -> LogLevel {
        guard let text = fields.string("log_level") else { return .info }
        guard let level = LogLevel(rawValue: text) else {
            problems.add("log_level", "must be one of \(LogLevel.allCases.map(\.rawValue).joined(separator: ", ")), got '\(text)'")
            return .info
        }
        return level
    }
}

extension YAMLFields {
    func report(_ key: String, _ message: String) { problems.add(childPath(key), message) }
}
