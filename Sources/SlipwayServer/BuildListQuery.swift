import SlipwayCore
import SlipwayStore

/// `?repository=&state=&limit=&before=` of the build list (API and page). Empty values
/// mean "any" (an HTML form sends them).
enum BuildListQuery {
    static func parse(_ value: (String) -> String?, defaultLimit: Int = 50) -> Result<BuildFilter, QueryProblem> {
        func present(_ key: String) -> String? { value(key).flatMap { $0.isEmpty ? nil : $0 } }
        var filter = BuildFilter(limit: defaultLimit)
        filter.repository = present("repository")
        if let text = present("state") {
            guard let state = BuildState(rawValue: text) else {
                return .failure(QueryProblem("state must be one of \(BuildState.allCases.map(\.rawValue).joined(separator: ", "))"))
            }
            filter.state = state
        }
        if let text = present("limit") {
            guard let limit = Int(text), (1...200).contains(limit) else { return .failure(QueryProblem("limit must be 1 to 200")) }
            filter.limit = limit
        }
        if let text = present("before") {
            guard let before = Int64(text) else { return .failure(QueryProblem("before must be a build id")) }
            filter.before = before
        }
        return .success(filter)
    }
}

struct QueryProblem: Error {
    let message: String
    init(_ message: String) { self.message = message }
}
