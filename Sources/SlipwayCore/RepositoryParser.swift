import Yams

/// Reads one entry of `repositories:`. Split from ConfigParser to keep each file small.
enum RepositoryParser {
    static func read(_ fields: YAMLFields, problems: ProblemList) -> RepositoryConfig? {
        let name = fields.string("name", required: true)
        if let name, !RepositoryName.isValid(name) {
            problems.add(
                fields.childPath("name"),
                "must be owner/name as in the payload's repository.full_name (GitHub's rules: letters, digits, '-', '_' and, in the name, '.'; not '.' or '..'), got '\(TerminalText.escaped(name))'"
            )
        }
        var repository = RepositoryConfig(name: name ?? "")
        repository.webhookSecrets = fields.secretList("webhook_secrets") ?? []
        if let url = fields.string("clone_url") {
            if isCloneURL(url) {
                repository.cloneURL = url
            } else {
                problems.add(
                    fields.childPath("clone_url"),
                    "must be an https://, http://, ssh://, git://, file:// or user@host:path git URL, got '\(url)'")
            }
        }
        if let branches = fields.stringList("branches") {
            for (index, pattern) in branches.enumerated() where !Glob.isValid(pattern) {
                problems.add("\(fields.childPath("branches"))[\(index)]", "is not a valid glob pattern: '\(pattern)'")
            }
            repository.branches = branches
        }
        repository.tags = readTags(fields, problems: problems)
        if let test = fields.stringList("test") { repository.test = test }
        if let timeout = fields.duration("timeout") { repository.timeout = timeout }
        if let timeouts = fields.child("step_timeouts") {
            for step in RepositoryConfig.stepNames {
                if let limit = timeouts.duration(step) { repository.stepTimeouts[step] = limit }
            }
            timeouts.finish()
        }
        repository.cloneAuth = fields.child("clone_auth").flatMap { readCloneAuth($0, problems: problems) }
        repository.model = fields.child("model").flatMap { readModel($0, problems: problems) }
        repository.image = fields.child("image").flatMap { readImage($0, problems: problems) }
        repository.deploy = fields.child("deploy").flatMap { readDeploy($0, problems: problems) }
        repository.sandbox = SandboxParser.readOverride(fields)
        switch ConfigParser.readReconcile(fields) {
        case .none: repository.reconcile = .inherit
        case .some(.none): repository.reconcile = .off
        case .some(.some(let interval)): repository.reconcile = .every(interval)
        }
        if repository.deploy != nil, repository.image == nil {
            problems.add(fields.childPath("deploy"), "needs image: to be configured (it deploys the built image)")
        }
        return name == nil ? nil : repository
    }

    static func isCloneURL(_ url: String) -> Bool {
        let schemes = ["https://", "http://", "ssh://", "git://", "file://"]
        if schemes.contains(where: url.hasPrefix) { return !url.contains(" ") }
        // scp-like: git@github.com:acme/app.git
        if let at = url.firstIndex(of: "@"), let colon = url.firstIndex(of: ":"), at < colon { return !url.contains(" ") }
        return false
    }

    private static func readTags(_ fields: YAMLFields, problems: ProblemList) -> RepositoryConfig.TagPolicy {
        guard let node = fields.node("tags") else { return .none }
        if node.scalar?.style == .plain, let flag = node.bool { return flag ? .all : .none }
        if let patterns = fields.stringList("tags") {
            for (index, pattern) in patterns.enumerated() where !Glob.isValid(pattern) {
                problems.add("\(fields.childPath("tags"))[\(index)]", "is not a valid glob pattern: '\(pattern)'")
            }
            return .matching(patterns)
        }
        return .none
    }

    private static func readCloneAuth(_ fields: YAMLFields, problems: ProblemList) -> CloneAuth? {
        defer { fields.finish() }
        let token = fields.secret("token")
        let username = fields.string("username")
        let key = fields.secret("ssh_key")
        switch (token, key) {
        case (let token?, nil): return .token(token, username: username ?? "x-access-token")
        case (nil, let key?):
            if username != nil { problems.add(fields.childPath("username"), "goes with token, not with ssh_key") }
            return .sshKey(key)
        case (nil, nil):
            problems.add(fields.path, "needs token (HTTPS) or ssh_key (SSH deploy key)")
        case (.some, .some):
            problems.add(fields.path, "give either token or ssh_key, not both")
        }
        return nil
    }

    private static func readModel(_ fields: YAMLFields, problems: ProblemList) -> ModelConfig? {
        defer { fields.finish() }
        let source = fields.string("source", required: true)
        let dest = fields.string("dest", required: true)
        if let source, !["s3://", "azblob://", "https://", "http://", "file://"].contains(where: source.hasPrefix) {
            problems.add(fields.childPath("source"), "must start with s3://, azblob://, https:// or file://, got '\(source)'")
        }
        if let dest, ContainedPath.normalized(dest)?.isEmpty != false {
            problems.add(fields.childPath("dest"), "must be a relative path inside the build context, got '\(dest)'")
        }
        var model = ModelConfig(source: source ?? "", dest: dest ?? "")
        if let pin = fields.string("sha256") {
            if pin.count == 64, [UInt8](hexString: pin) != nil {
                model.sha256 = pin.lowercased()
            } else {
                problems.add(fields.childPath("sha256"), "must be 64 hexadecimal digits")
            }
        }
        if let s3 = fields.child("s3") {
            var settings = ModelConfig.S3()
            if let region = s3.string("region") { settings.region = region }
            if let endpoint = s3.string("endpoint") {
                if ConfigParser.isHTTPURL(endpoint) {
                    settings.endpoint = endpoint
                } else {
                    problems.add(s3.childPath("endpoint"), "must be an http:// or https:// URL, got '\(endpoint)'")
                }
            }
            settings.accessKeyID = s3.secret("access_key_id")
            settings.secretAccessKey = s3.secret("secret_access_key")
            settings.sessionToken = s3.secret("session_token")
            if let pathStyle = s3.bool("path_style") { settings.pathStyle = pathStyle }
            if (settings.accessKeyID == nil) != (settings.secretAccessKey == nil) {
                problems.add(s3.path, "access_key_id and secret_access_key go together")
            }
            s3.finish()
            model.s3 = settings
        }
        if let azure = fields.child("azure") {
            var settings = ModelConfig.Azure()
            settings.accountKey = azure.secret("account_key")
            settings.sasToken = azure.secret("sas_token")
            if let endpoint = azure.string("endpoint") {
                if ConfigParser.isHTTPURL(endpoint) {
                    settings.endpoint = endpoint
                } else {
                    problems.add(azure.childPath("endpoint"), "must be an http:// or https:// URL, got '\(endpoint)'")
                }
            }
            if settings.accountKey != nil, settings.sasToken != nil {
                problems.add(azure.path, "give either account_key or sas_token, not both")
            }
            azure.finish()
            model.azure = settings
        }
        model.bearerToken = fields.secret("bearer_token")
        model.watch = fields.duration("watch")
        return model
    }

    private static func readImage(_ fields: YAMLFields, problems: ProblemList) -> ImageConfig? {
        defer { fields.finish() }
        guard let name = fields.string("name", required: true) else { return nil }
        if name.contains(where: { $0.isWhitespace || $0.isUppercase }) || name.contains("@") {
            problems.add(fields.childPath("name"), "must be a lower-case image reference without tag or digest, got '\(name)'")
        }
        var image = ImageConfig(name: name)
        if let builder = fields.string("builder") {
            if let value = ImageConfig.Builder(rawValue: builder) {
                image.builder = value
            } else {
                problems.add(fields.childPath("builder"), "must be buildah, docker or podman, got '\(builder)'")
            }
        }
        if let dockerfile = fields.string("dockerfile") {
            if ContainedPath.normalized(dockerfile)?.isEmpty != false {
                problems.add(fields.childPath("dockerfile"), "must be a relative path of a file inside the repository, got '\(dockerfile)'")
            }
            image.dockerfile = dockerfile
        }
        if let context = fields.string("context") {
            if !ContainedPath.isContained(context) {
                problems.add(
                    fields.childPath("context"), "must be a relative path inside the repository ('.' for its root), got '\(context)'")
            }
            image.context = context
        }
        if let tags = fields.stringList("tags") {
            for (index, tag) in tags.enumerated() where !TagTemplate.isValid(tag) {
                problems.add(
                    "\(fields.childPath("tags"))[\(index)]",
                    "is not a valid tag template: '\(tag)' (placeholders: \(TagTemplate.placeholders.joined(separator: ", ")))")
            }
            image.tags = tags
        }
        image.registryAuth = fields.secret("registry_auth")
        image.smoke = fields.stringList("smoke")
        image.layers = fields.bool("layers")
        return image
    }

    private static func readDeploy(_ fields: YAMLFields, problems: ProblemList) -> DeployConfig? {
        defer { fields.finish() }
        // Absent: nightly. `schedule: null`: on demand only.
        let schedule = fields.isExplicitlyNull("schedule") ? nil : fields.string("schedule") ?? DeployConfig.nightly
        if let schedule {
            do { _ = try CronSchedule(schedule) } catch { problems.add(fields.childPath("schedule"), error.description) }
        }
        let kubeconfig = fields.secret("kubeconfig", required: true)
        let deployment = fields.string("deployment", required: true)
        let container = fields.string("container", required: true)
        guard let kubeconfig, let deployment, let container else { return nil }
        var deploy = DeployConfig(schedule: schedule, kubeconfig: kubeconfig, deployment: deployment, container: container)
        if let namespace = fields.string("namespace") { deploy.namespace = namespace }
        if let timeout = fields.duration("rollout_timeout") { deploy.rolloutTimeout = timeout }
        if let gate = fields.child("require_provenance") {
            deploy.requireProvenance = gate.secret("key", required: true)
            gate.finish()
        }
        return deploy
    }
}
