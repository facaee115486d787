import Chronicle
import ChronicleTesting
import Foundation

/// The simulations Chronicle's own tests run: the real engine over a fault-injecting store, with
/// every option drawn from the seed.
enum EngineSimulations {
    /// Per stream, the versions applied, in order: independent of the order of different streams,
    /// so partitioned runs can be compared with a replay in log order.
    typealias Model = [String: [Int64]]

    /// A projection of orders and items: random partitions (1…3), sometimes a one-category filter
    /// (the category index path), random page sizes and retries; a projector that fails for
    /// every event whose payload says `poison` (those are parked).
    static func projection(_ planted: ProjectionEngine.PlantedFault? = nil, splitsCommit: Bool = false) -> ProjectionSimulation<Model> {
        var simulation = ProjectionSimulation(name: "streams", initial: Model()) { model, event in
            if (try? JSONValue(parsing: event.payload))?["poison"] == .bool(true) {
                throw PoisonEvent(position: event.position)
            }
            model[event.streamID.rawValue, default: []].append(event.streamVersion.value)
        } workload: { writer in
            try await randomWorkload(writer)
        }
        simulation.drawOptions = { context, options in
            options.partitioning = (try? .byStream(context.random(in: 1...3))) ?? .none
            if context.random(in: 0...3) == 0 { options.filter = ProjectionFilter(categories: ["order"]) }
        }
        simulation.addInvariant("each stream's events in version order") { model, _ in
            // Strictly increasing (parked, poisoned events leave gaps).
            for (stream, versions) in model where zip(versions, versions.dropFirst()).contains(where: { $0 >= $1 }) {
                return "stream \(stream) has versions \(versions)"
            }
            return nil
        }
        simulation.plantedFault = planted
        simulation.splitsCommit = splitsCommit
        return simulation
    }

    /// The engine as an operator runs it, under every fault: the stop policy on transient
    /// failures (one try in ten fails; no poisoned events, which would stop it for good), the
    /// projection resumed 0.1–5 virtual seconds after it stops, and up to one rebuild.
    static func stopping(_ planted: ProjectionEngine.PlantedFault? = nil) -> ProjectionSimulation<Model> {
        var simulation = streams(name: "stopping") { writer in try await randomWorkload(writer, poison: false) }
        simulation.storageFaults = StorageFaults(commitFailure: 0.02, commitReplyLost: 0.02, applyFailure: 0.1)
        simulation.drawOptions = { context, options in
            options.partitioning = (try? .byStream(context.random(in: 1...3))) ?? .none
            options.failurePolicy.whenExhausted = .stop
        }
        simulation.resumeDelay = .milliseconds(100)...(.seconds(5))
        simulation.rebuilds = 0...1
        simulation.plantedFault = planted
        return simulation
    }

    /// Blue/green rebuilds under every fault: 1–3 rebuilds at random moments while the workload
    /// runs, poisoned events parked (again, in the rebuilt copy), crashes that kill a rebuild
    /// half-way.
    static func rebuilding() -> ProjectionSimulation<Model> {
        var simulation = streams(name: "rebuilding") { writer in try await randomWorkload(writer) }
        simulation.drawOptions = { context, options in
            options.partitioning = (try? .byStream(context.random(in: 1...3))) ?? .none
        }
        simulation.rebuilds = 1...3
        return simulation
    }

    /// The projector of ``projection(_:splitsCommit:)`` (per stream, the versions applied; poisoned
    /// events throw), with its invariant, over `workload`.
    private static func streams(name: String, workload: @escaping @Sendable (SimulationWriter) async throws -> Void) -> ProjectionSimulation<Model> {
        var simulation = ProjectionSimulation(name: name, initial: Model()) { model, event in
            if (try? JSONValue(parsing: event.payload))?["poison"] == .bool(true) {
                throw PoisonEvent(position: event.position)
            }
            model[event.streamID.rawValue, default: []].append(event.streamVersion.value)
        } workload: { writer in
            try await workload(writer)
        }
        simulation.addInvariant("each stream's events in version order") { model, _ in
            for (stream, versions) in model where zip(versions, versions.dropFirst()).contains(where: { $0 >= $1 }) {
                return "stream \(stream) has versions \(versions)"
            }
            return nil
        }
        return simulation
    }

    /// Per stream, how many events were applied; every event fails once in ten tries, and the
    /// parked ones are retried at the end (their effect then comes out of log order, which a
    /// count does not see).
    static func retryingParkedEvents() -> ProjectionSimulation<[String: Int]> {
        var simulation = ProjectionSimulation(name: "counts", initial: [String: Int]()) { model, event in
            if (try? JSONValue(parsing: event.payload))?["poison"] == .bool(true) {
                throw PoisonEvent(position: event.position)
            }
            model[event.streamID.rawValue, default: 0] += 1
        } workload: { writer in
            try await randomWorkload(writer)
        }
        simulation.storageFaults = StorageFaults(commitFailure: 0.02, commitReplyLost: 0.02, applyFailure: 0.1)
        simulation.retriesParkedEvents = true
        return simulation
    }

    /// 1…40 appends of 1…3 events to 1…5 streams of two categories, some poisoned (unless
    /// `poison` is off), by 1…3 concurrent writers that pause for nothing, a yield, or up to 300
    /// virtual ms.
    static func randomWorkload(_ writer: SimulationWriter, poison: Bool = true) async throws {
        let streams = writer.random(in: 1...5)
        let writers = writer.random(in: 1...3)
        let appends = writer.random(in: 1...40)
        try await withThrowingTaskGroup(of: Void.self) { group in
            for _ in 0..<writers {
                group.addTask {
                    for _ in 0..<(appends + writers - 1) / writers {
                        guard writer.isActive else { return }
                        let category = writer.random(in: 0...2) == 0 ? "item" : "order"
                        let events = (0..<writer.random(in: 1...3)).map { _ in
                            writer.event(type: "Changed", payload: poison && writer.random(in: 0...30) == 0 ? ["poison": .bool(true)] : [:])
                        }
                        try await writer.append(events, to: StreamID(category: category, id: "\(writer.random(in: 1...streams))"))
                        switch writer.random(in: 0...2) {
                        case 0: break
                        case 1: await Task.yield()
                        default: await writer.pause(upTo: .milliseconds(300))
                        }
                    }
                }
            }
            try await group.waitForAll()
        }
    }

    /// A saga: for every `OrderPaid`, it requests a shipment (one event, ids derived from the
    /// trigger), and for every `ShipmentRequested` it records the request on the order. With
    /// `randomIDs`, its ids are fresh UUIDs: the planted user bug of a saga that acts twice.
    static func processManager(randomIDs: Bool = false) -> ProcessManagerSimulation<Shipping> {
        ProcessManagerSimulation { store in
            Shipping(store: store, randomIDs: randomIDs)
        } workload: { writer in
            for n in 1...writer.random(in: 1...25) {
                guard writer.isActive else { return }
                try await writer.append(writer.event(type: writer.random(in: 0...3) == 0 ? "OrderPlaced" : "OrderPaid"), to: StreamID(category: "order", id: "\(n)"))
                if writer.random(in: 0...1) == 0 { await writer.pause(upTo: .milliseconds(200)) }
            }
        }
    }
}

struct PoisonEvent: Error {
    let position: GlobalPosition
}

/// The simulated saga.
struct Shipping: ProcessManager {
    let name = "shipping"
    let store: any EventStore
    let randomIDs: Bool

    func react(to event: RecordedEvent, context: ProcessContext) async throws {
        switch event.type {
        case "OrderPaid":
            let ids = context.eventIDs("ship")
            let order = event.streamID.idWithinCategory ?? "?"
            let request = EventData(
                id: randomIDs ? UUID() : ids(), type: "ShipmentRequested", payload: Data("{\"order\":\"\(order)\"}".utf8), metadata: context.metadata
            )
            try await store.append(request, to: StreamID(category: "shipment", id: order), expectedVersion: .any)
        case "ShipmentRequested":
            let ids = context.eventIDs("note")
            let note = EventData(id: randomIDs ? UUID() : ids(), type: "ShipmentNoted", payload: Data("{}".utf8), metadata: context.metadata)
            try await store.append(note, to: StreamID(category: "note", id: event.streamID.idWithinCategory ?? "?"), expectedVersion: .any)
        default:
            return
        }
    }
}
