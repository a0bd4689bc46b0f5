import Foundation
import SlipwayCore
import Testing

@Suite struct RegistryReferenceTests {
    @Test func imageNamesSplitIntoHostRepositoryTagAndDigest() throws {
        let digest = "sha256:" + String(repeating: "ab", count: 32)
        let full = try #require(ImageReference("registry.example.com:5000/acme/model-app:main@\(digest)"))
        #expect(full.host == "registry.example.com:5000" && full.repository == "acme/model-app")
        #expect(full.tag == "main" && full.digest == digest)
        let local = try #require(ImageReference("localhost/slipway/build-3:latest"))
        #expect(local.host == "localhost" && local.repository == "slipway/build-3" && local.tag == "latest")
        let hub = try #require(ImageReference("python:3.11"))
        #expect(hub.host == "docker.io" && hub.apiHost == "registry-1.docker.io" && hub.repository == "library/python")
        #expect(ImageReference("127.0.0.1:5099/acme/app")?.tag == nil)
        for bad in ["", "/x", "a//b", "Registry.example.com/Acme/App", "r.example/app@sha256:abc", "r.example/app:"] {
            #expect(ImageReference(bad) == nil, "\(bad)")
        }
    }

    @Test func credentialsAreFoundUnderAnyOfTheWaysAHostIsWritten() {
        let file = Data(
            """
            {"auths": {"https://registry.example.com/v1/": {"auth": "\(Data("robot:s3cret:with:colons".utf8).base64EncodedString())"},
                       "other.example": {"username": "u", "password": "p"}}}
            """.utf8)
        #expect(RegistryCredentials.find(host: "registry.example.com", inAuthFile: file)! == ("robot", "s3cret:with:colons"))
        #expect(RegistryCredentials.find(host: "other.example", inAuthFile: file)! == ("u", "p"))
        #expect(RegistryCredentials.find(host: "nowhere.example", inAuthFile: file) == nil)
        #expect(RegistryCredentials.find(host: "x", inAuthFile: Data("not json".utf8)) == nil)
    }

    @Test func insecureRegistriesAreReadFromBothVersionsOfRegistriesConf() {
        let v2 = """
            unqualified-search-registries = []

            [[registry]]
            location = "127.0.0.1:5099"  # the test registry
            insecure = true

            [[registry]]
            location = "registry.example.com"
            insecure = false
            """
        #expect(InsecureRegistries.parse(v2) == ["127.0.0.1:5099"])
        #expect(
            InsecureRegistries.parse("[registries.insecure]\nregistries = ['a.local:5000', \"b.local\"]\n") == ["a.local:5000", "b.local"])
    }

    @Test func challengesNameTheirSchemeAndParameters() throws {
        let bearer = try #require(
            AuthChallenge(header: #"Bearer realm="https://auth.example/token",service="registry.example",scope="repository:a/b:pull""#))
        #expect(bearer.scheme == "bearer")
        #expect(
            bearer.parameters == ["realm": "https://auth.example/token", "service": "registry.example", "scope": "repository:a/b:pull"])
        #expect(AuthChallenge(header: #"Basic realm="slipway-test""#) == AuthChallenge(header: "basic realm=slipway-test"))
        #expect(AuthChallenge(header: "") == nil)
    }

    @Test func aPushCountsWhatTheRegistryDidNotHave() {
        let blobs = [
            PushAccounting.Blob(digest: "sha256:base", size: 2_000_000), PushAccounting.Blob(digest: "sha256:model", size: 500_000_000),
            PushAccounting.Blob(digest: "sha256:code", size: 1_234), PushAccounting.Blob(digest: "sha256:config", size: 900),
        ]
        let accounting = PushAccounting(blobs: blobs, present: ["sha256:base", "sha256:model"])
        #expect(accounting.uploadedBytes == 2_134 && accounting.reusedBytes == 502_000_000)
        #expect(accounting.summary == "push: uploaded 2 of 4 blobs, 2.1 kB; 2 already in the registry, 502.0 MB")
        #expect(
            [0, 999, 1_000, 999_949, 999_950, 1_500_000_000].map(ByteSizeText.format) == [
                "0 B", "999 B", "1.0 kB", "999.9 kB", "1.0 MB", "1.5 GB",
            ])
    }
}

@Suite struct DockerfileLabelsTests {
    @Test func theLabelsBecomeOneInstructionAtTheEndQuotedForTheParser() {
        let labels = ["ai.slipway.build": "7", "org.opencontainers.image.source": "https://x/$HOME \"q\" a\\b\nc"]
        #expect(
            DockerfileLabels.appended(to: "FROM base\nCOPY app/ /app/", labels: labels)
                == "FROM base\nCOPY app/ /app/\nLABEL \"ai.slipway.build\"=\"7\" \"org.opencontainers.image.source\"=\"https://x/\\$HOME \\\"q\\\" a\\\\b c\"\n"
        )
        // A Dockerfile that makes the backtick its escape character (Windows paths) gets backticks.
        let windows = DockerfileLabels.appended(to: "# escape=`\nFROM base\n", labels: ["k": "a`b$c"])
        #expect(windows.hasSuffix("LABEL \"k\"=\"a``b`$c\"\n"), "\(windows)")
        #expect(DockerfileLabels.appended(to: "FROM base\n", labels: [:]) == "FROM base\n")
    }
}
