import Foundation
import SlipwayCore
import Synchronization

/// How a builder whose image store drops a removed image's unnamed parent layers (buildah,
/// podman: `rmi` removes them with it) keeps a repository's layers for its next build: the
/// newest finished build's image is kept under `tag`, one per repository, and only the
/// build's own name is removed. The image that held the tag before is retired
/// (`LocalImageCache`). Pure: argv only.
public struct LayerCacheCommands: Sendable, Equatable {
    public let tool: String
    /// `localhost/slipway/cache/OWNER/NAME:latest`, lowercased, other characters as `-`.
    public let tag: String

    public init(tool: String, repository: String) {
        self.tool = tool
        let path = repository.lowercased().split(separator: "/").map { part in
            part.split { !($0.isASCII && ($0.isLetter || $0.isNumber)) }.joined(separator: "-")
        }.filter { !$0.isEmpty }
        tag = "localhost/slipway/cache/\(path.isEmpty ? "repository" : path.joined(separator: "/")):latest"
    }

    /// Prints the full id of `image`.
    public func imageID(_ image: String) -> [String] { [tool, "images", "--quiet", "--no-trunc", image] }
    public func tagAsCache(_ image: String) -> [String] { [tool, "tag", image, tag] }
    /// Removes the name only: the image keeps the cache tag.
    public func removeName(_ image: String) -> [String] { [tool, "rmi", image] }
    /// Removes a retired image, which the tool refuses while it has a name, a child image
    /// or a container: then it is left alone.
    public func removeRetired(_ id: String) -> [String] { [tool, "rmi", id] }
}

/// The image builds running on one container storage, and the images retired from its
/// layer cache. A retired image may be exactly what a running build has just matched in
/// the cache (a build of the same commit and model) and is about to name: it is removed
/// only while no build runs, and a build that starts meanwhile waits for that removal
/// (seconds). Retired images left by a stopped daemon stay until the storage is pruned.
public final class LocalImageCache: Sendable {
    private struct State {
        var building = 0
        var removing = false
        var retired: Set<String> = []
        var waiting: [CheckedContinuation<Void, Never>] = []
    }
    private let state = Mutex(State())
    private let remove: @Sendable ([String]) async -> Void

    /// `remove`: removes those image ids (and is told nothing back: a refused removal is fine).
    public init(remove: @escaping @Sendable ([String]) async -> Void) {
        self.remove = remove
    }

    private static let shared = Mutex<[String: LocalImageCache]>([:])

    /// The one for a storage (keyed by its configuration), removing images with `remove`
    /// the first time it is asked for.
    public static func forStorage(_ key: String, remove: @escaping @Sendable ([String]) async -> Void) -> LocalImageCache {
        shared.withLock { caches in
            if let cache = caches[key] { return cache }
            let cache = LocalImageCache(remove: remove)
            caches[key] = cache
            return cache
        }
    }

    /// Runs an image build, after any removal under way.
    public func building<T: Sendable>(_ body: () async throws -> T) async rethrows -> T {
        await enter()
        defer { leave() }
        return try await body()
    }

    /// Marks `id` for removal: now when no build runs, else when the last one ends.
    public func retire(_ id: String) {
        let start = state.withLock { state in
            state.retired.insert(id)
            return state.building == 0 && !state.removing
        }
        if start { startRemoval() }
    }

    /// Whether an image build runs now.
    public var isBuilding: Bool { state.withLock { $0.building > 0 } }

    private func enter() async {
        let admitted = state.withLock { state in
            guard !state.removing else { return false }
            state.building += 1
            return true
        }
        if admitted { return }
        await withCheckedContinuation { continuation in
            let now = state.withLock { state in
                guard state.removing else {
                    state.building += 1
                    return true
                }
                state.waiting.append(continuation)
                return false
            }
            if now { continuation.resume() }
        }
    }

    private func leave() {
        let start = state.withLock { state in
            state.building -= 1
            return state.building == 0 && !state.removing && !state.retired.isEmpty
        }
        if start { startRemoval() }
    }

    private func startRemoval() {
        let ids: [String]? = state.withLock { state in
            guard state.building == 0, !state.removing, !state.retired.isEmpty else { return nil }
            state.removing = true
            defer { state.retired.removeAll() }
            return state.retired.sorted()
        }
        guard let ids else { return }
        Task {
            await remove(ids)
            let admitted = state.withLock { state in
                state.removing = false
                state.building += state.waiting.count
                defer { state.waiting.removeAll() }
                return state.waiting
            }
            for waiter in admitted { waiter.resume() }
            // Retired while removing, with no build admitted: their turn now.
            if admitted.isEmpty { startRemoval() }
        }
    }
}
