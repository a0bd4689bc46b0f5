import SlipwayCore

/// The steps of a build, in the SPEC's order: checkout, test, model, image, smoke, push.
public struct BuildPlan: Sendable {
    let mirrors = GitMirrors()
    let toolEnvironment: [String: String]

    public init(toolEnvironment: [String: String]) {
        self.toolEnvironment = toolEnvironment
    }

    public func steps(for build: Build, repository: RepositoryConfig) -> [any BuildStep] {
        var steps: [any BuildStep] = [CheckoutStep(mirrors: mirrors)]
        if let test = repository.test { steps.append(CommandStep(name: "test", argv: test)) }
        if let model = repository.model { steps.append(ModelStep(model: model)) }
        if let image = repository.image {
            let builder = ImageBuilders.make(image.builder, environment: toolEnvironment, layers: image.layers)
            steps.append(ImageStep(builder: builder, image: image))
            if let smoke = image.smoke { steps.append(SmokeStep(builder: builder, argv: smoke)) }
            steps.append(PushStep(builder: builder, image: image))
        }
        return steps
    }
}
