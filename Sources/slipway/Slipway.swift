import ArgumentParser

/// slipway: the operator CLI. It speaks the daemon's operator API (SPEC "Operator API");
/// `deliver` speaks the webhook endpoint as GitHub would; `model-pull` works locally.
@main
struct Slipway: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "slipway",
        abstract: "Slipway operator CLI.",
        discussion: """
            Server and token: --url/--token, or SLIPWAY_URL/SLIPWAY_TOKEN (prefer the variable: \
            a token on the command line is visible to other users in ps).
            Exit codes: 0 done; 1 the server could not be reached or failed (5xx); \
            2 the request was refused (400, 409, 413, 415); 3 no such build or route (404); \
            4 missing or wrong token (401); 5 the followed build ended other than success; \
            64 bad command-line usage.
            """,
        subcommands: [
            BuildsCommand.self, ShowCommand.self, LogsCommand.self, RebuildCommand.self, CancelCommand.self,
            DeployCommand.self, DeploymentsCommand.self, StatusCommand.self, VerifyCommand.self, DeliverCommand.self, ModelPull.self,
        ])
}
