import Chronicle
import ChronicleSQLite
import Foundation
import Logging
import Testing

extension SQLiteEventStore.Configuration {
    /// The test default: no log output, the given durability.
    static func quiet(durability: SQLiteEventStore.Durability = .normal) -> Self {
        var configuration = Self(durability: durability)
        configuration.logger = Logger(label: "chronicle.sqlite.tests", factory: { _ in SwiftLogNoOpLogHandler() })
        return configuration
    }
}

/// A directory under the system temp directory, removed by ``remove()``.
struct TemporaryDirectory: Sendable {
    let url: URL

    init() throws {
        url = FileManager.default.temporaryDirectory.appendingPathComponent("chronicle-sqlite-tests-\(UUID().uuidString)", isDirectory: true)
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    }

    func path(_ name: String) -> String { url.appendingPathComponent(name).path }

    func remove() { try? FileManager.default.removeItem(at: url) }
}

/// Runs `body` with a store on a fresh file in a fresh temp directory, then closes and removes it.
func withTemporaryStore<T>(
    configuration: SQLiteEventStore.Configuration = .quiet(),
    _ body: (SQLiteEventStore, TemporaryDirectory) async throws -> T
) async throws -> T {
    let directory = try TemporaryDirectory()
    defer { directory.remove() }
    let store = try SQLiteEventStore(path: directory.path("events.sqlite"), configuration: configuration)
    do {
        let result = try await body(store, directory)
        try await store.close()
        return result
    } catch {
        try? await store.close()
        throw error
    }
}

/// Waits until `condition` holds, polling, or fails after `timeout`.
func waitUntil(timeout: Duration = .seconds(20), _ what: String, _ condition: () async throws -> Bool) async throws {
    let clock = ContinuousClock()
    let deadline = clock.now.advanced(by: timeout)
    while try await !condition() {
        if clock.now >= deadline {
            Issue.record("Timed out after \(timeout) waiting for \(what)")
            throw CancellationError()
        }
        try await Task.sleep(for: .milliseconds(10))
    }
}

func event(_ type: String = "Happened", _ text: String = "payload", metadata: EventMetadata = .none) -> EventData {
    EventData(type: type, payload: Data(#"{"text":"\#(text)"}"#.utf8), metadata: metadata)
}
