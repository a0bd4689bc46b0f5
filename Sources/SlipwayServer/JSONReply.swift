import Foundation
import Hummingbird
import SlipwayCore

/// JSON responses. Bodies are built from values Slipway chose, never from request text.
enum JSONReply {
    static func make(_ status: HTTPResponse.Status, _ value: some Encodable, headers: HTTPFields = [:]) -> Response {
        var fields = headers
        fields[.contentType] = "application/json"
        return Response(status: status, headers: fields, body: .init(byteBuffer: encoded(value)))
    }

    /// `value` as JSON, keys sorted.
    static func encoded(_ value: some Encodable) -> ByteBuffer {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return ByteBuffer(bytes: (try? encoder.encode(value)) ?? Data("{}".utf8))
    }

    static func error(_ status: HTTPResponse.Status, _ message: String, headers: HTTPFields = [:]) -> Response {
        make(status, ["error": message], headers: headers)
    }
}

/// The webhook's two hot replies, written directly: neither holds a string from a request.
enum WebhookReply {
    /// `{"build":12,"state":"queued"}`
    static func queued(build: Int64, state: BuildState) -> String {
        #"{"build":\#(build),"state":"\#(state.rawValue)"}"#
    }

    /// `{"build":12,"duplicate":true}`; build is an explicit null when none was queued.
    static func duplicate(build: Int64?) -> String {
        #"{"build":\#(build.map(String.init) ?? "null"),"duplicate":true}"#
    }
}
