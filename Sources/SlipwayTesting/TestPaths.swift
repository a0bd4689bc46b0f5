import Foundation

/// Where tests find the built executables and the shared fixtures.
public enum TestPaths {
    /// The package root (this file is Sources/SlipwayTesting/TestPaths.swift).
    public static let packageRoot = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    /// `../shared/fixtures` beside the checkout, as CI lays it out (SLIPWAY_FIXTURES overrides).
    public static var fixtures: URL {
        if let override = ProcessInfo.processInfo.environment["SLIPWAY_FIXTURES"] { return URL(fileURLWithPath: override) }
        return packageRoot.deletingLastPathComponent().appendingPathComponent("shared/fixtures")
    }

    public static func fixture(_ relativePath: String) throws -> [UInt8] {
        let url = fixtures.appendingPathComponent(relativePath)
        guard let data = FileManager.default.contents(atPath: url.path) else {
            throw HarnessError("fixture \(url.path) is missing (CI keeps ../shared beside the checkout)")
        }
        return Array(data)
    }

    /// A built executable (`slipwayd`, `slipway`) next to the test bundle.
    public static func executable(_ name: String) throws -> URL {
        var candidates: [URL] = []
        if let dir = ProcessInfo.processInfo.environment["SLIPWAY_BIN_DIR"] { candidates.append(URL(fileURLWithPath: dir)) }
        var bundleDirectory = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
        // Inside slipwayPackageTests.xctest/... on some layouts.
        for _ in 0..<4 {
            candidates.append(bundleDirectory)
            bundleDirectory.deleteLastPathComponent()
        }
        candidates.append(Bundle.main.bundleURL.deletingLastPathComponent())
        candidates.append(packageRoot.appendingPathComponent(".build/debug"))
        for directory in candidates {
            let url = directory.appendingPathComponent(name)
            if FileManager.default.isExecutableFile(atPath: url.path) { return url }
        }
        throw HarnessError(
            "cannot find the \(name) executable near \(CommandLine.arguments[0]); run `swift build` first or set SLIPWAY_BIN_DIR")
    }

    /// How long a test server (a fake API in Python, a registry) may take to answer its
    /// first request. Generous: it only bounds how long a failing test takes, and Python
    /// starts slowly on a loaded machine (the first run of a fresh venv also compiles its
    /// modules; in CI's first wave of parallel tests the fake GitHub API took over 10 s).
    public static let serverStartLimit: Duration = .seconds(60)

    /// A fake server's program in Tests/Fakes (`fake_kubernetes_api.py`, ...).
    public static func fake(_ name: String) -> URL {
        packageRoot.appendingPathComponent("Tests/Fakes").appendingPathComponent(name)
    }

    /// A fresh temporary directory. The caller removes it with `removeTemporaryDirectory`
    /// once its test is done (the harnesses do so in their `stop`, `shutdown` or `remove`).
    public static func temporaryDirectory(_ label: String) throws -> URL {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("slipway-\(label)-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        return url
    }

    /// SLIPWAY_KEEP_TEST_DIRS=1 keeps every test's temporary directory (a daemon's state,
    /// its log, the fakes' request logs) to look at after the run.
    public static var keepsTemporaryDirectories: Bool {
        ProcessInfo.processInfo.environment["SLIPWAY_KEEP_TEST_DIRS"] == "1"
    }

    /// Removes `directory` and everything in it, as `rm -rf` would, unless
    /// SLIPWAY_KEEP_TEST_DIRS=1. Whatever ran in it must have stopped first: a daemon's
    /// directory holds the log a failing test prints.
    public static func removeTemporaryDirectory(_ directory: URL) {
        if keepsTemporaryDirectories {
            print("SLIPWAY_KEEP_TEST_DIRS=1: kept \(directory.path)")
            return
        }
        do {
            try FileManager.default.removeItem(at: directory)
        } catch {
            // FileManager gives up at the first entry it cannot remove; rm -rf goes on and
            // removes all it can.
            if FileManager.default.fileExists(atPath: directory.path) { _ = try? runProgram("/bin/rm", ["-rf", directory.path]) }
        }
    }
}

/// A temporary directory removed (`TestPaths.removeTemporaryDirectory`) when the last
/// reference to it goes: for a suite struct that makes its directory in `init`, as a
/// struct has no `deinit`. Elsewhere a `defer` says more plainly when the directory goes.
public final class TemporaryDirectory: Sendable {
    public let url: URL

    public init(_ label: String) throws {
        url = try TestPaths.temporaryDirectory(label)
    }

    deinit { TestPaths.removeTemporaryDirectory(url) }
}

public struct HarnessError: Error, CustomStringConvertible {
    public let description: String
    public init(_ description: String) { self.description = description }
}

/// Blocking test work gets its own threads, apart from the global queue the code under
/// test uses for its timers.
let blockingQueue = DispatchQueue(label: "slipway.tests.blocking", attributes: .concurrent)

/// Runs blocking work (a child process to completion, file copies) on a Dispatch queue,
/// so tests running in parallel do not starve Swift's cooperative thread pool.
public func blocking<T: Sendable>(_ work: @escaping @Sendable () throws -> T) async throws -> T {
    try await withCheckedThrowingContinuation { continuation in
        blockingQueue.async { continuation.resume(with: Result { try work() }) }
    }
}

public func blocking<T: Sendable>(_ work: @escaping @Sendable () -> T) async -> T {
    await withCheckedContinuation { continuation in
        blockingQueue.async { continuation.resume(returning: work()) }
    }
}
