import PortcullisCore

/// The canonical request written into the workspace's buffer, byte for byte what
/// `SigV4.canonicalRequest` returns as a String.
extension SigV4Workspace {
    /// Fills `canonical`. `signedHeaders` is the claim's list (`host;x-amz-date`, validated:
    /// distinct lower-case names); `omitSignature` leaves X-Amz-Signature out of the query (a
    /// presigned request). False when a signed header is absent from the request.
    mutating func writeCanonicalRequest(
        _ w: SigV4Wire, signedHeaders: UnsafeRawBufferPointer, payloadHash: UnsafeRawBufferPointer, omitSignature: Bool
    ) -> Bool {
        canonical.removeAll()
        canonical.append(w.method)
        canonical.append(0x0A)
        SigV4Encoding.appendCanonicalURI(w[w.path], to: &canonical)
        canonical.append(0x0A)
        writeCanonicalQuery(w[w.query], omitSignature: omitSignature)
        canonical.append(0x0A)
        var start = 0
        while start <= signedHeaders.count {
            var end = start
            while end < signedHeaders.count && signedHeaders[end] != 0x3B { end += 1 }
            let name = UnsafeRawBufferPointer(rebasing: signedHeaders[start..<end])
            canonical.append(name)
            canonical.append(0x3A)
            var found = false
            for h in w.headers where ASCII.equalsIgnoringCase(w[h.name], name) {
                if found { canonical.append(0x2C) }
                found = true
                SigV4Encoding.appendCanonicalHeaderValue(w[h.value], to: &canonical)
            }
            if !found { return false }
            canonical.append(0x0A)
            start = end + 1
        }
        canonical.append(0x0A)
        canonical.append(signedHeaders)
        canonical.append(0x0A)
        canonical.append(payloadHash)
        return true
    }

    /// `SigV4.canonicalQuery` appended to `canonical`: each pair decoded and encoded again into
    /// `queryBytes`, the pairs sorted by name then value (bytes), joined with `&`.
    mutating func writeCanonicalQuery(_ q: UnsafeRawBufferPointer, omitSignature: Bool) {
        queryBytes.removeAll()
        queryPairs.removeAll(keepingCapacity: true)
        var start = 0
        let n = q.count
        while start < n {
            var end = start
            while end < n && q[end] != 0x26 { end += 1 }
            defer { start = end + 1 }
            if end == start { continue }
            var eq = start
            while eq < end && q[eq] != 0x3D { eq += 1 }
            let pairStart = queryBytes.count
            SigV4Encoding.appendDecodedThenEncoded(UnsafeRawBufferPointer(rebasing: q[start..<eq]), plusAsSpace: true, to: &queryBytes)
            let nameEnd = queryBytes.count
            // Encoding is one-to-one, so the encoded name is X-Amz-Signature exactly when the
            // decoded one is (all its characters are unreserved).
            if omitSignature && queryBytes.withUnsafeBytes({ SigV4Claim.equals($0, pairStart..<nameEnd, "X-Amz-Signature") }) {
                queryBytes.removeLast(nameEnd - pairStart)
                continue
            }
            if eq < end {
                SigV4Encoding.appendDecodedThenEncoded(UnsafeRawBufferPointer(rebasing: q[(eq + 1)..<end]), plusAsSpace: true, to: &queryBytes)
            }
            queryPairs.append(QueryPair(start: pairStart, nameEnd: nameEnd, end: queryBytes.count))
        }
        let bytes = queryBytes
        bytes.withUnsafeBytes { b in
            sortQueryPairs(b)
            for i in queryPairs.indices {
                let p = queryPairs[i]
                if i > 0 { canonical.append(0x26) }
                canonical.append(UnsafeRawBufferPointer(rebasing: b[p.start..<p.nameEnd]))
                canonical.append(0x3D)
                canonical.append(UnsafeRawBufferPointer(rebasing: b[p.nameEnd..<p.end]))
            }
        }
    }

    /// By name, then by value, each in byte order (what the String version's tuple sort does).
    /// Insertion sort for the usual handful of pairs: in place, nothing allocated.
    mutating func sortQueryPairs(_ b: UnsafeRawBufferPointer) {
        func less(_ x: QueryPair, _ y: QueryPair) -> Bool {
            switch Self.compare(b, x.start..<x.nameEnd, y.start..<y.nameEnd) {
            case 0: return Self.compare(b, x.nameEnd..<x.end, y.nameEnd..<y.end) < 0
            case let c: return c < 0
            }
        }
        if queryPairs.count > 32 {
            queryPairs.sort(by: less)
            return
        }
        var i = 1
        while i < queryPairs.count {
            let x = queryPairs[i]
            var j = i
            while j > 0 && less(x, queryPairs[j - 1]) {
                queryPairs[j] = queryPairs[j - 1]
                j -= 1
            }
            queryPairs[j] = x
            i += 1
        }
    }

    /// Byte order of two runs of `b` (a prefix first): negative, zero or positive.
    static func compare(_ b: UnsafeRawBufferPointer, _ x: Range<Int>, _ y: Range<Int>) -> Int {
        let n = min(x.count, y.count)
        var k = 0
        while k < n {
            let l = b[x.lowerBound + k], r = b[y.lowerBound + k]
            if l != r { return l < r ? -1 : 1 }
            k += 1
        }
        return x.count - y.count
    }
}
