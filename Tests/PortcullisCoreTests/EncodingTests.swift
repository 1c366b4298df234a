import Foundation
import Testing

@testable import PortcullisCore

/// Base64url and JSON strings, the two decoders every token goes through, against independent
/// references: Foundation's base64 decoder (with the URL alphabet mapped back and padding added),
/// and JSONSerialization.
@Suite struct EncodingTests {
    /// A small deterministic generator, so a failure repeats.
    struct SplitMix: RandomNumberGenerator {
        var state: UInt64
        mutating func next() -> UInt64 {
            state &+= 0x9E37_79B9_7F4A_7C15
            var z = state
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return z ^ (z >> 31)
        }
    }

    /// Foundation's answer, made strict as Base64URL is: the text must be the one spelling of
    /// what it decodes to (no padding, no stray bits).
    static func reference(_ text: String) -> [UInt8]? {
        guard text.utf8.allSatisfy({ $0 != UInt8(ascii: "+") && $0 != UInt8(ascii: "/") && $0 != UInt8(ascii: "=") }) else { return nil }
        var std = text.replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "_", with: "/")
        while std.utf8.count % 4 != 0 { std += "=" }
        guard let data = Data(base64Encoded: std) else { return nil }
        let bytes = [UInt8](data)
        return Base64URL.encode(bytes) == text ? bytes : nil
    }

    @Test func base64URLRoundTripsEveryLength() {
        var rng = SplitMix(state: 1)
        for n in 0..<200 {
            let bytes = (0..<n).map { _ in UInt8.random(in: 0...255, using: &rng) }
            let text = Base64URL.encode(bytes)
            #expect(Base64URL.decode(text) == bytes, "length \(n)")
        }
    }

    @Test func base64URLAgreesWithFoundationOnRandomText() {
        var rng = SplitMix(state: 2)
        let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_".utf8)
        let strays = Array("+/= .\n\u{0}~".utf8) + [0x80, 0xFF]
        var accepted = 0
        for _ in 0..<20_000 {
            let n = Int.random(in: 0...13, using: &rng)
            var text = (0..<n).map { _ in alphabet.randomElement(using: &rng)! }
            if n > 0 && Int.random(in: 0..<8, using: &rng) == 0 {
                text[Int.random(in: 0..<n, using: &rng)] = strays.randomElement(using: &rng)!
            }
            let got = text.withUnsafeBytes { Base64URL.decode($0) }
            let s = String(decoding: text, as: UTF8.self)
            let want = text.allSatisfy({ $0 < 0x80 }) ? Self.reference(s) : nil
            #expect(got == want, "\(s.debugDescription)")
            if got != nil { accepted += 1 }
        }
        #expect(accepted > 1000)
    }

    @Test func base64URLRefusesNonCanonicalText() {
        #expect(Base64URL.decode("QQ") == [0x41])
        #expect(Base64URL.decode("QR") == nil)
        #expect(Base64URL.decode("QUE") == [0x41, 0x41])
        #expect(Base64URL.decode("QUF") == nil)
        #expect(Base64URL.decode("QQ==") == nil)
        #expect(Base64URL.decode("Q") == nil)
        #expect(Base64URL.decode("") == [])
        #expect(Base64URL.decode("QUFB+") == nil)
    }

    static let strings: [(json: [UInt8], text: String?)] = [
        (Array(#""plain ascii""#.utf8), "plain ascii"),
        (Array(#""""#.utf8), ""),
        (Array(#""a longer ascii member name than fifteen bytes""#.utf8), "a longer ascii member name than fifteen bytes"),
        (Array(#""tab\tquote\"slash\/back\\""#.utf8), "tab\tquote\"slash/back\\"),
        (Array(#""caf\u00e9 \ud83d\ude00""#.utf8), "café 😀"),
        (Array("\"café 😀\"".utf8), "café 😀"),
        ([0x22, 0x61, 0xFF, 0x22], nil),                 // not UTF-8
        ([0x22, 0xC3, 0x22], nil),                       // truncated sequence
        ([0x22, 0xED, 0xA0, 0x80, 0x22], nil),           // an encoded surrogate
        ([0x22, 0x61, 0x0A, 0x22], nil),                 // a raw control character
        (Array(#""\ud800""#.utf8), nil),                 // lone surrogate
        (Array(#""unterminated"#.utf8), nil),
    ]

    @Test(arguments: strings.indices) func jsonStrings(index: Int) throws {
        let (json, text) = Self.strings[index]
        let parsed = try? JSONValue.parse(json)
        if let text {
            #expect(parsed == .string(text))
            // JSONSerialization reads the same text.
            let fromFoundation = try JSONSerialization.jsonObject(with: Data(json), options: [.fragmentsAllowed]) as? String
            #expect(fromFoundation == text)
        } else {
            #expect(parsed == nil)
        }
    }

    @Test func jsonObjectsKeepMembersAndRefuseDuplicates() throws {
        let v = try JSONValue.parse(Array(#"{"sub":"u-1","aud":"app","n":42,"ok":true,"groups":["a","b"]}"#.utf8))
        #expect(v.objectValue?["sub"] == .string("u-1"))
        #expect(v.objectValue?["n"] == .number(42))
        #expect(v.objectValue?["groups"] == .array([.string("a"), .string("b")]))
        #expect((try? JSONValue.parse(Array(#"{"a":1,"a":2}"#.utf8))) == nil)
    }
}
