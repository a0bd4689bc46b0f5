import ArgumentParser

/// A command's failure: the message printed on stderr and the documented exit code.
struct CLIFailure: Error, CustomStringConvertible {
    enum Kind: Int32 {
        case unavailable = 1, refused = 2, notFound = 3, unauthorized = 4, buildDidNotSucceed = 5
        /// `status`: a live image changed outside Slipway.
        case drift = 6
        /// `verify`: no valid attestation by the key for the image.
        case unverified = 7
    }

    let kind: Kind
    let description: String

    init(_ kind: Kind, _ message: String) {
        self.kind = kind
        self.description = message
    }

    /// The exit code for an HTTP status the server answered with.
    static func kind(forStatus status: Int) -> Kind {
        switch status {
        case 401, 403: .unauthorized
        case 404: .notFound
        case 400..<500: .refused
        default: .unavailable
        }
    }
}

extension AsyncParsableCommand {
    /// Runs `body`, turning a `CLIFailure` into its message on stderr and its exit code.
    func reportingFailures(_ body: () async throws -> Void) async throws {
        do {
            try await body()
        } catch let failure as CLIFailure {
            printError("slipway: \(failure.description)")
            throw ExitCode(failure.kind.rawValue)
        }
    }
}
