import Foundation

/// Debian's `chromium`, headless, with a throw-away profile: loads a page as a browser
/// does (scripts, stylesheets, EventSource) and gives back its DOM or a screenshot.
public struct HeadlessChromium: Sendable {
    let program: String
    let profile: URL

    public init() throws {
        guard let program = ["/usr/bin/chromium", "/usr/bin/chromium-browser"].first(where: FileManager.default.isExecutableFile(atPath:))
        else {
            throw HarnessError("chromium not found (scripts/test installs Debian's chromium)")
        }
        self.program = program
        profile = try TestPaths.temporaryDirectory("chromium")
    }

    var common: [String] {
        [
            "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run", "--hide-scrollbars",
            "--user-data-dir=\(profile.path)", "--window-size=1280,1000",
        ]
    }

    /// The DOM once the page has loaded and run `milliseconds` of its timers (Chromium's
    /// virtual time, which waits for pending network fetches such as a live log stream).
    public func dumpDOM(_ url: String, runFor milliseconds: Int) async throws -> String {
        let (status, output) = try await blocking { [common, program] in
            try runProgram(program, common + ["--virtual-time-budget=\(milliseconds)", "--dump-dom", url], stdoutOnly: true)
        }
        guard status == 0 else { throw HarnessError("chromium --dump-dom \(url) exited \(status): \(output.suffix(2000))") }
        return output
    }

    /// A PNG of the page, after it has run `milliseconds` of its timers.
    public func screenshot(_ url: String, to file: URL, runFor milliseconds: Int = 1500) async throws {
        let (status, output) = try await blocking { [common, program] in
            try runProgram(program, common + ["--virtual-time-budget=\(milliseconds)", "--screenshot=\(file.path)", url])
        }
        guard status == 0, FileManager.default.fileExists(atPath: file.path) else {
            throw HarnessError("chromium --screenshot \(url) exited \(status): \(output.suffix(2000))")
        }
    }

    public func remove() { TestPaths.removeTemporaryDirectory(profile) }
}
