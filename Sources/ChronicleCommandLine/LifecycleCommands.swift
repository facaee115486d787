import ArgumentParser
import Chronicle
import ChroniclePostgres
import ChronicleSQLite
import Foundation
import Synchronization

/// `chronicle forget`: crypto-shredding of one data subject.
struct ForgetCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "forget",
        abstract: "Forget a data subject: destroy their keys, record SubjectForgotten, delete their streams' snapshots.",
        discussion: """
            Their personal fields (sealed with their key by ChroniclePrivacy's codec) become unreadable \
            in the store and in every copy of it; they decode as redacted values. Read models that \
            handle SubjectForgotten delete their rows when they reach it. --dry-run reports and changes \
            nothing. Exits 1 for a subject the key store never had a key for (nothing is changed).
            """
    )
    @OptionGroup var options: StoreOptions

    @Argument(help: "The subject's id (an opaque id such as a customer id).")
    var subject: String

    @Option(help: "The key store file paired with a SQLite store (default: the store's path with -keys.sqlite instead of .sqlite). PostgreSQL keys are in the store's schema.")
    var keys: String?

    @Option(help: "The snapshot store file of a SQLite store, if its aggregates keep snapshots apart from the store file (PostgreSQL: the store's schema).")
    var snapshots: String?

    @Flag(help: "Report what would be erased; change nothing.")
    var dryRun = false

    func run() async throws {
        try await reportingErrors {
            let report = try await options.withAnyStore { try await forget(in: $0) }
            if options.json {
                print(try jsonString(report))
            } else {
                print(render(report))
            }
        }
    }

    private func forget(in opened: OpenedStore) async throws -> ForgetReport {
        let keyStore: any SubjectKeyStore
        var snapshotStore: (any SnapshotStore)?
        var closeKeys: () throws -> Void = {}
        if let store = opened.sqlite {
            let path = keys ?? Self.defaultKeyStorePath(for: store.path)
            let sqliteKeys = try SQLiteKeyStore(path: path, pairedWith: store, createIfNeeded: false)
            keyStore = sqliteKeys
            closeKeys = { try sqliteKeys.close() }
            if let snapshots { snapshotStore = try SQLiteSnapshotStore(path: snapshots) }
        } else if let store = opened.postgres {
            let settings = try PostgresConnectionSettings(url: options.path)
            let postgresKeys = try PostgresKeyStore(settings: settings, schema: store.schema)
            keyStore = postgresKeys
            closeKeys = { postgresKeys.close() }
            snapshotStore = PostgresSnapshotStore(sharingSchemaOf: store)
        } else {
            throw CLIError("forget works on SQLite and PostgreSQL stores.")
        }
        defer { try? closeKeys() }
        printError("\(dryRun ? "dry run: " : "")forgetting \(subject) in \(opened.description)")
        let progress = RateLimitedLines()
        let report = try await SubjectEraser.$progress.withValue({ progress.print("  " + $0) }) {
            try await SubjectEraser(store: opened.store, keys: keyStore, snapshots: snapshotStore).forget(subject, dryRun: dryRun)
        }
        printError("\(dryRun ? "would destroy" : "destroyed") \(report.destroyedKeys) key(s); \(report.encryptedEvents) sealed event(s) in \(report.streams.count) stream(s) \(dryRun ? "would become" : "are now") unreadable")
        return report
    }

    /// `events.sqlite` → `events-keys.sqlite`.
    static func defaultKeyStorePath(for storePath: String) -> String {
        let url = URL(fileURLWithPath: storePath)
        let base = url.pathExtension == "sqlite" ? url.deletingPathExtension().lastPathComponent : url.lastPathComponent
        return url.deletingLastPathComponent().appendingPathComponent("\(base)-keys.sqlite").path
    }

    private func render(_ report: ForgetReport) -> String {
        var table = TextTable("PROPERTY", "VALUE")
        table.add("subject", report.subject)
        table.add("dry run", report.dryRun ? "yes" : "no")
        table.add(report.dryRun ? "keys to destroy" : "keys destroyed", String(report.destroyedKeys))
        table.add("already forgotten", report.wasAlreadyForgotten ? "yes" : "no")
        table.add("sealed events (kept, unreadable)", String(report.encryptedEvents))
        table.add("streams", report.streams.map(\.rawValue).joined(separator: ", "))
        table.add("SubjectForgotten at", report.forgottenEvent.map { String($0.value) } ?? "-")
        table.add(report.dryRun ? "snapshots to delete" : "snapshots deleted", report.deletedSnapshots.map(\.rawValue).joined(separator: ", "))
        return table.render()
    }
}

/// Progress lines on standard error: the first 20 as they come, then at most one a second.
final class RateLimitedLines: Sendable {
    private let state = Mutex((count: 0, last: ContinuousClock.now))

    func print(_ line: String) {
        state.withLock { state in
            state.count += 1
            let now = ContinuousClock.now
            guard state.count <= 20 || now - state.last >= .seconds(1) else { return }
            state.last = now
            printError(line)
        }
    }
}

/// A running scavenge's progress on standard error: the first 20 streams with erasures, one line
/// each, then at most a line a second with the counts so far.
final class ScavengeProgressPrinter: Sendable {
    private struct State {
        var lines = 0
        var streams = 0
        var events: Int64 = 0
        var last = ContinuousClock.now
    }
    private let state = Mutex(State())
    private let dryRun: Bool

    init(dryRun: Bool) { self.dryRun = dryRun }

    func update(_ line: ScavengeReport.Stream?, done: Int, total: Int) {
        state.withLock { state in
            let now = ContinuousClock.now
            if let line {
                state.streams += 1
                state.events += line.erasedEvents
                if state.lines < 20 {
                    state.lines += 1
                    printError("  \(line.id): \(dryRun ? "would erase" : "erased") \(line.erasedEvents) event(s) before version \(line.truncatedBefore.value)")
                    return
                }
            }
            if now - state.last >= .seconds(1) {
                state.last = now
                printError("  \(done)/\(total) stream(s) examined; \(dryRun ? "would erase" : "erased") \(state.events) event(s) in \(state.streams) so far")
            }
        }
    }
}

/// `chronicle scavenge`: retention and physical erasure into tombstones.
struct ScavengeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "scavenge",
        abstract: "Apply retention policies and erase the events of deleted and truncated streams, keeping their positions.",
        discussion: """
            The store's own retention policies (stored with --set-policy, removed with --remove-policy, \
            listed with --list-policies) apply on every scavenge; a --retain for the same category replaces \
            the stored one for this run. A policy is CATEGORY:count=N (keep the newest N events per stream) \
            or CATEGORY:age=DURATION (30d, 12h, 90m, 45s); both may be given as CATEGORY:count=N,age=D. \
            Erased events stay as tombstones (type $erased, no payload, metadata or tags) at their \
            positions, so the log stays gap-free and `chronicle verify` passes. --dry-run reports and \
            changes nothing. With --set-policy, --remove-policy or --list-policies the command manages \
            the stored policies and erases nothing.
            """
    )
    @OptionGroup var options: StoreOptions

    @Option(name: .customLong("retain"), help: "A retention policy for this run: CATEGORY:count=N, CATEGORY:age=30d, or CATEGORY:count=N,age=D.")
    var retain: [String] = []

    @Option(name: .customLong("set-policy"), help: "Store a retention policy (same form as --retain), replacing the category's stored one.")
    var setPolicy: [String] = []

    @Option(name: .customLong("remove-policy"), help: "Remove the stored retention policy of this category.")
    var removePolicy: [String] = []

    @Flag(name: .customLong("list-policies"), help: "List the stored retention policies.")
    var listPolicies = false

    @Flag(help: "Report what would be erased (or stored); change nothing.")
    var dryRun = false

    func run() async throws {
        try await reportingErrors {
            let overrides = try retain.map { try Self.policy(parsing: $0, option: "--retain") }
            let toStore = try setPolicy.map { try Self.policy(parsing: $0, option: "--set-policy") }
            try await options.withAnyStore { opened in
                guard let store = opened.store as? any StreamMaintenance else { throw CLIError("This store cannot be scavenged.") }
                if listPolicies || !toStore.isEmpty || !removePolicy.isEmpty {
                    try await managePolicies(store, toStore: toStore)
                } else {
                    try await scavenge(store, overrides: overrides, description: opened.description)
                }
            }
        }
    }

    private func managePolicies(_ store: any StreamMaintenance, toStore: [RetentionPolicy]) async throws {
        if !retain.isEmpty { throw CLIError("--retain applies a policy to one scavenge; to store it, use --set-policy.") }
        for policy in toStore {
            if !dryRun { try await store.setRetentionPolicy(policy) }
            printError("\(dryRun ? "would store" : "stored") the retention policy of \(policy.category): \(Self.describe(policy))")
        }
        for category in removePolicy {
            let removed = dryRun ? try await store.retentionPolicies().contains { $0.category == category } : try await store.removeRetentionPolicy(category: category)
            printError(removed ? "\(dryRun ? "would remove" : "removed") the retention policy of \(category)" : "no retention policy is stored for \(category)")
        }
        let policies = try await store.retentionPolicies()
        if options.json {
            print(try jsonString(policies))
        } else {
            var table = TextTable("CATEGORY", "MAX COUNT", "MAX AGE")
            for policy in policies { table.add(policy.category, policy.maxCount.map(String.init) ?? "-", policy.maxAgeSeconds.map { Self.age($0) } ?? "-") }
            print(policies.isEmpty ? "No retention policy is stored." : table.render())
        }
    }

    private func scavenge(_ store: any StreamMaintenance, overrides: [RetentionPolicy], description: String) async throws {
        let stored = try await store.retentionPolicies()
        let policies = RetentionPolicy.merging(stored: stored, overrides: overrides)
        printError("\(dryRun ? "dry run: " : "")scavenging \(description) with \(policies.isEmpty ? "no retention policy" : policies.map { "\($0.category) (\(Self.describe($0)))" }.joined(separator: ", ")) (\(stored.count) stored, \(overrides.count) given)")
        let progress = ScavengeProgressPrinter(dryRun: dryRun)
        let report = try await StreamMaintenanceRules.$scavengeProgress.withValue({ line, done, total in progress.update(line, done: done, total: total) }) {
            try await store.scavenge(policies: policies, now: Date(), dryRun: dryRun)
        }
        printError("\(dryRun ? "would erase" : "erased") \(report.erasedEvents) event(s) (\(formatBytes(report.erasedBytes))) in \(report.streams.count) stream(s); positions 1–\(report.head) kept")
        if options.json {
            print(try jsonString(Output(report)))
        } else {
            var table = TextTable("STREAM", "TRUNCATED BEFORE", report.dryRun ? "WOULD ERASE" : "ERASED", "DELETED")
            for stream in report.streams {
                table.add(stream.id.rawValue, String(stream.truncatedBefore.value), String(stream.erasedEvents), stream.isDeleted ? "yes" : "no")
            }
            print(report.streams.isEmpty ? "Nothing to erase." : table.render())
        }
    }

    /// `count=1000,age=30d`.
    static func describe(_ policy: RetentionPolicy) -> String {
        ([policy.maxCount.map { "count=\($0)" }, policy.maxAgeSeconds.map { "age=\(age($0))" }] as [String?]).compactMap { $0 }.joined(separator: ",")
    }

    /// Seconds in the largest unit that divides them: 2592000 → 30d.
    static func age(_ seconds: Double) -> String {
        let whole = Int64(seconds)
        guard Double(whole) == seconds else { return "\(seconds)s" }
        for (unit, size) in [("d", Int64(86_400)), ("h", 3_600), ("m", 60)] where whole % size == 0 { return "\(whole / size)\(unit)" }
        return "\(whole)s"
    }

    /// The JSON report: the store's, with the total.
    struct Output: Encodable {
        var dryRun: Bool
        var erasedEvents: Int64
        var erasedBytes: Int64
        var head: Int64
        var streams: [ScavengeReport.Stream]

        init(_ report: ScavengeReport) {
            dryRun = report.dryRun
            erasedEvents = report.erasedEvents
            erasedBytes = report.erasedBytes
            head = report.head.value
            streams = report.streams
        }
    }

    /// `sensor:count=100`, `session:age=30d`, `audit:count=10,age=12h`.
    static func policy(parsing text: String, option: String = "--retain") throws -> RetentionPolicy {
        func bad(_ why: String) -> CLIError {
            CLIError("\(option) \(text): \(why). Write CATEGORY:count=N, CATEGORY:age=30d (d, h, m or s), or CATEGORY:count=N,age=D.")
        }
        guard let colon = text.firstIndex(of: ":") else { throw bad("no category") }
        let category = String(text[..<colon])
        var count: Int64?
        var age: Duration?
        for part in text[text.index(after: colon)...].split(separator: ",") {
            let pair = part.split(separator: "=", maxSplits: 1).map(String.init)
            guard pair.count == 2 else { throw bad("\(part) is not key=value") }
            switch pair[0] {
            case "count":
                guard let value = Int64(pair[1]), value >= 1 else { throw bad("count must be 1 or more") }
                count = value
            case "age":
                guard let unit = pair[1].last, let amount = Int64(pair[1].dropLast()), amount > 0,
                    let seconds = ["d": 86_400, "h": 3_600, "m": 60, "s": 1][String(unit)]
                else { throw bad("age \(pair[1]) is not a number with a unit") }
                age = .seconds(amount * Int64(seconds))
            default:
                throw bad("unknown setting \(pair[0])")
            }
        }
        let policy = RetentionPolicy(category: category, maxCount: count, maxAge: age)
        do {
            try policy.validate()
        } catch {
            throw bad(error.message)
        }
        return policy
    }
}
