import SlipwayCore

/// Secret values for a test, keyed by reference text (`env:NAME`, `file:PATH`).
public struct DictionarySecretSource: SecretSource {
    public let values: [String: String]

    public init(values: [String: String]) { self.values = values }

    public func value(of reference: SecretReference) -> Result<String, SecretLookupError> {
        values[reference.description].map { .success($0) }
            ?? .failure(SecretLookupError(reference: reference, reason: "not set"))
    }
}
