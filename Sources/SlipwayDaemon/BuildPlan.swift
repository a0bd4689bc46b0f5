import SlipwayCore
import SlipwayPipeline
import SlipwayStore

/// The steps of a build, in the SPEC's order: checkout, test, model, image, smoke, push.
/// Only `test` exists so far; the others come with their adapters.
enum BuildPlan {
    @Sendable
    static func steps(for build: Build, repository: RepositoryConfig) -> [any BuildStep] {
        var steps: [any BuildStep] = []
        if let test = repository.test { steps.append(CommandStep(name: "test", argv: test)) }
        return steps
    }
}
