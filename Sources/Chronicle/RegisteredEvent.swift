/// A domain event type whose every value carries one payload of an explicitly registered type.
///
/// Write one enum of events per aggregate, one case per event, each case carrying its own
/// payload struct, and list the payload types once in ``registry`` with their stored type name
/// and schema version. The only other thing to write is ``payload``: a `switch` that returns the
/// case's payload. Nothing is derived from Swift type names: renaming a Swift type never changes
/// what is stored.
///
/// ```swift
/// struct OrderPlaced: Codable, Sendable, Equatable { var customer: String }
/// struct ItemAdded: Codable, Sendable, Equatable { var sku: String; var quantity: Int }
///
/// enum OrderEvent: RegisteredEvent {
///     case placed(OrderPlaced)
///     case itemAdded(ItemAdded)
///
///     static let registry = EventTypeRegistry<OrderEvent>()
///         .register(OrderPlaced.self, as: "OrderPlaced", version: 2, OrderEvent.placed)
///         .register(ItemAdded.self, as: "ItemAdded", version: 1, OrderEvent.itemAdded)
///
///     var payload: any Encodable & Sendable {
///         switch self {
///         case .placed(let event): event
///         case .itemAdded(let event): event
///         }
///     }
/// }
/// ```
///
/// A type that is its own only event can return `self` as its payload and register with
/// ``EventTypeRegistry/register(_:as:version:)``.
public protocol RegisteredEvent: Codable, Sendable, Equatable {
    /// Every payload type this event can carry, with its stored name, schema version and upcasters.
    static var registry: EventTypeRegistry<Self> { get }
    /// The payload to store: a value of one of the types registered in ``registry``.
    var payload: any Encodable & Sendable { get }
}
