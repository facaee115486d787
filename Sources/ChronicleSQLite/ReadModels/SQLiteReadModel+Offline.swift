public import Chronicle
import Foundation
import GRDB

extension SQLiteReadModel {
    /// Lists the events the read model `name` in `directory` has parked, from its file, without
    /// running it (for the CLI or a process that does not own the projection).
    ///
    /// - Throws: ``ProjectionError`` ``ProjectionError/Code/storageFailure`` when there is no such
    ///   read model or its file cannot be read.
    public static func storedParkedEvents(name: String, directory: String, after position: GlobalPosition = .start, limit: Int = 100) throws -> [ParkedEvent] {
        guard limit >= 0 else {
            throw ProjectionError(.invalidConfiguration, "A limit of \(limit) is negative.", projection: name)
        }
        return try withStoredFile(name: name, directory: directory, readonly: true) { queue in
            try queue.read { db in try DeadLetterTable.list(db, after: position, limit: limit) }
        }
    }

    /// Removes the event parked at `position` from the read model `name` in `directory`, from its
    /// file. A runner of that projection in another process sees it gone at once (the file is
    /// the truth), though its parked count catches up only at its next failure or restart.
    ///
    /// - Throws: ``ProjectionError`` ``ProjectionError/Code/parkedEventNotFound`` when nothing is
    ///   parked there, ``ProjectionError/Code/storageFailure`` when the file cannot be written.
    public static func dropStoredParkedEvent(name: String, directory: String, position: GlobalPosition) throws {
        let removed = try withStoredFile(name: name, directory: directory, readonly: false) { queue in
            try queue.write { db in try DeadLetterTable.remove(db, position: position) }
        }
        if !removed {
            throw ProjectionError(.parkedEventNotFound, "Projection \(name) has no parked event at position \(position).", projection: name, position: position)
        }
    }

    /// Opens the serving file of the read model `name` in `directory` for `body`, mapping failures
    /// to ``ProjectionError``.
    static func withStoredFile<T>(name: String, directory: String, readonly: Bool, _ body: (DatabaseQueue) throws -> T) throws -> T {
        try SQLiteReadModelStorage.validate(name: name)
        let path = (directory as NSString).appendingPathComponent("\(name).sqlite")
        guard FileManager.default.fileExists(atPath: path) else {
            throw ProjectionError(.storageFailure, "There is no read model \(name) in \(directory).", projection: name)
        }
        var configuration = Configuration()
        configuration.readonly = readonly
        configuration.busyMode = .timeout(5)
        let queue: DatabaseQueue
        do {
            queue = try DatabaseQueue(path: path, configuration: configuration)
        } catch {
            throw ProjectionError(.storageFailure, "Cannot open the read model \(name) in \(directory).", projection: name, underlying: error)
        }
        defer { try? queue.close() }
        do {
            return try body(queue)
        } catch let error as ProjectionError {
            throw error
        } catch {
            throw ProjectionError(.storageFailure, "Cannot use the read model \(name) in \(directory).", projection: name, underlying: error)
        }
    }
}
