/// A consistency boundary whose state is the fold of its events, changed only by commands.
///
/// The conforming type *is* the state. Both requirements are pure: no I/O, no clock, no
/// random numbers, no tasks. Time and ids a decision needs come in with the command.
///
/// - ``decide(_:)``: command + current state → the events that happen (or a domain error).
/// - ``evolve(_:)``: state + event → next state. Written as a `mutating` method on a value, which
///   is the same pure function without the copy; ``evolved(by:)-(Self.Event)`` is the returning form.
///
/// ```swift
/// struct Order: Aggregate {
///     enum Command: Sendable {
///         case place(customer: String, total: Int)
///         case confirm
///         case cancel(reason: String)
///     }
///
///     enum Failure: Error, Equatable {
///         case alreadyPlaced, notPlaced, invalidTotal, alreadyCancelled
///     }
///
///     static let category = "order"   // order "42" lives in stream "order-42"
///     static let initial = Order()
///
///     var isPlaced = false
///     var isConfirmed = false
///     var isCancelled = false
///     var total = 0
///
///     func decide(_ command: Command) throws -> [OrderEvent] {
///         switch command {
///         case .place(let customer, let total):
///             guard !isPlaced else { throw Failure.alreadyPlaced }
///             guard total > 0 else { throw Failure.invalidTotal }
///             return [.placed(OrderPlaced(customer: customer, total: total))]
///         case .confirm:
///             guard isPlaced else { throw Failure.notPlaced }
///             guard !isCancelled else { throw Failure.alreadyCancelled }
///             return isConfirmed ? [] : [.confirmed(OrderConfirmed())]   // confirming twice: no-op
///         case .cancel(let reason):
///             guard isPlaced else { throw Failure.notPlaced }
///             return isCancelled ? [] : [.cancelled(OrderCancelled(reason: reason))]
///         }
///     }
///
///     mutating func evolve(_ event: OrderEvent) {
///         switch event {
///         case .placed(let placed):
///             isPlaced = true
///             total = placed.total
///         case .confirmed:
///             isConfirmed = true
///         case .cancelled:
///             isCancelled = true
///         }
///     }
/// }
/// ```
///
/// (The `Order` of the Getting Started article, whose events are shown there.) Store and load it
/// with ``AggregateRepository``; test it with `AggregateSpec` from `ChronicleTesting`.
public protocol Aggregate: Sendable {
    /// What callers ask the aggregate to do.
    associatedtype Command: Sendable
    /// What happened: usually one enum per aggregate, conforming to ``RegisteredEvent``.
    associatedtype Event: Codable & Sendable & Equatable

    /// The stream category: the aggregate with id `42` lives in stream `category-42`.
    static var category: String { get }

    /// The state before any event.
    static var initial: Self { get }

    /// Decides which events a command causes in the current state. Pure.
    /// - Throws: the aggregate's domain errors; ``AggregateRepository`` passes them to the caller
    ///   unchanged and writes nothing.
    func decide(_ command: Command) throws -> [Event]

    /// Applies one event to the state. Pure and total: it must accept every event `decide` can
    /// return, and never fail (events are facts).
    mutating func evolve(_ event: Event)
}

extension Aggregate {
    /// The state after `event`.
    public func evolved(by event: Event) -> Self {
        var next = self
        next.evolve(event)
        return next
    }

    /// The state after `events`, in order.
    public func evolved(by events: some Sequence<Event>) -> Self {
        var next = self
        for event in events { next.evolve(event) }
        return next
    }

    /// The state the events fold to from ``initial``.
    public static func replaying(_ events: some Sequence<Event>) -> Self {
        initial.evolved(by: events)
    }

    /// The stream of the aggregate with the given id: `category-id`.
    /// - Throws: ``EventStoreError`` with code ``EventStoreError/Code/invalidStreamID`` when the
    ///   result is not a valid stream id.
    public static func streamID(for id: String) throws(EventStoreError) -> StreamID {
        try StreamID("\(category)-\(id)")
    }
}

/// An aggregate whose state can be saved as a snapshot, so loading a long stream reads only the
/// events after the latest snapshot.
///
/// Bump ``snapshotSchemaVersion`` whenever the state's stored shape changes: snapshots taken
/// with another fingerprint are ignored (the stream is folded from the start) and replaced.
/// A snapshot that fails to decode is also treated as absent.
public protocol SnapshottableAggregate: Aggregate, Codable {
    /// The version of the state's snapshot shape. Start at 1; bump it when the shape changes.
    static var snapshotSchemaVersion: Int { get }
}

extension SnapshottableAggregate {
    /// The fingerprint stored with each snapshot: the state type's name and
    /// ``snapshotSchemaVersion``, such as `MyApp.Order@v2`.
    public static var snapshotFingerprint: String {
        "\(String(reflecting: Self.self))@v\(snapshotSchemaVersion)"
    }
}
