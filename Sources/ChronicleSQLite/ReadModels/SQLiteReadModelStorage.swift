import Chronicle
import Foundation
import GRDB
import Synchronization

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// One read-model file: the projector's tables, the checkpoints and the dead letters, behind a
/// pool of connections (one writer, several readers). It is the engine's ``ProjectionStorage``
/// for that file: a page's writes and its checkpoint commit in one transaction.
final class ReadModelGeneration: SQLiteBookkeeping, Sendable {
    /// The generation number in the file name (`NAME.gN.sqlite`).
    let number: Int
    let path: String
    let pool: DatabasePool
    let projector: any SQLiteProjector
    private struct Flags {
        var retired = false
        var frozen = false
    }
    private let flags = Mutex(Flags())

    init(number: Int, path: String, pool: DatabasePool, projector: any SQLiteProjector) {
        self.number = number
        self.path = path
        self.pool = pool
        self.projector = projector
    }

    var name: String { projector.name }

    /// Marks the generation replaced. Called inside its writer, so later writes see it.
    func retire() { flags.withLock { $0.retired = true } }
    var isRetired: Bool { flags.withLock { $0.retired } }

    /// Holds the runner's writes while a rebuild finishes catching up with this generation
    /// (so the rebuild is not chasing a moving target). Called inside its writer.
    func setFrozen(_ frozen: Bool) { flags.withLock { $0.frozen = frozen } }

    /// Throws when the generation was replaced or is frozen: called first inside every write
    /// transaction of the runner.
    func ensureCurrent() throws {
        if flags.withLock({ $0.retired || $0.frozen }) { throw RetiredGeneration() }
    }

    var bookkeeping: any DatabaseWriter { pool }
    func ensureWritable() throws { try ensureCurrent() }

    // MARK: ProjectionStorage (the rest: SQLiteBookkeeping)

    /// One page and its checkpoint, in one transaction (the engine's page scope traces it).
    func commit(_ events: [RecordedEvent], partition: Int, from: GlobalPosition, to: GlobalPosition) async throws {
        let projector = self.projector
        try await pool.write { db in
            try self.ensureCurrent()
            try Self.apply(events, projector, db)
            try SQLiteProjectionSchema.saveCheckpoint(db, partition: partition, from: from, to: to)
        }
    }

    func applyParked(_ event: RecordedEvent) async throws -> Int {
        let projector = self.projector
        return try await pool.write { db in
            try self.ensureCurrent()
            try Self.apply([event], projector, db)
            _ = try DeadLetterTable.remove(db, position: event.position)
            return try DeadLetterTable.count(db)
        }
    }

    /// Applies `events` in order; the first that throws becomes a ``ProjectionApplyFailure``.
    static func apply(_ events: [RecordedEvent], _ projector: any SQLiteProjector, _ db: Database) throws {
        for (index, event) in events.enumerated() {
            do {
                try projector.apply(event, in: db)
            } catch {
                throw ProjectionApplyFailure(index: index, error: error)
            }
        }
    }
}

/// Thrown inside a write on a generation that a rebuild replaced or froze.
struct RetiredGeneration: Error {}

/// The files of one projection in a directory, which of them serves queries, and who may change
/// them: the engine's ``RebuildableProjectionStorage`` for a SQLite read model.
///
/// Layout: `NAME.sqlite` is a symbolic link to the current generation `NAME.gN.sqlite`. A rebuild
/// creates `NAME.g(N+1).sqlite`, fills it, and swaps the link with an atomic `rename(2)`; the old
/// file is closed and deleted once no reader of this process uses it.
///
/// Two lock files coordinate processes: `.NAME.open.lock`, held briefly while a process creates
/// the first generation or cleans up; `.NAME.run.lock`, held by the one process that runs (or
/// rebuilds) the projection. Only the holder of the run lock writes generations, swaps the link
/// or deletes files; every other process reads the generation the link names and follows the
/// link when it moves.
final class SQLiteReadModelStorage: RebuildableProjectionStorage, Sendable {
    let directory: String
    let name: String
    let partitions: Int
    let projector: any SQLiteProjector
    let readerCount: Int
    /// Held by the process that runs or rebuilds the projection.
    let runLock: ProjectionFileLock

    private struct State {
        var current: ReadModelGeneration
        var users: [Int: Int] = [:]
        var retired: [ReadModelGeneration] = []
        var highestNumber: Int
    }
    private let state: Mutex<State>
    /// Counts swaps and thaws, so writers held by a frozen generation wake when it changes.
    let changes = PositionSignal()

    init(directory: String, projector: any SQLiteProjector, partitions: Int, readerCount: Int) throws {
        let name = projector.name
        try Self.validate(name: name)
        self.directory = directory
        self.name = name
        self.partitions = partitions
        self.projector = projector
        self.readerCount = readerCount
        do {
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        } catch {
            throw ProjectionError(.storageFailure, "Cannot create the read-model directory \(directory).", projection: name, underlying: error)
        }
        runLock = ProjectionFileLock(path: Self.path(directory, ".\(name).run.lock"))
        // Creating the first generation and cleaning up happen under the open lock, so processes
        // opening the same empty directory together create one read model, not several.
        let openLock = ProjectionFileLock(path: Self.path(directory, ".\(name).open.lock"))
        try openLock.acquireWaiting()
        defer { openLock.release() }
        let linkPath = Self.path(directory, "\(name).sqlite")
        let current: ReadModelGeneration
        if let number = try Self.linkedGeneration(directory: directory, name: name) {
            current = try Self.open(directory: directory, number: number, projector: projector, partitions: partitions, readerCount: readerCount, fresh: false)
        } else if FileManager.default.fileExists(atPath: linkPath) {
            throw ProjectionError(.incompatibleReadModel, "\(linkPath) exists but is not a link to a read-model generation. Move it away.", projection: name)
        } else {
            let number = (Self.generationNumbers(directory: directory, name: name).max() ?? 0) + 1
            current = try Self.open(directory: directory, number: number, projector: projector, partitions: partitions, readerCount: readerCount, fresh: true)
            try Self.link(directory: directory, name: name, to: current)
        }
        state = Mutex(State(current: current, highestNumber: current.number))
        // Files of other generations are left by an interrupted rebuild, unless another process is
        // rebuilding right now: delete them only when nobody runs the projection.
        if try runLock.tryAcquire() {
            removeStrayFiles()
            runLock.release()
        }
    }

    var current: ReadModelGeneration { state.withLock { $0.current } }

    /// Runs `body` on the current generation, keeping it open (not deleted by a swap) meanwhile.
    /// A process that does not run the projection first follows the link, in case the runner in
    /// another process swapped it.
    func withCurrent<T>(isolation: isolated (any Actor)? = #isolation, _ body: (ReadModelGeneration) async throws -> T) async throws -> T {
        if !runLock.isHeld { try followLink() }
        let generation = state.withLock { state in
            state.users[state.current.number, default: 0] += 1
            return state.current
        }
        defer { release(generation) }
        return try await body(generation)
    }

    /// Runs a write of the engine on the current generation. When a rebuild froze or replaced it,
    /// waits for the swap (or the thaw), then reports a checkpoint conflict so the engine reads
    /// the checkpoints of the generation serving now.
    private func serving<T>(_ body: (ReadModelGeneration) async throws -> T) async throws -> T {
        let seen = changes.value
        do {
            return try await withCurrent(body)
        } catch is RetiredGeneration {
            try await changes.wait(until: seen.next)
            throw ProjectionCheckpointConflict(stored: nil)
        }
    }

    /// Makes the generation the link names current, if another process swapped it.
    func followLink() throws {
        guard let number = try Self.linkedGeneration(directory: directory, name: name), number != current.number else { return }
        let generation = try Self.open(directory: directory, number: number, projector: projector, partitions: partitions, readerCount: readerCount, fresh: false)
        let closable: [ReadModelGeneration] = state.withLock { state in
            guard state.current.number != number else { return [generation] }
            state.retired.append(state.current)
            state.current = generation
            state.highestNumber = max(state.highestNumber, number)
            return takeClosable(&state)
        }
        // Another process owns the old file: close it here, never delete it.
        for old in closable { try? old.pool.close() }
        changes.advance(to: changes.value.next)
    }

    /// Called when this process becomes the runner: follows the link and deletes what an
    /// interrupted rebuild left.
    func tookOver() throws {
        try followLink()
        removeStrayFiles()
    }

    private func release(_ generation: ReadModelGeneration) {
        let closable: [ReadModelGeneration] = state.withLock { state in
            state.users[generation.number, default: 1] -= 1
            if state.users[generation.number] == 0 { state.users.removeValue(forKey: generation.number) }
            return takeClosable(&state)
        }
        close(closable)
    }

    private func takeClosable(_ state: inout State) -> [ReadModelGeneration] {
        var closable: [ReadModelGeneration] = []
        state.retired.removeAll { generation in
            guard state.users[generation.number] == nil else { return false }
            closable.append(generation)
            return true
        }
        return closable
    }

    /// Closes retired generations; the run lock's holder also deletes their files.
    private func close(_ generations: [ReadModelGeneration]) {
        for generation in generations {
            try? generation.pool.close()
            if runLock.isHeld, generation.number != current.number { Self.removeFiles(of: generation.path) }
        }
    }

    // MARK: ProjectionStorage (the serving generation)

    func checkpoints(partitions: Int) async throws -> [GlobalPosition]? {
        try await withCurrent { try await $0.checkpoints(partitions: partitions) }
    }

    func initialize(partitions: Int, at position: GlobalPosition) async throws {
        try await serving { try await $0.initialize(partitions: partitions, at: position) }
    }

    func startPosition() async throws -> GlobalPosition {
        try await withCurrent { try await $0.startPosition() }
    }

    func commit(_ events: [RecordedEvent], partition: Int, from: GlobalPosition, to: GlobalPosition) async throws {
        try await serving { try await $0.commit(events, partition: partition, from: from, to: to) }
    }

    func park(_ event: RecordedEvent, partition: Int, error: String, attempts: Int, at date: Date, from: GlobalPosition) async throws -> Int {
        try await serving { try await $0.park(event, partition: partition, error: error, attempts: attempts, at: date, from: from) }
    }

    func parkedCount() async throws -> Int {
        try await withCurrent { try await $0.parkedCount() }
    }

    func parkedEvents(after position: GlobalPosition, limit: Int) async throws -> [ParkedEvent] {
        try await withCurrent { try await $0.parkedEvents(after: position, limit: limit) }
    }

    func parkedEvent(at position: GlobalPosition) async throws -> ParkedEvent? {
        try await withCurrent { try await $0.parkedEvent(at: position) }
    }

    func applyParked(_ event: RecordedEvent) async throws -> Int {
        do {
            return try await withCurrent { try await $0.applyParked(event) }
        } catch is RetiredGeneration {
            throw ProjectionError(.parkedEventNotFound, "A rebuild replaced the read model meanwhile; list the parked events again.", projection: name, position: event.position)
        }
    }

    func recordParkedFailure(at position: GlobalPosition, error: String, at date: Date) async throws {
        try await withCurrent { try await $0.recordParkedFailure(at: position, error: error, at: date) }
    }

    func dropParked(at position: GlobalPosition) async throws -> Int? {
        try await withCurrent { try await $0.dropParked(at: position) }
    }

    // MARK: RebuildableProjectionStorage

    /// Creates a fresh, empty generation (schema migrated, no checkpoints) for a rebuild.
    func makeRebuildTarget() async throws -> any ProjectionStorage {
        let number = state.withLock { state in
            state.highestNumber += 1
            return state.highestNumber
        }
        return try Self.open(directory: directory, number: number, projector: projector, partitions: partitions, readerCount: readerCount, fresh: true)
    }

    /// Discards a generation that never became current (a failed rebuild), and lets the
    /// runner write the current one again.
    func discard(_ target: any ProjectionStorage) async {
        if let generation = target as? ReadModelGeneration, generation !== current {
            try? generation.pool.close()
            Self.removeFiles(of: generation.path)
        }
        let current = self.current
        _ = try? await current.pool.writeWithoutTransaction { _ in current.setFrozen(false) }
        current.setFrozen(false)
        changes.advance(to: changes.value.next)
    }

    /// Freezes the current generation (see ``ReadModelGeneration/setFrozen(_:)``) and returns
    /// its checkpoints, which can no longer move.
    func freeze(partitions: Int) async throws -> [GlobalPosition] {
        let current = self.current
        return try await current.pool.writeWithoutTransaction { db in
            current.setFrozen(true)
            return try SQLiteProjectionSchema.checkpoints(db, partitions: partitions)
        }
    }

    /// Makes `target` the current generation if none of its checkpoints is behind the current
    /// one's. Runs inside the current generation's writer, so no write to it can land between
    /// the check and the swap. Returns whether it swapped.
    func swap(to target: any ProjectionStorage) async throws -> Bool {
        guard let new = target as? ReadModelGeneration else {
            throw ProjectionError(.invalidConfiguration, "A rebuild target of another storage was given to \(name).", projection: name)
        }
        let old = current
        let partitions = self.partitions
        let newPositions = try await new.pool.read { db in try SQLiteProjectionSchema.checkpoints(db, partitions: partitions) }
        let swapped: Bool = try await old.pool.writeWithoutTransaction { db in
            let oldPositions = try SQLiteProjectionSchema.checkpoints(db, partitions: partitions)
            guard zip(newPositions, oldPositions).allSatisfy({ $0 >= $1 }) else { return false }
            try Self.link(directory: self.directory, name: self.name, to: new)
            old.retire()
            self.state.withLock { state in
                state.current = new
                state.retired.append(old)
            }
            return true
        }
        if swapped {
            changes.advance(to: changes.value.next)
            close(state.withLock { takeClosable(&$0) })
        }
        return swapped
    }

    // MARK: Files

    static func validate(name: String) throws {
        let allowed = Set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-.")
        guard (1...100).contains(name.count), !name.hasPrefix("."), name.allSatisfy({ allowed.contains($0) }) else {
            throw ProjectionError(.invalidName, "Projection name \(name.debugDescription) is not usable: it names files, so use 1 to 100 of A-Z a-z 0-9 _ - . and do not start with a dot.", projection: name)
        }
    }

    static func fileName(name: String, number: Int) -> String { "\(name).g\(number).sqlite" }

    /// The generation number of `NAME.gN.sqlite` (or of its `-wal`/`-shm`/`-journal` companions).
    static func generationNumber(fileName: String, name: String) -> Int? {
        let prefix = "\(name).g"
        guard fileName.hasPrefix(prefix) else { return nil }
        var rest = Substring(fileName.dropFirst(prefix.count))
        for suffix in ["-wal", "-shm", "-journal"] where rest.hasSuffix(suffix) {
            rest = rest.dropLast(suffix.count)
        }
        guard rest.hasSuffix(".sqlite") else { return nil }
        let digits = rest.dropLast(".sqlite".count)
        guard !digits.isEmpty, digits.allSatisfy(\.isASCII), digits.allSatisfy(\.isNumber) else { return nil }
        return Int(digits)
    }

    static func path(_ directory: String, _ file: String) -> String {
        (directory as NSString).appendingPathComponent(file)
    }

    /// The generation the link `NAME.sqlite` names, or `nil` when there is no link.
    static func linkedGeneration(directory: String, name: String) throws -> Int? {
        let linkPath = path(directory, "\(name).sqlite")
        guard let target = try? FileManager.default.destinationOfSymbolicLink(atPath: linkPath) else { return nil }
        guard let number = generationNumber(fileName: (target as NSString).lastPathComponent, name: name) else {
            throw ProjectionError(.incompatibleReadModel, "\(linkPath) links to \(target), which is not a generation file of \(name).", projection: name)
        }
        return number
    }

    /// The generation numbers of the files in `directory`.
    static func generationNumbers(directory: String, name: String) -> Set<Int> {
        let files = (try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []
        return Set(files.compactMap { generationNumber(fileName: $0, name: name) })
    }

    static func open(directory: String, number: Int, projector: any SQLiteProjector, partitions: Int, readerCount: Int, fresh: Bool) throws -> ReadModelGeneration {
        let name = projector.name
        let path = path(directory, fileName(name: name, number: number))
        if fresh { removeFiles(of: path) }
        var configuration = Configuration()
        configuration.label = "chronicle.readmodel.\(name).g\(number)"
        configuration.maximumReaderCount = max(1, readerCount)
        configuration.busyMode = .timeout(10)
        configuration.prepareDatabase { db in
            try db.execute(sql: SQLiteProjectionSQL.synchronousNormal)
            try db.execute(sql: SQLiteProjectionSQL.secureDelete)
        }
        do {
            let pool = try DatabasePool(path: path, configuration: configuration)
            var migrator = DatabaseMigrator()
            projector.registerMigrations(in: &migrator)
            // Read-only first: a file in use by a runner (even one inside a long page) opens at once.
            let ready = try !fresh && pool.read { db in
                try SQLiteProjectionSchema.isPrepared(db, projection: name, partitions: partitions) && migrator.hasCompletedMigrations(db)
            }
            if !ready {
                try pool.write { db in
                    try SQLiteProjectionSchema.prepare(db, projection: name, partitions: partitions)
                }
                try migrator.migrate(pool)
            }
            return ReadModelGeneration(number: number, path: path, pool: pool, projector: projector)
        } catch let error as ProjectionError {
            throw error
        } catch let error as DatabaseError where error.resultCode == .SQLITE_NOTADB {
            throw ProjectionError(.incompatibleReadModel, "\(path) is not a SQLite database.", projection: name, underlying: error)
        } catch {
            throw ProjectionError(.storageFailure, "Cannot open the read-model file \(path).", projection: name, underlying: error)
        }
    }

    /// Points `NAME.sqlite` at `generation`, atomically (a new link renamed over the old one).
    static func link(directory: String, name: String, to generation: ReadModelGeneration) throws {
        let linkPath = (directory as NSString).appendingPathComponent("\(name).sqlite")
        let temporary = (directory as NSString).appendingPathComponent(".\(name).sqlite.link-\(generation.number)")
        try? FileManager.default.removeItem(atPath: temporary)
        do {
            try FileManager.default.createSymbolicLink(atPath: temporary, withDestinationPath: (generation.path as NSString).lastPathComponent)
        } catch {
            throw ProjectionError(.storageFailure, "Cannot create the link \(temporary).", projection: name, underlying: error)
        }
        guard rename(temporary, linkPath) == 0 else {
            let code = errno
            throw ProjectionError(.storageFailure, "Cannot swap the read-model link \(linkPath): \(String(cString: strerror(code))).", projection: name)
        }
        // Make the rename durable: sync the directory.
        #if canImport(Glibc)
        let fd = Glibc.open(directory, O_RDONLY)
        if fd >= 0 {
            _ = fsync(fd)
            _ = Glibc.close(fd)
        }
        #endif
    }

    static func removeFiles(of path: String) {
        for suffix in ["", "-wal", "-shm", "-journal"] {
            try? FileManager.default.removeItem(atPath: path + suffix)
        }
    }

    /// Deletes files of generations other than the current one (left by an interrupted rebuild)
    /// and stray link files. Only the holder of the run lock (or a process that could take it)
    /// calls it.
    private func removeStrayFiles() {
        let keep = current.number
        guard let files = try? FileManager.default.contentsOfDirectory(atPath: directory) else { return }
        for file in files {
            if let n = Self.generationNumber(fileName: file, name: name), n != keep {
                try? FileManager.default.removeItem(atPath: Self.path(directory, file))
            }
            if file.hasPrefix(".\(name).sqlite.link-") {
                try? FileManager.default.removeItem(atPath: Self.path(directory, file))
            }
        }
    }
}
