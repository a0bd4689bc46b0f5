import Logging
import ServiceLifecycle
import SlipwayStore

/// Runs `service` only while this replica holds `job` (`SingletonJobs`): it waits for the
/// job, runs the service, asks again every third of the lease, and stops the service
/// (cancels it) as soon as it no longer holds the job. At a graceful stop the service
/// ends on its own, still holding the job, and the job is given up for the next replica.
public struct SingletonService: Service, CustomStringConvertible {
    public var description: String { "SingletonService(\(job))" }

    let job: String
    let jobs: any SingletonJobs
    let service: any Service
    let logger: Logger

    public init(job: String, jobs: any SingletonJobs, service: any Service, logger: Logger) {
        self.job = job
        self.jobs = jobs
        self.service = service
        self.logger = logger
    }

    public func run() async throws {
        let every = jobs.lease / 3
        while !Task.isShuttingDownGracefully, !Task.isCancelled {
            guard await jobs.hold(job: job) else {
                _ = await cancelWhenGracefulShutdown { try? await Task.sleep(for: every) }
                continue
            }
            logger.notice("this replica runs the cluster's job", metadata: ["job": "\(job)"])
            let lost = await runWhileHeld(every: every)
            if lost {
                logger.warning("this replica no longer holds the job: stopped it here", metadata: ["job": "\(job)"])
            }
        }
        await jobs.release(job: job)
    }

    /// Runs the service until it ends (a graceful stop) or the job is lost; true if lost.
    private func runWhileHeld(every: Duration) async -> Bool {
        await withTaskGroup(of: Bool.self) { group in
            group.addTask { [service] in
                try? await service.run()
                return false
            }
            group.addTask { [jobs, job] in
                while (try? await Task.sleep(for: every)) != nil {
                    if await !jobs.hold(job: job) { return true }
                }
                return false
            }
            let lost = await group.next() ?? false
            group.cancelAll()
            await group.waitForAll()
            return lost
        }
    }
}
