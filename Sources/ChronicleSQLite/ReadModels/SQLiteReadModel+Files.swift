public import Chronicle
import Foundation
import GRDB

extension SQLiteReadModel {
    /// Reads the status of the read model `name` in `directory` from its files, without running
    /// it (for a CLI or a process that does not own the projection). The state is
    /// ``ProjectionState/running`` (or ``ProjectionState/catchingUp``) when another process holds
    /// the projection's run lock, ``ProjectionState/stopped`` otherwise; pass the store's head to
    /// get the lag.
    ///
    /// - Throws: ``ProjectionError`` ``ProjectionError/Code/invalidName``, or
    ///   ``ProjectionError/Code/storageFailure`` when there is no such read model.
    public static func storedStatus(name: String, directory: String, head: GlobalPosition? = nil) throws -> ProjectionStatus {
        // A process holding the run lock runs it; otherwise nobody does.
        let lock = ProjectionFileLock(path: SQLiteReadModelStorage.path(directory, ".\(name).run.lock"))
        let runElsewhere = FileManager.default.fileExists(atPath: lock.path) && (try? lock.tryAcquire()) == false
        lock.release()
        return try withStoredFile(name: name, directory: directory, readonly: true) { queue in
            try queue.read { db in
                let partitions = try Int.fetchOne(db, sql: SQLiteProjectionSQL.countCheckpoints) ?? 1
                let positions = try SQLiteProjectionSchema.checkpoints(db, partitions: max(1, partitions))
                let position = positions.min() ?? .start
                let lag = max(0, (head ?? position).value - position.value)
                return ProjectionStatus(
                    name: name, state: runElsewhere ? (lag == 0 ? .running : .catchingUp) : .stopped, position: position, head: max(head ?? position, position), partitionCount: positions.count,
                    partitionPositions: positions, parkedCount: try DeadLetterTable.count(db)
                )
            }
        }
    }

    /// Deletes every file of the read model `name` in `directory` (all generations, the link),
    /// so that the next start rebuilds it from position 0. Only call it while no process runs the
    /// projection; prefer ``rebuild()`` on a running one, which keeps serving queries.
    public static func deleteFiles(name: String, directory: String) throws {
        try SQLiteReadModelStorage.validate(name: name)
        let files = (try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []
        for file in files where file == "\(name).sqlite" || SQLiteReadModelStorage.generationNumber(fileName: file, name: name) != nil || file.hasPrefix(".\(name).sqlite.link-") {
            do {
                try FileManager.default.removeItem(atPath: (directory as NSString).appendingPathComponent(file))
            } catch {
                throw ProjectionError(.storageFailure, "Cannot delete \(file) in \(directory).", projection: name, underlying: error)
            }
        }
    }
}
