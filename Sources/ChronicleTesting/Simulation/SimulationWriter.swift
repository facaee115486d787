public import Chronicle
import Synchronization

/// What a simulation's workload appends through: the fault-injecting store, with retries of the
/// appends the store failed (same event ids, so a written append whose reply was lost is
/// recognised as already stored), seeded choices, and virtual pauses.
///
/// ```swift
/// workload: { writer in
///     for _ in 0..<writer.random(in: 5...30) {
///         try await writer.append(writer.event(type: "Deposited", payload: ["amount": .int(10)]), to: StreamID(category: "account", id: "\(writer.random(in: 1...3))"))
///         await writer.pause(upTo: .milliseconds(50))
///     }
/// }
/// ```
public struct SimulationWriter: Sendable {
    /// The simulation.
    public let context: SimulationContext
    /// The store it writes to.
    public let store: FaultInjectingEventStore
    let appended: @Sendable (AppendResult) -> Void

    /// Creates a writer (the simulations create one for their workload).
    ///
    /// - Parameters:
    ///   - context: the simulation.
    ///   - store: the store to write to.
    ///   - appended: told of every committed append (read-your-writes checks).
    public init(context: SimulationContext, store: FaultInjectingEventStore, appended: @escaping @Sendable (AppendResult) -> Void = { _ in }) {
        self.context = context
        self.store = store
        self.appended = appended
    }

    /// Whether the workload should go on (`false` once the simulation is past its prefix).
    public var isActive: Bool { context.isActive }

    /// Appends `events` to `stream`, retrying injected failures with the same ids. Does nothing
    /// and returns `nil` once the workload should stop (``isActive``).
    ///
    /// - Parameters:
    ///   - events: the events.
    ///   - stream: the stream.
    ///   - expectedVersion: the expected version (a conflict is thrown, not retried).
    /// - Returns: the append's result.
    @discardableResult
    public func append(_ events: [EventData], to stream: StreamID, expectedVersion: ExpectedVersion = .any) async throws -> AppendResult? {
        guard isActive else { return nil }
        while true {
            do {
                let result = try await store.append(events, to: stream, expectedVersion: expectedVersion)
                appended(result)
                return result
            } catch is SimulatedFault {
                try await context.clock.sleep(for: context.random(in: .milliseconds(1)...(.milliseconds(100))))
            }
        }
    }

    /// Appends one event, as the form taking an array does.
    ///
    /// - Parameters:
    ///   - event: the event.
    ///   - stream: the stream.
    ///   - expectedVersion: the expected version.
    /// - Returns: the append's result.
    @discardableResult
    public func append(_ event: EventData, to stream: StreamID, expectedVersion: ExpectedVersion = .any) async throws -> AppendResult? {
        try await append([event], to: stream, expectedVersion: expectedVersion)
    }

    /// An event with a seeded id and a JSON object payload.
    ///
    /// - Parameters:
    ///   - type: the event type.
    ///   - payload: the payload's fields.
    public func event(type: String, payload: [String: JSONValue] = [:]) -> EventData {
        context.event(type: type, payload: payload)
    }

    /// A seeded integer in `range`.
    ///
    /// - Parameter range: the values to draw from.
    public func random(in range: ClosedRange<Int>) -> Int { context.random(in: range) }

    /// Waits a seeded virtual time up to `limit`.
    ///
    /// - Parameter limit: the longest pause.
    public func pause(upTo limit: Duration) async {
        try? await context.clock.sleep(for: context.random(in: .zero...limit))
    }
}
