public import Chronicle
import Foundation
import GRDB

/// The read models kept in a directory, for tools that do not run them: the CLI, a health check,
/// an operator's script, another process.
///
/// A running ``SQLiteReadModel`` serves its own status, parked events and rebuilds; this type
/// reads and changes the same files without running anything, so it works whether or not a
/// runner is up (a runner in another process sees what it changes at once: the files are the
/// truth).
///
/// ```swift
/// let readModels = SQLiteReadModelDirectory("/var/lib/app/read-models")
/// for name in readModels.names() {
///     print(try readModels.status(of: name, head: try await store.headPosition()))
/// }
/// ```
///
/// ## Topics
///
/// ### Finding read models
/// - ``init(_:)``
/// - ``path``
/// - ``names()``
///
/// ### Status
/// - ``status(of:head:)``
///
/// ### Parked events
/// - ``parkedEvents(of:after:limit:)``
/// - ``dropParkedEvent(of:at:)``
///
/// ### Starting over
/// - ``deleteFiles(of:)``
public struct SQLiteReadModelDirectory: Sendable, Hashable {
    /// The directory holding the read models' files.
    public let path: String

    /// The read models in `path` (the `directory` a ``SQLiteReadModel`` was created with).
    ///
    /// - Parameter path: the directory.
    public init(_ path: String) {
        self.path = path
    }

    /// The names of the read models in the directory, sorted (an empty list when the directory
    /// does not exist).
    public func names() -> [String] {
        let files = (try? FileManager.default.contentsOfDirectory(atPath: path)) ?? []
        var names = Set<String>()
        for file in files where file.hasSuffix(".sqlite") && !file.hasPrefix(".") {
            let name = String(file.dropLast(".sqlite".count))
            if !name.contains(".") { names.insert(name) }
        }
        return names.sorted()
    }

    /// The status of the read model `name`, read from its files. The state is
    /// ``ProjectionState/running`` (or ``ProjectionState/catchingUp``) when another process holds
    /// the projection's run lock, ``ProjectionState/stopped`` otherwise.
    ///
    /// - Parameters:
    ///   - name: the read model.
    ///   - head: the store's head, for the lag (`nil`: the lag is 0).
    /// - Throws: ``ProjectionError`` ``ProjectionError/Code/invalidName``, or
    ///   ``ProjectionError/Code/storageFailure`` when there is no such read model.
    public func status(of name: String, head: GlobalPosition? = nil) throws -> ProjectionStatus {
        // A process holding the run lock runs it; otherwise nobody does.
        let lock = ProjectionFileLock(path: SQLiteReadModelStorage.path(path, ".\(name).run.lock"))
        let runElsewhere = FileManager.default.fileExists(atPath: lock.path) && (try? lock.tryAcquire()) == false
        lock.release()
        return try withServingFile(of: name, readonly: true) { queue in
            try queue.read { db in
                let partitions = try Int.fetchOne(db, sql: SQLiteProjectionSQL.countCheckpoints) ?? 1
                let positions = try SQLiteProjectionSchema.checkpoints(db, partitions: max(1, partitions))
                let position = positions.min() ?? .start
                let lag = max(0, (head ?? position).value - position.value)
                return ProjectionStatus(
                    name: name, state: runElsewhere ? (lag == 0 ? .running : .catchingUp) : .stopped, position: position,
                    head: max(head ?? position, position), partitionCount: positions.count, partitionPositions: positions,
                    parkedCount: try DeadLetterTable.count(db)
                )
            }
        }
    }

    /// The events the read model `name` has parked, in position order, `limit` after `position`.
    ///
    /// - Parameters:
    ///   - name: the read model.
    ///   - position: list those after this position.
    ///   - limit: the most to list (0 or more).
    /// - Throws: ``ProjectionError`` ``ProjectionError/Code/invalidConfiguration`` for a negative
    ///   limit, ``ProjectionError/Code/storageFailure`` when there is no such read model or its
    ///   file cannot be read.
    public func parkedEvents(of name: String, after position: GlobalPosition = .start, limit: Int = 100) throws -> [ParkedEvent] {
        guard limit >= 0 else {
            throw ProjectionError(.invalidConfiguration, "A limit of \(limit) is negative.", projection: name)
        }
        return try withServingFile(of: name, readonly: true) { queue in
            try queue.read { db in try DeadLetterTable.list(db, after: position, limit: limit) }
        }
    }

    /// Removes the event parked at `position` from the read model `name` for good (its effect is
    /// never applied). A runner in another process sees it gone at once, though its parked count
    /// catches up only at its next failure or restart.
    ///
    /// - Parameters:
    ///   - name: the read model.
    ///   - position: the parked event's global position.
    /// - Throws: ``ProjectionError`` ``ProjectionError/Code/parkedEventNotFound`` when nothing is
    ///   parked there, ``ProjectionError/Code/storageFailure`` when the file cannot be written.
    public func dropParkedEvent(of name: String, at position: GlobalPosition) throws {
        let removed = try withServingFile(of: name, readonly: false) { queue in
            try queue.write { db in try DeadLetterTable.remove(db, position: position) }
        }
        if !removed {
            throw ProjectionError(.parkedEventNotFound, "Projection \(name) has no parked event at position \(position).", projection: name, position: position)
        }
    }

    /// Deletes every file of the read model `name` (all generations, the link), so that its next
    /// start rebuilds it from its start. Only call it while no process runs the projection;
    /// prefer ``SQLiteReadModel/rebuild()`` on a running one, which keeps serving queries.
    ///
    /// - Parameter name: the read model.
    /// - Throws: ``ProjectionError`` ``ProjectionError/Code/invalidName``, or
    ///   ``ProjectionError/Code/storageFailure`` when a file cannot be deleted.
    public func deleteFiles(of name: String) throws {
        try SQLiteReadModelStorage.validate(name: name)
        let files = (try? FileManager.default.contentsOfDirectory(atPath: path)) ?? []
        for file in files where file == "\(name).sqlite" || SQLiteReadModelStorage.generationNumber(fileName: file, name: name) != nil || file.hasPrefix(".\(name).sqlite.link-") {
            do {
                try FileManager.default.removeItem(atPath: (path as NSString).appendingPathComponent(file))
            } catch {
                throw ProjectionError(.storageFailure, "Cannot delete \(file) in \(path).", projection: name, underlying: error)
            }
        }
    }

    /// Opens the serving file of the read model `name` for `body`, mapping failures to
    /// ``ProjectionError``.
    func withServingFile<T>(of name: String, readonly: Bool, _ body: (DatabaseQueue) throws -> T) throws -> T {
        try SQLiteReadModelStorage.validate(name: name)
        let file = (path as NSString).appendingPathComponent("\(name).sqlite")
        guard FileManager.default.fileExists(atPath: file) else {
            throw ProjectionError(.storageFailure, "There is no read model \(name) in \(path).", projection: name)
        }
        var configuration = Configuration()
        configuration.readonly = readonly
        configuration.busyMode = .timeout(5)
        let queue: DatabaseQueue
        do {
            queue = try DatabaseQueue(path: file, configuration: configuration)
        } catch {
            throw ProjectionError(.storageFailure, "Cannot open the read model \(name) in \(path).", projection: name, underlying: error)
        }
        defer { try? queue.close() }
        do {
            return try body(queue)
        } catch let error as ProjectionError {
            throw error
        } catch {
            throw ProjectionError(.storageFailure, "Cannot use the read model \(name) in \(path).", projection: name, underlying: error)
        }
    }
}
