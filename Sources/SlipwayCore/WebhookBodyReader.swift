/// A webhook body read as it arrives, so that before its signature can be checked it
/// costs a small, fixed amount of memory, however large it is (up to `max_body_bytes`):
/// - up to `wholeLimit` bytes (nearly every delivery: a push is ~8 KB) the body is kept
///   as sent, and checked and read as before;
/// - past that, nothing of it is kept but the MACs of every configured secret
///   (`WebhookSignature.StreamingCheck`) and the few fields a push is read for
///   (`PayloadReducer`, behind `FormPayloadDecoder` for a form body).
public struct WebhookBodyReader {
    public static let wholeLimit = 64 * 1024

    public enum Body {
        /// The body as sent.
        case whole([UInt8])
        /// A larger body: the signature check, and the payload reduced to the fields read
        /// (nil: a form body without a `payload` field).
        case streamed(WebhookSignature.StreamingCheck, payload: Result<[UInt8], PayloadReducer.Problem>?)
    }

    public struct TooLarge: Error {}

    /// The key tree of a push, prepared once.
    private static let pushFields = PayloadReducer.Plan(PushEvent.fields)

    private let signature: WebhookSignature
    private let everySecret: [[UInt8]]
    private let isForm: Bool
    private let limit: Int
    private var whole: [UInt8] = []
    private var count = 0
    private var streaming: (check: WebhookSignature.StreamingCheck, form: FormPayloadDecoder, reducer: PayloadReducer)?

    /// `everySecret`: every configured webhook secret (which apply is known at the end).
    public init(signature: WebhookSignature, everySecret: [[UInt8]], isForm: Bool, limit: Int, declaredLength: Int?) {
        self.signature = signature
        self.everySecret = everySecret
        self.isForm = isForm
        self.limit = limit
        whole.reserveCapacity(min(declaredLength ?? 16 * 1024, Self.wholeLimit))
    }

    public mutating func consume(_ chunk: UnsafeRawBufferPointer) throws(TooLarge) {
        count += chunk.count
        guard count <= limit else { throw TooLarge() }
        if streaming == nil, count <= Self.wholeLimit {
            whole.append(contentsOf: chunk)
            return
        }
        if streaming == nil {
            // Past the limit: what was kept goes through the streams, then is let go.
            streaming = (
                WebhookSignature.StreamingCheck(signature, secrets: everySecret), FormPayloadDecoder(),
                PayloadReducer(plan: Self.pushFields)
            )
            let kept = whole
            whole = []
            kept.withUnsafeBytes { stream($0) }
        }
        stream(chunk)
    }

    private mutating func stream(_ bytes: UnsafeRawBufferPointer) {
        guard var state = streaming else { return }
        streaming = nil   // one owner of the reducer while it is fed (no copy of its state)
        state.check.update(bytes)
        if isForm {
            state.form.consume(bytes) { state.reducer.consume($0) }
        } else {
            state.reducer.consume(bytes)
        }
        streaming = state
    }

    public mutating func finish() -> Body {
        guard var state = streaming else { return .whole(whole) }
        if isForm, !state.form.finish() { return .streamed(state.check, payload: nil) }
        return .streamed(state.check, payload: state.reducer.finish())
    }
}
