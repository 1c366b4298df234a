internal import CSQLite
import Synchronization

/// Quota counts in a SQLite file (Debian's libsqlite3, through the `CSQLite` system library),
/// written in batches by `QuotaFlusher` off the event loops. WAL journal: a reader (a usage
/// report, another process) never blocks the writer; `synchronous=NORMAL`: a crash of the process
/// loses nothing committed, a crash of the machine at most the last transaction.
public final class SQLiteQuotaStore: QuotaStore, Sendable {
    public let path: String
    private let db: Mutex<OpaquePointer?>

    /// Opens (or creates) the store. A file that is not SQLite, or that cannot be written, throws
    /// with SQLite's own words and the path.
    public init(path: String) throws {
        self.path = path
        var handle: OpaquePointer?
        let rc = sqlite3_open_v2(path, &handle, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_FULLMUTEX, nil)
        guard rc == SQLITE_OK, let handle else {
            let message = handle.map { String(cString: sqlite3_errmsg($0)) } ?? "error \(rc)"
            sqlite3_close(handle)
            throw QuotaStoreError("cannot open the quota store \(path): \(message)")
        }
        sqlite3_busy_timeout(handle, 1000)
        db = Mutex(handle)
        do {
            try exec(
                """
                PRAGMA journal_mode=WAL;
                PRAGMA synchronous=NORMAL;
                CREATE TABLE IF NOT EXISTS usage (counter TEXT NOT NULL, day INTEGER NOT NULL, used INTEGER NOT NULL, PRIMARY KEY (counter, day));
                CREATE TABLE IF NOT EXISTS counters (counter TEXT PRIMARY KEY, first_seen INTEGER NOT NULL);
                """)
        } catch {
            db.withLock {
                sqlite3_close($0)
                $0 = nil
            }
            throw QuotaStoreError("the quota store \(path) is not usable: \(error)")
        }
    }

    deinit {
        db.withLock { sqlite3_close($0) }
    }

    private func exec(_ sql: String) throws {
        try db.withLock { h in
            var err: UnsafeMutablePointer<CChar>?
            if sqlite3_exec(h, sql, nil, nil, &err) != SQLITE_OK {
                let m = err.map { String(cString: $0) } ?? "unknown error"
                sqlite3_free(err)
                throw QuotaStoreError(m)
            }
        }
    }

    /// Runs `body` with a prepared statement, finalized afterwards.
    private func withStatement<R>(_ h: OpaquePointer?, _ sql: String, _ body: (OpaquePointer?) throws -> R) throws -> R {
        var stmt: OpaquePointer?
        guard sqlite3_prepare_v2(h, sql, -1, &stmt, nil) == SQLITE_OK else { throw QuotaStoreError(String(cString: sqlite3_errmsg(h))) }
        defer { sqlite3_finalize(stmt) }
        return try body(stmt)
    }

    private func check(_ h: OpaquePointer?, _ rc: Int32) throws {
        if rc != SQLITE_OK && rc != SQLITE_DONE && rc != SQLITE_ROW { throw QuotaStoreError("\(path): \(String(cString: sqlite3_errmsg(h)))") }
    }

    public func used(counter: String, from: Int64, to: Int64) throws -> Int64 {
        try db.withLock { h in
            try withStatement(h, "SELECT COALESCE(SUM(used), 0) FROM usage WHERE counter = ? AND day >= ? AND day < ?") { s in
                sqlite3_bind_text(s, 1, counter, -1, csqlite_transient())
                sqlite3_bind_int64(s, 2, from)
                sqlite3_bind_int64(s, 3, to)
                let rc = sqlite3_step(s)
                try check(h, rc)
                return rc == SQLITE_ROW ? sqlite3_column_int64(s, 0) : 0
            }
        }
    }

    public func firstSeen(counter: String, now: Int64) throws -> Int64 {
        try db.withLock { h in
            try withStatement(h, "INSERT OR IGNORE INTO counters (counter, first_seen) VALUES (?, ?)") { s in
                sqlite3_bind_text(s, 1, counter, -1, csqlite_transient())
                sqlite3_bind_int64(s, 2, now)
                try check(h, sqlite3_step(s))
            }
            return try withStatement(h, "SELECT first_seen FROM counters WHERE counter = ?") { s in
                sqlite3_bind_text(s, 1, counter, -1, csqlite_transient())
                let rc = sqlite3_step(s)
                try check(h, rc)
                return rc == SQLITE_ROW ? sqlite3_column_int64(s, 0) : now
            }
        }
    }

    public func add(_ deltas: [QuotaDelta]) throws {
        guard !deltas.isEmpty else { return }
        try db.withLock { h in
            try check(h, sqlite3_exec(h, "BEGIN IMMEDIATE", nil, nil, nil))
            do {
                try withStatement(
                    h, "INSERT INTO usage (counter, day, used) VALUES (?, ?, ?) ON CONFLICT (counter, day) DO UPDATE SET used = used + excluded.used"
                ) { s in
                    for d in deltas {
                        sqlite3_reset(s)
                        sqlite3_bind_text(s, 1, d.counter, -1, csqlite_transient())
                        sqlite3_bind_int64(s, 2, d.day)
                        sqlite3_bind_int64(s, 3, d.count)
                        try check(h, sqlite3_step(s))
                    }
                }
                try check(h, sqlite3_exec(h, "COMMIT", nil, nil, nil))
            } catch {
                sqlite3_exec(h, "ROLLBACK", nil, nil, nil)
                throw error
            }
        }
    }

    public func daily(prefix: String, from: Int64, to: Int64) throws -> [(counter: String, day: Int64, used: Int64)] {
        try db.withLock { h in
            try withStatement(h, "SELECT counter, day, used FROM usage WHERE substr(counter, 1, ?) = ? AND day >= ? AND day < ? ORDER BY counter, day") { s in
                sqlite3_bind_int64(s, 1, Int64(prefix.utf8.count))
                sqlite3_bind_text(s, 2, prefix, -1, csqlite_transient())
                sqlite3_bind_int64(s, 3, from)
                sqlite3_bind_int64(s, 4, to)
                var out: [(String, Int64, Int64)] = []
                while true {
                    let rc = sqlite3_step(s)
                    if rc == SQLITE_DONE { break }
                    try check(h, rc)
                    out.append((String(cString: sqlite3_column_text(s, 0)), sqlite3_column_int64(s, 1), sqlite3_column_int64(s, 2)))
                }
                return out
            }
        }
    }
}
