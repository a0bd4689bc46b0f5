import SlipwayCore
import SlipwayPipeline
import Testing

/// The argv each builder gets. buildah runs for real in the end-to-end tests; docker and
/// podman cannot run on this machine, so their command lines are checked here.
@Suite struct ImageBuilderTests {
    let labels = ["org.opencontainers.image.revision": "abc", "ai.slipway.build": "7"]

    @Test func buildahUsesChrootIsolationAndADigestFile() {
        let buildah = ImageBuilders.make(.buildah, environment: [:])
        #expect(
            buildah.buildArguments(contextDirectory: "/w/src", dockerfile: "/w/src/Dockerfile", tag: "localhost/x:1", labels: labels)
                == [
                    "buildah", "bud", "--isolation", "chroot", "--layers=true", "--file", "/w/src/Dockerfile", "--tag", "localhost/x:1",
                    "--label", "ai.slipway.build=7", "--label", "org.opencontainers.image.revision=abc", "/w/src",
                ])
        #expect(
            buildah.pushCommands(image: "localhost/x:1", destination: "r.example/x:main", authFile: "/a.json", digestFile: "/d")
                == [["buildah", "push", "--authfile", "/a.json", "--digestfile", "/d", "localhost/x:1", "docker://r.example/x:main"]])
        #expect(
            buildah.smokeCommands(image: "localhost/x:1", container: "c", argv: ["/app", "$(x)"]).last
                == ["buildah", "run", "--isolation", "chroot", "c", "--", "/app", "$(x)"])
        #expect(
            ImageBuilders.make(.buildah, environment: ["BUILDAH_ISOLATION": "oci"])
                .buildArguments(contextDirectory: ".", dockerfile: "D", tag: "t", labels: [:])[3] == "oci")
    }

    @Test func podmanPushesWithAuthAndDigestFiles() {
        let podman = ImageBuilders.make(.podman, environment: [:])
        #expect(
            podman.buildArguments(contextDirectory: "/c", dockerfile: "/c/D", tag: "t", labels: [:]) == [
                "podman", "build", "--file", "/c/D", "--tag", "t", "/c",
            ])
        #expect(
            ImageBuilders.make(.podman, environment: [:], layers: false)
                .buildArguments(contextDirectory: ".", dockerfile: "D", tag: "t", labels: [:]).contains("--layers=false"))
        #expect(
            ImageBuilders.make(.buildah, environment: [:]).buildArguments(
                contextDirectory: ".", dockerfile: "D", tag: "t", labels: [:], buildArgs: ["B": "2", "A": "x y"], timestamp: 1_700_000_000
            )
            .joined(separator: " ").contains("--layers=true --timestamp 1700000000 --file D --tag t --build-arg A=x y --build-arg B=2 ."),
            "the commit's time on every layer, the build arguments in order")
        #expect(
            ImageBuilders.make(.buildah, environment: [:], layers: false)
                .buildArguments(contextDirectory: ".", dockerfile: "D", tag: "t", labels: [:]).contains("--layers=false"))
        #expect(
            ImageBuilders.make(.buildah, environment: [:], layers: true)
                .buildArguments(contextDirectory: ".", dockerfile: "D", tag: "t", labels: [:]).contains("--layers=true"))
        #expect(
            podman.pushCommands(image: "t", destination: "r/x:1", authFile: nil, digestFile: "/d")
                == [["podman", "push", "--digestfile", "/d", "t", "docker://r/x:1"]])
        #expect(
            podman.smokeCommands(image: "t", container: "c", argv: ["/app"]) == [
                ["podman", "run", "--rm", "--pull=never", "--name", "c", "t", "/app"]
            ])
    }

    @Test func dockerReadsItsAuthFromTheFilesDirectoryAndItsDigestFromOutput() {
        let docker = ImageBuilders.make(.docker, environment: [:])
        #expect(!docker.buildArguments(contextDirectory: "/c", dockerfile: "/c/D", tag: "t", labels: [:]).contains("--no-cache"))
        #expect(
            ImageBuilders.make(.docker, environment: [:], layers: false)
                .buildArguments(contextDirectory: "/c", dockerfile: "/c/D", tag: "t", labels: [:]).contains("--no-cache"))
        #expect(
            docker.pushCommands(image: "t", destination: "r/x:1", authFile: "/s/auth/config.json", digestFile: "/d")
                == [["docker", "tag", "t", "r/x:1"], ["docker", "push", "r/x:1"]])
        #expect(docker.pushEnvironment(authFile: "/s/auth/config.json") == ["DOCKER_CONFIG": "/s/auth"])
        let output = "main: digest: sha256:\(String(repeating: "ab", count: 32)) size: 528"
        #expect(imageDigest(in: output) == "sha256:" + String(repeating: "ab", count: 32))
        #expect(imageDigest(in: "no digest here") == nil)
    }
}
