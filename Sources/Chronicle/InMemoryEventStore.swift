public import Foundation

/// An event store in memory, for tests of applications built on Chronicle.
///
/// It passes the same conformance suite as the SQLite and PostgreSQL stores, so code tested
/// against it behaves the same on a real store. Nothing survives the process.
///
/// ```swift
/// let store = InMemoryEventStore()
/// try await store.append(event, to: "order-1", expectedVersion: .noStream)
/// ```
public actor InMemoryEventStore: EventStore, AppendObservable, StreamMaintenance, EventArchiving {
    private var log: [RecordedEvent] = []
    private var streamIndexes: [StreamID: [Int]] = [:]
    private var eventIndexByID: [UUID: Int] = [:]
    /// Truncation points (first readable version) and deleted streams (see ``StreamMaintenance``).
    private var truncations: [StreamID: StreamVersion] = [:]
    private var deletedStreams: Set<StreamID> = []
    /// Stored retention policies by category, archived ranges and the store's identity.
    private var storedPolicies: [String: RetentionPolicy] = [:]
    private var archives: [ArchivedRange] = []
    private let identity = UUID().uuidString.lowercased()
    private let now: @Sendable () -> Date
    /// Announces each commit's head position.
    public nonisolated let appendNotifier = AppendNotifier()

    /// Creates an empty store. `now` stamps recorded events (inject a fixed clock in tests).
    public init(now: @escaping @Sendable () -> Date = { Date() }) {
        self.now = now
    }

    /// Appends to one or more streams atomically (see ``EventWriter/append(_:)``).
    public func append(_ appends: [StreamAppend]) throws -> [AppendResult] {
        try AppendPlanner.validate(appends)
        // Plan every request first (the planner keeps this call's own versions), so a failure writes nothing.
        var planner = AppendPlanner(replayCheck: .beforeWriting)
        let conditions = AppendPlanner.ConditionProbe(head: GlobalPosition(Int64(log.count))) { query, after in
            self.log[Int(after.value)...].first(where: query.matches)?.position
        }
        for request in appends {
            try planner.plan(request, current: version(of: request.streamID), deleted: deletedStreams.contains(request.streamID), storedEvents: {
                request.events.compactMap { event in eventIndexByID[event.id].map { log[$0] } }
            }, conditions: conditions)
        }
        let base = Int64(log.count)
        let timestamp = now()
        for case .write(let request, let firstVersion, _) in planner.steps {
            deletedStreams.remove(request.streamID)
            for (offset, event) in request.events.enumerated() {
                let recorded = RecordedEvent(
                    id: event.id, streamID: request.streamID, streamVersion: firstVersion.advanced(by: Int64(offset)),
                    position: GlobalPosition(Int64(log.count) + 1), type: event.type, schemaVersion: event.schemaVersion,
                    payload: event.payload, metadata: event.metadata, recordedAt: timestamp, tags: event.tags
                )
                eventIndexByID[event.id] = log.count
                streamIndexes[request.streamID, default: []].append(log.count)
                log.append(recorded)
            }
        }
        if planner.newEventCount > 0 { appendNotifier.notify(head: GlobalPosition(Int64(log.count))) }
        return planner.results(base: base)
    }

    private func version(of stream: StreamID) -> StreamVersion {
        StreamVersion(Int64(streamIndexes[stream]?.count ?? 0))
    }

    /// Reads a stream's events (see ``EventReader/readStream(_:from:direction:limit:)``), from
    /// its truncation point on; a deleted stream throws ``EventStoreError/Code/streamDeleted``.
    public func readStream(_ stream: StreamID, from start: StreamVersion, direction: ReadDirection, limit: Int) throws -> [RecordedEvent] {
        try ReadLimit.check(limit)
        if deletedStreams.contains(stream) { throw StreamMaintenanceRules.deleted(stream) }
        guard let indexes = streamIndexes[stream], limit > 0 else { return [] }
        // Versions are 1-based array offsets; the first readable one is the truncation point.
        let lowest = Int(clamping: (truncations[stream]?.value ?? 1) - 1)
        switch direction {
        case .forwards:
            let from = max(Int(clamping: start.value) - 1, lowest)
            guard from < indexes.count else { return [] }
            return indexes[from..<min(indexes.count, from.addingReportingOverflow(limit).overflow ? indexes.count : from + limit)].map { log[$0] }
        case .backwards:
            let from = min(Int(clamping: start.value), indexes.count) - 1
            guard from >= lowest else { return [] }
            let lower = max(lowest, from - limit + 1)
            return indexes[lower...from].reversed().map { log[$0] }
        }
    }

    /// Reads the global log after a position (see ``EventReader/readAll(after:limit:)``).
    public func readAll(after position: GlobalPosition, limit: Int) throws -> [RecordedEvent] {
        try ReadLimit.check(limit)
        let from = Int(clamping: position.value)
        guard from < log.count, limit > 0 else { return [] }
        let to = from.addingReportingOverflow(limit).overflow ? log.count : min(log.count, from + limit)
        return Array(log[from..<to])
    }

    /// Reads a category's events after a position (see ``EventReader/readCategory(_:after:limit:)``).
    public func readCategory(_ category: String, after position: GlobalPosition, limit: Int) throws -> [RecordedEvent] {
        try ReadLimit.check(limit)
        var result: [RecordedEvent] = []
        var index = Int(clamping: position.value)
        while index < log.count, result.count < limit {
            if log[index].streamID.category == category { result.append(log[index]) }
            index += 1
        }
        return result
    }

    /// Reads the events matching a query after a position (see
    /// ``EventReader/readEvents(matching:after:limit:)``), scanning the log.
    public func readEvents(matching query: EventQuery, after position: GlobalPosition, limit: Int) throws -> [RecordedEvent] {
        try query.validate()
        try ReadLimit.check(limit)
        var result: [RecordedEvent] = []
        var index = Int(clamping: position.value)
        while index < log.count, result.count < limit {
            if query.matches(log[index]) { result.append(log[index]) }
            index += 1
        }
        return result
    }

    /// The stream's current version (see ``EventReader/streamVersion(of:)``).
    public func streamVersion(of stream: StreamID) -> StreamVersion { version(of: stream) }

    /// Lists streams (see ``EventReader/streams(category:after:limit:)``).
    public func streams(category: String?, after: StreamID?, limit: Int) throws -> [StreamInfo] {
        try ReadLimit.check(limit)
        return streamIndexes.keys
            .filter { id in (category == nil || id.category == category) && (after == nil || id > after!) }
            .sorted()
            .prefix(limit)
            .map { id in
                let indexes = streamIndexes[id]!
                return StreamInfo(id: id, version: StreamVersion(Int64(indexes.count)), lastPosition: log[indexes.last!].position)
            }
    }

    /// The position of the last event (see ``EventReader/headPosition()``).
    public func headPosition() -> GlobalPosition { GlobalPosition(Int64(log.count)) }

    // MARK: StreamMaintenance

    /// Truncates a stream (see ``StreamMaintenance/truncateStream(_:before:)``).
    public func truncateStream(_ stream: StreamID, before version: StreamVersion) throws {
        let state = try StreamMaintenanceRules.truncation(of: streamState(of: stream), stream: stream, before: version)
        truncations[stream] = state.truncatedBefore
    }

    /// Deletes a stream (see ``StreamMaintenance/deleteStream(_:expectedVersion:)``).
    @discardableResult
    public func deleteStream(_ stream: StreamID, expectedVersion: ExpectedVersion) throws -> StreamState {
        let state = try StreamMaintenanceRules.deletion(of: streamState(of: stream), stream: stream, expectedVersion: expectedVersion)
        truncations[stream] = state.truncatedBefore
        deletedStreams.insert(stream)
        return state
    }

    /// A stream's state (see ``StreamMaintenance/streamState(of:)``).
    public func streamState(of stream: StreamID) -> StreamState? {
        guard let indexes = streamIndexes[stream] else { return nil }
        return StreamState(
            id: stream, version: StreamVersion(Int64(indexes.count)), truncatedBefore: truncations[stream] ?? .first,
            isDeleted: deletedStreams.contains(stream))
    }

    /// Applies retention policies and erases truncated events (see ``StreamMaintenance/scavenge(policies:now:dryRun:)``).
    public func scavenge(policies: [RetentionPolicy], now: Date, dryRun: Bool) throws -> ScavengeReport {
        try RetentionPolicy.validate(policies)
        let byCategory = Dictionary(policies.map { ($0.category, $0) }, uniquingKeysWith: { first, _ in first })
        var streams: [ScavengeReport.Stream] = []
        var bytes: Int64 = 0
        let candidates = streamIndexes.keys.sorted()
        for (done, stream) in candidates.enumerated() {
            defer { StreamMaintenanceRules.scavengeProgress?(streams.last.flatMap { $0.id == stream && $0.erasedEvents > 0 ? $0 : nil }, done + 1, candidates.count) }
            let indexes = streamIndexes[stream]!
            var truncatedBefore = truncations[stream] ?? .first
            if let policy = byCategory[stream.category] {
                let cutoff = policy.cutoff(now: now)
                let first = cutoff.flatMap { cutoff in indexes.firstIndex { log[$0].recordedAt >= cutoff }.map { StreamVersion(Int64($0 + 1)) } }
                truncatedBefore = max(truncatedBefore, policy.truncation(version: StreamVersion(Int64(indexes.count)), firstVersionAtOrAfterCutoff: first))
            }
            let erasable = indexes.prefix(Int(truncatedBefore.value - 1)).filter { log[$0].type != RecordedEvent.erasedType }
            guard !erasable.isEmpty || truncatedBefore != (truncations[stream] ?? .first) else { continue }
            bytes += erasable.reduce(0) { $0 + Int64(log[$1].payload.count) }
            streams.append(ScavengeReport.Stream(id: stream, truncatedBefore: truncatedBefore, erasedEvents: Int64(erasable.count), isDeleted: deletedStreams.contains(stream)))
            if dryRun { continue }
            truncations[stream] = truncatedBefore
            for index in erasable { log[index] = StreamMaintenanceRules.tombstone(of: log[index]) }
        }
        return ScavengeReport(dryRun: dryRun, streams: streams.filter { $0.erasedEvents > 0 }, erasedBytes: bytes, head: headPosition())
    }

    /// The stored retention policies (see ``StreamMaintenance/retentionPolicies()``).
    public func retentionPolicies() -> [RetentionPolicy] { storedPolicies.values.sorted { $0.category < $1.category } }

    /// Stores a retention policy (see ``StreamMaintenance/setRetentionPolicy(_:)``).
    public func setRetentionPolicy(_ policy: RetentionPolicy) throws {
        try policy.validate()
        storedPolicies[policy.category] = policy
    }

    /// Removes a stored retention policy (see ``StreamMaintenance/removeRetentionPolicy(category:)``).
    @discardableResult
    public func removeRetentionPolicy(category: String) -> Bool { storedPolicies.removeValue(forKey: category) != nil }

    // MARK: EventArchiving

    /// The store's identity (see ``EventArchiving/storeIdentity()``): random, per instance.
    public func storeIdentity() -> String { identity }

    /// The archived ranges (see ``EventArchiving/archivedRanges()``).
    public func archivedRanges() -> [ArchivedRange] { archives }

    /// Replaces an archived range's events by tombstones (see ``EventArchiving/truncateArchived(_:)``).
    @discardableResult
    public func truncateArchived(_ range: ArchivedRange) throws -> Int64 {
        try ArchiveRules.check(range, head: headPosition(), existing: archives)
        let indexes = Int(range.firstPosition.value - 1)..<Int(range.lastPosition.value)
        let live = indexes.filter { !log[$0].isErased }
        try ArchiveRules.checkLiveEvents(Int64(live.count), in: range)
        for index in live { log[index] = ArchiveRules.tombstone(of: log[index], file: range.file) }
        archives.append(range)
        archives.sort { $0.firstPosition < $1.firstPosition }
        return Int64(live.count)
    }

    /// Puts archived events back (see ``EventArchiving/restoreArchived(_:)``).
    public func restoreArchived(_ events: [RecordedEvent]) throws -> ArchiveRestoreCounts {
        var counts = ArchiveRestoreCounts()
        var restore: [RecordedEvent] = []
        for event in events {
            try ArchiveRules.checkRestorable(event)
            let index = Int(clamping: event.position.value - 1)
            guard index >= 0, index < log.count else { throw ArchiveRules.mismatch(event, found: "no event (the head is \(log.count))") }
            let stored = log[index]
            guard stored.id == event.id, stored.streamID == event.streamID, stored.streamVersion == event.streamVersion else {
                throw ArchiveRules.mismatch(event, found: "event \(stored.id) (\(stored.streamID) version \(stored.streamVersion.value))")
            }
            switch stored.type {
            case RecordedEvent.archivedType: restore.append(event)
            case RecordedEvent.erasedType: counts.erasedSince += 1
            default: counts.alreadyPresent += 1
            }
        }
        for event in restore {
            let index = Int(event.position.value - 1)
            var restored = event
            restored.recordedAt = log[index].recordedAt
            log[index] = restored
            counts.restored += 1
        }
        archives.removeAll { range in
            !(Int(range.firstPosition.value - 1)..<Int(range.lastPosition.value)).contains { log[$0].isArchived }
        }
        return counts
    }
}

/// Shared rules for idempotent re-appends, so every store answers alike.
package enum IdempotentAppend {
    /// Given the already-stored events whose ids `request` carries (in any order), returns the
    /// original result when the append is an exact replay, and throws
    /// ``EventStoreError/Code/duplicateEventID`` otherwise.
    ///
    /// An exact replay: every id is stored, in `request`'s stream, at consecutive versions in
    /// the same order, with the same content, at versions the expected version allows.
    package static func check(_ request: StreamAppend, against stored: [RecordedEvent]) throws(EventStoreError) -> AppendResult {
        let byID = Dictionary(stored.map { ($0.id, $0) }, uniquingKeysWith: { first, _ in first })
        var previous: RecordedEvent?
        for event in request.events {
            guard let recorded = byID[event.id] else {
                throw EventStoreError(.duplicateEventID, "Event id \(event.id) is new but other events of the same append to \(request.streamID) are already stored. Nothing was written; retry with exactly the original events, or give all events new ids.", streamID: request.streamID, eventID: event.id)
            }
            guard recorded.streamID == request.streamID else {
                throw EventStoreError(.duplicateEventID, "Event id \(event.id) is already stored in stream \(recorded.streamID), not \(request.streamID). Nothing was written; give new events new ids.", streamID: request.streamID, eventID: event.id, position: recorded.position, streamVersion: recorded.streamVersion)
            }
            guard event.hasSameContent(as: recorded) else {
                throw EventStoreError(.duplicateEventID, "Event id \(event.id) is already stored in \(request.streamID) at version \(recorded.streamVersion) with different content. Nothing was written; give new events new ids.", streamID: request.streamID, eventID: event.id, position: recorded.position, streamVersion: recorded.streamVersion)
            }
            if let previous, recorded.streamVersion != previous.streamVersion.next {
                throw EventStoreError(.duplicateEventID, "Event id \(event.id) is already stored in \(request.streamID), but not right after the append's previous event. Nothing was written; retry with exactly the original events.", streamID: request.streamID, eventID: event.id, streamVersion: recorded.streamVersion)
            }
            previous = recorded
        }
        let first = byID[request.events[0].id]!
        let last = previous!
        let before = StreamVersion(first.streamVersion.value - 1)
        guard request.expectedVersion.isSatisfied(by: before) else {
            throw EventStoreError(.duplicateEventID, "The events of this append are already stored in \(request.streamID) from version \(first.streamVersion), which does not match expected version \(request.expectedVersion). Nothing was written.", streamID: request.streamID, expectedVersion: request.expectedVersion, actualVersion: before, eventID: first.id)
        }
        return AppendResult(streamID: request.streamID, firstVersion: first.streamVersion, version: last.streamVersion, firstPosition: first.position, position: last.position, wasAlreadyStored: true)
    }
}

/// Validation of read limits, shared by the stores.
package enum ReadLimit {
    /// Throws ``EventStoreError/Code/invalidArgument`` for a negative limit.
    package static func check(_ limit: Int) throws(EventStoreError) {
        if limit < 0 {
            throw EventStoreError(.invalidArgument, "A read limit of \(limit) is negative; pass 0 or more.")
        }
    }
}
