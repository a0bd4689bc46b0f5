import Foundation
import Testing

@testable import SlipwayCore

@Suite struct ImagePlanTests {
    let build = Build(
        id: 12, repository: "acme/app", ref: "refs/heads/feature/x", sha: "0123456789abcdef0123456789abcdef01234567",
        cloneURL: "git@github.com:acme/app.git", trigger: .push, deliveryID: nil, state: .running, reason: nil,
        createdAt: 0, startedAt: nil, finishedAt: nil, attempts: 1)

    @Test func tagsAreRenderedDeduplicatedAndModelTagsNeedAModel() {
        let templates = ["{sha}", "{branch}", "{branch}", "{short_sha}-{model_version}"]
        let without = ImagePlan.tags(templates: templates, build: build, model: nil)
        #expect(without.tags == [build.sha.hex, "feature-x"])
        #expect(without.skipped == ["{short_sha}-{model_version}"])
        let model = ModelProvenance(source: "s3://m/r.onnx", version: "\"v12\"", sha256: String(repeating: "a", count: 64))
        #expect(ImagePlan.tags(templates: templates, build: build, model: model).tags == [build.sha.hex, "feature-x", "0123456-v12"])
    }

    @Test func labelsCarryTheSpecKeys() {
        let model = ModelProvenance(source: "s3://m/r.onnx", version: "v12", sha256: String(repeating: "a", count: 64))
        let labels = ImagePlan.labels(
            build: build, repositoryURL: "https://github.com/acme/app", created: Date(timeIntervalSince1970: 0), model: model)
        #expect(labels["org.opencontainers.image.source"] == "https://github.com/acme/app")
        #expect(labels["org.opencontainers.image.revision"] == build.sha.hex)
        #expect(labels["org.opencontainers.image.created"] == "1970-01-01T00:00:00Z")
        #expect(labels["ai.slipway.model.source"] == "s3://m/r.onnx")
        #expect(labels["ai.slipway.model.sha256"] == String(repeating: "a", count: 64))
        #expect(labels["ai.slipway.model.version"] == "v12")
    }

    @Test func repositoryURLsDropCredentialsAndTheGitSuffix() {
        #expect(ImagePlan.repositoryURL(cloneURL: "git@github.com:acme/app.git", repository: "acme/app") == "https://github.com/acme/app")
        #expect(
            ImagePlan.repositoryURL(cloneURL: "https://user:tok@git.example/acme/app.git", repository: "acme/app")
                == "https://git.example/acme/app")
        #expect(ImagePlan.repositoryURL(cloneURL: nil, repository: "acme/app") == "https://github.com/acme/app")
    }

    @Test func registryCredentialsInsideAnAuthFileAreMasked() {
        let auth = Data("robot:hunter2-long".utf8).base64EncodedString()
        let variants = SecretVariants.of(#"{"auths":{"r.example":{"auth":"\#(auth)"}}}"#)
        #expect(variants.contains(auth))
        #expect(variants.contains("hunter2-long"))
    }
}

@Suite struct SlipwayBuildArgumentsTests {
    let model = ModelProvenance(source: "s3://m/model.npz", version: "v1", sha256: String(repeating: "b", count: 64))

    @Test func theModelDigestIsPassedOnlyToADockerfileThatDeclaresIt() {
        let declaring = """
            FROM base
            arg OTHER=1 \\
                SLIPWAY_MODEL_SHA256
            RUN --mount=type=bind,source=model,target=/m echo "$SLIPWAY_MODEL_SHA256  /m/x" | sha256sum -c -
            """
        #expect(SlipwayBuildArguments.values(for: declaring, model: model) == ["SLIPWAY_MODEL_SHA256": model.sha256])
        #expect(SlipwayBuildArguments.values(for: declaring, model: nil).isEmpty, "no model, no digest")
        // Named only in a comment or a RUN, or declared under another name: not declared.
        let mentioning = "FROM base\n# ARG SLIPWAY_MODEL_SHA256\nRUN echo SLIPWAY_MODEL_SHA256\nARG SLIPWAY_MODEL_SHA2567=x\n"
        #expect(SlipwayBuildArguments.values(for: mentioning, model: model).isEmpty)
    }

    @Test func instructionsJoinContinuationLinesWithTheFilesEscapeCharacter() {
        #expect(SlipwayBuildArguments.instructions(of: "FROM a\n\nRUN x \\\n  y\n# c\nARG B") == ["FROM a", "RUN x y", "ARG B"])
        #expect(SlipwayBuildArguments.instructions(of: "# escape=`\r\nFROM a\r\nARG A `\r\n B\r\n") == ["FROM a", "ARG A B"])
    }
}
