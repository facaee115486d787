import Chronicle
import ChronicleSQLite

extension ProcessManagerRunner: ProjectionCatalog {
    /// The status of every projection (see ``ProjectionCatalog/projectionStatuses()``).
    public func projectionStatuses() async throws -> [ProjectionStatus] {
        [status()]
    }

    /// Parked events of the named projection, or `nil` if unknown (see ``ProjectionCatalog/parkedEvents(ofProjection:limit:)``).
    public nonisolated func parkedEvents(ofProjection name: String, limit: Int) async throws -> [ParkedEvent]? {
        guard name == self.name else { return nil }
        return try await parkedEvents(limit: limit)
    }

    /// Waits for the named projection to reach `position` (see ``ProjectionCatalog/waitUntil(projection:reaches:timeout:)``).
    public nonisolated func waitUntil(projection name: String, reaches position: GlobalPosition, timeout: Duration) async throws -> GlobalPosition? {
        guard name == self.name else { return nil }
        do {
            try await waitUntil(position: position, timeout: timeout)
        } catch let error as ProjectionError where error.code == .timeout {
            // Answered as "not caught up" with the position reached.
        }
        return await status().position
    }
}
