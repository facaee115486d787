// The API debt of ChronicleSQLite, in one place: old names kept so existing code still compiles,
// each with the name to use instead.

/// Renamed: SQLite-only types carry the backend in their name.
@available(*, deprecated, renamed: "SQLiteProjectionGroup")
public typealias ProjectionGroup = SQLiteProjectionGroup

/// Renamed: SQLite-only types carry the backend in their name (the PostgreSQL one is
/// `PostgresProcessManager`).
@available(*, deprecated, renamed: "SQLiteProcessManager")
public typealias ProcessManagerRunner = SQLiteProcessManager
