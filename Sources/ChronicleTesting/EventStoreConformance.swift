public import Chronicle
import Foundation

/// The behaviour every ``EventStore`` backend must show, as named cases any test framework can run.
///
/// Each case takes a fresh, empty store and throws a ``ConformanceFailure`` (or the store's own
/// unexpected error) when the store misbehaves. With Swift Testing, run each case as its own
/// test:
///
/// ```swift
/// @Test(arguments: EventStoreConformance.cases)
/// func sqliteStoreConforms(_ conformanceCase: EventStoreConformance.Case) async throws {
///     let store = try makeFreshStore()
///     try await conformanceCase.run(on: store)
/// }
/// ```
public enum EventStoreConformance {
    /// One named behaviour; run it with ``ConformanceCase/run(on:)`` on a fresh, empty store.
    public typealias Case = ConformanceCase<any EventStore>

    /// Every case, in a stable order.
    public static let cases: [Case] = expectedVersionCases + idempotencyCases + validationCases + atomicityCases + readCases

    /// Runs every case, each on a store from `makeStore`, and throws the first failure.
    public static func runAll<Store: EventStore>(makeStore: () async throws -> Store) async throws {
        for conformanceCase in cases {
            try await conformanceCase.run(on: try await makeStore())
        }
    }
}

// MARK: - Helpers shared by the cases

extension EventStoreConformance {
    /// A fresh event with a new id and a payload naming it.
    static func event(_ type: String = "Happened", _ text: String = "payload", metadata: EventMetadata = .none) -> EventData {
        EventData(id: UUID(), type: type, schemaVersion: 1, payload: Data(#"{"text":"\#(text)"}"#.utf8), metadata: metadata)
    }

    static func events(_ count: Int, _ type: String = "Happened") -> [EventData] {
        (0..<count).map { event(type, "\($0)") }
    }

    /// Checks that `stream` holds exactly `expected` (by id and content) at versions 1…n.
    static func expectStream(_ check: ConformanceCheck, _ store: any EventStore, _ stream: StreamID, holds expected: [EventData]) async throws {
        let recorded = try await store.readStream(stream, from: .first, direction: .forwards, limit: .max)
        try check.equal(recorded.map(\.id), expected.map(\.id), "event ids in \(stream)")
        for (index, (event, data)) in zip(recorded, expected).enumerated() {
            try check.expect(data.hasSameContent(as: event), "event \(index + 1) of \(stream) has the appended content")
            try check.equal(event.streamVersion, StreamVersion(Int64(index + 1)), "version of event \(index + 1) in \(stream)")
            try check.equal(event.streamID, stream, "stream of event \(index + 1)")
        }
        try check.equal(try await store.streamVersion(of: stream), StreamVersion(Int64(expected.count)), "version of \(stream)")
    }

    /// Checks that the store holds `count` events at positions 1…count.
    static func expectLog(_ check: ConformanceCheck, _ store: any EventStore, count: Int) async throws {
        let all = try await store.readAll(after: .start, limit: .max)
        try check.equal(all.map(\.position.value), (0..<count).map { Int64($0 + 1) }, "positions of the global log")
        try check.equal(try await store.headPosition(), GlobalPosition(Int64(count)), "head position")
    }
}

extension ConformanceCase where Subject == any EventStore {
    /// Runs the case against `store`, which must be empty.
    public func run(on store: some EventStore) async throws {
        try ConformanceCheck(caseName: name).equal(try await store.headPosition(), .start, "the head of the fresh store given to the case")
        try await run(store)
    }
}
