import SlipwayCore
import Testing

/// Image tag templates (`{branch}-{short_sha}`) render to tags a registry accepts.
@Suite struct TagTemplateTests {
    @Test func tagTemplatesRenderToValidTags() {
        #expect(
            TagTemplate.render("{branch}-{short_sha}", values: ["branch": "feature/$(x)", "short_sha": "abc1234"]) == "feature---x--abc1234"
        )
        #expect(TagTemplate.render("{branch}", values: ["branch": ".hidden"]) == "_hidden")
    }
}
