public import Chronicle
import Foundation
import PostgresNIO

extension PostgresReadModel {
    /// The name of the lease the runner of read model `name` holds.
    static func leaseName(_ name: String) -> String { "projection.\(name)" }

    /// The status of every read model in `store`'s schema, read from its tables without running
    /// them (for the CLI, or a process that does not own them). The state is
    /// ``ProjectionState/running`` (or ``ProjectionState/catchingUp``) while some process holds
    /// the read model's lease, ``ProjectionState/stopped`` otherwise.
    public static func storedStatuses(in store: PostgresEventStore) async throws -> [ProjectionStatus] {
        do {
            let head = try await store.headPosition()
            let models = try await store.withRows(store.sql.listReadModels, []) { rows in
                var models: [(String, Int64)] = []
                for try await row in rows.decode((String, Int64).self) { models.append(row) }
                return models
            }
            var statuses: [ProjectionStatus] = []
            for (name, serving) in models {
                let consumer = "\(name).rm\(serving)"
                let rows = try await store.withRows(store.sql.selectConsumerCheckpoints, [consumer]) { found in
                    var rows: [(String, Int64)] = []
                    for try await row in found.decode((String, Int64).self) { rows.append(row) }
                    return rows
                }
                let positions = rows.sorted { partitionIndex($0.0, of: consumer) < partitionIndex($1.0, of: consumer) }.map { GlobalPosition(max(0, $0.1)) }
                let position = positions.min() ?? .start
                let parked = Int(try await store.scalar(store.sql.countParked, [consumer]) ?? 0)
                let leaseKey = PostgresLease.key(name: leaseName(name), schema: store.schema)
                let running = (try await store.scalar(PostgresSQL.leaseHeldAnywhere, [leaseKey]) ?? 0) > 0
                let state: ProjectionState = !running ? .stopped : position >= head ? .running : .catchingUp
                statuses.append(ProjectionStatus(
                    name: name, state: state, position: position, head: max(head, position), partitionCount: max(1, positions.count),
                    partitionPositions: positions.isEmpty ? [.start] : positions, parkedCount: parked
                ))
            }
            return statuses
        } catch {
            throw PostgresFailure.map(error, while: "reading the status of the read models")
        }
    }

    /// The events read model `name` parked, from its tables, without running it.
    public static func storedParkedEvents(name: String, in store: PostgresEventStore, after position: GlobalPosition = .start, limit: Int = 100) async throws -> [ParkedEvent] {
        try await PostgresDeadLetterStore(sharingSchemaOf: store).parkedEvents(of: try await servingConsumer(name, in: store), after: position, limit: limit)
    }

    /// Forgets the event read model `name` parked at `position`, without running it.
    ///
    /// - Throws: ``ProjectionError`` ``ProjectionError/Code/parkedEventNotFound`` when nothing is parked there.
    public static func dropStoredParkedEvent(name: String, in store: PostgresEventStore, position: GlobalPosition) async throws {
        let storage = PostgresProjectionStorage(consumer: try await servingConsumer(name, in: store), store: store) { _, _ in }
        guard try await storage.dropParked(at: position) != nil else {
            throw ProjectionError(.parkedEventNotFound, "Read model \(name) has no parked event at position \(position).", projection: name, position: position)
        }
    }

    /// The consumer (checkpoint and dead-letter key) of the generation of `name` serving now.
    private static func servingConsumer(_ name: String, in store: PostgresEventStore) async throws -> String {
        let serving: Int64?
        do {
            serving = try await store.scalar(store.sql.selectServing, [name])
        } catch {
            throw PostgresFailure.map(error, while: "reading read model \(name)")
        }
        guard let serving else {
            throw ProjectionError(.storageFailure, "There is no read model \(name) in schema \(store.schema).", projection: name)
        }
        return "\(name).rm\(serving)"
    }

    private static func partitionIndex(_ consumer: String, of base: String) -> Int {
        consumer == base ? 0 : Int(consumer.dropFirst(base.count + 1)) ?? Int.max
    }
}
