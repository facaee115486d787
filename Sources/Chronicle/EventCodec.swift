public import Foundation

/// Turns domain events into ``EventData`` to append, and ``RecordedEvent``s back into domain
/// events. Stores see only bytes; the codec owns type names, schema versions and upcasting.
///
/// ``JSONEventCodec`` is the default. Implement this protocol to store payloads in another
/// format; keep the error contract below so callers can tell what went wrong where.
public protocol EventCodec<Event>: Sendable {
    /// The domain event type.
    associatedtype Event: Sendable

    /// Encodes a domain event for appending, with the given id and metadata.
    /// - Throws: ``EventStoreError`` with code ``EventStoreError/Code/unencodableEvent`` when the
    ///   event's type is not registered or its payload fails to encode.
    func encode(_ event: Event, id: UUID, metadata: EventMetadata) throws(EventStoreError) -> EventData

    /// Decodes a recorded event into domain events: usually one, several when an upcaster split
    /// it, none when the codec skips unknown types or an upcaster dropped it.
    /// - Throws: ``EventStoreError`` with code ``EventStoreError/Code/unknownEventType`` or
    ///   ``EventStoreError/Code/undecodablePayload``, naming the stream, version, position and type.
    func decode(_ recorded: RecordedEvent) throws(EventStoreError) -> [Event]

    /// Decodes a recorded event whose payload is given as bytes that stay in the store's buffer
    /// (``EventReader/readStreamInPlace(_:from:limit:_:)``), exactly as ``decode(_:)`` decodes the
    /// same event with those bytes as its payload; `recorded.payload` is not read. The bytes are
    /// valid only during the call.
    ///
    /// The default copies the bytes into the event and calls ``decode(_:)``; ``JSONEventCodec``
    /// decodes events that need no upcasting straight from the bytes.
    func decode(_ recorded: RecordedEvent, payload: UnsafeRawBufferPointer) throws(EventStoreError) -> [Event]
}

extension EventCodec {
    /// Copies `payload` into the event and decodes it with ``decode(_:)``.
    public func decode(_ recorded: RecordedEvent, payload: UnsafeRawBufferPointer) throws(EventStoreError) -> [Event] {
        var copy = recorded
        copy.payload = Data(payload)
        return try decode(copy)
    }
}
