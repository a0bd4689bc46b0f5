import Foundation
import SlipwayCore

/// One input, one parser, chosen by the first byte: the signature headers (parsed, then
/// checked against a body), a push payload (decoded and classified against a config),
/// a YAML config, a cron expression. Every input must end in a value or a thrown error:
/// a crash, a hang or a leak is a finding.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> Int32 {
    guard size > 0 else { return 0 }
    let bytes = Array(UnsafeBufferPointer(start: data + 1, count: size - 1))
    let text = String(decoding: bytes, as: UTF8.self)
    switch data[0] % 4 {
    case 0:
        let lines = text.split(separator: "\n", maxSplits: 2, omittingEmptySubsequences: false).map(String.init)
        let sha256 = lines.first, sha1 = lines.count > 1 ? lines[1] : nil, body = lines.count > 2 ? Array(lines[2].utf8) : []
        if let signature = try? WebhookSignature.parse(sha256Header: sha256, sha1Header: sha1) {
            _ = signature.isValid(body: body, secrets: [Array("fuzz-secret".utf8)])
        }
    case 1:
        _ = try? DeliveryClassifier.classify(event: "push", deliveryID: "fuzz", payload: bytes, config: FuzzInputs.config)
        _ = PayloadRepository.fullName(in: bytes)
    case 2:
        _ = try? ConfigParser.parse(yaml: text)
    default:
        if let schedule = try? CronSchedule(text) {
            _ = schedule.next(after: FuzzInputs.start, in: FuzzInputs.utc)
        }
    }
    return 0
}

enum FuzzInputs {
    static let config: Config = {
        let yaml = """
            repositories:
              - name: Codertocat/Hello-World
                webhook_secrets: [env:S]
                branches: ["main", "release/*", "**/hotfix-*"]
                tags: true
            """
        return try! ConfigParser.parse(yaml: yaml)
    }()
    static let start = Date(timeIntervalSince1970: 1_795_000_000)
    static let utc = TimeZone(identifier: "UTC")!
}

/// SwiftPM links an executable target's entry point as `<Target>_main`; hand it to
/// libFuzzer's driver, which then calls `LLVMFuzzerTestOneInput` for each input.
@_silgen_name("LLVMFuzzerRunDriver")
func runFuzzerDriver(
    _ argc: UnsafeMutablePointer<Int32>, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?>,
    _ callback: @convention(c) (UnsafePointer<UInt8>, Int) -> Int32
) -> Int32

@_cdecl("SlipwayFuzz_main")
public func fuzzerMain(_ argc: Int32, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> Int32 {
    var count = argc
    var arguments = argv
    return runFuzzerDriver(&count, &arguments) { data, size in fuzz(data, size) }
}
