import Foundation

/// A fresh directory under the system's temporary directory, for a test's files; ``remove()``
/// deletes it with everything in it. The one temporary-directory helper of the test targets.
public struct TemporaryDirectory: Sendable {
    /// The directory.
    public let url: URL

    /// Creates a new, empty directory.
    public init() throws {
        url = FileManager.default.temporaryDirectory.appendingPathComponent("chronicle-tests-\(UUID().uuidString)", isDirectory: true)
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    }

    /// The path of `name` inside the directory.
    public func path(_ name: String) -> String { url.appendingPathComponent(name).path }

    /// Deletes the directory and its contents.
    public func remove() { try? FileManager.default.removeItem(at: url) }
}
