import Foundation

/// A runner of one projection on one backend (`SQLiteReadModel`, `SQLiteProcessManager`,
/// `PostgresReadModel`, `PostgresProcessManager`): it owns a ``ProjectionEngine`` and adds what
/// its backend needs (files, a lease, a rebuild's swap).
///
/// What every runner does the same way is written once, here, on top of ``engine``: waiting
/// for a position, the parked-event administration, and serving as a ``ProjectionCatalog`` of
/// one. A runner is also the typed handle the read API takes for the projections a query route
/// reads (`api.queries("/orders", reading: [orderSummary], on: router)`).
public protocol ProjectionRunner: ProjectionCatalog {
    /// The engine running the projection.
    var engine: ProjectionEngine { get }
}

extension ProjectionRunner {
    /// Returns once every event up to `position` has been applied (read your writes: pass an
    /// append's ``AppendResult/position``). Wakes on checkpoint commits.
    ///
    /// - Throws: ``ProjectionError`` ``ProjectionError/Code/timeout`` if that takes longer than
    ///   `timeout`, ``ProjectionError/Code/failed`` if the projection stopped on a failure first.
    public func waitUntil(position: GlobalPosition, timeout: Duration) async throws {
        try await engine.waitUntil(position: position, timeout: timeout)
    }

    /// Lists parked events in position order, `limit` at a time after `position`.
    public func parkedEvents(after position: GlobalPosition = .start, limit: Int = 100) async throws -> [ParkedEvent] {
        try await engine.parkedEvents(after: position, limit: limit)
    }

    /// Applies the parked event at `position` again (after a fix); on success it is removed from
    /// the dead-letter table, in the transaction that commits its effect.
    ///
    /// - Throws: ``ProjectionError`` ``ProjectionError/Code/parkedEventNotFound``, or
    ///   ``ProjectionError/Code/applyFailed`` when it fails again (it stays parked, attempts + 1).
    public func retryParked(at position: GlobalPosition) async throws {
        try await engine.retryParked(at: position)
    }

    /// Retries every parked event in position order. Returns the positions still parked.
    @discardableResult
    public func retryAllParked() async throws -> [GlobalPosition] {
        try await engine.retryAllParked()
    }

    /// Removes the parked event at `position` for good (its effect is never applied).
    ///
    /// - Throws: ``ProjectionError`` ``ProjectionError/Code/parkedEventNotFound``.
    public func dropParked(at position: GlobalPosition) async throws {
        try await engine.dropParked(at: position)
    }

    /// This projection's status (see ``ProjectionCatalog/projectionStatuses()``).
    public func projectionStatuses() async throws -> [ProjectionStatus] {
        try await engine.projectionStatuses()
    }

    /// This projection's parked events, or `nil` for another name.
    public func parkedEvents(ofProjection name: String, limit: Int) async throws -> [ParkedEvent]? {
        try await engine.parkedEvents(ofProjection: name, limit: limit)
    }

    /// Waits for this projection to reach `position`, or `nil` for another name.
    public func waitUntil(projection name: String, reaches position: GlobalPosition, timeout: Duration) async throws -> GlobalPosition? {
        try await engine.waitUntil(projection: name, reaches: position, timeout: timeout)
    }

    /// Retries this projection's parked event at `position`; `false` for another name (see
    /// ``ProjectionCatalog/retryParkedEvent(ofProjection:at:)``).
    public func retryParkedEvent(ofProjection name: String, at position: GlobalPosition) async throws -> Bool {
        try await engine.retryParkedEvent(ofProjection: name, at: position)
    }

    /// Drops this projection's parked event at `position`; `false` for another name (see
    /// ``ProjectionCatalog/dropParkedEvent(ofProjection:at:)``).
    public func dropParkedEvent(ofProjection name: String, at position: GlobalPosition) async throws -> Bool {
        try await engine.dropParkedEvent(ofProjection: name, at: position)
    }
}
