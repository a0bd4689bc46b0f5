import Dispatch

/// Runs Swift tasks on a Dispatch work queue. Builds execute here, off the HTTP server's
/// event loops and off the cooperative pool, so a CPU-heavy step (hashing a 2 GiB model)
/// never delays a webhook reply. How many builds run at once is decided by `BuildQueue`,
/// not by the queue's width.
public final class DispatchTaskExecutor: TaskExecutor {
    private let queue: DispatchQueue

    public init(label: String) {
        queue = DispatchQueue(label: label, qos: .utility, attributes: .concurrent)
    }

    public func enqueue(_ job: consuming ExecutorJob) {
        let job = UnownedJob(job)
        queue.async { job.runSynchronously(on: self.asUnownedTaskExecutor()) }
    }
}
