public import Chronicle
import Synchronization

/// A fault the simulator injected (a failed append or read, a failed commit): a transient error
/// that Chronicle's components must retry or report, never lose data over.
public struct SimulatedFault: Error, CustomStringConvertible {
    /// What failed.
    public var what: String

    /// Creates a fault.
    ///
    /// - Parameter what: what failed.
    public init(_ what: String) {
        self.what = what
    }

    /// What failed.
    public var description: String { "simulated fault: \(what)" }
}

/// How often a ``FaultInjectingEventStore`` misbehaves: each is the chance per call (0…1).
public struct StoreFaults: Sendable, Hashable {
    /// An append fails before writing anything.
    public var appendFailure: Double
    /// An append is written, then fails as if its reply were lost (the writer retries it).
    public var appendReplyLost: Double
    /// A read (or head query) fails.
    public var readFailure: Double
    /// An append waits a while (``writerDelay``) before it is written: a stalled, slow writer.
    public var slowWriter: Double
    /// How long a slow writer stalls.
    public var writerDelay: ClosedRange<Duration>
    /// A commit is never announced to the store's listeners (a lost wake-up).
    public var lostWakeUp: Double
    /// A commit is announced twice.
    public var duplicatedWakeUp: Double
    /// A commit is announced late (``wakeUpDelay``), so announcements arrive out of order.
    public var delayedWakeUp: Double
    /// How late a delayed announcement comes.
    public var wakeUpDelay: ClosedRange<Duration>

    /// Creates a fault profile; every chance defaults to zero.
    ///
    /// - Parameters:
    ///   - appendFailure: chance an append fails before writing.
    ///   - appendReplyLost: chance an append is written but reports failure.
    ///   - readFailure: chance a read fails.
    ///   - slowWriter: chance an append stalls first.
    ///   - writerDelay: how long it stalls.
    ///   - lostWakeUp: chance a commit is not announced.
    ///   - duplicatedWakeUp: chance a commit is announced twice.
    ///   - delayedWakeUp: chance a commit is announced late.
    ///   - wakeUpDelay: how late.
    public init(
        appendFailure: Double = 0, appendReplyLost: Double = 0, readFailure: Double = 0,
        slowWriter: Double = 0, writerDelay: ClosedRange<Duration> = .milliseconds(1)...(.seconds(2)),
        lostWakeUp: Double = 0, duplicatedWakeUp: Double = 0, delayedWakeUp: Double = 0,
        wakeUpDelay: ClosedRange<Duration> = .milliseconds(1)...(.milliseconds(500))
    ) {
        self.appendFailure = appendFailure
        self.appendReplyLost = appendReplyLost
        self.readFailure = readFailure
        self.slowWriter = slowWriter
        self.writerDelay = writerDelay
        self.lostWakeUp = lostWakeUp
        self.duplicatedWakeUp = duplicatedWakeUp
        self.delayedWakeUp = delayedWakeUp
        self.wakeUpDelay = wakeUpDelay
    }

    /// No faults.
    public static let none = StoreFaults()

    /// A profile drawn from the seed: each kind of fault is on (at a few percent) or off, so
    /// some seeds test each fault alone and some all together. Lost wake-ups are drawn only when
    /// `allowLostWakeUps` (a runner then needs polling to notice the commits nobody announced).
    ///
    /// - Parameters:
    ///   - context: the simulation whose seed decides.
    ///   - allowLostWakeUps: whether commits may go unannounced.
    public static func random(_ context: SimulationContext, allowLostWakeUps: Bool) -> StoreFaults {
        func maybe(_ rate: Double) -> Double { context.random(in: 0...2) == 0 ? rate : 0 }
        return StoreFaults(
            appendFailure: maybe(0.05), appendReplyLost: maybe(0.05), readFailure: maybe(0.03),
            slowWriter: maybe(0.1), lostWakeUp: allowLostWakeUps ? maybe(0.2) : 0,
            duplicatedWakeUp: maybe(0.2), delayedWakeUp: maybe(0.2)
        )
    }
}

/// An event store that wraps another (an `InMemoryEventStore` by default) and injects the
/// ``StoreFaults`` the seed decides: failed appends and reads, appends whose reply is lost, slow
/// writers, and lost, duplicated or late commit announcements on its own ``appendNotifier``.
///
/// It also keeps a copy of the committed log, readable synchronously by invariants
/// (``committedEvents``), a step or so behind the store.
///
/// ```swift
/// let store = FaultInjectingEventStore(context: context, faults: StoreFaults(appendFailure: 0.05, lostWakeUp: 0.1))
/// let source = ProjectionSource.observing(store, pollInterval: .seconds(1), environment: context.environment)
/// ```
public final class FaultInjectingEventStore: EventStore, AppendObservable {
    /// The wrapped store.
    public let wrapped: any EventStore
    /// The faults injected.
    public let faults: StoreFaults
    /// Announces commits, with the faults of ``faults``.
    public let appendNotifier = AppendNotifier()
    private weak let context: SimulationContext?
    private let mirror = Mutex<[RecordedEvent]>([])
    private let announced = Mutex(GlobalPosition.start)

    /// Wraps `store`.
    ///
    /// - Parameters:
    ///   - store: the store to wrap (`nil`: a new `InMemoryEventStore` on the virtual clock).
    ///     Only stores that run on the caller's executor (actors such as `InMemoryEventStore`)
    ///     keep the simulation deterministic.
    ///   - context: the simulation whose seed decides the faults.
    ///   - faults: how often each fault happens.
    public init(wrapping store: (any EventStore)? = nil, context: SimulationContext, faults: StoreFaults = .none) {
        self.wrapped = store ?? InMemoryEventStore(now: context.environment.now)
        self.context = context
        self.faults = faults
    }

    /// The committed events this store has seen so far, in log order (a step or so behind).
    public var committedEvents: [RecordedEvent] { mirror.withLock { $0 } }

    private func chance(_ probability: Double) -> Bool { context?.chance(probability) ?? false }

    private func read<T>(_ what: String, _ body: () async throws -> T) async throws -> T {
        if chance(faults.readFailure) {
            context?.record("store: \(what) fails")
            throw SimulatedFault("\(what) failed")
        }
        let result = try await body()
        // The reply is a step of its own (as I/O is): whatever else is ready may run before the
        // caller sees it, which opens the windows between a read and what the caller does next.
        await Task.yield()
        return result
    }

    /// Appends, with the faults of ``faults`` (see ``Chronicle/EventWriter/append(_:)``).
    public func append(_ appends: [StreamAppend]) async throws -> [AppendResult] {
        if chance(faults.slowWriter), let context {
            try await context.clock.sleep(for: context.random(in: faults.writerDelay))
        }
        if chance(faults.appendFailure) {
            context?.record("store: append fails before writing")
            throw SimulatedFault("append failed")
        }
        let results = try await wrapped.append(appends)
        guard let head = results.map(\.position).max() else { return results }
        // Announced at once, as a store announces its commit; the copy for invariants follows.
        let announce = announced.withLock { announced in
            defer { announced = max(announced, head) }
            return head > announced
        }
        if announce {
            context?.record("store: committed through \(head)")
            self.announce(head)
        }
        let before = mirror.withLock { $0.last?.position ?? .start }
        if head > before {
            let events = try await wrapped.readAll(after: before, limit: Int(head.value - before.value))
            mirror.withLock { log in
                let last = log.last?.position ?? .start
                log.append(contentsOf: events.filter { $0.position > last })
            }
        }
        await Task.yield()
        if chance(faults.appendReplyLost) {
            context?.record("store: append written, reply lost")
            throw SimulatedFault("append reply lost")
        }
        return results
    }

    private func announce(_ head: GlobalPosition) {
        let notifier = appendNotifier
        if chance(faults.lostWakeUp) {
            context?.record("store: wake-up for \(head) lost")
            return
        }
        if chance(faults.delayedWakeUp), let context {
            context.record("store: wake-up for \(head) delayed")
            context.schedule(after: context.random(in: faults.wakeUpDelay)) { notifier.notify(head: head) }
            return
        }
        notifier.notify(head: head)
        if chance(faults.duplicatedWakeUp) {
            context?.record("store: wake-up for \(head) duplicated")
            notifier.notify(head: head)
        }
    }

    /// Reads a stream (see ``Chronicle/EventReader/readStream(_:from:direction:limit:)``).
    public func readStream(_ stream: StreamID, from start: StreamVersion, direction: ReadDirection, limit: Int) async throws -> [RecordedEvent] {
        try await read("readStream") { try await wrapped.readStream(stream, from: start, direction: direction, limit: limit) }
    }

    /// Reads the log (see ``Chronicle/EventReader/readAll(after:limit:)``).
    public func readAll(after position: GlobalPosition, limit: Int) async throws -> [RecordedEvent] {
        try await read("readAll") { try await wrapped.readAll(after: position, limit: limit) }
    }

    /// Reads a category (see ``Chronicle/EventReader/readCategory(_:after:limit:)``).
    public func readCategory(_ category: String, after position: GlobalPosition, limit: Int) async throws -> [RecordedEvent] {
        try await read("readCategory") { try await wrapped.readCategory(category, after: position, limit: limit) }
    }

    /// Reads events matching a query (see ``Chronicle/EventReader/readEvents(matching:after:limit:)``).
    public func readEvents(matching query: EventQuery, after position: GlobalPosition, limit: Int) async throws -> [RecordedEvent] {
        try await read("readEvents") { try await wrapped.readEvents(matching: query, after: position, limit: limit) }
    }

    /// A stream's version (see ``Chronicle/EventReader/streamVersion(of:)``).
    public func streamVersion(of stream: StreamID) async throws -> StreamVersion {
        try await read("streamVersion") { try await wrapped.streamVersion(of: stream) }
    }

    /// Lists streams (see ``Chronicle/EventReader/streams(category:after:limit:)``).
    public func streams(category: String?, after: StreamID?, limit: Int) async throws -> [StreamInfo] {
        try await read("streams") { try await wrapped.streams(category: category, after: after, limit: limit) }
    }

    /// The head (see ``Chronicle/EventReader/headPosition()``).
    public func headPosition() async throws -> GlobalPosition {
        try await read("headPosition") { try await wrapped.headPosition() }
    }
}
