import SlipwayCore
import SlipwayStore

/// What one group of deliveries writes (`PostgresDeliveryGroups`), worked out without the
/// database once the group's transaction has read what it needs: which deliveries are new,
/// the ids reserved for their builds, and the queued builds of their lanes. Pure, so the
/// rules are those of one delivery at a time (`PostgresBuildStore.insertBuild`), applied in
/// arrival order, and tested without a server.
///
/// Within a group, a build queued and then superseded by a later delivery of the same
/// group is written once, in its final state, and gets one outbox row: its final status,
/// in the place of its first (the SQLite group rewrites the unsent row the same way).
struct DeliveryGroupPlan {
    /// One delivery of the group, in arrival order.
    struct Entry {
        let delivery: DeliveryRecord
        let request: BuildRequest?
        let supersedeOlder: Bool
    }

    /// Per entry, in the group's order: what its caller is answered.
    var outcomes: [DeliveryOutcome] = []
    /// Builds to insert, in their final state, oldest first.
    var newBuilds: [Build] = []
    /// Builds stored before this group that it supersedes, as they are to be written.
    var supersededBuilds: [Build] = []
    /// The outbox rows to add, in order: each build's status as of the end of the group.
    var statuses: [(build: Build, status: CommitStatus)] = []

    /// `inserted`: the ids of the deliveries this group's insert stored (the others were
    /// stored before); `existingBuildIDs`: the build id each of the others names.
    /// `reservedIDs`: ascending ids for the builds, one per entry with a request, in order
    /// (a duplicate's is left unused). `queuedByLane`: the queued builds of every lane in which an
    /// entry may supersede, oldest first.
    init(
        entries: [Entry], inserted: Set<String>, existingBuildIDs: [String: Int64], reservedIDs: [Int64],
        queuedByLane: [String: [Build]]
    ) throws {
        var queued = queuedByLane
        // Every build stored before this group has a smaller id than those it reserved.
        let firstReservedID = reservedIDs.first ?? .max
        var nextID = reservedIDs.makeIterator()
        var final: [Int64: Build] = [:]
        var statusOrder: [Int64] = []
        var newOrder: [Int64] = []
        var supersededOrder: [Int64] = []
        // A delivery id met earlier in this group: the later one is its redelivery.
        var answeredInGroup: [String: Int64?] = [:]
        for entry in entries {
            // Reserved per entry with a request, in order, whether or not it is new (the
            // delivery rows name them so: `PostgresBuildStore.insertDeliveries`).
            let reservedID = entry.request == nil ? nil : nextID.next()
            let id = entry.delivery.id
            if let earlier = answeredInGroup[id] {
                outcomes.append(.duplicate(buildID: earlier))
                continue
            }
            guard inserted.contains(id) else {
                answeredInGroup[id] = .some(existingBuildIDs[id])
                outcomes.append(.duplicate(buildID: existingBuildIDs[id]))
                continue
            }
            guard let request = entry.request else {
                answeredInGroup[id] = .some(nil)
                outcomes.append(.stored(build: nil, superseded: []))
                continue
            }
            guard let buildID = reservedID else { throw PlanProblem.tooFewReservedIDs(reservedIDs.count) }
            let time = entry.delivery.receivedAt
            let build = Build(
                id: buildID, repository: request.repository, ref: request.ref, sha: request.sha, cloneURL: request.cloneURL,
                trigger: request.trigger, deliveryID: request.deliveryID, state: .queued, reason: nil, createdAt: time,
                startedAt: nil, finishedAt: nil, attempts: 0)
            var superseded: [Int64] = []
            if QueuePolicy.maySupersede(request, enabled: entry.supersedeOlder) {
                let known = queued[request.lane] ?? []
                superseded = QueuePolicy.superseded(
                    by: request, newID: buildID, active: known.map { (id: $0.id, lane: request.lane, state: $0.state) },
                    enabled: entry.supersedeOlder)
                for old in known where superseded.contains(old.id) {
                    // Queued in this group: its one row and status become the final ones.
                    final[old.id] = try old.applying(.supersede, reason: "superseded by build #\(buildID)", at: time)
                    if old.id < firstReservedID {
                        supersededOrder.append(old.id)
                        statusOrder.append(old.id)
                    }
                }
                queued[request.lane] = known.filter { !superseded.contains($0.id) } + [build]
            } else {
                queued[request.lane]?.append(build)
            }
            final[buildID] = build
            newOrder.append(buildID)
            statusOrder.append(buildID)
            answeredInGroup[id] = .some(buildID)
            outcomes.append(.stored(build: build, superseded: superseded))
        }
        newBuilds = newOrder.compactMap { final[$0] }
        supersededBuilds = supersededOrder.compactMap { final[$0] }
        statuses = statusOrder.compactMap { id in final[id].map { (build: $0, status: CommitStatus.of($0)) } }
    }

    enum PlanProblem: Error, CustomStringConvertible {
        case tooFewReservedIDs(Int)

        var description: String {
            switch self {
            case .tooFewReservedIDs(let count): "the delivery group reserved \(count) build ids, fewer than its new builds"
            }
        }
    }
}
