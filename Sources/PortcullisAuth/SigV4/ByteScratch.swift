/// A byte buffer reused request after request: an array kept at the largest size it needed, and
/// how much of it holds the current request's bytes. Writing goes through a pointer into room
/// made beforehand, so that encoding a query costs one uniqueness check, not one per byte as
/// `Array.append` does, and clearing keeps the memory. Owned by one loop's `SigV4Workspace`.
struct ByteScratch: Sendable {
    private var storage: [UInt8]
    private(set) var count = 0

    init(capacity: Int) {
        storage = [UInt8](repeating: 0, count: capacity)
    }

    var capacity: Int { storage.count }
    var isEmpty: Bool { count == 0 }

    mutating func removeAll() { count = 0 }

    mutating func removeLast(_ n: Int) {
        precondition(n >= 0 && n <= count)
        count -= n
    }

    /// Lets `write` put at most `maxCount` bytes at the end; it returns how many it wrote.
    @inline(__always)
    mutating func write(maxCount: Int, _ write: (UnsafeMutablePointer<UInt8>) -> Int) {
        if storage.count - count < maxCount { grow(to: count + maxCount) }
        let start = count
        let written = storage.withUnsafeMutableBufferPointer { write($0.baseAddress! + start) }
        precondition(written >= 0 && written <= maxCount)
        count += written
    }

    @inline(never)
    private mutating func grow(to needed: Int) {
        storage.append(contentsOf: repeatElement(0, count: max(needed, 2 * storage.count) - storage.count))
    }

    @inline(__always)
    mutating func append(_ byte: UInt8) {
        write(maxCount: 1) {
            $0[0] = byte
            return 1
        }
    }

    mutating func append(_ bytes: UnsafeRawBufferPointer) {
        guard let base = bytes.baseAddress, bytes.count > 0 else { return }
        write(maxCount: bytes.count) {
            UnsafeMutableRawPointer($0).copyMemory(from: base, byteCount: bytes.count)
            return bytes.count
        }
    }

    mutating func append(_ text: StaticString) {
        append(UnsafeRawBufferPointer(start: text.utf8Start, count: text.utf8CodeUnitCount))
    }

    /// The bytes it holds.
    func withUnsafeBytes<R>(_ body: (UnsafeRawBufferPointer) -> R) -> R {
        storage.withUnsafeBytes { body(UnsafeRawBufferPointer(rebasing: $0[0..<count])) }
    }

    /// The bytes it holds as text (refusal messages).
    var text: String { withUnsafeBytes { String(decoding: $0, as: UTF8.self) } }
}
