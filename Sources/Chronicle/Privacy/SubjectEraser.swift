import Foundation

/// Forgets data subjects: destroys their keys, records ``SubjectForgotten`` in the log for the
/// projections, and deletes the aggregate snapshots of their streams (which hold decrypted state).
///
/// ```swift
/// let eraser = SubjectEraser(store: store, keys: keys, snapshots: snapshots)
/// let report = try await eraser.forget("customer-42")
/// report.destroyedKeys     // 2 (after one rotation)
/// report.forgottenEvent    // the position of the SubjectForgotten event
/// ```
///
/// The steps are ordered so that a failure can be retried: the keys go first (after that, no
/// copy of the log can be read for the subject), then the event (appended once: a retry finds
/// it), then the snapshots. Forgetting a forgotten subject again redoes the missing steps and
/// reports ``ForgetReport/wasAlreadyForgotten``.
public struct SubjectEraser: Sendable {
    /// The event store the subject's events are in.
    public let store: any EventStore
    /// The key store holding the subject's keys.
    public let keys: any SubjectKeyStore
    /// The snapshot store whose snapshots of the subject's streams are deleted, if any.
    public let snapshots: (any SnapshotStore)?
    /// The projections that declared how they forget (the report lists those to rebuild).
    public let projections: [any ForgetsSubjects]

    /// Creates an eraser.
    /// - Parameters:
    ///   - store: the event store the subject's events are in.
    ///   - keys: the key store paired with it.
    ///   - snapshots: the aggregates' snapshot store, if snapshots are kept.
    ///   - projections: the application's projections that declare how they forget subjects.
    public init(store: any EventStore, keys: any SubjectKeyStore, snapshots: (any SnapshotStore)? = nil, projections: [any ForgetsSubjects] = []) {
        self.store = store
        self.keys = keys
        self.snapshots = snapshots
        self.projections = projections
    }

    /// Forgets `subject`, or with `dryRun` only reports what forgetting would do.
    ///
    /// - Throws: ``PrivacyError`` — ``PrivacyError/Code/unknownSubject`` when the key store
    ///   never had a key for the subject (nothing is changed), ``PrivacyError/Code/invalidSubject``,
    ///   ``PrivacyError/Code/keyStoreFailure``; the store's ``EventStoreError``s.
    /// Called with a line of progress at each step of a running forget (and every 1000 events of
    /// the scan for the subject's events), for the CLI. Set it around the call with `withValue`.
    @TaskLocal package static var progress: (@Sendable (String) -> Void)?

    public func forget(_ subject: String, dryRun: Bool = false, metadata: EventMetadata = .none) async throws -> ForgetReport {
        try DataSubject.validate(subject)
        let status = try keys.status(of: subject)
        let keyVersions: Int
        switch status {
        case .unknown: throw PrivacyError.unknownSubject(subject)
        case .active(let versions): keyVersions = versions
        case .forgotten: keyVersions = 0
        }
        let streams = try await streamsCarrying(subject)
        Self.progress?("found \(streams.events) sealed event(s) of \(subject) in \(streams.ids.count) stream(s)")
        let stream = try SubjectForgotten.stream(of: subject)
        let recorded = try await store.readStream(stream, limit: 1).first
        var report = ForgetReport(
            subject: subject, dryRun: dryRun, destroyedKeys: keyVersions, wasAlreadyForgotten: status == .forgotten,
            encryptedEvents: streams.events, streams: streams.ids, forgottenEvent: recorded?.position,
            deletedSnapshots: snapshots == nil ? [] : streams.ids,
            projectionsToRebuild: projections.filter { $0.subjectForgottenHandling == .requiresRebuild }.map(\.name).sorted()
        )
        if dryRun { return report }
        let destruction = try keys.destroyKeys(of: subject)
        report.destroyedKeys = destruction.destroyedKeys
        Self.progress?("destroyed \(destruction.destroyedKeys) key version(s) of \(subject)")
        if recorded == nil {
            do {
                let result = try await store.append(SubjectForgotten(subject: subject).eventData(metadata: metadata), to: stream, expectedVersion: .noStream)
                report.forgottenEvent = result.position
            } catch EventStoreError.Code.wrongExpectedVersion {
                report.forgottenEvent = try await store.readStream(stream, limit: 1).first?.position
            }
            Self.progress?("recorded SubjectForgotten at position \(report.forgottenEvent.map { String($0.value) } ?? "?")")
        }
        if let snapshots {
            for (done, id) in streams.ids.enumerated() {
                try await snapshots.deleteSnapshot(of: id)
                Self.progress?("deleted the snapshot of \(id) (\(done + 1)/\(streams.ids.count))")
            }
        }
        return report
    }

    /// The streams holding events tagged with the subject, and how many such events.
    private func streamsCarrying(_ subject: String) async throws -> (ids: [StreamID], events: Int) {
        var ids = Set<StreamID>()
        var count = 0
        for try await event in store.events(matching: EventQuery(tags: [DataSubject.tag(subject)])) {
            ids.insert(event.streamID)
            count += 1
            if count % 1000 == 0 { Self.progress?("scanned \(count) event(s) of \(subject) in \(ids.count) stream(s)") }
        }
        return (ids.sorted(), count)
    }
}

/// What ``SubjectEraser/forget(_:dryRun:metadata:)`` erased (or, for a dry run, would erase).
public struct ForgetReport: Sendable, Hashable, Codable {
    /// The subject.
    public var subject: String
    /// Whether this was a dry run (nothing changed).
    public var dryRun: Bool
    /// Key versions destroyed (0 when the subject was already forgotten).
    public var destroyedKeys: Int
    /// Whether the subject had been forgotten before.
    public var wasAlreadyForgotten: Bool
    /// Events carrying the subject's encrypted fields: kept, unreadable for good.
    public var encryptedEvents: Int
    /// The streams of those events.
    public var streams: [StreamID]
    /// The position of the ``SubjectForgotten`` event (`nil` in a dry run of a first forget).
    public var forgottenEvent: GlobalPosition?
    /// The streams whose snapshots were deleted.
    public var deletedSnapshots: [StreamID]
    /// The projections that declared ``SubjectForgottenHandling/requiresRebuild``: rebuild them
    /// now, or their read models keep the subject's plaintext.
    public var projectionsToRebuild: [String]

    /// Creates a report.
    public init(
        subject: String, dryRun: Bool, destroyedKeys: Int, wasAlreadyForgotten: Bool, encryptedEvents: Int,
        streams: [StreamID], forgottenEvent: GlobalPosition?, deletedSnapshots: [StreamID], projectionsToRebuild: [String] = []
    ) {
        self.projectionsToRebuild = projectionsToRebuild
        self.subject = subject
        self.dryRun = dryRun
        self.destroyedKeys = destroyedKeys
        self.wasAlreadyForgotten = wasAlreadyForgotten
        self.encryptedEvents = encryptedEvents
        self.streams = streams
        self.forgottenEvent = forgottenEvent
        self.deletedSnapshots = deletedSnapshots
    }
}
