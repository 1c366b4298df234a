public import PortcullisConfig
import PortcullisCore
public import PortcullisThrottle

/// API Gateway's GetUsage for one usage plan, read from the quota store: requests per key and
/// UTC day, each day as `[used, remaining]`, where remaining is what was left of the period's
/// quota at the end of that day (-1 without a quota). `portcullis keys usage` and the admin
/// listener's `GET /usage` both answer with it.
public struct UsageReport: Sendable {
    public var plan: String
    public var keyID: String?
    /// First and last day, `YYYY-MM-DD` (UTC), the last included.
    public var start: String
    public var end: String

    public init(plan: String, keyID: String?, start: String, end: String) {
        self.plan = plan
        self.keyID = keyID
        self.start = start
        self.end = end
    }

    public struct Problem: Error, CustomStringConvertible {
        public let description: String
        /// The query (the caller's mistake), not the store.
        public let isRequestError: Bool
    }

    /// The usage plan named by a request, or the only one the config has.
    public static func plan(named name: String?, in config: PortcullisConfig) throws(Problem) -> String {
        if let name {
            guard config.usagePlans[name] != nil else {
                throw Problem(description: "unknown usage plan \"\(name)\"" + Suggest.hint(for: name, in: config.usagePlans.keys), isRequestError: true)
            }
            return name
        }
        guard config.usagePlans.count == 1, let only = config.usagePlans.keys.first else {
            throw Problem(
                description: "name the usage plan (usagePlanId=), one of: " + config.usagePlans.keys.sorted().joined(separator: ", "),
                isRequestError: true)
        }
        return only
    }

    /// The report as JSON (one line, no newline).
    public func json(config: PortcullisConfig, store: any QuotaStore) throws(Problem) -> String {
        guard let planConfig = config.usagePlans[plan] else {
            throw Problem(description: "unknown usage plan \"\(plan)\"" + Suggest.hint(for: plan, in: config.usagePlans.keys), isRequestError: true)
        }
        guard let from = Self.day(start), let last = Self.day(end), last >= from else {
            throw Problem(description: "start and end are dates like 2026-11-30, start not after end", isRequestError: true)
        }
        guard (last - from) / 86_400 < 366 * 3 else {
            throw Problem(description: "at most three years per report", isRequestError: true)
        }
        if let keyID, !config.apiKeys.contains(where: { $0.id == keyID && $0.usagePlans.contains(plan) }) {
            throw Problem(description: "no API key \(keyID) in usage plan \(plan)", isRequestError: true)
        }
        let prefix = "quota:\(plan):key:" + (keyID ?? "")
        let rows: [(counter: String, day: Int64, used: Int64)]
        do { rows = try store.daily(prefix: prefix, from: from, to: last + 86_400) } catch {
            throw Problem(description: "quota store: \(error)", isRequestError: false)
        }
        let keys = keyID.map { [$0] } ?? config.apiKeys.filter { $0.usagePlans.contains(plan) }.map(\.id)
        var values: [(String, [[Int64]])] = []
        for k in keys.sorted() {
            let name = "quota:\(plan):key:\(k)"
            let mine = rows.filter { $0.counter == name }
            var series: [[Int64]] = []
            var day = from
            while day <= last {
                let used = mine.first { $0.day == day }?.used ?? 0
                var remaining: Int64 = -1
                if let q = planConfig.quota {
                    let periodStart = q.period.start(of: day)
                    let sofar = mine.filter { $0.day >= periodStart && $0.day <= day }.reduce(0) { $0 + $1.used }
                    remaining = max(0, q.limit - sofar)
                }
                series.append([used, remaining])
                day += 86_400
            }
            values.append((k, series))
        }
        let body = values.map { k, series in
            JSONString.quoted(k) + ":[" + series.map { "[\($0[0]),\($0[1])]" }.joined(separator: ",") + "]"
        }.joined(separator: ",")
        return "{\"usagePlanId\":\(JSONString.quoted(plan)),\"startDate\":\(JSONString.quoted(start)),\"endDate\":\(JSONString.quoted(end)),\"values\":{\(body)}}"
    }

    /// Seconds since 1970 of a UTC date `YYYY-MM-DD`.
    public static func day(_ s: String) -> Int64? {
        let p = s.split(separator: "-", omittingEmptySubsequences: false)
        guard p.count == 3, p[0].count == 4, p[1].count == 2, p[2].count == 2, let y = Int64(p[0]), let m = Int64(p[1]), let d = Int64(p[2]),
            (1...12).contains(m), (1...31).contains(d)
        else { return nil }
        return CivilTime.epoch(year: y, month: m, day: d, hour: 0, minute: 0, second: 0)
    }
}
