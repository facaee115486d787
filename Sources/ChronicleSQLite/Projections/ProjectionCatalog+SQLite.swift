public import Chronicle

extension SQLiteProjectionGroup: ProjectionCatalog {
    private var catalog: CombinedProjectionCatalog { CombinedProjectionCatalog(readModels.map(\.engine)) }

    /// The status of every read model (see ``ProjectionCatalog/projectionStatuses()``).
    public func projectionStatuses() async throws -> [ProjectionStatus] {
        try await catalog.projectionStatuses()
    }

    /// Parked events of the named read model, or `nil` if unknown.
    public func parkedEvents(ofProjection name: String, limit: Int) async throws -> [ParkedEvent]? {
        try await self[name]?.engine.parkedEvents(ofProjection: name, limit: limit)
    }

    /// Waits for the named read model to reach `position`, or `nil` if unknown.
    public func waitUntil(projection name: String, reaches position: GlobalPosition, timeout: Duration) async throws -> GlobalPosition? {
        try await self[name]?.engine.waitUntil(projection: name, reaches: position, timeout: timeout)
    }

    /// Retries a parked event of the named read model; `false` if unknown.
    public func retryParkedEvent(ofProjection name: String, at position: GlobalPosition) async throws -> Bool {
        try await self[name]?.engine.retryParkedEvent(ofProjection: name, at: position) ?? false
    }

    /// Drops a parked event of the named read model; `false` if unknown.
    public func dropParkedEvent(ofProjection name: String, at position: GlobalPosition) async throws -> Bool {
        try await self[name]?.engine.dropParkedEvent(ofProjection: name, at: position) ?? false
    }
}
