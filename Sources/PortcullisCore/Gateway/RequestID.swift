public import NIOCore

/// A 128-bit request id written as a UUID (`x-amzn-RequestId` is one in API Gateway).
/// Kept as two integers and written straight into buffers; a String is made only when asked.
public struct RequestID: Sendable, Equatable, CustomStringConvertible {
    public var hi: UInt64
    public var lo: UInt64

    public init(hi: UInt64, lo: UInt64) {
        self.hi = hi
        self.lo = lo
    }

    /// Lower-case hex digit of the low nibble; arithmetic, not a table (no global to initialise).
    @inline(__always)
    static func hex(_ v: UInt64) -> UInt8 {
        let n = UInt8(truncatingIfNeeded: v & 0xF)
        return n < 10 ? 48 + n : 87 + n
    }

    public func write(into buffer: inout ByteBuffer) {
        buffer.writeWithUnsafeMutableBytes(minimumWritableBytes: 36) { p in write(to: p.baseAddress!) }
    }

    /// Writes the 36 characters at `p`; returns 36.
    @discardableResult
    public func write(to p: UnsafeMutableRawPointer) -> Int {
        var k = 0
        func put(_ v: UInt64, _ nibbles: Int) {
            for i in stride(from: nibbles - 1, through: 0, by: -1) {
                p.storeBytes(of: RequestID.hex(v >> UInt64(i * 4)), toByteOffset: k, as: UInt8.self)
                k += 1
            }
        }
        func dash() {
            p.storeBytes(of: 45, toByteOffset: k, as: UInt8.self)
            k += 1
        }
        put(hi >> 32, 8); dash()
        put(hi >> 16, 4); dash()
        put(hi, 4); dash()
        put(lo >> 48, 4); dash()
        put(lo, 12)
        return 36
    }

    /// The short `x-amz-apigw-id` form: 16 hex digits of the low half.
    public func writeShort(into buffer: inout ByteBuffer) {
        buffer.writeWithUnsafeMutableBytes(minimumWritableBytes: 16) { p in
            for i in 0..<16 { p[i] = RequestID.hex(lo >> UInt64((15 - i) * 4)) }
            return 16
        }
    }

    public var description: String { string }

    public var string: String {
        var b = ByteBuffer()
        write(into: &b)
        return String(buffer: b)
    }
}

