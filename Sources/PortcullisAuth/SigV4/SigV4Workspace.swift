import PortcullisTLS

/// The scratch buffers of the verifier's byte path and the signing keys it derived, one
/// workspace per event loop (`PerLoop`): a request refills the buffers it needs, keeping their
/// capacity, so verifying allocates no array once the loop has seen a request of that size.
/// Only the loop that owns it touches it (the `PerLoop` box checks the thread); requests without
/// a loop share one behind a lock.
struct SigV4Workspace: Sendable {
    /// Header spans of the request being verified.
    var headers: [SigV4HeaderSpan] = []
    /// A `SigV4Request`'s strings laid end to end (the byte path reads bytes).
    var wire = ByteScratch(capacity: 1024)
    /// What the signature claims, copied or percent-decoded: credential, signed headers,
    /// signature, date, token (`SigV4Claim` holds ranges into it).
    var values = ByteScratch(capacity: 512)
    /// One decoded query parameter name at a time.
    var name = ByteScratch(capacity: 64)
    var canonical = ByteScratch(capacity: 1024)
    /// The canonical query's pairs, encoded end to end, and where each is.
    var queryBytes = ByteScratch(capacity: 512)
    var queryPairs: [QueryPair] = []
    var stringToSign = ByteScratch(capacity: 192)
    /// Signing keys by access key, day and region: four HMACs saved per request.
    var signingKeys: [SigningKeyID: HMACKey] = [:]

    struct QueryPair: Sendable {
        var start: Int
        var nameEnd: Int
        var end: Int
    }

    struct SigningKeyID: Hashable, Sendable {
        /// The key's index in the verifier's sorted list.
        var key: Int
        /// The credential's YYYYMMDD as a number.
        var date: UInt32
        var region: String
    }

    /// Room for a typical signed request, so the first ones do not grow the buffers.
    init() {
        headers.reserveCapacity(32)
        queryPairs.reserveCapacity(16)
    }

    /// Buffers a huge request grew are let go, so one such request does not pin their memory.
    mutating func release(above limit: Int = 64 * 1024) {
        if wire.capacity > limit { wire = ByteScratch(capacity: 1024) }
        if values.capacity > limit { values = ByteScratch(capacity: 512) }
        if name.capacity > limit { name = ByteScratch(capacity: 64) }
        if canonical.capacity > limit { canonical = ByteScratch(capacity: 1024) }
        if queryBytes.capacity > limit { queryBytes = ByteScratch(capacity: 512) }
        if stringToSign.capacity > limit { stringToSign = ByteScratch(capacity: 192) }
        if queryPairs.capacity > limit / 16 { queryPairs = [] }
        if headers.capacity > limit / 16 { headers = [] }
    }

    /// The signing key of `key` for `date` (YYYYMMDD digits) and `region`, derived once per loop.
    mutating func signingKey(key: Int, secret: String, date: UnsafeRawBufferPointer, region: String, service: String) -> HMACKey {
        var day: UInt32 = 0
        for c in date { day = day &* 10 &+ UInt32(c &- 0x30) }
        let id = SigningKeyID(key: key, date: day, region: region)
        if let k = signingKeys[id] { return k }
        let k = SigV4.signingKey(secret: secret, date: String(decoding: date, as: UTF8.self), region: region, service: service)
        // Days move on: a cache that grew past any plausible working set starts over.
        if signingKeys.count > 4096 { signingKeys.removeAll() }
        signingKeys[id] = k
        return k
    }
}
