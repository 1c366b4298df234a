/// "did you mean" suggestions by edit distance.
public enum Suggest {
    public static func closest(to word: String, in candidates: some Sequence<String>) -> String? {
        var best: (String, Int)? = nil
        for c in candidates {
            let d = distance(word.lowercased(), c.lowercased())
            if d <= max(2, c.count / 3), best == nil || d < best!.1 { best = (c, d) }
        }
        return best?.0
    }

    public static func hint(for word: String, in candidates: some Sequence<String>) -> String {
        if let c = closest(to: word, in: candidates) { return "; did you mean \"\(c)\"?" }
        let list = candidates.sorted()
        return list.isEmpty ? "" : "; expected one of: " + list.joined(separator: ", ")
    }

    public static func distance(_ a: String, _ b: String) -> Int {
        let a = Array(a.utf8), b = Array(b.utf8)
        if a.isEmpty { return b.count }
        if b.isEmpty { return a.count }
        var prev = Array(0...b.count)
        var cur = prev
        for i in 1...a.count {
            cur[0] = i
            for j in 1...b.count {
                cur[j] = min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1))
            }
            swap(&prev, &cur)
        }
        return prev[b.count]
    }
}
