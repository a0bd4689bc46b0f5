import Foundation
import SlipwayCore

/// Where one use of kubectl runs: a private directory (mode 0700) under `state_dir/tmp`
/// with the kubeconfig (mode 0600) and kubectl's home and discovery cache, removed after.
/// A deployment and a reading of the live image each get their own.
struct KubectlWorkspace {
    let directory: String
    let kubeconfigPath: String
    let environment: [String: String]

    struct Problem: Error, CustomStringConvertible {
        let description: String
    }

    /// `name`: the directory's name under `state_dir/tmp` (unique per use).
    init(stateDirectory: String, name: String, kubeconfig: String, toolEnvironment: [String: String]) throws {
        directory = "\(stateDirectory)/tmp/\(name)"
        kubeconfigPath = "\(directory)/kubeconfig"
        environment = ["PATH": ToolEnvironment.searchPath, "LANG": "C.UTF-8"]
            .merging(toolEnvironment) { $1 }.merging(["HOME": directory, "KUBECACHEDIR": "\(directory)/cache"]) { $1 }
        try FileManager.default.createDirectory(
            atPath: directory, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        guard
            FileManager.default.createFile(atPath: kubeconfigPath, contents: Data(kubeconfig.utf8), attributes: [.posixPermissions: 0o600])
        else {
            remove()
            throw Problem(description: "cannot write the kubeconfig to \(directory)")
        }
    }

    func remove() { try? FileManager.default.removeItem(atPath: directory) }
}
