internal import COpenSSL

/// The OpenSSL thread-local error queue, drained into Swift strings.
///
/// Every fallible OpenSSL call in this module starts with ``OpenSSLError/clearQueue()`` so that an
/// error reported afterwards belongs to that call and not to something that failed earlier on the
/// same thread (event-loop threads run many connections, so stale entries are the norm).
public struct OpenSSLError: Error, CustomStringConvertible, Sendable, Equatable {
    /// What the failing operation was doing, in words ("loading the private key").
    public let operation: String
    /// The drained queue, oldest first, as `ERR_error_string_n` renders each entry.
    public let errors: [String]

    public init(operation: String, errors: [String]) {
        self.operation = operation
        self.errors = errors
    }

    public var description: String {
        if self.errors.isEmpty {
            return "OpenSSL error while \(self.operation)"
        }
        return "OpenSSL error while \(self.operation): \(self.errors.joined(separator: "; "))"
    }

    /// Drops whatever an earlier call left in this thread's queue.
    static func clearQueue() {
        ERR_clear_error()
    }

    /// Empties this thread's error queue into an error value describing `operation`.
    static func drain(_ operation: String) -> OpenSSLError {
        OpenSSLError(operation: operation, errors: Self.drainStrings())
    }

    /// Empties this thread's error queue, returning each entry rendered as text.
    static func drainStrings() -> [String] {
        var messages: [String] = []
        while true {
            let code = ERR_get_error()
            if code == 0 { break }
            messages.append(Self.string(for: code))
        }
        return messages
    }

    /// `ERR_error_string_n` for one packed error code.
    static func string(for code: UInt) -> String {
        // 256 bytes is the size ERR_error_string documents as sufficient.
        let capacity = 256
        return String(unsafeUninitializedCapacity: capacity) { buffer in
            buffer.withMemoryRebound(to: CChar.self) { chars in
                ERR_error_string_n(code, chars.baseAddress, capacity)
                return chars.firstIndex(of: 0) ?? capacity
            }
        }
    }
}
