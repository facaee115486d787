public import Chronicle
public import Foundation
public import PostgresNIO

/// A consumer of the log whose effects are PostgreSQL writes, as the engine's
/// ``ProjectionStorage``: each page's effects and its checkpoint (table `checkpoints`) commit in
/// one transaction, fenced against another runner; parked events go to table `dead_letters` in
/// the transaction that moves the checkpoint past them.
///
/// Run it with ``ProjectionEngine`` (``PostgresCheckpointStore/follow(_:pageSize:failurePolicy:deadLetters:stopAt:apply:)``
/// does), inside a ``PostgresLease`` so one process at a time runs the consumer.
///
/// ```swift
/// let storage = PostgresProjectionStorage(consumer: "orders-view", store: store) { events, connection in
///     // write the read model with `connection` (same transaction as the checkpoint)
/// }
/// let engine = try ProjectionEngine(name: "orders-view", storage: storage, source: .postgres(store))
/// ```
public final class PostgresProjectionStorage: ProjectionStorage, Sendable {
    /// The consumer's name: its checkpoint rows (`NAME`, `NAME#P` for partition P > 0, `NAME#start`
    /// for where it started) and its dead letters.
    public let consumer: String
    private let store: PostgresEventStore
    private let apply: @Sendable ([RecordedEvent], PostgresConnection) async throws -> Void
    /// Runs in every transaction that moves a checkpoint or retries a parked event, after the
    /// checkpoint's row lock: a read model's generation check. What it throws passes through.
    private let admit: (@Sendable (PostgresConnection) async throws -> Void)?

    /// Keeps `consumer`'s checkpoints and dead letters in `store`'s schema; `apply` writes a
    /// page's effects on the transaction's connection. Run `store.migrate()` first.
    public init(consumer: String, store: PostgresEventStore, apply: @escaping @Sendable ([RecordedEvent], PostgresConnection) async throws -> Void) {
        self.consumer = consumer
        self.store = store
        self.apply = apply
        self.admit = nil
    }

    /// A storage whose transactions first run `admit` (which may refuse by throwing
    /// ``PostgresReadModelStorage``'s generation errors).
    init(
        consumer: String, store: PostgresEventStore, admit: @escaping @Sendable (PostgresConnection) async throws -> Void,
        apply: @escaping @Sendable ([RecordedEvent], PostgresConnection) async throws -> Void
    ) {
        self.consumer = consumer
        self.store = store
        self.apply = apply
        self.admit = admit
    }

    /// The store whose schema holds the checkpoints.
    var eventStore: PostgresEventStore { store }

    private func key(_ partition: Int) -> String {
        partition == 0 ? consumer : "\(consumer)#\(partition)"
    }

    public func checkpoints(partitions: Int) async throws -> [GlobalPosition]? {
        var positions: [GlobalPosition] = []
        for partition in 0..<partitions {
            let value: Int64?
            do {
                value = try await store.scalar(store.sql.selectCheckpoint, [key(partition)])
            } catch {
                throw PostgresFailure.map(error, while: "reading the checkpoint of \(key(partition))")
            }
            guard let value else { return partition == 0 ? nil : positions + Array(repeating: .start, count: partitions - partition) }
            guard value >= 0 else { throw EventStoreError(.corruptRecord, "The checkpoint of \(key(partition)) is negative (\(value)).") }
            positions.append(GlobalPosition(value))
        }
        return positions
    }

    public func initialize(partitions: Int, at position: GlobalPosition) async throws {
        do {
            for partition in 0..<partitions {
                try await store.execute(store.sql.initializeCheckpoint, [key(partition), position.value])
            }
            try await store.execute(store.sql.initializeCheckpoint, [startKey, position.value])
        } catch {
            throw PostgresFailure.map(error, while: "creating the checkpoint of \(consumer)")
        }
    }

    /// Where the consumer's start is recorded (a row of `checkpoints` that never moves).
    private var startKey: String { "\(consumer)#start" }

    public func startPosition() async throws -> GlobalPosition {
        do {
            return GlobalPosition(max(0, try await store.scalar(store.sql.selectCheckpoint, [startKey]) ?? 0))
        } catch {
            throw PostgresFailure.map(error, while: "reading the start of \(consumer)")
        }
    }

    /// Runs `apply` on the page and moves the checkpoint, in one transaction. When the page
    /// fails, its events are applied one at a time (each with its checkpoint), to find the one
    /// that fails: the events before it stay committed.
    public func commit(_ events: [RecordedEvent], partition: Int, from: GlobalPosition, to: GlobalPosition) async throws {
        do {
            try await advance(partition: partition, from: from, to: to) { connection in try await self.apply(events, connection) }
            return
        } catch let failure as ProjectionApplyFailure where events.count > 1 {
            _ = failure
        }
        var reached = from
        for (index, event) in events.enumerated() {
            do {
                try await advance(partition: partition, from: reached, to: event.position) { connection in try await self.apply([event], connection) }
            } catch let failure as ProjectionApplyFailure {
                throw ProjectionApplyFailure(index: index, error: failure.error, committedThrough: reached)
            }
            reached = event.position
        }
        if to > reached { try await advance(partition: partition, from: reached, to: to) { _ in } }
    }

    /// Moves the checkpoint from `from` to `to` with `effects`, in one transaction; an error of
    /// `effects` is a ``ProjectionApplyFailure`` (index 0), a moved checkpoint a
    /// ``ProjectionCheckpointConflict``.
    func advance(partition: Int, from: GlobalPosition, to: GlobalPosition, effects: @Sendable (PostgresConnection) async throws -> Void) async throws {
        struct EffectsFailed: Error { let error: any Error }
        let key = self.key(partition)
        do {
            try await store.inTransaction { connection in
                let current = try await self.store.scalar(self.store.sql.lockCheckpoint, [key], on: connection) ?? 0
                guard current == from.value else { throw ProjectionCheckpointConflict(stored: GlobalPosition(max(0, current))) }
                try await self.admit?(connection)
                do { try await effects(connection) } catch { throw EffectsFailed(error: error) }
                try await self.store.execute(self.store.sql.updateCheckpoint, [key, to.value], on: connection)
                return .commit(())
            }
        } catch let failed as EffectsFailed {
            throw ProjectionApplyFailure(index: 0, error: failed.error)
        } catch let conflict as ProjectionCheckpointConflict {
            throw conflict
        } catch let refused as GenerationRefused {
            throw refused
        } catch {
            throw PostgresFailure.map(error, while: "advancing the checkpoint of \(key) to \(to)")
        }
    }

    public func park(_ event: RecordedEvent, partition: Int, error: String, attempts: Int, at date: Date, from: GlobalPosition) async throws -> Int {
        let consumer = self.consumer
        try await advance(partition: partition, from: from, to: event.position) { connection in
            try await self.store.execute(self.store.sql.parkEvent, [
                consumer, event.position.value, event.id, event.streamID.rawValue, event.type, error, Int32(clamping: attempts), date,
            ], on: connection)
        }
        return try await parkedCount()
    }

    public func parkedCount() async throws -> Int {
        do {
            return Int(try await store.scalar(store.sql.countParked, [consumer]) ?? 0)
        } catch {
            throw PostgresFailure.map(error, while: "counting the parked events of \(consumer)")
        }
    }

    public func parkedEvents(after position: GlobalPosition, limit: Int) async throws -> [ParkedEvent] {
        try await PostgresDeadLetterStore(sharingSchemaOf: store).parkedEvents(of: consumer, after: position, limit: limit)
    }

    public func parkedEvent(at position: GlobalPosition) async throws -> ParkedEvent? {
        guard position > .start else { return nil }
        let found = try await parkedEvents(after: GlobalPosition(position.value - 1), limit: 1).first
        return found?.position == position ? found : nil
    }

    public func applyParked(_ event: RecordedEvent) async throws -> Int {
        struct EffectsFailed: Error { let error: any Error }
        let consumer = self.consumer
        do {
            try await store.inTransaction { connection in
                try await self.admit?(connection)
                guard try await self.store.scalar(self.store.sql.unparkEvent, [consumer, event.position.value], on: connection) != nil else {
                    throw ProjectionError(.parkedEventNotFound, "No event is parked at position \(event.position) for \(consumer).", projection: consumer, position: event.position)
                }
                do { try await self.apply([event], connection) } catch { throw EffectsFailed(error: error) }
                return .commit(())
            }
        } catch let failed as EffectsFailed {
            throw ProjectionApplyFailure(index: 0, error: failed.error)
        } catch let error as ProjectionError {
            throw error
        } catch let refused as GenerationRefused {
            throw refused
        } catch {
            throw PostgresFailure.map(error, while: "retrying the parked event at \(event.position) for \(consumer)")
        }
        return try await parkedCount()
    }

    public func recordParkedFailure(at position: GlobalPosition, error: String, at date: Date) async throws {
        do {
            try await store.execute(store.sql.recordParkedFailure, [consumer, position.value, error, date])
        } catch {
            throw PostgresFailure.map(error, while: "recording a failed retry for \(consumer)")
        }
    }

    public func dropParked(at position: GlobalPosition) async throws -> Int? {
        let removed: Int64?
        do {
            removed = try await store.scalar(store.sql.unparkEvent, [consumer, position.value])
        } catch {
            throw PostgresFailure.map(error, while: "dropping the parked event at \(position) for \(consumer)")
        }
        guard removed != nil else { return nil }
        return try await parkedCount()
    }
}

extension ProjectionSource {
    /// Reads `store`; its appends in this process wake the runner at once, other processes'
    /// through ``PostgresEventStore/headUpdates()`` (run a ``PostgresHeadWatcher`` to hear them).
    public static func postgres(_ store: PostgresEventStore) -> ProjectionSource {
        ProjectionSource(reader: store) { store.headUpdates() }
    }
}
