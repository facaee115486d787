import Foundation

/// The event ``SubjectEraser/forget(_:dryRun:metadata:)`` appends once a subject's keys are destroyed,
/// so that projections learn of it in log order: a read model deletes the subject's rows when it
/// sees it (or declares that it must be rebuilt, see ``SubjectForgottenHandling``).
///
/// It is stored in the subject's own stream `privacy-<subject>` (category
/// ``category``) with type name ``eventType`` and the payload `{"subject": "<id>"}`: the opaque
/// subject id, nothing personal.
///
/// ```swift
/// func apply(_ event: RecordedEvent, in db: Database) throws {
///     if let forgotten = SubjectForgotten(event) {
///         try db.execute(sql: "DELETE FROM customers WHERE id = ?", arguments: [forgotten.subject])
///         return
///     }
///     …
/// }
/// ```
public struct SubjectForgotten: Codable, Sendable, Hashable {
    /// The stored type name: `SubjectForgotten`.
    public static let eventType = "SubjectForgotten"
    /// The category of the streams holding these events: `privacy`.
    public static let category = "privacy"

    /// The forgotten subject's id.
    public var subject: String

    /// Creates the event's payload.
    public init(subject: String) {
        self.subject = subject
    }

    /// The payload of `event` if it is a ``SubjectForgotten`` event, `nil` otherwise (or if its
    /// payload does not decode).
    public init?(_ event: RecordedEvent) {
        guard event.type == Self.eventType,
            let payload = try? JSONDecoder().decode(SubjectForgotten.self, from: event.payload)
        else { return nil }
        self = payload
    }

    /// The stream recording that `subject` was forgotten: `privacy-<subject>`.
    public static func stream(of subject: String) throws(PrivacyError) -> StreamID {
        try DataSubject.validate(subject)
        return StreamID(category: category, id: subject)
    }

    /// The event to append (sorted-key JSON payload), with `metadata`.
    public func eventData(metadata: EventMetadata = .none) -> EventData {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        let payload = (try? encoder.encode(self)) ?? Data()
        return EventData(type: Self.eventType, payload: payload, metadata: metadata)
    }
}

/// What a projection does when it sees a ``SubjectForgotten`` event, declared by the projection
/// so that ``SubjectEraser`` can report which read models still need work after a `forget`.
public enum SubjectForgottenHandling: Sendable, Hashable {
    /// The projection deletes (or redacts) the subject's rows when it applies the event.
    case handlesEvent
    /// The projection keeps no personal data: nothing to do.
    case holdsNoPersonalData
    /// The projection must be rebuilt after a forget (its rows keep plaintext otherwise); the
    /// rebuild decodes the subject's fields as redacted.
    case requiresRebuild
}

/// A projection that declares how it forgets subjects (see ``SubjectForgottenHandling``). Pass
/// such projections to ``SubjectEraser``: its report lists those that must be rebuilt.
public protocol ForgetsSubjects: Sendable {
    /// The projection's name.
    var name: String { get }
    /// What the projection does with ``SubjectForgotten`` events.
    var subjectForgottenHandling: SubjectForgottenHandling { get }
}
