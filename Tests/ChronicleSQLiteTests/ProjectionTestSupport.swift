import Chronicle
import ChronicleSQLite
import ChronicleTestSupport
import Foundation
import GRDB
import Logging
import Synchronization
import Testing

/// Settings a test flips while a projector runs (poison types, the factor applied to amounts).
final class CounterSwitches: Sendable {
    private struct State {
        var poisonTypes: Set<String> = []
        var factor: Int64 = 1
        var attempts: [GlobalPosition: Int] = [:]
    }
    private let state = Mutex(State())

    var poisonTypes: Set<String> {
        get { state.withLock { $0.poisonTypes } }
        set { state.withLock { $0.poisonTypes = newValue } }
    }
    var factor: Int64 {
        get { state.withLock { $0.factor } }
        set { state.withLock { $0.factor = newValue } }
    }
    func recordAttempt(_ position: GlobalPosition) { state.withLock { $0.attempts[position, default: 0] += 1 } }
    func attempts(at position: GlobalPosition) -> Int { state.withLock { $0.attempts[position] ?? 0 } }
}

struct PoisonError: Error, CustomStringConvertible {
    let position: GlobalPosition
    var description: String { "poison at \(position)" }
}

/// Counts events and sums their amounts per stream; refuses an event whose stream version is not
/// the next one (which would reveal an event applied twice or skipped).
struct CounterProjector: SQLiteProjector {
    let name: String
    let switches: CounterSwitches

    init(name: String = "counters", switches: CounterSwitches = CounterSwitches()) {
        self.name = name
        self.switches = switches
    }

    func registerMigrations(in migrator: inout DatabaseMigrator) {
        migrator.registerMigration("v1") { db in
            try db.execute(sql: """
                CREATE TABLE counter (
                    stream TEXT NOT NULL PRIMARY KEY,
                    events INTEGER NOT NULL,
                    total INTEGER NOT NULL,
                    last_version INTEGER NOT NULL
                )
                """)
        }
    }

    func apply(_ event: RecordedEvent, in db: Database) throws {
        switches.recordAttempt(event.position)
        if switches.poisonTypes.contains(event.type) { throw PoisonError(position: event.position) }
        let amount = (Int64(String(decoding: event.payload, as: UTF8.self)) ?? 0) * switches.factor
        let last = try Int64.fetchOne(db, sql: "SELECT last_version FROM counter WHERE stream = ?", arguments: [event.streamID.rawValue]) ?? 0
        // Parked or skipped events leave gaps; an event at or below the last version is a double.
        guard event.streamVersion.value > last else {
            throw DatabaseError(message: "event \(event.position) applied twice")
        }
        try db.execute(
            sql: """
                INSERT INTO counter (stream, events, total, last_version) VALUES (?, 1, ?, ?)
                ON CONFLICT (stream) DO UPDATE SET events = events + 1, total = total + excluded.total, last_version = excluded.last_version
                """,
            arguments: [event.streamID.rawValue, amount, event.streamVersion.value]
        )
    }
}

struct CounterRow: Hashable, Sendable {
    let stream: String
    let events: Int64
    let total: Int64
    let lastVersion: Int64
}

extension SQLiteReadModel {
    func counters() async throws -> [CounterRow] {
        try await read { db in
            try Row.fetchAll(db, sql: "SELECT * FROM counter ORDER BY stream").map {
                CounterRow(stream: $0["stream"], events: $0["events"], total: $0["total"], lastVersion: $0["last_version"])
            }
        }
    }
}

enum Fixtures {
    static let logger: Logger = {
        var logger = Logger(label: "chronicle.tests.projections")
        logger.logLevel = .critical
        return logger
    }()

    /// The `index`th event of a deterministic workload: stream `counter-(index % streams)`,
    /// amount = index, a fixed id.
    static func event(_ index: Int, type: String = "Incremented") -> EventData {
        EventData(id: uuid(index), type: type, payload: Data(String(index).utf8))
    }

    static func uuid(_ index: Int) -> UUID {
        let hex = String(index, radix: 16)
        return UUID(uuidString: "00000000-0000-4000-8000-" + String(repeating: "0", count: 12 - hex.count) + hex)!
    }

    static func stream(_ index: Int, streams: Int) -> StreamID {
        StreamID(category: "counter", id: String(index % streams))
    }

    /// Appends events `range` one append per event.
    @discardableResult
    static func append(
        _ range: ClosedRange<Int>, streams: Int = 7, to store: some EventWriter, type: (Int) -> String = { _ in "Incremented" },
        stream streamOf: ((Int) -> StreamID)? = nil
    ) async throws -> GlobalPosition {
        // One event per stream append, up to 200 appends per (atomic) call: positions follow indexes.
        var last = GlobalPosition.start
        var batch: [StreamAppend] = []
        for index in range {
            let target = streamOf?(index) ?? stream(index, streams: streams)
            batch.append(StreamAppend([event(index, type: type(index))], to: target, expectedVersion: .any))
            if batch.count == 200 || index == range.upperBound {
                last = try await store.append(batch).last!.position
                batch.removeAll()
            }
        }
        return last
    }

    /// The read model a clean replay of `store` by a fresh, healthy projector gives.
    static func cleanReplay(of store: some EventReader & AppendObservable) async throws -> [CounterRow] {
        let directory = try ProjectionDirectory()
        let head = try await store.headPosition()
        let model = try SQLiteReadModel(CounterProjector(name: "clean"), directory: directory.path, source: .observing(store), logger: logger)
        try await whileRunning(model) { try await model.waitUntil(position: head, timeout: .seconds(60)) }
        return try await model.counters()
    }

    /// The read model a clean replay of the workload produces, computed without a projection.
    static func expectedCounters(_ range: ClosedRange<Int>, streams: Int = 7, skipping: Set<Int> = []) -> [CounterRow] {
        var rows: [String: (events: Int64, total: Int64, last: Int64)] = [:]
        var versions: [String: Int64] = [:]
        for index in range {
            let stream = stream(index, streams: streams).rawValue
            versions[stream, default: 0] += 1
            if skipping.contains(index) { continue }
            var row = rows[stream] ?? (0, 0, 0)
            row.events += 1
            row.total += Int64(index)
            row.last = versions[stream]!
            rows[stream] = row
        }
        return rows.keys.sorted().map { CounterRow(stream: $0, events: rows[$0]!.events, total: rows[$0]!.total, lastVersion: rows[$0]!.last) }
    }
}

/// A fresh directory under the system temporary directory, removed at the end of the test.
final class ProjectionDirectory: Sendable {
    let path: String

    init() throws {
        path = (NSTemporaryDirectory() as NSString).appendingPathComponent("chronicle-projection-tests-\(UUID().uuidString)")
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    }

    func subdirectory(_ name: String) -> String { (path as NSString).appendingPathComponent(name) }

    /// The event store file of the test.
    var storePath: String { subdirectory("events.sqlite") }

    deinit { try? FileManager.default.removeItem(atPath: path) }
}

/// Runs `model` in the background for the duration of `body`, then stops it and waits until it has.
func whileRunning<T>(_ model: SQLiteReadModel, _ body: () async throws -> T) async throws -> T {
    let task = Task { try await model.run() }
    do {
        let result = try await body()
        task.cancel()
        try await task.value
        return result
    } catch {
        task.cancel()
        _ = try? await task.value
        throw error
    }
}

/// A sleep that returns at once and records what it was asked to wait.
final class RecordingSleep: Sendable {
    private let delays = Mutex<[Duration]>([])
    var recorded: [Duration] { delays.withLock { $0 } }
    var sleep: @Sendable (Duration) async throws -> Void {
        { [self] duration in
            delays.withLock { $0.append(duration) }
            try Task.checkCancellation()
        }
    }
}

/// A flag tasks share.
final class Flag: Sendable {
    private let value = Atomic<Bool>(false)
    var isSet: Bool { value.load(ordering: .acquiring) }
    func set() { value.store(true, ordering: .releasing) }
}

/// Runs `body` with a SQLite event store on a real file in a fresh directory (read models go in
/// other files of the same directory), then closes the store and removes the directory.
func withProjectionStore<T>(_ body: (SQLiteEventStore, ProjectionDirectory) async throws -> T) async throws -> T {
    let directory = try ProjectionDirectory()
    var configuration = SQLiteEventStore.Configuration()
    configuration.logger = Fixtures.logger
    let store = try SQLiteEventStore(path: directory.storePath, configuration: configuration)
    do {
        let result = try await body(store, directory)
        try await store.close()
        return result
    } catch {
        try? await store.close()
        throw error
    }
}
