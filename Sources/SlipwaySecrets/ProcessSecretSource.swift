import Foundation
import SlipwayCore

/// Secrets from this process's environment (`env:NAME`) and from files (`file:PATH`, e.g.
/// `$CREDENTIALS_DIRECTORY/...` under systemd). A trailing newline in a file is dropped,
/// as `echo secret > file` leaves one. Shared by the daemon and the `slipway` CLI, so a
/// reference means the same thing to both.
public struct ProcessSecretSource: SecretSource {
    let environment: [String: String]

    public init(environment: [String: String] = ProcessInfo.processInfo.environment) {
        self.environment = environment
    }

    public func value(of reference: SecretReference) -> Result<String, SecretLookupError> {
        switch reference {
        case .environment(let name):
            guard let value = environment[name] else {
                return .failure(SecretLookupError(reference: reference, reason: "environment variable is not set"))
            }
            return .success(value)
        case .file:
            let path = reference.filePath(environment: environment) ?? ""
            do {
                var text = try String(contentsOfFile: path, encoding: .utf8)
                while text.hasSuffix("\n") || text.hasSuffix("\r") { text.removeLast() }
                return .success(text)
            } catch {
                let reason = FileManager.default.fileExists(atPath: path) ? "file is not readable as UTF-8 text" : "file does not exist"
                return .failure(SecretLookupError(reference: reference, reason: reason))
            }
        }
    }
}

/// Its environment holds the daemon's secrets: never print it (ServiceLifecycle logs its
/// services' descriptions at debug level).
extension ProcessSecretSource: CustomStringConvertible, CustomReflectable {
    public var description: String { "ProcessSecretSource(environment: ***)" }
    public var customMirror: Mirror { Mirror(self, children: [:]) }
}
