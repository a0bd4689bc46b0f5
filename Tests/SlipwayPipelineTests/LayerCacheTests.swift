import Foundation
import SlipwayPipeline
import Synchronization
import Testing

@Suite struct LayerCacheTests {
    @Test func buildahsOutputSaysWhichLayersCameFromTheCache() {
        let output = """
            STEP 1/3: FROM localhost/slipway-model-app-base:bookworm
            STEP 2/3: COPY model/ /app/model/
            --> Using cache 41da8a11bbd9c3f73b9044a737432f952b367092b7a31b33e504da7fae0a83f3
            --> 41da8a11bbd
            STEP 3/3: COPY app/ /app/app/
            STEP 4/4: CMD ["gunicorn", "app:app"]
            STEP 5/5: LABEL "ai.slipway.build"="7"
            COMMIT localhost/slipway/build-7:latest
            --> 432244e425c
            """
        let report = LayerReuseReport.parse(output.split(separator: "\n"))
        #expect(report == LayerReuseReport(reused: ["COPY model/ /app/model/"], built: ["COPY app/ /app/app/"]))
        #expect(report.summary == "layers: 1 of 2 reused from earlier builds (COPY model/ /app/model/); built anew: COPY app/ /app/app/")
        let multiStage = LayerReuseReport.parse([
            "STEP 1/4: FROM a AS build", "STEP 2/4: RUN make", "STEP 3/4: FROM b", "STEP 4/4: COPY --from=build /out /",
        ])
        #expect(multiStage.built == ["RUN make", "COPY --from=build /out /"] && multiStage.reused.isEmpty)
        #expect(LayerReuseReport.parse(["STEP 1/1: FROM scratch"]).summary == "layers: the Dockerfile makes none")
        // A RUN written over several lines is printed on one, with its indentation.
        let run = LayerReuseReport.parse([
            "STEP 2/3: RUN --mount=type=bind,source=model,target=/mnt/model     echo \"$SHA  /mnt/model/m\" | sha256sum -c -",
            "--> Using cache 0eb84f28cbd7",
        ])
        #expect(run.reused == ["RUN --mount=type=bind,source=model,target=/mnt/model echo \"$SHA /mnt/model/m\" | sha256sum -c -"])
        #expect(
            run.summary.hasPrefix("layers: 1 of 1 reused from earlier builds (RUN --mount=type=bind,source=model,target=/mnt/model echo"))
        #expect(run.summary.hasSuffix("…)"), "long instructions are cut: \(run.summary)")
    }

    @Test func linesAreCollectedWholeHoweverTheOutputIsSplit() {
        let collector = LineCollector(forwardingTo: nil) { $0.hasPrefix("STEP ") }
        for chunk in ["noise\nST", "EP 1/2: FROM x\nmore", " noise\nSTEP 2/2: COPY a b"] { collector.output(Array(chunk.utf8)) }
        collector.flushPending()
        #expect(collector.lines == ["STEP 1/2: FROM x", "STEP 2/2: COPY a b"])
    }

    @Test func eachRepositoryHasOneCacheTagThatToolsAccept() {
        let cache = LayerCacheCommands(tool: "buildah", repository: "Acme/My_Model..App")
        #expect(cache.tag == "localhost/slipway/cache/acme/my-model-app:latest")
        #expect(cache.tagAsCache("localhost/slipway/build-3:latest") == ["buildah", "tag", "localhost/slipway/build-3:latest", cache.tag])
        #expect(
            cache.removeName("localhost/slipway/build-3:latest") == ["buildah", "rmi", "localhost/slipway/build-3:latest"], "never --force")
    }

    @Test func aRetiredImageIsRemovedOnlyWhileNoBuildRunsAndBuildsWaitForTheRemoval() async throws {
        let removed = Mutex<[[String]]>([])
        let removing = SyncFlag()
        let cache = LocalImageCache { ids in
            removed.withLock { $0.append(ids) }
            await removing.waitUntilCleared()
        }
        let building = SyncFlag()
        let build = Task {
            await cache.building { await building.waitUntilCleared() }
        }
        try await pollUntil { cache.isBuilding }
        cache.retire("old-1")
        try await Task.sleep(for: .milliseconds(100))
        #expect(removed.withLock { $0 }.isEmpty, "not while a build runs")
        building.clear()
        await build.value
        try await pollUntil { removed.withLock { $0 } == [["old-1"]] }

        // While the removal runs, a new build waits for it.
        let started = SyncFlag()
        let next = Task { await cache.building { started.clear() } }
        try await Task.sleep(for: .milliseconds(100))
        #expect(started.isSet, "the build waits for the removal")
        removing.clear()
        await next.value
        #expect(!started.isSet)
    }

    private func pollUntil(_ condition: () -> Bool) async throws {
        let deadline = ContinuousClock.now + .seconds(30)
        while !condition() {
            guard ContinuousClock.now < deadline else { throw CancellationError() }
            try await Task.sleep(for: .milliseconds(5))
        }
    }
}

/// Set until cleared; tasks can wait for the clearing.
final class SyncFlag: Sendable {
    private let state = Mutex<(set: Bool, waiters: [CheckedContinuation<Void, Never>])>((true, []))
    var isSet: Bool { state.withLock { $0.set } }
    func clear() {
        let waiters = state.withLock { state in
            state.set = false
            defer { state.waiters.removeAll() }
            return state.waiters
        }
        for waiter in waiters { waiter.resume() }
    }
    func waitUntilCleared() async {
        await withCheckedContinuation { continuation in
            let now = state.withLock { state in
                if state.set { state.waiters.append(continuation) }
                return !state.set
            }
            if now { continuation.resume() }
        }
    }
}
