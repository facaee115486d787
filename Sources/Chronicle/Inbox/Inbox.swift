/// The receiving side of events sent by another service: applies each incoming event **exactly
/// once**, however often it is delivered.
///
/// An implementation records the event's id and runs the receiver's handler in one transaction
/// of the receiver's store (`SQLiteInbox` in ChronicleSQLite), so a redelivered event finds its
/// id recorded and is acknowledged without being applied again, and a crash in between leaves
/// neither the id nor the effect. ChronicleRelay's `RelayInbox` serves one over HTTP, after
/// checking the sender's signature.
///
/// ```swift
/// switch try await inbox.receive(event, from: "shop.shipping") {
/// case .applied: print("new")
/// case .duplicate: print("seen before, nothing done")
/// }
/// ```
public protocol Inbox: Sendable {
    /// Applies `event` unless its id was received before, recording the id in the same
    /// transaction as the effect.
    ///
    /// - Parameters:
    ///   - event: the incoming event, as the sending service recorded it.
    ///   - source: who sent it (the relay's name), recorded with the id.
    /// - Returns: ``InboxOutcome/applied``, or ``InboxOutcome/duplicate`` when the id was
    ///   recorded already (nothing was done).
    /// - Throws: what the handler threw (nothing is recorded then; the sender retries), or the
    ///   store's error.
    func receive(_ event: RecordedEvent, from source: String) async throws -> InboxOutcome
}

/// What an ``Inbox`` did with an incoming event.
public enum InboxOutcome: String, Sendable, Hashable, Codable {
    /// The event was new: its effect and its id were committed together.
    case applied
    /// The event's id was recorded already: nothing was done.
    case duplicate
}
