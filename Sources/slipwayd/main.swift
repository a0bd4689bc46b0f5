import ArgumentParser
import Foundation
import SlipwayCore
import SlipwayDaemon

/// slipwayd: the Slipway daemon.
@main
struct Slipwayd: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "slipwayd",
        abstract: "Slipway: CI/CD for AI applications. Receives GitHub pushes, builds, tests and ships images with their model.")

    @Option(name: .long, help: "Path of the YAML config.")
    var config: String = "/etc/slipway/slipway.yaml"

    @Flag(name: .customLong("check-config"), help: "Validate the config (including its secret references) and exit 0 if usable, 1 if not.")
    var checkConfig = false

    func run() async throws {
        if checkConfig {
            do {
                let resolved = try ConfigLoader(path: config).load()
                if let problem = await Daemon.sandboxProblem(for: resolved.config, configPath: config) {
                    printError("\(config): sandbox: \(problem)")
                    throw ExitCode(1)
                }
                print("\(config): OK (\(resolved.config.repositories.count) repositories)")
            } catch let error as ConfigError {
                printError(error.description)
                throw ExitCode(1)
            }
            return
        }
        do {
            try await Daemon.run(configPath: config)
        } catch let error as ConfigError {
            printError(error.description)
            throw ExitCode(1)
        } catch {
            printError("slipwayd: \(error)")
            throw ExitCode(1)
        }
    }
}

func printError(_ text: String) {
    var stderr = StandardError()
    print(text, to: &stderr)
}

struct StandardError: TextOutputStream {
    mutating func write(_ string: String) {
        FileHandle.standardError.write(Data(string.utf8))
    }
}
