// Runs the projection snippets (OrderSummaries.swift) against real SQLite files.
import Chronicle
import ChronicleSQLite
import Foundation
import GRDB
import Testing

/// Runs `body` with the read model running, then stops it.
func whileRunning<T>(_ readModel: SQLiteReadModel, _ body: () async throws -> T) async throws -> T {
    let runner = Task { try await readModel.run() }
    defer { runner.cancel() }
    return try await body()
}

@Suite struct ReadModelSnippetsTests {
    @Test func theReadModelAnswersReadYourWritesAndReportsItsStatus() async throws {
        let directory = try SnippetDirectory()
        defer { directory.remove() }
        let store = try SQLiteEventStore(path: directory.path("events.sqlite"), configuration: .init(logger: quietLogger))
        let summaries = try openSummaries(of: store, in: directory.path, logger: quietLogger)
        let orders = AggregateRepository<Order>(store: store)

        try await whileRunning(summaries) {
            #expect(try await placeAndReadBack(orders: orders, summaries: summaries) == "placed")
            let confirmed = try await orders.execute(.confirm, on: "7")
            try await summaries.waitUntil(position: confirmed.position, timeout: .seconds(10))
            try await inspect(summaries)
            try await rebuild(summaries)
            let status = try await summaries.read { db in
                try String.fetchOne(db, sql: "SELECT status FROM order_summary WHERE id = '7'")
            }
            #expect(status == "confirmed", "the rebuilt model has the same rows")
            #expect(await summaries.status().parkedCount == 0)
        }
        try await store.close()
    }

    @Test func aReadModelSeesAppendsOfAnotherStoreInstanceThroughPolling() async throws {
        let directory = try SnippetDirectory()
        defer { directory.remove() }
        let store = try SQLiteEventStore(path: directory.path("events.sqlite"), configuration: .init(logger: quietLogger))
        // Another store instance on the same file: its appends do not reach `store`'s notifier,
        // as for another process.
        let other = try SQLiteEventStore(path: directory.path("events.sqlite"), configuration: .init(logger: quietLogger))
        let summaries = try openSummaries(of: store, in: directory.path, logger: quietLogger)
        try await whileRunning(summaries) {
            let placed = try await AggregateRepository<Order>(store: other).execute(.place(customer: "eve", total: 12), on: "3")
            try await summaries.waitUntil(position: placed.position, timeout: .seconds(10))
            let customer = try await summaries.read { db in try String.fetchOne(db, sql: "SELECT customer FROM order_summary WHERE id = '3'") }
            #expect(customer == "eve")
        }
        try await other.close()
        try await store.close()
    }
}
