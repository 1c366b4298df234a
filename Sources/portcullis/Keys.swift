import ArgumentParser
import Foundation
import PortcullisConfig
import PortcullisCore
import PortcullisProxy
import PortcullisThrottle
import PortcullisTLS

/// `portcullis keys`: the API key store file, edited the way `aws apigateway` manages keys.
/// Values are shown once, when made, and stored only as SHA-256. The gateway reads the file on
/// SIGHUP.
struct Keys: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Create, list, enable, disable and import API keys (the api_keys file).",
        subcommands: [KeysCreate.self, KeysList.self, KeysEnable.self, KeysDisable.self, KeysImport.self, KeysUsage.self])
}

/// Where the key file is: `--file`, or the `api_keys: {file:}` of `--config`.
struct KeyFileOptions: ParsableArguments {
    @Option(help: "The API key file.")
    var file: String?
    @Option(name: .shortAndLong, help: "A config whose api_keys: {file:} names the key file, and whose usage plans are checked.")
    var config: String = "config/portcullis.yaml"

    /// The key file's path and, when the config could be read, its usage plans.
    func resolve() throws -> (path: String, plans: Set<String>?) {
        let plans = APIKeyFile.planNames(inConfig: config)
        if let file { return (file, plans) }
        guard let path = APIKeyFile.path(inConfig: config) else {
            throw ValidationError("give --file, or a --config with api_keys: {file: ...} (\(config) has none)")
        }
        return (path, plans)
    }

    func load() throws -> (APIKeyFile, Set<String>?) {
        let (path, plans) = try resolve()
        do {
            return (try APIKeyFile.load(path), plans)
        } catch {
            printError(error.description)
            throw ExitCode(1)
        }
    }
}

/// A key value: 40 characters from a 62-letter alphabet (238 bits) out of OpenSSL's random.
func newKeyValue() -> String {
    let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789".utf8)
    var out: [UInt8] = []
    while out.count < 40 {
        for b in SecureRandom.bytes(64) where b < 248 && out.count < 40 { out.append(alphabet[Int(b) % 62]) }
    }
    return String(decoding: out, as: UTF8.self)
}

/// A key id like API Gateway's: 10 lower-case letters and digits.
func newKeyID() -> String {
    let alphabet = Array("abcdefghijklmnopqrstuvwxyz0123456789".utf8)
    return String(decoding: SecureRandom.bytes(10).map { alphabet[Int($0) % 36] }, as: UTF8.self)
}

func checkPlans(_ wanted: [String], _ known: Set<String>?) throws {
    guard let known else { return }
    for p in wanted where !known.contains(p) {
        throw ValidationError("unknown usage plan \"\(p)\"" + Suggest.hint(for: p, in: known))
    }
}

struct KeysCreate: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "create", abstract: "Make a strong random key, print it once, store only its hash.",
        discussion: "Example: portcullis keys create --config config/part3-api-keys.yaml --name alice --plan basic")
    @OptionGroup var where_: KeyFileOptions
    @Option(help: "A name for the key (shown in lists and logs).")
    var name: String
    @Option(name: .customLong("plan"), help: "A usage plan the key belongs to. Repeatable.")
    var plans: [String] = []
    @Option(help: "A description.")
    var description: String = ""
    @Flag(help: "Create the key disabled.")
    var disabled = false

    func run() throws {
        var (file, known) = try where_.load()
        try checkPlans(plans, known)
        let value = newKeyValue()
        let id = newKeyID()
        file.keys.append(APIKeyConfig(id: id, name: name, description: description, enabled: !disabled, usagePlans: plans, valueHash: Digest.hash(.sha256, Array(value.utf8))))
        try file.write()
        print("id: \(id)")
        print("key: \(value)")
        printError("portcullis: the key is shown only now; \(file.path) keeps its SHA-256. Reload the gateway (SIGHUP) to use it.")
    }
}

struct KeysList: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "list", abstract: "List the keys: id, name, enabled, plans (never a value).")
    @OptionGroup var where_: KeyFileOptions

    func run() throws {
        let (file, _) = try where_.load()
        print("id\tname\tenabled\tusage_plans\tdescription")
        for k in file.keys { print("\(k.id)\t\(k.name)\t\(k.enabled)\t\(k.usagePlans.joined(separator: ","))\t\(k.description)") }
    }
}

struct KeysEnable: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "enable", abstract: "Enable a key by id.")
    @OptionGroup var where_: KeyFileOptions
    @Argument(help: "The key's id.") var id: String
    func run() throws { try setEnabled(where_, id, true) }
}

struct KeysDisable: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "disable", abstract: "Disable a key by id (its callers get 403 after the next reload).")
    @OptionGroup var where_: KeyFileOptions
    @Argument(help: "The key's id.") var id: String
    func run() throws { try setEnabled(where_, id, false) }
}

func setEnabled(_ where_: KeyFileOptions, _ id: String, _ enabled: Bool) throws {
    var (file, _) = try where_.load()
    guard let i = file.keys.firstIndex(where: { $0.id == id }) else {
        throw ValidationError("no key with id \(id) in \(file.path)" + Suggest.hint(for: id, in: file.keys.map(\.id)))
    }
    file.keys[i].enabled = enabled
    try file.write()
    print("\(id): \(enabled ? "enabled" : "disabled")")
}

struct KeysImport: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "import", abstract: "Import keys from API Gateway's CSV format (Name, Key, Description, Enabled, UsagePlanIds).",
        discussion: """
            The header row names the columns (any order, any case); Key is required. A key already in
            the file (the same value) is overwritten, as API Gateway's import does. Nothing is written
            unless every row is good.
            """)
    @OptionGroup var where_: KeyFileOptions
    @Argument(help: "The CSV file.") var csv: String

    func run() throws {
        var (file, known) = try where_.load()
        guard let data = FileManager.default.contents(atPath: csv) else { throw ValidationError("cannot read \(csv)") }
        let rows: [APIKeyCSV.Row]
        do {
            rows = try APIKeyCSV.parse(Array(data))
        } catch {
            printError("\(csv): \(error)")
            throw ExitCode(1)
        }
        var added = 0, replaced = 0
        for r in rows {
            do {
                try checkPlans(r.usagePlans, known)
            } catch {
                printError("\(csv): line \(r.line): \(error)")
                throw ExitCode(1)
            }
            let hash = Digest.hash(.sha256, Array(r.key.utf8))
            if let i = file.keys.firstIndex(where: { $0.valueHash == hash }) {
                file.keys[i].name = r.name
                file.keys[i].description = r.description
                file.keys[i].enabled = r.enabled
                file.keys[i].usagePlans = r.usagePlans
                replaced += 1
            } else {
                file.keys.append(APIKeyConfig(id: newKeyID(), name: r.name, description: r.description, enabled: r.enabled, usagePlans: r.usagePlans, valueHash: hash))
                added += 1
            }
        }
        try file.write()
        print("imported \(rows.count) keys into \(file.path): \(added) added, \(replaced) replaced")
    }
}

/// `portcullis keys usage`: API Gateway's GetUsage for one usage plan, from the quota store.
struct KeysUsage: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "usage", abstract: "Requests per key and day of a usage plan, in API Gateway's GetUsage shape (JSON).",
        discussion: """
            Reads state_dir/quota.sqlite of the config (safe while the gateway runs). Each day holds
            [used, remaining]: remaining is what was left of the period's quota at the end of that day.
            Example: portcullis keys usage --config config/part3-api-keys.yaml --plan basic --start 2026-11-01 --end 2026-11-30
            """)
    @Option(name: .shortAndLong, help: "The config (its state_dir and usage plans).")
    var config: String = "config/portcullis.yaml"
    @Option(help: "The usage plan.") var plan: String
    @Option(name: .customLong("key"), help: "Only this key id.") var keyID: String?
    @Option(help: "First day, YYYY-MM-DD (UTC).") var start: String
    @Option(help: "Last day, YYYY-MM-DD (UTC), included.") var end: String

    func run() throws {
        let loaded: PortcullisConfig
        do { loaded = try ConfigLoader.load(path: config) } catch {
            printError(error.description)
            throw ExitCode(1)
        }
        guard let dir = loaded.stateDir else { throw ValidationError("\(config) has no state_dir: usage is not stored") }
        do {
            let plan = try UsageReport.plan(named: plan, in: loaded)
            let store = try SQLiteQuotaStore(path: dir + "/quota.sqlite")
            print(try UsageReport(plan: plan, keyID: keyID, start: start, end: end).json(config: loaded, store: store))
        } catch let p as UsageReport.Problem {
            throw ValidationError(p.description)
        }
    }
}
