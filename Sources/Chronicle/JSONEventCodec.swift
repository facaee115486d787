import ChronicleJSON
public import Foundation

/// The default ``EventCodec``: JSON payloads (sorted keys, so equal events encode to equal
/// bytes), type names and schema versions from the event's ``EventTypeRegistry``, and the
/// registry's upcasters applied on read.
///
/// ```swift
/// let codec = JSONEventCodec<OrderEvent>()
/// let data = try codec.encode(.placed(OrderPlaced(customer: "ada")), id: UUID(), metadata: .none)
/// data.type           // "OrderPlaced"
/// let events = try codec.decode(recorded)   // [OrderEvent]
///
/// // A projection that only cares about some events:
/// let lenient = JSONEventCodec<OrderEvent>().skippingUnknownTypes()
/// ```
public struct JSONEventCodec<Event: RegisteredEvent>: EventCodec {
    /// What decoding does with a type name the registry does not know (after upcasting).
    public enum UnknownTypePolicy: Sendable, Hashable {
        /// Throw ``EventStoreError/Code/unknownEventType`` (the default; right for aggregates).
        case fail
        /// Decode to no events (for projections that read other aggregates' events too).
        case skip
    }

    /// The registered types and upcasters.
    public let registry: EventTypeRegistry<Event>
    /// What to do with unknown type names.
    public var unknownTypes: UnknownTypePolicy
    private let encoder: any PayloadEncoder & Sendable
    private let decoder: any PayloadDecoder & Sendable

    /// Upcasting stops with ``EventStoreError/Code/undecodablePayload`` after this many steps for
    /// one stored event (a cycle in the upcasters).
    public static var maximumUpcastingSteps: Int { 64 }

    /// Creates a codec over `registry` (the event type's own registry by default).
    ///
    /// Without an encoder or decoder, payloads go through ``ChronicleJSONEncoder`` and
    /// ``ChronicleJSONDecoder``: the bytes, values and errors of Foundation's defaults (with
    /// sorted keys), several times faster, Foundation itself taking over for anything unusual.
    ///
    /// - Parameters:
    ///   - registry: the event types (and upcasters) this codec encodes and decodes.
    ///   - unknownTypes: what decoding does with a type the registry does not know.
    ///   - encoder: encodes payloads instead (custom date strategy, …); its output formatting
    ///     gets `.sortedKeys` added.
    ///   - decoder: decodes payloads instead.
    public init(
        registry: EventTypeRegistry<Event> = Event.registry, unknownTypes: UnknownTypePolicy = .fail,
        encoder: JSONEncoder? = nil, decoder: JSONDecoder? = nil
    ) {
        self.registry = registry
        self.unknownTypes = unknownTypes
        if let encoder {
            encoder.outputFormatting.insert(.sortedKeys)
            self.encoder = encoder
        } else {
            self.encoder = ChronicleJSONEncoder()
        }
        self.decoder = decoder ?? ChronicleJSONDecoder()
    }

    /// The same codec, decoding unknown type names to no events instead of failing.
    public func skippingUnknownTypes() -> JSONEventCodec {
        var copy = self
        copy.unknownTypes = .skip
        return copy
    }

    /// Encodes a domain event with its registered type name and schema version (see ``EventCodec/encode(_:id:metadata:)``).
    public func encode(_ event: Event, id: UUID, metadata: EventMetadata) throws(EventStoreError) -> EventData {
        let payload = event.payload
        guard let registration = registry.registration(for: payload) else {
            throw EventStoreError(
                .unencodableEvent,
                "\(Event.self) value carries a payload of type \(String(reflecting: type(of: payload))), which is not registered in its EventTypeRegistry. Register it with .register(\(type(of: payload)).self, as: \"Name\", version: 1, …).",
                eventID: id
            )
        }
        let bytes: Data
        do {
            bytes = try encoder.encode(payload)
        } catch {
            throw EventStoreError(
                .unencodableEvent, "Event \(registration.name) failed to encode as JSON.", eventID: id,
                eventType: registration.name, underlying: error
            )
        }
        return EventData(id: id, type: registration.name, schemaVersion: registration.schemaVersion, payload: bytes, metadata: metadata)
    }

    /// Decodes a recorded event, upcasting it first (see ``EventCodec/decode(_:)``). A tombstone
    /// left by a scavenge (``RecordedEvent/isErased``) decodes to no event.
    public func decode(_ recorded: RecordedEvent) throws(EventStoreError) -> [Event] {
        switch try route(of: recorded) {
        case .skip: return []
        case .direct(let registration):
            return [try decodePayload(with: registration, of: recorded) { try registration.decode(recorded.payload, using: decoder) }]
        case .upcast: return try upcastAndDecode(recorded, payload: recorded.payload)
        }
    }

    /// Decodes a recorded event whose payload is given as bytes in place (see
    /// ``EventCodec/decode(_:payload:)``): an event that needs no upcasting is decoded straight
    /// from the bytes, with the same values and errors as ``decode(_:)``; one that does is copied
    /// and upcast as ``decode(_:)`` does.
    public func decode(_ recorded: RecordedEvent, payload: UnsafeRawBufferPointer) throws(EventStoreError) -> [Event] {
        switch try route(of: recorded) {
        case .skip: return []
        case .direct(let registration):
            return [try decodePayload(with: registration, of: recorded) { try registration.decode(bytes: payload, using: decoder) }]
        case .upcast: return try upcastAndDecode(recorded, payload: Data(payload))
        }
    }

    /// How a stored event decodes: to nothing (a tombstone left by a scavenge, or an unknown
    /// type skipped), straight with its registration (its stored form is current), or through
    /// the upcasters.
    private enum Route {
        case skip
        case direct(EventTypeRegistry<Event>.Registration)
        case upcast
    }

    private func route(of recorded: RecordedEvent) throws(EventStoreError) -> Route {
        if recorded.isErased { return .skip }
        guard registry.upcaster(forType: recorded.type, schemaVersion: recorded.schemaVersion) == nil else { return .upcast }
        guard let registration = try registration(for: recorded.type, version: recorded.schemaVersion, of: recorded) else { return .skip }
        return .direct(registration)
    }

    /// Brings `payload` (the stored form of `recorded`) through the upcasters, then decodes
    /// each form they end at.
    private func upcastAndDecode(_ recorded: RecordedEvent, payload: Data) throws(EventStoreError) -> [Event] {
        let start: JSONValue
        do {
            start = try JSONValue(parsing: payload)
        } catch {
            throw problem(.undecodablePayload, "is not valid JSON", recorded, underlying: error)
        }
        var pending = [UpcastingEvent(type: recorded.type, schemaVersion: recorded.schemaVersion, payload: start)]
        var finished: [UpcastingEvent] = []
        var steps = 0
        while !pending.isEmpty {
            let form = pending.removeFirst()
            guard let upcaster = registry.upcaster(forType: form.type, schemaVersion: form.schemaVersion) else {
                finished.append(form)
                continue
            }
            steps += 1
            if steps > Self.maximumUpcastingSteps {
                throw problem(.undecodablePayload, "did not finish upcasting after \(Self.maximumUpcastingSteps) steps (do the upcasters form a cycle?)", recorded)
            }
            let outputs: [UpcastingEvent]
            do {
                outputs = try upcaster.apply(to: form)
            } catch {
                throw problem(.undecodablePayload, "failed in the upcaster for \(form.type) version \(form.schemaVersion)", recorded, underlying: error)
            }
            if outputs.contains(where: { $0.type == form.type && $0.schemaVersion == form.schemaVersion }) {
                throw problem(.undecodablePayload, "was returned unchanged in type and version by the upcaster for \(form.type) version \(form.schemaVersion), which would never end", recorded)
            }
            pending.insert(contentsOf: outputs, at: 0)
        }
        var events: [Event] = []
        events.reserveCapacity(finished.count)
        for form in finished {
            guard let registration = try registration(for: form.type, version: form.schemaVersion, of: recorded) else { continue }
            let bytes: Data
            do {
                bytes = try form.payload.encoded()
            } catch {
                throw problem(.undecodablePayload, "could not be re-encoded after upcasting to \(form.type) version \(form.schemaVersion)", recorded, underlying: error)
            }
            events.append(try decodePayload(with: registration, of: recorded, upcastTo: form.type) { try registration.decode(bytes, using: decoder) })
        }
        return events
    }

    /// The registration for a (possibly upcast) form, `nil` to skip it, or throws.
    private func registration(for type: String, version: Int, of recorded: RecordedEvent) throws(EventStoreError) -> EventTypeRegistry<Event>.Registration? {
        guard let registration = registry.registration(named: type) else {
            if unknownTypes == .skip { return nil }
            let upcast = type == recorded.type ? "" : " (upcast to \"\(type)\")"
            throw problem(
                .unknownEventType,
                "has type \"\(recorded.type)\"\(upcast), which is not registered for \(Event.self). Register it, or decode with unknown types skipped",
                recorded
            )
        }
        guard registration.schemaVersion == version else {
            let relation = version > registration.schemaVersion ? "newer than" : "older than"
            throw problem(
                .undecodablePayload,
                "has \(type) schema version \(version), \(relation) the registered version \(registration.schemaVersion), and no upcaster takes it from there",
                recorded
            )
        }
        return registration
    }

    /// Runs `decode` (a registration decoding the payload), naming the event in its error.
    private func decodePayload(
        with registration: EventTypeRegistry<Event>.Registration, of recorded: RecordedEvent, upcastTo: String? = nil,
        _ decode: () throws -> Event
    ) throws(EventStoreError) -> Event {
        do {
            return try decode()
        } catch {
            let upcast = upcastTo.map { $0 == recorded.type ? " after upcasting" : " after upcasting to \($0)" } ?? ""
            throw problem(.undecodablePayload, "does not decode as \(registration.payloadTypeName)\(upcast)", recorded, underlying: error)
        }
    }

    private func problem(_ code: EventStoreError.Code, _ what: String, _ recorded: RecordedEvent, underlying: (any Error)? = nil) -> EventStoreError {
        EventStoreError(
            code,
            "Event \(recorded.id) at \(recorded.streamID) version \(recorded.streamVersion), position \(recorded.position), type \"\(recorded.type)\" version \(recorded.schemaVersion) \(what).",
            streamID: recorded.streamID, eventID: recorded.id, eventType: recorded.type, position: recorded.position,
            streamVersion: recorded.streamVersion, underlying: underlying
        )
    }
}
