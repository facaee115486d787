import Chronicle
import ChronicleHTTP
import Foundation
import HummingbirdTesting
@testable import Shop
import Testing

/// Measures the fulfilment saga's throughput with `inventory-main` short and long, with and
/// without the inventory's snapshots (issue 20, finding 6). Not a check: it prints the figures.
/// Run it with `SHOP_SAGA_THROUGHPUT=1 swift test --filter sagaThroughput` (add `-c release`
/// for release figures); `SHOP_SAGA_ORDERS` sets the number of orders (default 200).
@Suite(.serialized, .enabled(if: ProcessInfo.processInfo.environment["SHOP_SAGA_THROUGHPUT"] == "1"))
struct ShopSagaThroughput {
    static let orders = Int(ProcessInfo.processInfo.environment["SHOP_SAGA_ORDERS"] ?? "") ?? 200

    @Test(arguments: ShopTestBackend.available)
    func sagaThroughput(backend: ShopTestBackend) async throws {
        for versions in [0, 5000] {
            for (label, policy) in [("no snapshots", SnapshotPolicy.never), ("snapshots every \(ShopApp.inventorySnapshotInterval)", ShopApp.inventorySnapshots)] {
                let (events, seconds) = try await measure(backend, inventoryVersions: versions, policy: policy)
                let line = "shop saga [\(backend)] inventory-main at \(versions) versions, \(label): \(Self.orders) orders, \(events) events in \(String(format: "%.2f", seconds)) s = \(Int(Double(events) / seconds)) events/s, \(String(format: "%.1f", seconds * 1000 / Double(Self.orders))) ms/order"
                print(line)
            }
        }
    }

    private func measure(_ backend: ShopTestBackend, inventoryVersions: Int, policy: SnapshotPolicy) async throws -> (Int64, Double) {
        try await withShop(backend, inventorySnapshots: policy) { shop, client in
            // Grow the stream as orders grow it (one event per order), in direct batches of
            // `StockReleased` (an event the saga does not react to), then stock up for the run.
            let codec = JSONEventCodec<InventoryEvent>()
            let stream = try Inventory.streamID(for: ShopApp.warehouse)
            var version = try await shop.store.streamVersion(of: stream).value
            while version < inventoryVersions {
                let batch = try (0..<min(500, inventoryVersions - Int(version))).map { index in
                    let released = StockReleased(orderId: "grow\(Int(version) + index)", lines: [OrderLine(sku: "tea", quantity: 1, unitPrice: 450)])
                    return try codec.encode(.released(released), id: UUID(), metadata: .none)
                }
                version = try await shop.store.append(batch, to: stream, expectedVersion: .any).version.value
            }
            for sku in ["tea", "mug"] {
                _ = try await shop.inventory.execute(.add(sku: sku, quantity: 10 * Self.orders), on: ShopApp.warehouse)
            }
            let start = try await shop.store.headPosition()
            try await shop.fulfilment.waitUntil(position: start, timeout: .seconds(600))
            let clock = ContinuousClock.now
            for _ in 0..<Self.orders {
                let placed = try await client.post("/orders", json: #"{"customer":"ada","items":[{"sku":"tea","quantity":1},{"sku":"mug","quantity":1}],"card":"tok_visa_4242"}"#)
                guard placed.status == .created else { throw ShopDemo.Failure(description: "POST /orders answered \(placed.status)") }
            }
            // Every order ends shipped: the saga has done its work once its checkpoint is at the head
            // and stays there.
            var head = try await shop.store.headPosition()
            while true {
                try await shop.fulfilment.waitUntil(position: head, timeout: .seconds(3600))
                let now = try await shop.store.headPosition()
                if now == head { break }
                head = now
            }
            let elapsed = ContinuousClock.now - clock
            let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
            return (head.value - start.value, seconds)
        }
    }
}
