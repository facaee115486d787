public import Foundation

/// The seam between the projection engine and a backend: where a projection's effects, its
/// checkpoints and its parked events are kept.
///
/// ``ProjectionEngine`` does everything else once, for every backend: reading the log in pages,
/// filtering, partitions, retries with backoff, parking or stopping, status, read-your-writes
/// waits, rebuilds. A backend supplies only these operations. SQLite read models, PostgreSQL read
/// models, process managers and relays are implementations; `ProjectionConformance` in
/// ChronicleTesting is the suite every implementation passes.
///
/// Rules for an implementation:
/// - ``commit(_:partition:from:to:)`` applies the events and moves the partition's checkpoint
///   from `from` to `to` **atomically** when the backend can (a read model: one transaction), so a
///   crash never applies an event twice. It moves the checkpoint only if it is still at `from`;
///   otherwise it throws ``ProjectionCheckpointConflict`` and commits nothing.
/// - When applying an event throws, it throws ``ProjectionApplyFailure`` with that event's index;
///   a transactional storage commits nothing of the page, one that cannot roll back effects (a
///   process manager's commands) reports in ``ProjectionApplyFailure/committedThrough`` how far
///   its checkpoint got.
/// - Any other error is a storage failure: the engine backs off and tries the page again.
public protocol ProjectionStorage: Sendable {
    /// Each partition's checkpoint, or `nil` when the projection has never been initialized.
    func checkpoints(partitions: Int) async throws -> [GlobalPosition]?

    /// Creates the checkpoints of a projection that has none, each at `position` (its start).
    func initialize(partitions: Int, at position: GlobalPosition) async throws

    /// The position a fresh copy of this projection starts from (its ``ProjectionStart``, resolved
    /// when it was initialized). A rebuild replays from here.
    func startPosition() async throws -> GlobalPosition

    /// Applies `events` (of `partition`, already filtered) and moves its checkpoint from `from` to
    /// `to`, together.
    func commit(_ events: [RecordedEvent], partition: Int, from: GlobalPosition, to: GlobalPosition) async throws

    /// Parks `event` (a dead-letter record with `error` and `attempts`) and moves its partition's
    /// checkpoint from `from` to the event's position, together. Returns the parked count.
    func park(_ event: RecordedEvent, partition: Int, error: String, attempts: Int, at date: Date, from: GlobalPosition) async throws -> Int

    /// How many events are parked.
    func parkedCount() async throws -> Int

    /// Parked events in position order, `limit` after `position`.
    func parkedEvents(after position: GlobalPosition, limit: Int) async throws -> [ParkedEvent]

    /// The parked event at `position`, if any.
    func parkedEvent(at position: GlobalPosition) async throws -> ParkedEvent?

    /// Applies a parked event again and removes it from the parked events, together. Throws
    /// ``ProjectionApplyFailure`` (index 0) when applying throws; nothing changes then.
    /// Returns the parked count.
    func applyParked(_ event: RecordedEvent) async throws -> Int

    /// Records another failed try of the parked event at `position`.
    func recordParkedFailure(at position: GlobalPosition, error: String, at date: Date) async throws

    /// Removes the parked event at `position`. Returns the parked count left, or `nil` when
    /// nothing was parked there.
    func dropParked(at position: GlobalPosition) async throws -> Int?
}

/// A ``ProjectionStorage`` that can build a fresh copy of the projection beside the serving one
/// and swap it in atomically: how a rebuild serves the old model until the new one is complete.
public protocol RebuildableProjectionStorage: ProjectionStorage {
    /// Creates an empty copy (schema in place, no checkpoints) to rebuild into.
    func makeRebuildTarget() async throws -> any ProjectionStorage

    /// Stops the serving copy's checkpoints from moving (its commits wait or fail with
    /// ``ProjectionCheckpointConflict``) and returns them: the target the rebuild must reach.
    func freeze(partitions: Int) async throws -> [GlobalPosition]

    /// Makes `target` the serving copy if none of its checkpoints is behind the serving one's, and
    /// retires the old copy. Returns whether it swapped; the serving copy is thawed either way.
    func swap(to target: any ProjectionStorage) async throws -> Bool

    /// Deletes a target that did not become the serving copy, and thaws the serving one.
    func discard(_ target: any ProjectionStorage) async
}

/// Thrown by ``ProjectionStorage/commit(_:partition:from:to:)`` when applying an event threw.
public struct ProjectionApplyFailure: Error {
    /// The index in the page of the event that threw.
    public var index: Int
    /// What it threw.
    public var error: any Error
    /// For storages that commit as they go: the checkpoint they reached before the failure
    /// (`nil`: nothing of the page was committed).
    public var committedThrough: GlobalPosition?

    /// Creates a failure.
    public init(index: Int, error: any Error, committedThrough: GlobalPosition? = nil) {
        self.index = index
        self.error = error
        self.committedThrough = committedThrough
    }
}

/// Thrown by a ``ProjectionStorage`` when a partition's stored checkpoint is not where the runner
/// expected (another runner, or a rebuild's swap, moved it). Nothing was committed; the engine
/// reads the checkpoints again and goes on from there.
public struct ProjectionCheckpointConflict: Error, CustomStringConvertible {
    /// The stored checkpoint, if known.
    public var stored: GlobalPosition?

    /// Creates a conflict.
    public init(stored: GlobalPosition?) {
        self.stored = stored
    }

    /// What happened.
    public var description: String {
        "The checkpoint moved under this runner" + (stored.map { " (it is at \($0))" } ?? "")
    }
}
