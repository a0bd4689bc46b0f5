import SlipwayCore
import Testing

@Suite struct SecretMaskerTests {
    @Test func secretsBecomeStars() {
        let masker = SecretMasker(secrets: ["s3cr3t-value", "ghp_abcdef"])
        #expect(masker.mask("token=ghp_abcdef and s3cr3t-value!") == "token=*** and ***!")
    }

    @Test func multiLineSecretsAreMaskedLineByLineSkippingShortLines() {
        let key = "-----BEGIN KEY-----\nMIIEabcdefgh\n}\n-----END KEY-----"
        let masker = SecretMasker(secrets: [key])
        #expect(masker.mask("MIIEabcdefgh") == "***")
        #expect(masker.mask("}") == "}")
    }
}
