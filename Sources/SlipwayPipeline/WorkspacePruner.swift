import Foundation

/// Keeps the workspaces of the newest `keep` builds (and of every running build) under
/// `state_dir/workspaces` and removes the others.
public enum WorkspacePruner {
    @discardableResult
    public static func prune(stateDirectory: String, keep: Int, running: Set<Int64>) -> [Int64] {
        let root = stateDirectory + "/workspaces"
        let ids = ((try? FileManager.default.contentsOfDirectory(atPath: root)) ?? []).compactMap(Int64.init).sorted(by: >)
        let removable = ids.dropFirst(keep).filter { !running.contains($0) }
        for id in removable { try? FileManager.default.removeItem(atPath: "\(root)/\(id)") }
        return Array(removable)
    }
}
