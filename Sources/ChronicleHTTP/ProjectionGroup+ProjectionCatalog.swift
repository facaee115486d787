import Chronicle
import ChronicleSQLite

extension ProjectionGroup: ProjectionCatalog {
    /// The status of every projection (see ``ProjectionCatalog/projectionStatuses()``).
    public func projectionStatuses() async throws -> [ProjectionStatus] {
        await statuses()
    }

    /// Parked events of the named projection, or `nil` if unknown (see ``ProjectionCatalog/parkedEvents(ofProjection:limit:)``).
    public func parkedEvents(ofProjection name: String, limit: Int) async throws -> [ParkedEvent]? {
        guard let model = self[name] else { return nil }
        return try await model.parkedEvents(limit: limit)
    }

    /// Waits for the named projection to reach `position` (see ``ProjectionCatalog/waitUntil(projection:reaches:timeout:)``).
    public func waitUntil(projection name: String, reaches position: GlobalPosition, timeout: Duration) async throws -> GlobalPosition? {
        guard let model = self[name] else { return nil }
        do {
            try await model.waitUntil(position: position, timeout: timeout)
        } catch let error as ProjectionError where error.code == .timeout || error.code == .failed {
            // Answered as "not caught up" with the position reached (a failed projection's
            // status says why).
        }
        return await model.status().position
    }
}
