import Chronicle
import ChronicleSQLite
import ChronicleTestSupport
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

func event(_ type: String = "Happened", _ text: String = "payload", metadata: EventMetadata = .none) -> EventData {
    EventData(type: type, payload: Data(#"{"text":"\#(text)"}"#.utf8), metadata: metadata)
}
