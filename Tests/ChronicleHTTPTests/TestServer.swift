import ChronicleHTTP
import Foundation

/// An event with a JSON payload.
func jsonEvent(_ type: String, _ payload: String, metadata: EventMetadata = .none) -> EventData {
    EventData(type: type, payload: Data(payload.utf8), metadata: metadata)
}

/// Fills a store with a few streams in two categories; returns it.
func sampleStore() async throws -> InMemoryEventStore {
    let store = InMemoryEventStore()
    try await store.append([jsonEvent("OrderPlaced", #"{"orderId":"1","total":42.5}"#), jsonEvent("OrderPaid", #"{"orderId":"1"}"#)], to: "order-1", expectedVersion: .noStream)
    try await store.append(jsonEvent("CustomerRegistered", #"{"name":"Ada"}"#), to: "customer-ada", expectedVersion: .noStream)
    try await store.append(jsonEvent("OrderPlaced", #"{"orderId":"2","total":7}"#), to: "order-2", expectedVersion: .noStream)
    try await store.append(EventData(type: "Blob", payload: Data([0xFF, 0x00, 0x10])), to: "blob-1", expectedVersion: .noStream)
    return store
}
