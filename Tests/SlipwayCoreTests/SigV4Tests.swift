import Foundation
import SlipwayCore
import Testing

/// The signature examples AWS publishes for S3 (Signature Version 4, "Examples of
/// signature calculations": GET object with a range, GET bucket lifecycle, list objects).
@Suite struct SigV4Tests {
    let signer = SigV4(
        accessKeyID: "AKIAIOSFODNN7EXAMPLE", secretAccessKey: "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", region: "us-east-1")
    let date = Date(timeIntervalSince1970: 1_369_353_600)   // 2013-05-24T00:00:00Z

    func signature(_ request: SigV4.Request) -> String? {
        signer.sign(request, at: date)["Authorization"]?.components(separatedBy: "Signature=").last
    }

    @Test func getObjectWithRange() {
        let request = SigV4.Request(
            method: "GET", path: "/test.txt",
            headers: ["Host": "examplebucket.s3.amazonaws.com", "Range": "bytes=0-9"],
            payloadHash: SigV4.emptyPayloadHash)
        #expect(signature(request) == "f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41")
        #expect(
            signer.sign(request, at: date)["Authorization"]?.contains(
                "Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request, SignedHeaders=host;range;x-amz-content-sha256;x-amz-date,"
            ) == true)
    }

    @Test func getBucketLifecycle() {
        let request = SigV4.Request(
            method: "GET", path: "/", query: [("lifecycle", "")],
            headers: ["Host": "examplebucket.s3.amazonaws.com"], payloadHash: SigV4.emptyPayloadHash)
        #expect(signature(request) == "fea454ca298b7da1c68078a5d1bdbfbbe0d65c699e0f91ac7a200a0136783543")
    }

    @Test func listObjects() {
        let request = SigV4.Request(
            method: "GET", path: "/", query: [("max-keys", "2"), ("prefix", "J")],
            headers: ["Host": "examplebucket.s3.amazonaws.com"], payloadHash: SigV4.emptyPayloadHash)
        #expect(signature(request) == "34b48302e7b5fa45bde8084f4b7868a86f0a534bc59db6670ed5711ef69dc6f7")
    }

    @Test func sessionTokensAreSignedAndQueryValuesEncoded() {
        var withToken = signer
        withToken.sessionToken = "token/with+chars"
        let request = SigV4.Request(
            method: "GET", path: "/", query: [("prefix", "resnet/v 1")],
            headers: ["Host": "b.s3.amazonaws.com"], payloadHash: SigV4.emptyPayloadHash)
        let headers = withToken.sign(request, at: date)
        #expect(headers["x-amz-security-token"] == "token/with+chars")
        #expect(headers["Authorization"]?.contains("x-amz-security-token") == true)
        #expect(SigV4.canonicalRequest(request).text.contains("prefix=resnet%2Fv%201"))
    }
}
