import Foundation
import Logging
import ServiceLifecycle
import SlipwayCore
import SlipwayStore

/// `deploy.schedule`: deploys each repository's newest good image when its cron
/// expression fires, in the daemon's time zone. Up to when each schedule has been looked
/// at is stored, so a run missed while the daemon was down is run once at start-up (the
/// latest missed slot only, not one per missed slot). At shutdown, running deployments
/// are stopped.
public final class DeployScheduler: Service, Sendable {
    let deployments: any DeploymentStore
    let runner: DeployRunner
    let config: LiveConfig
    /// nil: the daemon's zone (`TZ`), looked up only once a schedule is evaluated, so a
    /// daemon without schedules never loads the time-zone database.
    let fixedTimeZone: TimeZone?
    let logger: Logger

    public init(deployments: any DeploymentStore, runner: DeployRunner, config: LiveConfig, timeZone: TimeZone? = nil, logger: Logger) {
        self.deployments = deployments
        self.runner = runner
        self.config = config
        self.fixedTimeZone = timeZone
        self.logger = logger
    }

    /// Records deployments a stop interrupted as `error`; call before anything can start one.
    public func recoverInterrupted() async throws {
        for interrupted in try await deployments.recoverInterruptedDeployments() {
            logger.warning(
                "deployment interrupted by the last stop",
                metadata: ["deployment": "\(interrupted.id)", "repo": "\(interrupted.repository)"])
        }
    }

    private var timeZone: TimeZone { fixedTimeZone ?? .current }

    public func run() async throws {
        _ = await cancelWhenGracefulShutdown { await self.scheduleForever() }
        await runner.stopAll()
    }

    private func scheduleForever() async {
        while !Task.isCancelled {
            let wait = await checkSchedules(now: Date())
            try? await Task.sleep(for: wait)
        }
    }

    /// Starts every deployment whose schedule fired since it was last looked at; returns
    /// how long to sleep (until the next slot, at most a minute, so reloads are seen).
    func checkSchedules(now: Date) async -> Duration {
        var sleep: TimeInterval = 60
        for repository in config.snapshot.config.repositories {
            guard let expression = repository.deploy?.schedule, let schedule = try? CronSchedule(expression) else { continue }
            var logger = self.logger
            logger[metadataKey: "repo"] = "\(repository.name)"
            do {
                let checked = try await deployments.scheduleCheckedUntil(repository: repository.name)
                if let checked, let due = schedule.next(after: Date(timeIntervalSince1970: checked), in: timeZone), due <= now {
                    let late = now.timeIntervalSince(due) > 90
                    logger.notice(
                        late ? "scheduled deployment missed while stopped: running it now" : "scheduled deployment",
                        metadata: ["slot": "\(ISO8601DateFormatter().string(from: due))"])
                    await start(repository.name, logger: logger)
                }
                try await deployments.setScheduleCheckedUntil(repository: repository.name, now.timeIntervalSince1970)
            } catch {
                logger.error("cannot read or record the deploy schedule", metadata: ["error": "\(error)"])
            }
            if let next = schedule.next(after: now, in: timeZone) { sleep = min(sleep, next.timeIntervalSince(now)) }
        }
        return .milliseconds(Int64(max(0.05, sleep) * 1000))
    }

    private func start(_ repository: String, logger: Logger) async {
        do {
            let deployment = try await runner.request(repository: repository, buildID: nil, trigger: .schedule, requestedBy: "schedule")
            logger.notice("deployment started", metadata: ["deployment": "\(deployment.id)", "image": "\(deployment.image)"])
        } catch {
            logger.warning("scheduled deployment not started", metadata: ["why": "\(error)"])
        }
    }
}
