import Foundation
import Synchronization

/// A process manager (saga): a projector whose effect is commands. It follows the log and, for
/// the events it cares about, runs commands on aggregates (or appends events) — the asynchronous
/// glue between aggregates, including compensation, which is modelled as events too.
///
/// A runner (``SQLiteProcessManager`` in ChronicleSQLite) delivers each event **at least once**:
/// after a crash the events since the last checkpoint come again. Two things make redelivery
/// harmless:
/// - the ids of the events a reaction appends come from ``ProcessContext/eventIDs(_:)``, derived
///   from the triggering event, so re-appending the same events is recognised by the store
///   (an idempotent replay, or ``EventStoreError/Code/duplicateEventID``, which
///   ``ProcessContext/execute(_:on:using:)`` treats as already done);
/// - aggregates decide idempotently (a command whose effect is already there decides no events).
///
/// ```swift
/// struct Fulfilment: ProcessManager {
///     let name = "fulfilment"
///     let store: any EventStore
///
///     func react(to event: RecordedEvent, context: ProcessContext) async throws {
///         guard event.type == "PaymentDeclined", let orderID = event.streamID.idWithinCategory else { return }
///         try await context.execute(.cancel(reason: "payment declined"), on: orderID,
///                                   using: AggregateRepository<Order>(store: store))
///     }
/// }
/// ```
public protocol ProcessManager: Sendable {
    /// The process manager's unique name: it names its checkpoint and seeds its event ids.
    var name: String { get }

    /// Reacts to one event. Throw to have the runner retry (and in the end park or stop, per its
    /// ``FailurePolicy``). Use `context` for the ids and metadata of what it appends.
    func react(to event: RecordedEvent, context: ProcessContext) async throws

    /// The circuit breaker state of the endpoint the reactions call, if they call one (an
    /// outbound relay): runners show it in ``ProjectionStatus/circuit``. `nil` by default.
    var circuit: CircuitStatus? { get }
}

extension ProcessManager {
    /// No circuit breaker: `nil`.
    public var circuit: CircuitStatus? { nil }
}

/// What a process manager's reaction needs to make its effects idempotent and traceable.
public struct ProcessContext: Sendable {
    /// The event being reacted to.
    public let trigger: RecordedEvent
    /// The process manager's name.
    public let processName: String

    /// Creates a context (runners and tests build these).
    public init(trigger: RecordedEvent, processName: String) {
        self.trigger = trigger
        self.processName = processName
    }

    /// Metadata for the events the reaction appends: same correlation id as the trigger,
    /// causation id = the trigger's id.
    public var metadata: EventMetadata { .causedBy(trigger) }

    /// Ids for the events of one step of the reaction: the n-th id is a function of the process
    /// name, the trigger's id, `step` and n only, so a redelivered trigger produces the same ids.
    /// Use one step name per command the reaction runs.
    public func eventIDs(_ step: String) -> EventIDGenerator {
        let counter = Mutex(0)
        let seed = "\(processName)\u{1F}\(trigger.id.uuidString)\u{1F}\(step)"
        return EventIDGenerator {
            let n = counter.withLock { value in
                defer { value += 1 }
                return value
            }
            return DerivedUUID.make(from: "\(seed)\u{1F}\(n)")
        }
    }

    /// Runs `command` on aggregate `id` through `repository`, with ids from ``eventIDs(_:)`` (step =
    /// the aggregate's stream) and this context's metadata, loading from and saving the
    /// repository's snapshots if it has a snapshot store. A `duplicateEventID` conflict means
    /// a previous delivery already appended these events: it returns `nil` then, as it does
    /// when the aggregate decides no events.
    @discardableResult
    public func execute<A: Aggregate>(_ command: A.Command, on id: String, using repository: AggregateRepository<A>) async throws -> CommandResult<A>? {
        var configuration = repository.configuration
        configuration.eventIDs = eventIDs("\(A.category)-\(id)")
        let scoped = repository.with(configuration)
        do {
            let result = try await scoped.execute(command, on: id, metadata: metadata)
            return result.events.isEmpty ? nil : result
        } catch let error as EventStoreError where error.code == .duplicateEventID {
            return nil
        }
    }
}

/// Name-based UUIDs (RFC 9562 version 8 layout) from two independent 64-bit FNV-1a hashes: stable
/// across processes, platforms and runs.
enum DerivedUUID {
    static func make(from name: String) -> UUID {
        let high = fnv1a(name.utf8, basis: 0xcbf2_9ce4_8422_2325)
        let low = fnv1a(name.utf8, basis: 0x8422_2325_cbf2_9ce4 ^ 0x9e37_79b9_7f4a_7c15)
        var bytes = [UInt8](repeating: 0, count: 16)
        for index in 0..<8 {
            bytes[index] = UInt8(truncatingIfNeeded: high >> (56 - 8 * UInt64(index)))
            bytes[8 + index] = UInt8(truncatingIfNeeded: low >> (56 - 8 * UInt64(index)))
        }
        bytes[6] = (bytes[6] & 0x0F) | 0x80  // version 8 (custom)
        bytes[8] = (bytes[8] & 0x3F) | 0x80  // RFC 4122 variant
        return UUID(uuid: (
            bytes[0], bytes[1], bytes[2], bytes[3], bytes[4], bytes[5], bytes[6], bytes[7],
            bytes[8], bytes[9], bytes[10], bytes[11], bytes[12], bytes[13], bytes[14], bytes[15]
        ))
    }

    private static func fnv1a(_ bytes: String.UTF8View, basis: UInt64) -> UInt64 {
        var hash = basis
        for byte in bytes {
            hash ^= UInt64(byte)
            hash &*= 0x0000_0100_0000_01B3
        }
        // Final avalanche (splitmix64) so nearby names differ in every byte.
        hash ^= hash >> 30
        hash &*= 0xbf58_476d_1ce4_e5b9
        hash ^= hash >> 27
        hash &*= 0x94d0_49bb_1331_11eb
        hash ^= hash >> 31
        return hash
    }
}

extension ProcessManager {
    /// The one delivery loop of a page of events to a process manager, which every backend's
    /// runner runs: reactions cannot be rolled back, so the checkpoint is checked before the first
    /// reaction and saved after each one (`save(from, to)` moves it, compare-and-set).
    ///
    /// - Parameters:
    ///   - events: the page, in position order.
    ///   - stored: the checkpoint as stored now; a page read from another one is refused with
    ///     ``ProjectionCheckpointConflict`` before anything reacts.
    ///   - from: the checkpoint the page was read after.
    ///   - to: where the page ends (past filtered-out events, it may be beyond the last event).
    /// - Throws: ``ProjectionApplyFailure`` saying how far the checkpoint got when a reaction fails.
    package func deliver(
        _ events: [RecordedEvent], stored: GlobalPosition, from: GlobalPosition, to: GlobalPosition,
        save: (_ from: GlobalPosition, _ to: GlobalPosition) async throws -> Void
    ) async throws {
        guard stored == from else { throw ProjectionCheckpointConflict(stored: stored) }
        var saved = from
        for (index, event) in events.enumerated() {
            do {
                try await react(to: event, context: ProcessContext(trigger: event, processName: name))
            } catch let error as CancellationError {
                throw error
            } catch {
                if Task.isCancelled { throw CancellationError() }
                throw ProjectionApplyFailure(index: index, error: error, committedThrough: saved)
            }
            try await save(saved, event.position)
            saved = event.position
        }
        if to > saved { try await save(saved, to) }
    }
}
