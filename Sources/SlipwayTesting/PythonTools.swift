import Foundation

/// Python programs the tests use (moto_server, the Azure SDK). CI installs them into
/// `.venv-test` (scripts/test); elsewhere they may be on PATH.
public enum PythonTools {
    static var venvBin: URL { TestPaths.packageRoot.appendingPathComponent(".venv-test/bin") }

    /// A program from the test venv, else from PATH.
    public static func program(_ name: String) throws -> String {
        let candidates =
            [venvBin.appendingPathComponent(name).path]
            + (ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin").split(separator: ":").map { "\($0)/\(name)" }
        guard let found = candidates.first(where: FileManager.default.isExecutableFile(atPath:)) else {
            throw HarnessError("\(name) not found in .venv-test/bin or PATH (scripts/test installs it)")
        }
        return found
    }

    /// The venv's python3 when there is one (it has the test packages), else python3 from PATH.
    public static func python() throws -> String { try program("python3") }
}
