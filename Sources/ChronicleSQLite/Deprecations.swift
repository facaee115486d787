public import Chronicle

// The API debt of ChronicleSQLite, in one place: old names kept so existing code still compiles,
// each with the name to use instead.

/// Renamed: SQLite-only types carry the backend in their name.
@available(*, deprecated, renamed: "SQLiteProjectionGroup")
public typealias ProjectionGroup = SQLiteProjectionGroup

/// Renamed: SQLite-only types carry the backend in their name (the PostgreSQL one is
/// `PostgresProcessManager`).
@available(*, deprecated, renamed: "SQLiteProcessManager")
public typealias ProcessManagerRunner = SQLiteProcessManager

extension SQLiteReadModel {
    /// Moved: the offline tools are ``SQLiteReadModelDirectory``'s.
    ///
    /// - Parameters:
    ///   - name: the read model.
    ///   - directory: its directory.
    ///   - head: the store's head, for the lag.
    @available(*, deprecated, message: "Use SQLiteReadModelDirectory(directory).status(of: name, head: head)")
    public static func storedStatus(name: String, directory: String, head: GlobalPosition? = nil) throws -> ProjectionStatus {
        try SQLiteReadModelDirectory(directory).status(of: name, head: head)
    }

    /// Moved: the offline tools are ``SQLiteReadModelDirectory``'s.
    ///
    /// - Parameters:
    ///   - name: the read model.
    ///   - directory: its directory.
    ///   - position: list those after this position.
    ///   - limit: the most to list.
    @available(*, deprecated, message: "Use SQLiteReadModelDirectory(directory).parkedEvents(of: name, after: position, limit: limit)")
    public static func storedParkedEvents(name: String, directory: String, after position: GlobalPosition = .start, limit: Int = 100) throws -> [ParkedEvent] {
        try SQLiteReadModelDirectory(directory).parkedEvents(of: name, after: position, limit: limit)
    }

    /// Moved: the offline tools are ``SQLiteReadModelDirectory``'s.
    ///
    /// - Parameters:
    ///   - name: the read model.
    ///   - directory: its directory.
    ///   - position: the parked event's global position.
    @available(*, deprecated, message: "Use SQLiteReadModelDirectory(directory).dropParkedEvent(of: name, at: position)")
    public static func dropStoredParkedEvent(name: String, directory: String, position: GlobalPosition) throws {
        try SQLiteReadModelDirectory(directory).dropParkedEvent(of: name, at: position)
    }

    /// Moved: the offline tools are ``SQLiteReadModelDirectory``'s.
    ///
    /// - Parameters:
    ///   - name: the read model.
    ///   - directory: its directory.
    @available(*, deprecated, message: "Use SQLiteReadModelDirectory(directory).deleteFiles(of: name)")
    public static func deleteFiles(name: String, directory: String) throws {
        try SQLiteReadModelDirectory(directory).deleteFiles(of: name)
    }
}
