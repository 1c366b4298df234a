import PortcullisCore

/// wyrand: a fast per-loop generator for request ids (not for secrets; those use OpenSSL).
struct FastRandom {
    private var state: UInt64

    init(seed: UInt64) { state = seed }

    mutating func next() -> UInt64 {
        state &+= 0xA076_1D64_78BD_642F
        let m = state.multipliedFullWidth(by: state ^ 0xE703_7ED1_A0B4_28DB)
        return m.high ^ m.low
    }

    mutating func requestID() -> RequestID {
        // Version 4, variant 1 bits, as a UUID should carry.
        let hi = (next() & ~UInt64(0xF000)) | 0x4000
        let lo = (next() & ~(UInt64(0xC) << 60)) | (UInt64(0x8) << 60)
        return RequestID(hi: hi, lo: lo)
    }
}
