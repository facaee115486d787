public import Chronicle

extension ProjectionSource {
    /// Reads `store`; in-process appends wake the runner at once, appends by other processes are
    /// noticed by polling `PRAGMA data_version` every `pollInterval` (see
    /// ``SQLiteEventStore/headUpdates(pollInterval:)``).
    ///
    /// ```swift
    /// let orders = try SQLiteReadModel(OrderTotals(), directory: "read-models",
    ///                                  source: .sqlite(store, pollInterval: .milliseconds(250)), logger: logger)
    /// ```
    public static func sqlite(_ store: SQLiteEventStore, pollInterval: Duration = .milliseconds(250)) -> ProjectionSource {
        ProjectionSource(reader: store) { store.headUpdates(pollInterval: pollInterval) }
    }
}
