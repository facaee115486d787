extension LogSubscription {
    /// Up to `limit` events after `position` that pass `filter`, reading at most about `scanLimit`
    /// events of the log: the paged, filtered read behind `GET /all?type=` and `chronicle read --all
    /// --type`.
    ///
    /// The page's `through` is where the next read starts (the last event returned, or the last
    /// one read when the scan limit stopped the read first); `reachedHead` says the log has nothing
    /// more up to its head.
    package static func readFiltered(
        _ reader: any EventReader, after position: GlobalPosition, filter: ProjectionFilter, limit: Int, scanLimit: Int
    ) async throws -> LogPage {
        var events: [RecordedEvent] = []
        var through = position
        var scanned = 0
        while true {
            let page = try await readPage(reader, after: through, filter: filter, pageSize: limit)
            for event in page.events {
                events.append(event)
                if events.count == limit { return LogPage(events: events, through: event.position, reachedHead: false) }
            }
            through = Swift.max(through, page.through)
            if page.reachedHead { return LogPage(events: events, through: through, reachedHead: true) }
            scanned += limit
            if scanned >= scanLimit { return LogPage(events: events, through: through, reachedHead: false) }
        }
    }
}
