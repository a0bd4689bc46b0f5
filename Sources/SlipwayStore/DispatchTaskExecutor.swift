import Dispatch

/// Runs Swift tasks on a Dispatch queue of their own, off the HTTP server's event loops
/// and off the cooperative pool:
/// - builds (`BuildQueue`, concurrent, utility): a CPU-heavy step (hashing a 2 GiB
///   model) never delays a webhook reply; how many builds run at once is decided by the
///   queue, not by this executor;
/// - PostgreSQL transactions (`PostgresDatabase.executor`, serial): each statement's
///   answer resumes its transaction at once, not behind every request waiting for a
///   thread of the cooperative pool (a delivery group holds its lane's lock between its
///   statements).
public final class DispatchTaskExecutor: TaskExecutor {
    private let queue: DispatchQueue

    public init(label: String, qos: DispatchQoS = .utility, concurrent: Bool = true) {
        queue = DispatchQueue(label: label, qos: qos, attributes: concurrent ? .concurrent : [])
    }

    public func enqueue(_ job: consuming ExecutorJob) {
        let job = UnownedJob(job)
        queue.async { job.runSynchronously(on: self.asUnownedTaskExecutor()) }
    }
}
