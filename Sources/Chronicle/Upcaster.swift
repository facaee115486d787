/// An event in the middle of upcasting: a stored type name, schema version and JSON payload.
public struct UpcastingEvent: Hashable, Sendable {
    /// The type name.
    public var type: String
    /// The schema version of ``payload``'s shape.
    public var schemaVersion: Int
    /// The payload.
    public var payload: JSONValue

    /// Creates an event form.
    public init(type: String, schemaVersion: Int, payload: JSONValue) {
        self.type = type
        self.schemaVersion = schemaVersion
        self.payload = payload
    }
}

/// Brings one older stored form of an event (a type name at a schema version) one step closer to
/// the current form, on read. Stored events are never rewritten.
///
/// Upcasters chain: the output of one is upcast again while an upcaster matches its form, until
/// every event reaches a registered type at its registered schema version. Register them on the
/// ``EventTypeRegistry`` with ``EventTypeRegistry/upcast(_:)-(Upcaster)``.
///
/// ```swift
/// registry
///     // the type was called OrderCreated until schema version 1
///     .upcast(.renameType("OrderCreated", version: 1, to: "OrderPlaced"))
///     // version 2 added the currency
///     .upcast(.migrate("OrderPlaced", from: 1, to: 2) { json in json["currency"] = "EUR" })
///     // version 3 renamed `name` to `customer`
///     .upcast(.migrate("OrderPlaced", from: 2, to: 3) { json in json.renameField("name", to: "customer") })
///     // one stored OrderCheckedOut became OrderPaid + OrderShipped
///     .upcast(.split("OrderCheckedOut", version: 1) { json in [
///         UpcastingEvent(type: "OrderPaid", schemaVersion: 1, payload: ["amount": json["amount"] ?? 0]),
///         UpcastingEvent(type: "OrderShipped", schemaVersion: 1, payload: [:]),
///     ] })
/// ```
public struct Upcaster: Sendable {
    /// The stored type name this upcaster applies to.
    public let type: String
    /// The stored schema version this upcaster applies to.
    public let schemaVersion: Int
    let transform: @Sendable (UpcastingEvent) throws -> [UpcastingEvent]

    /// An upcaster for events stored as `type` at `version`, producing zero or more events.
    /// Each output must differ in type name or schema version from the input (or the chain
    /// would not end); returning no events drops the event.
    public init(_ type: String, version: Int, _ transform: @escaping @Sendable (UpcastingEvent) throws -> [UpcastingEvent]) {
        self.type = type
        self.schemaVersion = version
        self.transform = transform
    }

    /// Applies the upcaster to one event form.
    public func apply(to event: UpcastingEvent) throws -> [UpcastingEvent] {
        try transform(event)
    }

    /// Renames a stored type: events stored as `type` at `version` read as `newType` at
    /// `newVersion` (the same version when `nil`), payload unchanged.
    public static func renameType(_ type: String, version: Int, to newType: String, version newVersion: Int? = nil) -> Upcaster {
        Upcaster(type, version: version) { event in
            [UpcastingEvent(type: newType, schemaVersion: newVersion ?? version, payload: event.payload)]
        }
    }

    /// Reshapes the JSON payload of `type` from schema version `version` to `newVersion`:
    /// add, remove, rename or convert fields in `edit`.
    public static func migrate(_ type: String, from version: Int, to newVersion: Int, _ edit: @escaping @Sendable (inout JSONValue) throws -> Void) -> Upcaster {
        Upcaster(type, version: version) { event in
            var payload = event.payload
            try edit(&payload)
            return [UpcastingEvent(type: type, schemaVersion: newVersion, payload: payload)]
        }
    }

    /// Splits each stored event of `type` at `version` into the events `split` returns.
    public static func split(_ type: String, version: Int, _ split: @escaping @Sendable (JSONValue) throws -> [UpcastingEvent]) -> Upcaster {
        Upcaster(type, version: version) { event in try split(event.payload) }
    }
}
