import Synchronization

/// Tells in-process listeners that the store's head moved, so projection runners and live
/// subscriptions wake at once instead of polling.
///
/// Stores call ``notify(head:)`` after each commit; listeners iterate ``updates()``. Each listener
/// sees the latest head (intermediate values may be coalesced: the sequence buffers only the
/// newest), which is all a catch-up reader needs.
public final class AppendNotifier: Sendable {
    private struct State {
        var head: GlobalPosition = .start
        var nextID = 0
        var listeners: [Int: AsyncStream<GlobalPosition>.Continuation] = [:]
    }
    private let state = Mutex(State())

    /// Creates a notifier.
    public init() {}

    /// The last head announced.
    public var head: GlobalPosition { state.withLock { $0.head } }

    /// Announces a new head position. Positions lower than the last announced are ignored.
    public func notify(head: GlobalPosition) {
        let listeners: [AsyncStream<GlobalPosition>.Continuation] = state.withLock { state in
            guard head > state.head else { return [] }
            state.head = head
            // In subscription order, not hash order, so a seeded simulation is repeatable.
            return state.listeners.sorted(by: { $0.key < $1.key }).map(\.value)
        }
        for listener in listeners { listener.yield(head) }
    }

    /// A sequence of head positions, starting with the current head. It ends when the listener's
    /// task is cancelled or the iteration stops.
    public func updates() -> AsyncStream<GlobalPosition> {
        let (stream, continuation) = AsyncStream.makeStream(of: GlobalPosition.self, bufferingPolicy: .bufferingNewest(1))
        let current: GlobalPosition = state.withLock { state in
            let id = state.nextID
            state.nextID += 1
            state.listeners[id] = continuation
            continuation.onTermination = { [weak self] _ in
                self?.state.withLock { _ = $0.listeners.removeValue(forKey: id) }
            }
            return state.head
        }
        continuation.yield(current)
        return stream
    }

    /// Ends every listener's sequence (on shutdown).
    public func finish() {
        let listeners = state.withLock { state in
            defer { state.listeners.removeAll() }
            return Array(state.listeners.values)
        }
        for listener in listeners { listener.finish() }
    }
}

/// A store whose in-process appends can be observed (see ``AppendNotifier``).
public protocol AppendObservable: Sendable {
    /// The notifier the store announces its commits on.
    var appendNotifier: AppendNotifier { get }
}
