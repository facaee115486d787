import ChronicleJSON
public import Foundation

/// Loads aggregates from their streams and runs commands on them with optimistic concurrency.
///
/// ``execute(_:on:metadata:)`` loads the aggregate (latest snapshot, then the events after it,
/// in pages), calls the pure ``Aggregate/decide(_:)``, and appends the events expecting the
/// version it loaded. When another writer got there first it catches up and decides again, up
/// to ``Configuration/maxAttempts`` times. Domain errors thrown by `decide` reach the caller
/// unchanged, and nothing is written.
///
/// ```swift
/// let store = InMemoryEventStore()   // or a SQLiteEventStore
/// let orders = AggregateRepository<Order>(store: store)
/// let result = try await orders.execute(.place(customer: "ada"), on: "42",
///                                       metadata: EventMetadata(correlationID: "req-7"))
/// result.version   // 1
/// result.position  // wait for projections to reach this to read your own write
/// let order = try await orders.load("42").state
/// ```
public struct AggregateRepository<A: Aggregate>: Sendable {
    /// Tuning and injected dependencies.
    public struct Configuration: Sendable {
        /// How many times a command is decided and appended before a version conflict is
        /// given up on and thrown (at least 1).
        public var maxAttempts: Int
        /// Events read per page while loading.
        public var pageSize: Int
        /// Makes the ids of new events.
        public var eventIDs: EventIDGenerator
        /// When to save snapshots (only with a snapshot store).
        public var snapshotPolicy: SnapshotPolicy
        /// Called when reading or writing a snapshot fails. Such failures never fail a command
        /// or a load; the default writes a line to standard error.
        public var onSnapshotFailure: @Sendable (SnapshotFailure) -> Void

        /// Creates a configuration. Values out of range are refused by the repository
        /// (``validate()``): its loads and commands throw ``EventStoreError/Code/invalidArgument``.
        public init(
            maxAttempts: Int = 3, pageSize: Int = 1000, eventIDs: EventIDGenerator = .timeOrdered,
            snapshotPolicy: SnapshotPolicy = .every(100),
            onSnapshotFailure: @escaping @Sendable (SnapshotFailure) -> Void = SnapshotFailure.writeToStandardError
        ) {
            self.maxAttempts = maxAttempts
            self.pageSize = pageSize
            self.eventIDs = eventIDs
            self.snapshotPolicy = snapshotPolicy
            self.onSnapshotFailure = onSnapshotFailure
        }

        /// Throws ``EventStoreError/Code/invalidArgument`` when a value is out of range:
        /// `maxAttempts` or `pageSize` below 1, or a snapshot interval below 1.
        public func validate() throws(EventStoreError) {
            if maxAttempts < 1 {
                throw EventStoreError(.invalidArgument, "maxAttempts is \(maxAttempts): use 1 or more (1 = no retry on a conflict; the default is 3).")
            }
            if pageSize < 1 {
                throw EventStoreError(.invalidArgument, "pageSize is \(pageSize): use 1 or more (the default is 1,000).")
            }
            try snapshotPolicy.validate()
        }
    }

    /// The store events are read from and appended to.
    public let store: any EventStore
    /// Maps domain events to stored events and back.
    public let codec: any EventCodec<A.Event>
    /// Tuning and injected dependencies.
    public let configuration: Configuration
    private let snapshotting: Snapshotting?

    /// A repository over `store` with a custom codec and no snapshots.
    public init(store: some EventStore, codec: some EventCodec<A.Event>, configuration: Configuration = Configuration()) {
        self.store = store
        self.codec = codec
        self.configuration = configuration
        self.snapshotting = nil
    }

    /// A repository over `store` with the event type's ``JSONEventCodec`` and no snapshots.
    public init(store: some EventStore, configuration: Configuration = Configuration()) where A.Event: RegisteredEvent {
        self.init(store: store, codec: JSONEventCodec<A.Event>(), configuration: configuration)
    }

    /// A repository that saves snapshots to `snapshots` per ``Configuration/snapshotPolicy``
    /// and loads from the latest one.
    public init(
        store: some EventStore, codec: some EventCodec<A.Event>, snapshots: some SnapshotStore,
        configuration: Configuration = Configuration()
    ) where A: SnapshottableAggregate {
        self.store = store
        self.codec = codec
        self.configuration = configuration
        self.snapshotting = Snapshotting(
            store: snapshots, fingerprint: A.snapshotFingerprint,
            encode: { state in try ChronicleJSONEncoder().encode(state) },
            decode: { data in try ChronicleJSONDecoder().decode(A.self, from: data) }
        )
    }

    /// A repository with the event type's ``JSONEventCodec`` that saves snapshots to `snapshots`.
    public init(store: some EventStore, snapshots: some SnapshotStore, configuration: Configuration = Configuration())
    where A: SnapshottableAggregate, A.Event: RegisteredEvent {
        self.init(store: store, codec: JSONEventCodec<A.Event>(), snapshots: snapshots, configuration: configuration)
    }

    /// The same repository (store, codec and snapshot store) with another configuration, such as
    /// other event ids for one command. ``ProcessContext/execute(_:on:using:)`` uses it, so a
    /// process manager's commands load from and save snapshots like the application's.
    public func with(_ configuration: Configuration) -> AggregateRepository<A> {
        AggregateRepository(store: store, codec: codec, configuration: configuration, snapshotting: snapshotting)
    }

    private init(store: any EventStore, codec: any EventCodec<A.Event>, configuration: Configuration, snapshotting: Snapshotting?) {
        self.store = store
        self.codec = codec
        self.configuration = configuration
        self.snapshotting = snapshotting
    }

    // MARK: Loading

    /// Loads the aggregate with the given id (stream `category-id`); a missing stream loads as
    /// ``Aggregate/initial`` at version 0.
    /// - Throws: ``EventStoreError`` (invalid id, unknown or undecodable events, storage).
    public func load(_ id: String) async throws -> LoadedAggregate<A> {
        try await load(stream: A.streamID(for: id))
    }

    /// Loads the aggregate stored in `stream`.
    public func load(stream: StreamID) async throws -> LoadedAggregate<A> {
        try await load(stream, useSnapshot: true)
    }

    private func load(_ stream: StreamID, useSnapshot: Bool) async throws -> LoadedAggregate<A> {
        try configuration.validate()
        var loaded = LoadedAggregate<A>(streamID: stream, state: A.initial, version: .initial, position: .start, snapshotVersion: .initial, eventsRead: 0)
        if useSnapshot, let snapshotting, let (state, snapshot) = await readSnapshot(of: stream, with: snapshotting) {
            loaded.state = state
            loaded.version = snapshot.version
            loaded.position = snapshot.position
            loaded.snapshotVersion = snapshot.version
        }
        return try await catchUp(loaded)
    }

    /// Folds the events after `loaded.version` into it, a page at a time, each event decoded
    /// in place as it is read (``EventReader/readStreamInPlace(_:from:limit:_:)``).
    private func catchUp(_ loaded: LoadedAggregate<A>) async throws -> LoadedAggregate<A> {
        var loaded = loaded
        let pageSize = configuration.pageSize
        while true {
            let read = try await store.readStreamInPlace(loaded.streamID, from: loaded.version.next, limit: pageSize) { recorded, payload in
                for event in try codec.decode(recorded, payload: payload) {
                    loaded.state.evolve(event)
                }
                loaded.version = recorded.streamVersion
                loaded.position = recorded.position
                loaded.eventsRead += 1
            }
            if read < pageSize { return loaded }
        }
    }

    // MARK: Commands

    /// Runs a command on the aggregate with the given id (stream `category-id`).
    ///
    /// - Parameters:
    ///   - command: what to decide on.
    ///   - id: the aggregate's id: the stream is `category-id`.
    ///   - metadata: stamped on every event the command produces (correlation and causation ids,
    ///     custom values).
    /// - Returns: the events appended, the stream's new version, the global position of its last
    ///   event (for read-your-writes) and the new state. A command that decides no events
    ///   appends nothing and returns the current version and position.
    /// - Throws: whatever ``Aggregate/decide(_:)`` throws, unchanged; ``EventStoreError`` with
    ///   code ``EventStoreError/Code/wrongExpectedVersion`` when every attempt met a concurrent
    ///   writer; other ``EventStoreError``s from the codec and the store.
    public func execute(_ command: A.Command, on id: String, metadata: EventMetadata = .none) async throws -> CommandResult<A> {
        try await execute(command, onStream: A.streamID(for: id), metadata: metadata)
    }

    /// Runs a command on the aggregate stored in `stream`. See ``execute(_:on:metadata:)``.
    public func execute(_ command: A.Command, onStream stream: StreamID, metadata: EventMetadata = .none) async throws -> CommandResult<A> {
        var loaded = try await load(stream, useSnapshot: true)
        var attempt = 1
        while true {
            let events = try loaded.state.decide(command)
            if events.isEmpty {
                return CommandResult(
                    streamID: stream, events: [], eventIDs: [], version: loaded.version, position: loaded.position,
                    state: loaded.state, attempts: attempt
                )
            }
            var data: [EventData] = []
            data.reserveCapacity(events.count)
            for event in events {
                data.append(try codec.encode(event, id: configuration.eventIDs(), metadata: metadata))
            }
            let expected: ExpectedVersion = loaded.version == .initial ? .noStream : .exactly(loaded.version)
            let appended: AppendResult
            do {
                appended = try await store.append(data, to: stream, expectedVersion: expected)
            } catch let error as EventStoreError where error.code == .wrongExpectedVersion && attempt < configuration.maxAttempts {
                attempt += 1
                if let actual = error.actualVersion, actual < loaded.version {
                    // The stream is behind the snapshot we loaded (a snapshot from another store,
                    // a restored backup): drop the snapshot and fold the stream from the start.
                    await deleteSnapshot(of: stream, version: loaded.snapshotVersion)
                    loaded = try await load(stream, useSnapshot: false)
                } else {
                    loaded = try await catchUp(loaded)
                }
                continue
            }
            let state = loaded.state.evolved(by: events)
            await saveSnapshotIfDue(state: state, version: appended.version, position: appended.position, loadedFrom: loaded.snapshotVersion, stream: stream)
            return CommandResult(
                streamID: stream, events: events, eventIDs: data.map(\.id), version: appended.version, position: appended.position,
                state: state, attempts: attempt
            )
        }
    }

    // MARK: Snapshots

    private struct Snapshotting: Sendable {
        let store: any SnapshotStore
        let fingerprint: String
        let encode: @Sendable (A) throws -> Data
        let decode: @Sendable (Data) throws -> A
    }

    /// The latest usable snapshot, or `nil`. Failures are reported, never thrown.
    private func readSnapshot(of stream: StreamID, with snapshotting: Snapshotting) async -> (A, Snapshot)? {
        let snapshot: Snapshot
        do {
            guard let found = try await snapshotting.store.snapshot(of: stream) else { return nil }
            snapshot = found
        } catch {
            configuration.onSnapshotFailure(SnapshotFailure(streamID: stream, version: nil, operation: .read, error: error))
            return nil
        }
        guard snapshot.fingerprint == snapshotting.fingerprint else { return nil }
        do {
            return (try snapshotting.decode(snapshot.state), snapshot)
        } catch {
            configuration.onSnapshotFailure(SnapshotFailure(streamID: stream, version: snapshot.version, operation: .decode, error: error))
            return nil
        }
    }

    private func deleteSnapshot(of stream: StreamID, version: StreamVersion) async {
        guard let snapshotting else { return }
        do {
            try await snapshotting.store.deleteSnapshot(of: stream)
        } catch {
            configuration.onSnapshotFailure(SnapshotFailure(streamID: stream, version: version, operation: .delete, error: error))
        }
    }

    private func saveSnapshotIfDue(state: A, version: StreamVersion, position: GlobalPosition, loadedFrom: StreamVersion, stream: StreamID) async {
        guard let snapshotting, let interval = configuration.snapshotPolicy.interval,
              version.value - loadedFrom.value >= interval
        else { return }
        do {
            let bytes = try snapshotting.encode(state)
            try await snapshotting.store.save(
                Snapshot(streamID: stream, version: version, position: position, fingerprint: snapshotting.fingerprint, state: bytes)
            )
        } catch {
            configuration.onSnapshotFailure(SnapshotFailure(streamID: stream, version: version, operation: .write, error: error))
        }
    }
}

/// An aggregate as loaded from its stream.
public struct LoadedAggregate<A: Aggregate>: Sendable {
    /// The aggregate's stream.
    public var streamID: StreamID
    /// The state after every event.
    public var state: A
    /// The stream's version (the expected version for the next append).
    public var version: StreamVersion
    /// The global position of the stream's last event (``GlobalPosition/start`` if none).
    public var position: GlobalPosition
    /// The version of the snapshot the load started from, ``StreamVersion/initial`` if none.
    public var snapshotVersion: StreamVersion
    /// How many recorded events were read from the store after the snapshot.
    public var eventsRead: Int
}

/// What a command did.
public struct CommandResult<A: Aggregate>: Sendable {
    /// The aggregate's stream.
    public var streamID: StreamID
    /// The events appended, in order (empty if the command decided nothing).
    public var events: [A.Event]
    /// Their ids, in the same order.
    public var eventIDs: [UUID]
    /// The stream's version after the command.
    public var version: StreamVersion
    /// The global position of the stream's last event after the command: wait for a projection
    /// to reach it to read your own write.
    public var position: GlobalPosition
    /// The state after the command.
    public var state: A
    /// How many times the command was decided (more than 1 after version conflicts).
    public var attempts: Int
}

/// A snapshot read or write that failed. Reported to
/// ``AggregateRepository/Configuration/onSnapshotFailure``; commands and loads go on without it.
public struct SnapshotFailure: Sendable, CustomStringConvertible {
    /// What was being done.
    public enum Operation: String, Sendable {
        /// Reading the latest snapshot.
        case read
        /// Decoding a snapshot's state (it is then treated as absent).
        case decode
        /// Encoding or saving a new snapshot.
        case write
        /// Deleting a snapshot found to be ahead of its stream.
        case delete
    }

    /// The stream concerned.
    public var streamID: StreamID
    /// The snapshot's version, when known.
    public var version: StreamVersion?
    /// What was being done.
    public var operation: Operation
    /// What went wrong.
    public var error: any Error

    /// What failed, for which stream, as one line.
    public var description: String {
        "Chronicle: snapshot \(operation) failed for \(streamID)\(version.map { " at version \($0)" } ?? ""); going on without it: \(error)"
    }

    /// Writes the failure as one line to standard error (the default reporter).
    @Sendable public static func writeToStandardError(_ failure: SnapshotFailure) {
        FileHandle.standardError.write(Data((failure.description + "\n").utf8))
    }
}
