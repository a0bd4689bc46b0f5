/// Jobs that must run on one replica at a time when several share the store (PostgreSQL):
/// the status outbox poster, the model watchers, the deploy scheduler. A holder keeps its
/// job by asking again within its lease; when it dies, the lease runs out and another
/// replica takes the job.
public protocol SingletonJobs: Sendable {
    /// How long a job is held without asking again.
    var lease: Duration { get }
    /// Takes `job`, or keeps it for another lease; false while another replica holds it,
    /// or when the store cannot be reached (the job must then stop here).
    func hold(job: String) async -> Bool
    /// Gives `job` up, so that another replica takes it at once (a graceful stop).
    func release(job: String) async
}
