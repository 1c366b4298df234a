public import NIOCore
import PortcullisCore

/// Requests a SigV4 authorizer verified lately, by their exact bytes, one table per event loop
/// (no lock shared by the loops). A presigned URL shared by many clients, or a client that repeats
/// a signed request within its window, is verified once; a hit still checks the time.
///
/// Why exact bytes are enough: the key is the whole request head as received, the body's hash
/// and the API's region, a superset of everything the signature covers. Identical bytes make an
/// identical canonical request, so the earlier verdict holds while `now` is inside the window the
/// verifier gave (signing time ± skew, the presigned lifetime, the session's expiry). The keys and
/// their status belong to the snapshot, and so does this cache: a reload starts a new one.
public final class VerifiedRequests: Sendable {
    struct Entry: Sendable {
        let identity: Identity
        let window: ClosedRange<Int64>
    }

    /// Entries per loop; a full table starts over (simple, and a flood of unique signatures
    /// cannot grow it). Heads larger than `maxKeyBytes` are not cached.
    static let capacity = 2048
    static let maxKeyBytes = 4096

    private let tables: PerLoop<[Key: Entry]>

    public init(group: (any EventLoopGroup)?) {
        tables = PerLoop(group: group) { [:] }
    }

    /// A request's bytes as a table key. The hash is taken once, over the bytes as one block
    /// (`Array`'s own `hash(into:)` feeds the hasher one byte at a time), and serves both the
    /// lookup and the insertion of a request.
    struct Key: Hashable, Sendable {
        let bytes: [UInt8]
        let hash: Int

        init(_ bytes: [UInt8]) {
            self.bytes = bytes
            var h = Hasher()
            bytes.withUnsafeBytes { h.combine(bytes: $0) }
            hash = h.finalize()
        }

        func hash(into hasher: inout Hasher) { hasher.combine(hash) }

        static func == (a: Key, b: Key) -> Bool {
            a.hash == b.hash && a.bytes.withUnsafeBytes { x in b.bytes.withUnsafeBytes { y in Bytes.equal(x, y) } }
        }
    }

    /// The cache key of a request: its head bytes, then the region and the body hash.
    static func key(_ head: HTTPRequestHead, region: String, payloadHash: String?) -> [UInt8]? {
        let raw = head.headers.raw
        guard raw.readableBytes <= maxKeyBytes else { return nil }
        var key: [UInt8] = []
        key.reserveCapacity(raw.readableBytes + region.utf8.count + 66)
        raw.withUnsafeReadableBytes { key.append(contentsOf: $0) }
        key.append(0)
        key.append(contentsOf: region.utf8)
        key.append(0)
        if let payloadHash { key.append(contentsOf: payloadHash.utf8) }
        return key
    }

    func lookup(_ key: [UInt8], now: Int64, on loop: (any EventLoop)?) -> Identity? {
        lookup(Key(key), now: now, on: loop)
    }

    func lookup(_ key: Key, now: Int64, on loop: (any EventLoop)?) -> Identity? {
        tables.with(loop) { table in
            guard let e = table[key] else { return nil }
            guard e.window.contains(now) else {
                table[key] = nil
                return nil
            }
            return e.identity
        }
    }

    func remember(_ key: Key, _ identity: Identity, window: ClosedRange<Int64>, on loop: (any EventLoop)?) {
        tables.with(loop) { table in
            if table.count >= Self.capacity { table.removeAll(keepingCapacity: true) }
            table[key] = Entry(identity: identity, window: window)
        }
    }
}
