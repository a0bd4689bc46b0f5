import Foundation

/// `moto_server` (S3 and IAM) on a loopback port with request signatures enforced: the
/// first three requests (create an IAM user, its access key and an allow-all policy) are
/// the only unauthenticated ones; everything after must be signed with that key.
public final class MotoHarness: @unchecked Sendable {
    public let directory: URL
    public let port: Int
    public private(set) var accessKeyID = ""
    public private(set) var secretAccessKey = ""
    private var process: ChildProcess?

    public var endpoint: String { "http://127.0.0.1:\(port)" }

    public init() throws {
        directory = try TestPaths.temporaryDirectory("moto")
        port = freeLoopbackPort()
    }

    public func start() async throws {
        let log = directory.appendingPathComponent("moto.log")
        process = try launchServer(
            try PythonTools.program("moto_server"), ["-H", "127.0.0.1", "-p", String(port)],
            environment: ProcessInfo.processInfo.environment.merging(["INITIAL_NO_AUTH_ACTION_COUNT": "3"]) { $1 },
            log: log)
        let deadline = ContinuousClock.now + .seconds(20)
        while ContinuousClock.now < deadline {
            if (try? Data(contentsOf: log)).map({ String(decoding: $0, as: UTF8.self).contains("Running on") }) == true { break }
            try await Task.sleep(for: .milliseconds(100))
        }
        try await blocking { try self.createUser() }
    }

    func createUser() throws {
        _ = try aws(["iam", "create-user", "--user-name", "slipway"], key: ("setup", "setup"))
        let keyJSON = try aws(["iam", "create-access-key", "--user-name", "slipway"], key: ("setup", "setup"))
        guard let object = try JSONSerialization.jsonObject(with: Data(keyJSON.utf8)) as? [String: Any],
            let key = object["AccessKey"] as? [String: Any],
            let id = key["AccessKeyId"] as? String, let secret = key["SecretAccessKey"] as? String
        else {
            throw HarnessError("moto: unexpected create-access-key output: \(keyJSON)")
        }
        accessKeyID = id
        secretAccessKey = secret
        _ = try aws(
            [
                "iam", "put-user-policy", "--user-name", "slipway", "--policy-name", "all", "--policy-document",
                #"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"*","Resource":"*"}]}"#,
            ], key: ("setup", "setup"))
    }

    /// The aws CLI against this server, signed with `key` (default: the created user's).
    @discardableResult
    public func aws(_ arguments: [String], key: (String, String)? = nil) throws -> String {
        var environment = ProcessInfo.processInfo.environment
        environment["AWS_ACCESS_KEY_ID"] = key?.0 ?? accessKeyID
        environment["AWS_SECRET_ACCESS_KEY"] = key?.1 ?? secretAccessKey
        environment["AWS_DEFAULT_REGION"] = "us-east-1"
        environment["AWS_CONFIG_FILE"] = "/dev/null"
        environment["AWS_SHARED_CREDENTIALS_FILE"] = "/dev/null"
        let result = try runProgram(try PythonTools.program("aws"), ["--endpoint-url", endpoint] + arguments, environment: environment)
        guard result.status == 0 else { throw HarnessError("aws \(arguments.joined(separator: " ")) failed: \(result.output)") }
        return result.output
    }

    public func stop() {
        process?.stop()
        process = nil
        TestPaths.removeTemporaryDirectory(directory)
    }
}
