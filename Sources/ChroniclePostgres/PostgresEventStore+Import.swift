public import Chronicle

/// What ``PostgresEventStore/importEvents(from:after:batchSize:)`` did.
public struct PostgresImportSummary: Sendable, Hashable {
    /// Events appended by this import.
    public var written: Int
    /// Events skipped because they were already stored (an earlier, interrupted import).
    public var alreadyPresent: Int
    /// The source position of the last event copied.
    public var lastSourcePosition: GlobalPosition
}

extension PostgresEventStore {
    /// Copies another store's log (a SQLite store moving to PostgreSQL) into this one, in
    /// position order, keeping event ids, streams, versions, types, payloads and metadata.
    ///
    /// Each event is appended with expected version = its version − 1, in batches of
    /// `batchSize` (one transaction each), so the import is idempotent: run it again after an
    /// interruption and already-copied events are recognised by id and skipped. Into an empty
    /// store, positions come out equal to the source's. Recorded-at times are those of the import.
    ///
    /// ```swift
    /// let source = try SQLiteEventStore(path: "events.sqlite")
    /// let summary = try await postgresStore.importEvents(from: source)
    /// ```
    ///
    /// - Throws: ``EventStoreError`` — ``EventStoreError/Code/wrongExpectedVersion`` when this
    ///   store already has other events in a copied stream (nothing of that batch is written),
    ///   ``EventStoreError/Code/duplicateEventID`` when an id is stored with other content.
    public func importEvents(from source: some EventReader, after position: GlobalPosition = .start, batchSize: Int = 500) async throws -> PostgresImportSummary {
        guard batchSize > 0 else {
            throw EventStoreError(.invalidArgument, "An import batch size of \(batchSize) is not positive.")
        }
        var summary = PostgresImportSummary(written: 0, alreadyPresent: 0, lastSourcePosition: position)
        while true {
            let page = try await source.readAll(after: summary.lastSourcePosition, limit: batchSize)
            guard let last = page.last else { return summary }
            let appends = page.map { event in
                StreamAppend(
                    [EventData(id: event.id, type: event.type, schemaVersion: event.schemaVersion, payload: event.payload, metadata: event.metadata)],
                    to: event.streamID, expectedVersion: .exactly(StreamVersion(event.streamVersion.value - 1))
                )
            }
            let results = try await append(appends)
            let present = results.filter(\.wasAlreadyStored).count
            summary.alreadyPresent += present
            summary.written += results.count - present
            summary.lastSourcePosition = last.position
        }
    }
}
