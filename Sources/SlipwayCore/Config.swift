/// The daemon's configuration, as validated from YAML (see ConfigParser). Plain values:
/// secrets appear only as references, resolved separately by `ResolvedConfig`.
public struct Config: Sendable, Equatable {
    public var server: ServerConfig
    public var stateDirectory: String
    public var database: DatabaseLocation
    /// `database_password`: where PostgreSQL's password is kept (never in the URL); nil
    /// for SQLite, or a server that asks none.
    public var databasePassword: SecretReference?
    public var queue: QueueConfig
    public var api: APIConfig
    public var github: GitHubConfig?
    public var webhookSecrets: [SecretReference]
    public var repositories: [RepositoryConfig]
    public var logLevel: LogLevel
    /// Where build code runs, for repositories that do not say otherwise.
    public var sandbox = SandboxConfig()
    /// `reconcile`: how often each repository's branch heads are listed to catch pushes
    /// whose delivery was missed; nil (`reconcile: null`): never. A repository may say
    /// otherwise (`RepositoryConfig.reconcile`).
    public var reconcile: Duration? = Config.defaultReconcile
    public static let defaultReconcile: Duration = .seconds(600)
    /// `provenance`: sign an in-toto SLSA provenance statement for every pushed image;
    /// nil: no attestations.
    public var provenance: ProvenanceConfig?

    /// How often `repository`'s branches are listed; nil: never.
    public func reconcileInterval(of repository: RepositoryConfig) -> Duration? {
        switch repository.reconcile {
        case .inherit: reconcile
        case .off: nil
        case .every(let interval): interval
        }
    }

    public func repository(named fullName: String) -> RepositoryConfig? {
        // GitHub repository names are case-insensitive.
        repositories.first { $0.name.utf8.count == fullName.utf8.count && $0.name.lowercased() == fullName.lowercased() }
    }
}

public struct ProvenanceConfig: Sendable, Equatable {
    /// PEM private key, ECDSA P-256 or Ed25519.
    public var signingKey: SecretReference
    /// The `keyid` written with each signature.
    public var keyID: String = "slipway"

    public init(signingKey: SecretReference, keyID: String = "slipway") {
        self.signingKey = signingKey
        self.keyID = keyID
    }
}

public enum LogLevel: String, Sendable, CaseIterable {
    case trace, debug, info, notice, warning, error, critical
}

public enum ListenAddress: Sendable, Equatable, CustomStringConvertible {
    case tcp(host: String, port: Int)
    case unix(path: String)

    public var description: String {
        switch self {
        case .tcp(let host, let port): host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)"
        case .unix(let path): "unix:\(path)"
        }
    }
}

public struct ServerConfig: Sendable, Equatable {
    public var listen: ListenAddress = .tcp(host: "127.0.0.1", port: 8080)
    public var publicURL: String = "http://127.0.0.1:8080"
    /// GitHub caps payloads at 25 MiB.
    public var maxBodyBytes: Int = 25 * 1024 * 1024
    public var publicPages: Bool = false
    /// Open connections at most; more are answered 503 and closed (and counted).
    public var maxConnections: Int = 1024
    /// From a request's first byte to the end of its head.
    public var headerTimeout: Duration = .seconds(10)
    /// From a request's head to the end of its body (GitHub sends the body at once).
    public var bodyTimeout: Duration = .seconds(60)
    /// A kept-alive connection with no request, and a response the client stops reading.
    public var idleTimeout: Duration = .seconds(75)
}

public enum DatabaseLocation: Sendable, Equatable {
    /// The embedded default: `state_dir/slipway.sqlite`.
    case sqlite
    /// Several replicas on one PostgreSQL database; its password is `database_password`.
    case postgres(PostgresLocation)
}

public struct QueueConfig: Sendable, Equatable {
    public var workers: Int = 2
    public var cancelSuperseded: Bool = true
    /// How long SIGTERM waits for running builds before checkpointing them back to `queued`.
    public var shutdownGrace: Duration = .seconds(60)
    /// Finished workspaces kept per repository; older ones are removed.
    public var keepWorkspaces: Int = 5
    /// PostgreSQL: how long a running build's claim lasts unless its replica renews it
    /// (every third of it); a dead replica's builds move to another after it runs out.
    public var lease: Duration = .seconds(30)
}

public struct APIToken: Sendable, Equatable {
    public var name: String
    public var token: SecretReference
}

public struct APIConfig: Sendable, Equatable {
    public var tokens: [APIToken] = []
}

public struct GitHubConfig: Sendable, Equatable {
    public enum Auth: Sendable, Equatable {
        case token(SecretReference)
        case app(id: Int, installationID: Int, privateKey: SecretReference)
    }
    public var apiURL: String = "https://api.github.com"
    public var auth: Auth
    public var statusContext: String = "slipway/build"
}

public struct RepositoryConfig: Sendable, Equatable {
    public enum TagPolicy: Sendable, Equatable {
        case none
        case all
        case matching([String])
    }

    /// The steps of a build, in order (SPEC "Builds").
    public static let stepNames = ["checkout", "test", "model", "image", "smoke", "push"]

    /// `owner/name`, as `repository.full_name` in payloads.
    public var name: String
    public var webhookSecrets: [SecretReference] = []
    public var cloneURL: String?
    /// Glob patterns; nil means the repository's default branch only.
    public var branches: [String]?
    public var tags: TagPolicy = .none
    public var test: [String]?
    public var timeout: Duration = .seconds(30 * 60)
    /// Per-step limits (`checkout`, `test`, `model`, `image`, `smoke`, `push`), inside `timeout`.
    public var stepTimeouts: [String: Duration] = [:]
    /// Credentials for fetching a private repository; nil: anonymous.
    public var cloneAuth: CloneAuth?
    public var model: ModelConfig?
    public var image: ImageConfig?
    public var deploy: DeployConfig?
    /// The repository's own `sandbox`, `sandbox_network` and `limits`, over the daemon's.
    public var sandbox = SandboxOverride()
    /// The repository's own `reconcile` (see `Config.reconcileInterval(of:)`).
    public var reconcile: ReconcileSetting = .inherit
}

/// A repository's `reconcile:` key: absent (the daemon's), `null` (off) or an interval.
public enum ReconcileSetting: Sendable, Equatable {
    case inherit
    case off
    case every(Duration)
}

/// How the checkout authenticates to the git host. Never written into a URL, `.git/config`
/// or an argv: the token travels in the git process's environment only, the key in a
/// temporary file of mode 0600 removed after the fetch.
public enum CloneAuth: Sendable, Equatable {
    /// HTTPS: sent as HTTP Basic `username:token` (GitHub: any username, e.g. x-access-token).
    case token(SecretReference, username: String)
    /// SSH deploy key (OpenSSH private key).
    case sshKey(SecretReference)
}

public struct ModelConfig: Sendable, Equatable {
    public struct S3: Sendable, Equatable {
        public var region: String = "us-east-1"
        public var endpoint: String?
        public var accessKeyID: SecretReference?
        public var secretAccessKey: SecretReference?
        public var sessionToken: SecretReference?
        public var pathStyle: Bool = false

        public init(
            region: String = "us-east-1", endpoint: String? = nil, accessKeyID: SecretReference? = nil,
            secretAccessKey: SecretReference? = nil, sessionToken: SecretReference? = nil, pathStyle: Bool = false
        ) {
            self.region = region
            self.endpoint = endpoint
            self.accessKeyID = accessKeyID
            self.secretAccessKey = secretAccessKey
            self.sessionToken = sessionToken
            self.pathStyle = pathStyle
        }
    }
    public struct Azure: Sendable, Equatable {
        public var accountKey: SecretReference?
        public var sasToken: SecretReference?
        public var endpoint: String?

        public init(accountKey: SecretReference? = nil, sasToken: SecretReference? = nil, endpoint: String? = nil) {
            self.accountKey = accountKey
            self.sasToken = sasToken
            self.endpoint = endpoint
        }
    }
    public var source: String
    public var dest: String
    public var sha256: String?
    public var s3: S3?
    public var azure: Azure?
    public var bearerToken: SecretReference?
    public var watch: Duration?

    public init(source: String, dest: String) {
        self.source = source
        self.dest = dest
    }
}

public struct ImageConfig: Sendable, Equatable {
    public enum Builder: String, Sendable, CaseIterable { case buildah, docker, podman }
    public var name: String
    public var builder: Builder = .buildah
    public var dockerfile: String = "Dockerfile"
    public var context: String = "."
    public var tags: [String] = ["{sha}", "{branch}"]
    public var registryAuth: SecretReference?
    public var smoke: [String]?
    /// Reuse unchanged layers from earlier builds (buildah and podman `--layers`, docker's
    /// cache). nil: on (buildah's own default is off; Slipway turns it on). With buildah and
    /// podman the newest build's image stays in the container storage as the repository's
    /// layer cache (`LayerCacheCommands`); `false` removes every build's image.
    public var layers: Bool?
}

public struct DeployConfig: Sendable, Equatable {
    /// The default schedule: 02:00 every night, in the daemon's time zone.
    public static let nightly = "0 2 * * *"
    /// Cron expression; nil: on demand only.
    public var schedule: String?
    public var kubeconfig: SecretReference
    public var namespace: String = "default"
    public var deployment: String
    public var container: String
    public var rolloutTimeout: Duration = .seconds(5 * 60)
    /// `require_provenance.key`: the public key an image's attestation must verify with
    /// before it is deployed; nil: no gate.
    public var requireProvenance: SecretReference?

    public init(
        schedule: String? = DeployConfig.nightly, kubeconfig: SecretReference, namespace: String = "default",
        deployment: String, container: String, rolloutTimeout: Duration = .seconds(5 * 60)
    ) {
        self.schedule = schedule
        self.kubeconfig = kubeconfig
        self.namespace = namespace
        self.deployment = deployment
        self.container = container
        self.rolloutTimeout = rolloutTimeout
    }
}
