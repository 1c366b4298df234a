import NIOCore

/// How big a client connection's read buffer is. SwiftNIO keeps one receive buffer per channel for
/// the channel's whole life (its pool reuses it for every read and only ever grows it), so its
/// first size is memory every idle keep-alive connection holds. NIO's adaptive allocator starts
/// at 2 KiB and, after one full read, jumps four size steps (1 KiB to 16 KiB). This one starts at
/// 1 KiB, which holds the head of a typical API request (nginx's `client_header_buffer_size` is
/// 1k for the same reason), and doubles on each full read up to 64 KiB: a 1.5 KiB head with a
/// bearer token costs a second read on its connection's first request and 2 KiB from then on,
/// and a large body reaches 64 KiB reads after seven.
struct ClientReadSizing: RecvByteBufferAllocator {
    static let initial = 1024
    static let maximum = 64 * 1024

    private(set) var size = Self.initial

    func buffer(allocator: ByteBufferAllocator) -> ByteBuffer {
        allocator.buffer(capacity: size)
    }

    func nextBufferSize() -> Int? { size }

    /// - Returns: whether the next buffer is bigger than the last.
    mutating func record(actualReadBytes: Int) -> Bool {
        guard actualReadBytes >= size, size < Self.maximum else { return false }
        size = min(size * 2, Self.maximum)
        return true
    }
}
