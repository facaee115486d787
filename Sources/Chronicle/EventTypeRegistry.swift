public import Foundation

/// The explicit list of an event type's stored forms: each payload type with the type name and
/// schema version it is stored under, plus the ``Upcaster``s that bring older stored forms up
/// to date.
///
/// Build it once, as a `static let`, by chaining ``register(_:as:version:_:)`` and
/// ``upcast(_:)-(Upcaster)``:
///
/// ```swift
/// static let registry = EventTypeRegistry<OrderEvent>()
///     .register(OrderPlaced.self, as: "OrderPlaced", version: 1, OrderEvent.placed)
///     .register(OrderConfirmed.self, as: "OrderConfirmed", version: 1, OrderEvent.confirmed)
///     .register(OrderCancelled.self, as: "OrderCancelled", version: 2, OrderEvent.cancelled)
///     // version 1 of OrderCancelled had no reason
///     .upcast(.migrate("OrderCancelled", from: 1, to: 2) { json in json["reason"] = "not recorded" })
/// ```
///
/// Registering a type name twice, a payload type twice, a schema version below 1 or two
/// upcasters for the same stored form is a programming error and traps with a message.
public struct EventTypeRegistry<Event: Sendable>: Sendable {
    /// One registered event type.
    public struct Registration: Sendable {
        /// Everything in one reference: a codec copies a registration out of the registry for
        /// every event it decodes, and one retain is cheaper than four (two names, two closures).
        private let storage: Storage

        private final class Storage: Sendable {
            let name: String
            let schemaVersion: Int
            let payloadTypeName: String
            let decodePayload: @Sendable (Data, any PayloadDecoder) throws -> Event
            let decodePayloadBytes: @Sendable (UnsafeRawBufferPointer, any PayloadDecoder) throws -> Event

            init(
                name: String, schemaVersion: Int, payloadTypeName: String,
                decodePayload: @escaping @Sendable (Data, any PayloadDecoder) throws -> Event,
                decodePayloadBytes: @escaping @Sendable (UnsafeRawBufferPointer, any PayloadDecoder) throws -> Event
            ) {
                self.name = name
                self.schemaVersion = schemaVersion
                self.payloadTypeName = payloadTypeName
                self.decodePayload = decodePayload
                self.decodePayloadBytes = decodePayloadBytes
            }
        }

        init(
            name: String, schemaVersion: Int, payloadTypeName: String,
            decodePayload: @escaping @Sendable (Data, any PayloadDecoder) throws -> Event,
            decodePayloadBytes: @escaping @Sendable (UnsafeRawBufferPointer, any PayloadDecoder) throws -> Event
        ) {
            storage = Storage(
                name: name, schemaVersion: schemaVersion, payloadTypeName: payloadTypeName,
                decodePayload: decodePayload, decodePayloadBytes: decodePayloadBytes)
        }

        /// The type name stored with each event.
        public var name: String { storage.name }
        /// The current schema version written with each event.
        public var schemaVersion: Int { storage.schemaVersion }
        /// The Swift payload type's name, for messages.
        public var payloadTypeName: String { storage.payloadTypeName }

        /// Decodes a payload of this type (already at ``schemaVersion``) into an event.
        public func decode(_ payload: Data, using decoder: some PayloadDecoder) throws -> Event {
            try storage.decodePayload(payload, decoder)
        }

        /// Decodes a payload of this type (already at ``schemaVersion``) from bytes read only
        /// during the call (see ``PayloadDecoder/decode(_:fromBytes:)``).
        public func decode(bytes payload: UnsafeRawBufferPointer, using decoder: some PayloadDecoder) throws -> Event {
            try storage.decodePayloadBytes(payload, decoder)
        }
    }

    private var byName: [String: Registration] = [:]
    private var byPayloadType: [ObjectIdentifier: Registration] = [:]
    private var upcastersByForm: [StoredForm: Upcaster] = [:]

    /// An empty registry.
    public init() {}

    /// Registers a payload type under a stored type name and schema version, with the function
    /// that wraps a payload into an event (usually the enum case, such as `OrderEvent.placed`).
    public func register<Payload: Codable & Sendable>(
        _ payloadType: Payload.Type, as name: String, version: Int = 1,
        _ embed: @escaping @Sendable (Payload) -> Event
    ) -> EventTypeRegistry {
        precondition(!name.isEmpty, "An event type name cannot be empty")
        precondition(version >= 1, "Event type \(name): schema version \(version) is below 1")
        precondition(byName[name] == nil, "Event type name \"\(name)\" is registered twice")
        let key = ObjectIdentifier(Payload.self)
        precondition(
            byPayloadType[key] == nil,
            "Payload type \(Payload.self) is registered twice (as \"\(byPayloadType[key]?.name ?? "")\" and \"\(name)\"); give each event type its own payload type"
        )
        let registration = Registration(
            name: name, schemaVersion: version, payloadTypeName: String(reflecting: Payload.self),
            decodePayload: { data, decoder in embed(try decoder.decode(Payload.self, from: data)) },
            decodePayloadBytes: { bytes, decoder in embed(try decoder.decode(Payload.self, fromBytes: bytes)) }
        )
        var copy = self
        copy.byName[name] = registration
        copy.byPayloadType[key] = registration
        return copy
    }

    /// Registers an event type that is its own payload.
    public func register(_ eventType: Event.Type, as name: String, version: Int = 1) -> EventTypeRegistry
    where Event: Codable {
        register(eventType, as: name, version: version, { $0 })
    }

    /// Adds an upcaster for an older stored form (type name and schema version).
    public func upcast(_ upcaster: Upcaster) -> EventTypeRegistry {
        let form = StoredForm(type: upcaster.type, schemaVersion: upcaster.schemaVersion)
        precondition(upcastersByForm[form] == nil, "Two upcasters for \(upcaster.type) version \(upcaster.schemaVersion)")
        var copy = self
        copy.upcastersByForm[form] = upcaster
        return copy
    }

    /// Adds several upcasters.
    public func upcast(_ upcasters: [Upcaster]) -> EventTypeRegistry {
        upcasters.reduce(self) { $0.upcast($1) }
    }

    /// The registration for a stored type name.
    public func registration(named name: String) -> Registration? { byName[name] }

    /// The registration for a payload value, by its dynamic type.
    public func registration(for payload: any Encodable & Sendable) -> Registration? {
        byPayloadType[ObjectIdentifier(type(of: payload))]
    }

    /// The upcaster for a stored form, if any.
    public func upcaster(forType type: String, schemaVersion: Int) -> Upcaster? {
        upcastersByForm.isEmpty ? nil : upcastersByForm[StoredForm(type: type, schemaVersion: schemaVersion)]
    }

    /// Every registration, ordered by name.
    public var registrations: [Registration] { byName.values.sorted { $0.name < $1.name } }

    /// Every upcaster, ordered by type name and schema version.
    public var upcasters: [Upcaster] {
        upcastersByForm.values.sorted { ($0.type, $0.schemaVersion) < ($1.type, $1.schemaVersion) }
    }

    private struct StoredForm: Hashable {
        var type: String
        var schemaVersion: Int
    }
}
