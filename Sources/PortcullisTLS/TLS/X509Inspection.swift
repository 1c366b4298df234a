internal import COpenSSL

/// Read-only views of an `X509` that this module does not own (borrowed for the call).
enum X509Inspection {
    /// Subject alternative names as `TYPE:value` strings, in certificate order:
    /// `DNS:`, `IP:`, `email:`, `URI:` (other kinds are skipped).
    static func subjectAlternativeNames(_ x509: OpaquePointer) -> [String] {
        guard let raw = X509_get_ext_d2i(x509, NID_subject_alt_name, nil, nil) else { return [] }
        let names = OpaquePointer(raw)
        defer { GENERAL_NAMES_free(names) }
        var result: [String] = []
        for index in 0..<CPortcullis_sk_GENERAL_NAME_num(names) {
            guard let name = CPortcullis_sk_GENERAL_NAME_value(names, index) else { continue }
            var type: Int32 = 0
            guard let value = GENERAL_NAME_get0_value(name, &type) else { continue }
            let string = UnsafePointer(value.assumingMemoryBound(to: ASN1_STRING.self))  // all kinds read here
            switch type {
            case GEN_DNS: result.append("DNS:" + Self.text(string))
            case GEN_EMAIL: result.append("email:" + Self.text(string))
            case GEN_URI: result.append("URI:" + Self.text(string))
            case GEN_IPADD: result.append("IP:" + Self.ipAddress(Self.bytes(string)))
            default: continue
            }
        }
        return result
    }

    /// The DNS names a server certificate answers to: its SAN DNS entries, lower-cased, or its
    /// subject CN when it has no SAN DNS entry at all (old certificates).
    static func serverDNSNames(_ x509: OpaquePointer) -> [String] {
        let dns = Self.subjectAlternativeNames(x509).filter { $0.hasPrefix("DNS:") }.map { String($0.dropFirst(4)).lowercased() }
        if !dns.isEmpty { return dns }
        guard let subject = X509_get_subject_name(x509) else { return [] }
        let index = X509_NAME_get_index_by_NID(subject, NID_commonName, -1)
        guard index >= 0, let entry = X509_NAME_get_entry(subject, index), let data = X509_NAME_ENTRY_get_data(entry) else {
            return []
        }
        return [Self.text(UnsafePointer(data)).lowercased()]
    }

    /// An X509_NAME in RFC 2253 form ("CN=demo-client,O=Portcullis Dev").
    static func rfc2253(_ name: OpaquePointer?) -> String {
        guard let name, let bio = BIO_new(BIO_s_mem()) else { return "" }
        defer { BIO_free(bio) }
        guard X509_NAME_print_ex(bio, name, 0, CPortcullis_XN_FLAG_RFC2253()) >= 0 else { return "" }
        return Self.drainBIO(bio)
    }

    /// The serial number as upper-case hex without separators.
    static func serialHex(_ x509: OpaquePointer) -> String {
        guard let serial = X509_get_serialNumber(x509), let number = ASN1_INTEGER_to_BN(serial, nil) else { return "" }
        defer { BN_free(number) }
        guard let hex = BN_bn2hex(number) else { return "" }
        defer { CPortcullis_OPENSSL_free(hex) }
        return String(cString: hex)
    }

    /// ASN1_TIME as ISO 8601 UTC ("2026-11-25T20:56:00Z").
    static func iso8601(_ time: UnsafePointer<ASN1_TIME>?) -> String {
        var parts = tm()
        guard let time, ASN1_TIME_to_tm(time, &parts) == 1 else { return "" }
        func two(_ value: Int32) -> String { value < 10 ? "0\(value)" : "\(value)" }
        return "\(parts.tm_year + 1900)-\(two(parts.tm_mon + 1))-\(two(parts.tm_mday))T"
            + "\(two(parts.tm_hour)):\(two(parts.tm_min)):\(two(parts.tm_sec))Z"
    }

    /// SHA-256 of the DER certificate, lower-case hex.
    static func sha256Fingerprint(_ x509: OpaquePointer) -> String {
        var digest = [UInt8](repeating: 0, count: 32)
        var length: UInt32 = 0
        guard X509_digest(x509, DigestAlgorithm.sha256.fetched.md, &digest, &length) == 1 else { return "" }
        return Self.hex(digest.prefix(Int(length)))
    }

    static func pem(_ x509: OpaquePointer) -> String {
        guard let bio = BIO_new(BIO_s_mem()) else { return "" }
        defer { BIO_free(bio) }
        guard PEM_write_bio_X509(bio, x509) == 1 else { return "" }
        return Self.drainBIO(bio)
    }

    static func hex(_ bytes: some Sequence<UInt8>) -> String {
        let digits = Array("0123456789abcdef".utf8)
        var out: [UInt8] = []
        for byte in bytes {
            out.append(digits[Int(byte >> 4)])
            out.append(digits[Int(byte & 0x0f)])
        }
        return String(decoding: out, as: UTF8.self)
    }

    private static func drainBIO(_ bio: OpaquePointer) -> String {
        var data: UnsafeMutablePointer<CChar>? = nil
        let length = CPortcullis_BIO_get_mem_data(bio, &data)
        guard let data, length > 0 else { return "" }
        return String(decoding: UnsafeRawBufferPointer(start: data, count: length), as: UTF8.self)
    }

    private static func bytes(_ string: UnsafePointer<ASN1_STRING>) -> [UInt8] {
        let length = Int(ASN1_STRING_length(string))
        guard length > 0, let data = ASN1_STRING_get0_data(string) else { return [] }
        return Array(UnsafeBufferPointer(start: data, count: length))
    }

    private static func text(_ string: UnsafePointer<ASN1_STRING>) -> String {
        String(decoding: Self.bytes(string), as: UTF8.self)
    }

    private static func ipAddress(_ bytes: [UInt8]) -> String {
        if bytes.count == 4 {
            return bytes.map { String($0) }.joined(separator: ".")
        }
        if bytes.count == 16 {
            // Full form, no zero compression: unambiguous and enough for logs and headers.
            return stride(from: 0, to: 16, by: 2).map { String(UInt16(bytes[$0]) << 8 | UInt16(bytes[$0 + 1]), radix: 16) }
                .joined(separator: ":")
        }
        return Self.hex(bytes)
    }
}
