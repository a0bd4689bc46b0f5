import Foundation
import Hummingbird

/// JSON responses. Bodies are built from values Slipway chose, never from request text.
enum JSONReply {
    static func make(_ status: HTTPResponse.Status, _ value: some Encodable, headers: HTTPFields = [:]) -> Response {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        let data = (try? encoder.encode(value)) ?? Data("{}".utf8)
        var fields = headers
        fields[.contentType] = "application/json"
        return Response(status: status, headers: fields, body: .init(byteBuffer: ByteBuffer(bytes: data)))
    }

    static func error(_ status: HTTPResponse.Status, _ message: String, headers: HTTPFields = [:]) -> Response {
        make(status, ["error": message], headers: headers)
    }
}

/// `{"build": 12, "state": "queued"}`
struct QueuedReply: Encodable {
    let build: Int64
    let state: String
}

/// `{"duplicate": true, "build": 12}` (build may be null).
struct DuplicateReply: Encodable {
    let duplicate = true
    let build: Int64?

    func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(duplicate, forKey: .duplicate)
        try container.encode(build, forKey: .build)  // explicit null, not an absent key
    }

    enum CodingKeys: String, CodingKey { case duplicate, build }
}
