import Foundation

/// What the read API needs to know about an application's projections: their status, their
/// parked events, and a way to wait until one has caught up with a position.
///
/// Every ``ProjectionEngine`` is a catalog of one, and so every runner built on it is
/// (`SQLiteReadModel`, `SQLiteProjectionGroup`, `SQLiteProcessManager`, `PostgresReadModel`);
/// ``CombinedProjectionCatalog`` serves several catalogs as one. The read API (ChronicleHTTP)
/// depends only on this protocol, so it serves the projections of any backend.
public protocol ProjectionCatalog: Sendable {
    /// The status of every projection, in a stable order.
    func projectionStatuses() async throws -> [ProjectionStatus]

    /// Up to `limit` parked (dead-lettered) events of the projection called `name`, oldest first;
    /// `nil` if this catalog has no such projection.
    func parkedEvents(ofProjection name: String, limit: Int) async throws -> [ParkedEvent]?

    /// Waits until the projection called `name` has processed every event up to `position`
    /// (its checkpoint is at or past it), or until `timeout` elapses, whichever comes first.
    ///
    /// - Returns: the projection's checkpoint when the wait ended (compare with `position` to
    ///   know which way it ended), or `nil` if this catalog has no such projection.
    func waitUntil(projection name: String, reaches position: GlobalPosition, timeout: Duration) async throws -> GlobalPosition?

    /// Applies the parked event at `position` of the projection called `name` again (after a
    /// fix); on success it is no longer parked.
    ///
    /// - Returns: `false` if this catalog has no such projection (or, for the default
    ///   implementation, administers none).
    /// - Throws: ``ProjectionError`` ``ProjectionError/Code/parkedEventNotFound``, or
    ///   ``ProjectionError/Code/applyFailed`` when it fails again (it stays parked).
    func retryParkedEvent(ofProjection name: String, at position: GlobalPosition) async throws -> Bool

    /// Removes the parked event at `position` of the projection called `name` for good (its
    /// effect is never applied).
    ///
    /// - Returns: `false` if this catalog has no such projection (or, for the default
    ///   implementation, administers none).
    /// - Throws: ``ProjectionError`` ``ProjectionError/Code/parkedEventNotFound``.
    func dropParkedEvent(ofProjection name: String, at position: GlobalPosition) async throws -> Bool
}

extension ProjectionCatalog {
    /// Administers nothing: answers `false` (a catalog that can retry parked events implements it).
    public func retryParkedEvent(ofProjection name: String, at position: GlobalPosition) async throws -> Bool { false }

    /// Administers nothing: answers `false` (a catalog that can drop parked events implements it).
    public func dropParkedEvent(ofProjection name: String, at position: GlobalPosition) async throws -> Bool { false }
}

/// Several catalogs served as one (read models and process managers, say). Names are looked up
/// in order; the first catalog that knows a name answers for it.
public struct CombinedProjectionCatalog: ProjectionCatalog {
    /// The catalogs, in lookup order.
    public let catalogs: [any ProjectionCatalog]

    /// Combines catalogs.
    public init(_ catalogs: [any ProjectionCatalog]) {
        self.catalogs = catalogs
    }

    /// The status of every projection (see ``ProjectionCatalog/projectionStatuses()``).
    public func projectionStatuses() async throws -> [ProjectionStatus] {
        var all: [ProjectionStatus] = []
        for catalog in catalogs { all += try await catalog.projectionStatuses() }
        return all
    }

    /// Parked events of the named projection, or `nil` if unknown (see ``ProjectionCatalog/parkedEvents(ofProjection:limit:)``).
    public func parkedEvents(ofProjection name: String, limit: Int) async throws -> [ParkedEvent]? {
        for catalog in catalogs {
            if let parked = try await catalog.parkedEvents(ofProjection: name, limit: limit) { return parked }
        }
        return nil
    }

    /// Waits for the named projection to reach `position` (see ``ProjectionCatalog/waitUntil(projection:reaches:timeout:)``).
    public func waitUntil(projection name: String, reaches position: GlobalPosition, timeout: Duration) async throws -> GlobalPosition? {
        for catalog in catalogs where try await catalog.projectionStatuses().contains(where: { $0.name == name }) {
            return try await catalog.waitUntil(projection: name, reaches: position, timeout: timeout)
        }
        return nil
    }

    /// Retries a parked event of the first catalog that knows the projection (see ``ProjectionCatalog/retryParkedEvent(ofProjection:at:)``).
    public func retryParkedEvent(ofProjection name: String, at position: GlobalPosition) async throws -> Bool {
        for catalog in catalogs where try await catalog.retryParkedEvent(ofProjection: name, at: position) { return true }
        return false
    }

    /// Drops a parked event of the first catalog that knows the projection (see ``ProjectionCatalog/dropParkedEvent(ofProjection:at:)``).
    public func dropParkedEvent(ofProjection name: String, at position: GlobalPosition) async throws -> Bool {
        for catalog in catalogs where try await catalog.dropParkedEvent(ofProjection: name, at: position) { return true }
        return false
    }
}

extension ProjectionEngine: ProjectionCatalog {
    /// This projection's status (see ``ProjectionCatalog/projectionStatuses()``).
    public func projectionStatuses() async throws -> [ProjectionStatus] {
        [status()]
    }

    /// This projection's parked events, or `nil` for another name.
    public func parkedEvents(ofProjection name: String, limit: Int) async throws -> [ParkedEvent]? {
        guard name == self.name else { return nil }
        return try await parkedEvents(limit: limit)
    }

    /// Waits for this projection to reach `position`; `nil` for another name. A timeout, or a
    /// projection stopped by its failure policy, answers with the position reached (its status
    /// says why).
    public func waitUntil(projection name: String, reaches position: GlobalPosition, timeout: Duration) async throws -> GlobalPosition? {
        guard name == self.name else { return nil }
        do {
            try await waitUntil(position: position, timeout: timeout)
        } catch let error as ProjectionError where error.code == .timeout || error.code == .failed {
            // Not caught up: the position reached answers.
        }
        return status().position
    }

    /// Retries this projection's parked event at `position`; `false` for another name.
    public func retryParkedEvent(ofProjection name: String, at position: GlobalPosition) async throws -> Bool {
        guard name == self.name else { return false }
        try await retryParked(at: position)
        return true
    }

    /// Drops this projection's parked event at `position`; `false` for another name.
    public func dropParkedEvent(ofProjection name: String, at position: GlobalPosition) async throws -> Bool {
        guard name == self.name else { return false }
        try await dropParked(at: position)
        return true
    }
}
