// The simulation tests of Docs/Testing.md, verbatim: change both together.
import Chronicle
import ChronicleTesting
import Foundation
import Testing

/// A read model: the balance of each account.
struct Balances: Equatable, Sendable {
    var byAccount: [String: Int64] = [:]

    mutating func apply(_ event: RecordedEvent) throws {
        let amount = try JSONValue(parsing: event.payload)["amount"]?.intValue ?? 0
        switch event.type {
        case "Deposited": byAccount[event.streamID.rawValue, default: 0] += amount
        case "Withdrawn": byAccount[event.streamID.rawValue, default: 0] -= amount
        default: break
        }
    }
}

@Test func balancesSurviveEveryInterleavingAndFault() async throws {
    var simulation = ProjectionSimulation(initial: Balances()) { balances, event in
        try balances.apply(event)
    } workload: { writer in
        for _ in 0..<writer.random(in: 1...20) {
            let account = StreamID(category: "account", id: "\(writer.random(in: 1...3))")
            try await writer.append(writer.event(type: "Deposited", payload: ["amount": .int(10)]), to: account)
        }
    }
    simulation.addInvariant("no negative balance") { balances, _ in
        balances.byAccount.values.contains { $0 < 0 } ? "a balance went negative" : nil
    }
    try await simulation.check(seeds: 0..<100)
}

/// A saga: when an order is paid, request its shipment.
struct ShipPaidOrders: ProcessManager {
    let name = "ship-paid-orders"
    let store: any EventStore

    func react(to event: RecordedEvent, context: ProcessContext) async throws {
        guard event.type == "OrderPaid", let order = event.streamID.idWithinCategory else { return }
        let ids = context.eventIDs("ship")  // derived from the trigger: a redelivery re-appends the same event
        let request = EventData(id: ids(), type: "ShipmentRequested", payload: Data("{}".utf8), metadata: context.metadata)
        try await store.append(request, to: StreamID(category: "shipment", id: order), expectedVersion: .any)
    }
}

@Test func paidOrdersAreShippedOnceWhateverCrashes() async throws {
    let simulation = ProcessManagerSimulation { store in
        ShipPaidOrders(store: store)
    } workload: { writer in
        for order in 1...writer.random(in: 1...10) {
            try await writer.append(writer.event(type: "OrderPaid"), to: StreamID(category: "order", id: "\(order)"))
        }
    }
    try await simulation.check(seeds: 0..<100)
}
